"""The report's overview plots: the clean-audio heatmap and the robustness curves, and the
helpers every report plot shares (model colours, saving, label escaping).

Figures are built on :class:`matplotlib.figure.Figure` with an Agg canvas instead of through
``pyplot``, so writing a report neither switches the user's backend nor leaves figures in
pyplot's global registry.

Every plot shows one *main metric* per (dataset, task) and assumes that a higher value is
better, as for all the main metrics of the built-in task types.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize, to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from mir_ref import registry
from mir_ref.atomic import atomic_write
from mir_ref.config import KEPT_LABELS
from mir_ref.deformations.base import Deformation
from mir_ref.errors import MirRefError
from mir_ref.report.tables import INTERVAL, selected_probes
from mir_ref.results import CLEAN

logger = logging.getLogger(__name__)


_DPI = 120
_BEST_BOX_COLOR = "#e4002b"


def model_colors(models: Iterable[str]) -> dict[str, str]:
    """A distinct colour for each model, as ``{model: '#rrggbb'}``.

    Colours follow the order of ``models`` (duplicates ignored), so the same list gives the same
    colours in every plot.
    """
    names = list(dict.fromkeys(models))
    if len(names) <= 10:
        palette = colormaps["tab10"].colors
    elif len(names) <= 20:
        palette = colormaps["tab20"].colors
    else:
        palette = colormaps["turbo"](np.linspace(0.05, 0.95, len(names)))
    return {name: to_hex(palette[index]) for index, name in enumerate(names)}


def heatmap(ranked: pd.DataFrame, path: str | Path, *, models: Sequence[str] | None = None) -> Path:
    """Write a model × task heatmap of the main metric on clean audio as a PNG.

    Each cell is the mean over seeds of the model's probe chosen on validation, with its
    confidence interval below when the results have one. The models statistically tied for
    first (``tied_for_first``, from ``ranks.csv``) are boxed; for a task without that, the best
    model. The best model's value is set in bold and starred when its gap to the runner-up is
    significant (p < 0.05).

    Parameters
    ----------
    ranked : the output of :func:`mir_ref.report.tables.ranking`.
    path : where to write the PNG.
    models : the rows' order; by default, the order of ``ranked``.

    Returns
    -------
    Path
        ``path``.
    """
    present = set(ranked["model"])
    models = [model for model in (models or ranked["model"]) if model in present]
    models = list(dict.fromkeys(models))
    columns = list(dict.fromkeys(ranked["column"]))
    metric_of = dict(zip(ranked["column"], ranked["metric"], strict=False))

    def grid(name: str) -> np.ndarray:
        if name not in ranked.columns:
            return np.full((len(models), len(columns)), np.nan)
        table = ranked.pivot(index="model", columns="column", values=name)
        return table.reindex(index=models, columns=columns).to_numpy(dtype=float)

    ties = ranked.get("tied_for_first", pd.Series(pd.NA, index=ranked.index)).astype("boolean")
    knows_ties = ties.notna().groupby(ranked["column"], sort=False).transform("any")
    ranked = ranked.assign(boxed=ties.fillna(False).where(knows_ties, ranked["rank"] == 1))
    ranked = ranked.astype({"boxed": float})
    values, low, high = grid("mean"), grid("ci_low"), grid("ci_high")
    rank, p_value, boxed = grid("rank"), grid("p_value"), grid("boxed")
    has_interval = bool(np.isfinite(low).any())

    longest_name = max(len(model) for model in models)
    figure = Figure(
        figsize=(
            2.4 + 0.07 * longest_name + 1.4 * len(columns),
            1.9 + (0.6 if has_interval else 0.45) * len(models),
        ),
        layout="constrained",
    )
    axes = figure.add_subplot()
    colormap = colormaps["viridis"].with_extremes(bad="#dddddd")
    norm = Normalize(vmin=np.nanmin(values), vmax=np.nanmax(values))
    image = axes.imshow(values, cmap=colormap, norm=norm, aspect="auto")

    for row, column in np.ndindex(values.shape):
        value = values[row, column]
        if np.isnan(value):
            axes.text(column, row, "–", ha="center", va="center", color="#555555")
            continue
        is_best = rank[row, column] == 1
        red, green, blue, _ = colormap(norm(value))
        luminance = 0.299 * red + 0.587 * green + 0.114 * blue
        text = f"{value:.3f}"
        if is_best and p_value[row, column] < 0.05:
            text += "*"
        if np.isfinite(low[row, column]):
            text += f"\n[{low[row, column]:.2f}, {high[row, column]:.2f}]"
        axes.text(
            column,
            row,
            text,
            ha="center",
            va="center",
            color="black" if luminance > 0.5 else "white",
            fontweight="bold" if is_best else "normal",
            fontsize="small" if has_interval else "medium",
        )
        if boxed[row, column] == 1:
            box = Rectangle(
                (column - 0.5, row - 0.5), 1, 1, fill=False, edgecolor=_BEST_BOX_COLOR, linewidth=3
            )
            axes.add_patch(box)

    # A column is about 1.4 inches, room for some 16 characters of tick label at 10 points.
    tilt = max(len(column) for column in columns) > 16
    axes.set_xticks(
        range(len(columns)),
        [f"{plain(column)}\n({plain(metric_of[column])})" for column in columns],
        rotation=30 if tilt else 0,
        ha="right" if tilt else "center",
        rotation_mode="anchor",
    )
    axes.set_yticks(range(len(models)), [plain(model) for model in models])
    axes.tick_params(length=0)
    on_test = "selected_on" in ranked.columns and (ranked["selected_on"] == "test").any()
    subtitle = "mean over seeds, probe chosen on " + ("test" if on_test else "validation")
    subtitle += "; boxed: " + (
        "tied for first" if knows_ties.all()
        else "tied for first, else best" if knows_ties.any()
        else "best model"
    )  # fmt: skip
    if has_interval:
        subtitle += "; [95% CI]"
    if np.isfinite(p_value).any():
        subtitle += "; *: p < 0.05 vs runner-up"
    axes.set_title(f"Main metric on clean audio\n({subtitle})")
    figure.colorbar(image, ax=axes, label="score (higher is better)", shrink=0.9)
    return save(figure, path)


def robustness(
    summary: pd.DataFrame,
    column: str,
    colors: Mapping[str, str],
    path: str | Path,
    *,
    axis_notes: Mapping[str, str] | None = None,
) -> Path:
    """Write one task's main metric against deformation strength, one panel per deformation.

    Each model is drawn with its probe chosen on validation. Top row: the metric, with a
    band of the confidence interval (when the results have one) or of ±1 standard deviation
    over seeds (when there are several), and a dashed line at the clean-audio value. Bottom
    row: the same as a percentage of the clean-audio value (the relative drop).

    Parameters
    ----------
    summary : the output of :func:`mir_ref.report.tables.summarize`.
    column : the task, ``dataset/task``.
    colors : ``{model: colour}``, from :func:`model_colors`.
    path : where to write the PNG.
    axis_notes : ``{deformation: text}`` written under that panel's strength axis (the SNR
        each model hears in its band, for noise).

    Returns
    -------
    Path
        ``path``.
    """
    best = selected_probes(summary)
    best = best[best["column"] == column]
    deformed = summary[(summary["deformation"] != CLEAN) & (summary["column"] == column)].merge(
        best[["column", "model", "probe"]], on=["column", "model", "probe"]
    )
    if deformed.empty:
        raise MirRefError(f"the results hold no deformed rows for {column}'s chosen probes")
    # A deformation without a swept strength is one setting, drawn at 0.
    deformed = deformed.assign(strength=deformed["strength"].fillna(0.0))
    deformations = list(deformed["deformation"].unique())
    clean_value = best.set_index("model")["mean"]
    has_interval = all(name in deformed.columns for name in INTERVAL) and bool(
        deformed["ci_low"].notna().any()
    )
    has_spread = bool((deformed["seeds"] > 1).any())

    figure = Figure(figsize=(1.0 + 3.4 * max(len(deformations), 2), 6.4), layout="constrained")
    grid = figure.subplots(2, len(deformations), squeeze=False, sharex="col")
    for index, deformation in enumerate(deformations):
        panel = deformed[deformed["deformation"] == deformation]
        top, bottom = grid[0, index], grid[1, index]
        for model, curve in panel.groupby("model", sort=False):
            curve = curve.sort_values("strength")
            strength = curve["strength"].to_numpy(dtype=float)
            mean = curve["mean"].to_numpy(dtype=float)
            clean = clean_value.get(model, np.nan)
            color = colors[model]
            top.plot(strength, mean, marker="o", markersize=4, color=color)
            if has_interval:
                lower = curve["ci_low"].to_numpy(dtype=float)
                upper = curve["ci_high"].to_numpy(dtype=float)
                top.fill_between(strength, lower, upper, color=color, alpha=0.18)
            elif has_spread:
                spread = np.nan_to_num(curve["std"].to_numpy(dtype=float))
                top.fill_between(strength, mean - spread, mean + spread, color=color, alpha=0.18)
            top.axhline(clean, color=color, linestyle="--", lw=1)
            # A share of a score at or below 0 (an R² under the mean's) means nothing.
            if clean > 0:
                bottom.plot(strength, 100 * mean / clean, marker="o", markersize=4, color=color)
        bottom.axhline(100, color="grey", linestyle="--", lw=1)
        for axes in (top, bottom):
            if deformation_class(deformation).log_strength:
                axes.set_xscale("log")
                axes.minorticks_off()
            strengths = np.sort(panel["strength"].dropna().unique())
            if len(strengths) <= 8:
                axes.set_xticks(strengths, [f"{value:g}" for value in strengths])
            axes.xaxis.set_inverted(mild_is_high(deformation, strengths))
            axes.grid(alpha=0.3)
        top.set_title(plain(deformation), fontsize="medium")
        top.set_ylabel(plain(panel["metric"].iloc[0]))
        bottom.set_ylabel("% of clean score")
        note = (axis_notes or {}).get(deformation)
        xlabel = deformation_class(deformation).strength_label
        bottom.set_xlabel(plain(xlabel + (f"\n{note}" if note else "")))

    handles = [
        Line2D([], [], color=colors[model], marker="o", markersize=4, label=plain(model))
        for model in dict.fromkeys(deformed["model"])
    ]
    handles.append(Line2D([], [], color="grey", linestyle="--", lw=1, label="clean audio"))
    if has_interval:
        handles.append(Patch(color="grey", alpha=0.18, label="95% CI"))
    elif has_spread:
        handles.append(Patch(color="grey", alpha=0.18, label="±1 std over seeds"))
    figure.suptitle(plain(f"{column}: main metric under deformations (mild → severe)"))
    # Below the panels: above them, the legend would collide with the title.
    figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 5))
    return save(figure, path)


def strength_kind(deformation: str) -> str:
    """The deformation type whose strength a results ``deformation`` shows: the name less the
    mark of ``labels: keep`` rows (``pitch_shift (labels kept)`` → ``pitch_shift``)."""
    return deformation.removesuffix(KEPT_LABELS)


def deformation_class(deformation: str) -> type[Deformation]:
    """The registered class of a results ``deformation``, which says what its strength means
    (axis label, direction, scale); the base class's defaults for a name no class is
    registered under (a named entry, a chain of another package's steps)."""
    found = registry.available("deformations").get(strength_kind(deformation))
    return found if isinstance(found, type) and issubclass(found, Deformation) else Deformation


def mild_is_high(deformation: str, strengths: Iterable[float]) -> bool:
    """Whether higher strengths are gentler: SNRs, bitrates (the class says so), and
    all-negative values such as attenuations in dB, whose mildest value is the one closest
    to 0."""
    values = np.asarray(list(strengths), dtype=float)
    return deformation_class(deformation).mild_is_high or bool(len(values) and (values <= 0).all())


def plain(text: str) -> str:
    """``text`` with ``$`` escaped, so that matplotlib does not read names as math."""
    return str(text).replace("$", r"\$")


def save(figure: Figure, path: str | Path) -> Path:
    """Render ``figure`` to a PNG at ``path``; returns ``path``."""
    path = Path(path)
    FigureCanvasAgg(figure)
    atomic_write(path, lambda file: figure.savefig(file, dpi=_DPI, format="png"))
    logger.info("wrote %s", path)
    return path
