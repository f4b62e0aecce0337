"""Overview plots of a results table: a clean-audio heatmap and robustness curves.

Figures are built on :class:`matplotlib.figure.Figure` with an Agg canvas instead of through
``pyplot``, so writing a report neither switches the user's backend nor leaves figures in
pyplot's global registry.

Every plot shows one *main metric* per (dataset, task), chosen by the caller
(``main_metrics``), and assumes that a higher value is better, as for all the main metrics of
the built-in task types.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize, to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from mir_ref.errors import MirRefError, did_you_mean
from mir_ref.results import CLEAN, COLUMNS

logger = logging.getLogger(__name__)


STRENGTH_LABELS = {
    "white_noise": "SNR (dB)",
    "gain": "gain (dB)",
    "mp3": "bitrate (kbps)",
    "pitch_shift": "shift (semitones)",
}
"""x-axis label of each deformation's strength; other deformations get ``"strength"``."""

MILD_IS_HIGH = frozenset({"white_noise", "mp3"})
"""Deformations whose strength is gentlest at high values, drawn with the x axis reversed so
that every panel reads from mild (left) to severe (right)."""

LOG_STRENGTH = frozenset({"mp3"})
"""Deformations whose strength is drawn on a log axis, as bitrates come in doublings."""

_DPI = 120
_BEST_BOX_COLOR = "#e4002b"


def summarize(results: pd.DataFrame, main_metrics: Mapping[tuple[str, str], str]) -> pd.DataFrame:
    """Mean and spread over seeds of each task's main metric.

    Parameters
    ----------
    results : the tidy results table, with columns :data:`COLUMNS`.
    main_metrics : ``{(dataset, task): metric}``, one entry for every (dataset, task) in
        ``results``.

    Returns
    -------
    pandas.DataFrame
        One row per (dataset, task, model, deformation, strength, probe), in the order the
        results list them, with columns ``dataset, task, column, metric, model, deformation,
        strength, probe, mean, std, seeds``. ``model`` reads ``model/layer`` for models with
        more than one layer, ``column`` reads ``dataset/task``, ``std`` is NaN for one seed.
    """
    rows = _main_metric_rows(results, main_metrics)
    column = rows["dataset"].astype(str) + "/" + rows["task"].astype(str)
    rows = rows.assign(model=_model_labels(rows), column=column)
    keys = ["dataset", "task", "column", "metric", "model", "deformation", "strength", "probe"]
    summary = rows.groupby(keys, sort=False, dropna=False).agg(
        mean=("value", "mean"), std=("value", "std"), seeds=("seed", "nunique")
    )
    return summary.reset_index()


def best_clean_probes(summary: pd.DataFrame) -> pd.DataFrame:
    """The probe with the highest clean-audio mean for each (model, dataset/task).

    Parameters
    ----------
    summary : the output of :func:`summarize`.

    Returns
    -------
    pandas.DataFrame
        The clean rows of ``summary`` that hold each (column, model)'s best probe; the first
        listed probe wins a tie.
    """
    clean = summary[(summary["deformation"] == CLEAN) & summary["mean"].notna()]
    if clean.empty:
        raise MirRefError(
            "the results hold no clean-audio rows (deformation 'none') with a value for the "
            "main metrics; the best probe of each model is chosen on clean audio"
        )
    best = clean.groupby(["column", "model"], sort=False)["mean"].idxmax()
    return clean.loc[best.to_numpy()].reset_index(drop=True)


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


def heatmap(
    results: pd.DataFrame, main_metrics: Mapping[tuple[str, str], str], path: str | Path
) -> Path:
    """Write a model × task heatmap of the main metric on clean audio as a PNG.

    Each cell is the mean over seeds of the model's best probe on that task; the best model of
    each task is boxed and its value set in bold.

    Parameters
    ----------
    results : the tidy results table, with columns :data:`COLUMNS`.
    main_metrics : ``{(dataset, task): metric}``.
    path : where to write the PNG.

    Returns
    -------
    Path
        ``path``.
    """
    best = best_clean_probes(summarize(results, main_metrics))
    models = list(best["model"].unique())
    columns = list(best["column"].unique())
    metric_of = dict(zip(best["column"], best["metric"], strict=False))
    values = best.pivot(index="model", columns="column", values="mean")
    values = values.reindex(index=models, columns=columns).to_numpy(dtype=float)

    longest_name = max(len(model) for model in models)
    figure = Figure(
        figsize=(2.4 + 0.07 * longest_name + 1.3 * len(columns), 1.9 + 0.45 * len(models)),
        layout="constrained",
    )
    axes = figure.add_subplot()
    colormap = colormaps["viridis"].with_extremes(bad="#dddddd")
    norm = Normalize(vmin=np.nanmin(values), vmax=np.nanmax(values))
    image = axes.imshow(values, cmap=colormap, norm=norm, aspect="auto")

    column_best = np.nanmax(values, axis=0)
    for row, column in np.ndindex(values.shape):
        value = values[row, column]
        if np.isnan(value):
            axes.text(column, row, "–", ha="center", va="center", color="#555555")
            continue
        is_best = np.isclose(value, column_best[column])
        red, green, blue, _ = colormap(norm(value))
        luminance = 0.299 * red + 0.587 * green + 0.114 * blue
        axes.text(
            column,
            row,
            f"{value:.3f}",
            ha="center",
            va="center",
            color="black" if luminance > 0.5 else "white",
            fontweight="bold" if is_best else "normal",
        )
        if is_best:
            box = Rectangle(
                (column - 0.5, row - 0.5), 1, 1, fill=False, edgecolor=_BEST_BOX_COLOR, linewidth=3
            )
            axes.add_patch(box)

    # A column is about 1.3 inches, room for some 16 characters of tick label at 10 points.
    tilt = max(len(column) for column in columns) > 16
    axes.set_xticks(
        range(len(columns)),
        [f"{_plain(column)}\n({_plain(metric_of[column])})" for column in columns],
        rotation=30 if tilt else 0,
        ha="right" if tilt else "center",
        rotation_mode="anchor",
    )
    axes.set_yticks(range(len(models)), [_plain(model) for model in models])
    axes.tick_params(length=0)
    axes.set_title("Main metric on clean audio\n(mean over seeds, best probe; boxed: best model)")
    figure.colorbar(image, ax=axes, label="score", shrink=0.9)
    return _save(figure, path)


def robustness(
    results: pd.DataFrame, main_metrics: Mapping[tuple[str, str], str], path: str | Path
) -> Path:
    """Write the main metric against deformation strength, one panel per deformation × task.

    Each model is drawn with the probe that is best on clean audio: a line over the strengths
    (with a band of ±1 standard deviation over seeds where there are several seeds) and a dashed
    horizontal line at its clean-audio value, both in the model's colour.

    Parameters
    ----------
    results : the tidy results table, with columns :data:`COLUMNS`; it must hold
        deformed rows.
    main_metrics : ``{(dataset, task): metric}``.
    path : where to write the PNG.

    Returns
    -------
    Path
        ``path``.
    """
    summary = summarize(results, main_metrics)
    best = best_clean_probes(summary)
    deformed = summary[summary["deformation"] != CLEAN].merge(
        best[["column", "model", "probe"]], on=["column", "model", "probe"]
    )
    if deformed.empty:
        raise MirRefError(
            "the results hold no deformed rows for the best clean-audio probes; "
            "add deformations to the config or skip the robustness plot"
        )
    colors = model_colors(summary["model"])
    deformations = list(deformed["deformation"].unique())
    columns = list(deformed["column"].unique())
    clean_value = best.set_index(["column", "model"])["mean"]

    figure = Figure(
        figsize=(0.8 + 3.6 * len(columns), 1.4 + 2.9 * len(deformations)), layout="constrained"
    )
    grid = figure.subplots(len(deformations), len(columns), squeeze=False)
    for row, deformation in enumerate(deformations):
        for column_index, column in enumerate(columns):
            axes = grid[row, column_index]
            panel = deformed[
                (deformed["deformation"] == deformation) & (deformed["column"] == column)
            ]
            if panel.empty:
                axes.text(0.5, 0.5, "not evaluated", ha="center", va="center")
                axes.set_axis_off()
                continue
            for model, curve in panel.groupby("model", sort=False):
                curve = curve.sort_values("strength")
                strength = curve["strength"].to_numpy(dtype=float)
                mean = curve["mean"].to_numpy(dtype=float)
                axes.plot(strength, mean, marker="o", markersize=4, color=colors[model])
                if (curve["seeds"] > 1).any():
                    spread = np.nan_to_num(curve["std"].to_numpy(dtype=float))
                    axes.fill_between(
                        strength, mean - spread, mean + spread, color=colors[model], alpha=0.18
                    )
                if (column, model) in clean_value.index:
                    axes.axhline(
                        clean_value[(column, model)], color=colors[model], linestyle="--", lw=1
                    )
            if deformation in LOG_STRENGTH:
                axes.set_xscale("log")
                axes.minorticks_off()
            strengths = np.sort(panel["strength"].dropna().unique())
            if len(strengths) <= 8:
                axes.set_xticks(strengths, [f"{value:g}" for value in strengths])
            axes.xaxis.set_inverted(deformation in MILD_IS_HIGH)
            axes.set_xlabel(STRENGTH_LABELS.get(deformation, "strength"))
            axes.set_ylabel(_plain(panel["metric"].iloc[0]))
            axes.set_title(_plain(f"{deformation} · {column}"), fontsize="medium")
            axes.grid(alpha=0.3)

    plotted = list(dict.fromkeys(deformed["model"]))
    handles = [
        Line2D([], [], color=colors[model], marker="o", markersize=4, label=_plain(model))
        for model in plotted
    ]
    handles.append(Line2D([], [], color="grey", linestyle="--", lw=1, label="clean audio"))
    if (deformed["seeds"] > 1).any():
        handles.append(Patch(color="grey", alpha=0.18, label="±1 std over seeds"))
    figure.suptitle("Main metric under deformations (best clean-audio probe, mild → severe)")
    # Below the panels: above them, the legend would collide with the title.
    figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4))
    return _save(figure, path)


def write_plots(
    results: pd.DataFrame, main_metrics: Mapping[tuple[str, str], str], out_dir: str | Path
) -> list[Path]:
    """Write ``heatmap.png`` and, when the results hold deformed rows, ``robustness.png``.

    Parameters
    ----------
    results : the tidy results table, with columns :data:`COLUMNS`.
    main_metrics : ``{(dataset, task): metric}``.
    out_dir : the folder to write into; created if missing.

    Returns
    -------
    list[Path]
        The paths written, heatmap first.
    """
    out_dir = Path(out_dir)
    paths = [heatmap(results, main_metrics, out_dir / "heatmap.png")]
    if (results["deformation"].fillna(CLEAN) != CLEAN).any():
        paths.append(robustness(results, main_metrics, out_dir / "robustness.png"))
    else:
        logger.info("no deformed rows in the results; skipping the robustness plot")
    return paths


def _main_metric_rows(
    results: pd.DataFrame, main_metrics: Mapping[tuple[str, str], str]
) -> pd.DataFrame:
    """The rows of ``results`` that hold their (dataset, task)'s main metric."""
    missing_columns = [name for name in COLUMNS if name not in results.columns]
    if missing_columns:
        raise MirRefError(
            f"the results table lacks the columns {missing_columns}; expected {COLUMNS}"
        )
    if results.empty:
        raise MirRefError("the results table is empty; there is nothing to plot")
    tasks = list(dict.fromkeys(zip(results["dataset"], results["task"], strict=True)))
    unknown = [task for task in tasks if task not in main_metrics]
    if unknown:
        raise MirRefError(
            f"main_metrics has no entry for the (dataset, task) pairs {unknown}; "
            "give one metric for each, e.g. {('gtzan', 'genre'): 'accuracy'}"
        )
    wanted = pd.DataFrame(
        [(dataset, task, main_metrics[(dataset, task)]) for dataset, task in tasks],
        columns=["dataset", "task", "metric"],
    )
    rows = results.merge(wanted, on=["dataset", "task", "metric"])
    found = set(zip(rows["dataset"], rows["task"], strict=True))
    for dataset, task, metric in wanted.itertuples(index=False):
        if (dataset, task) not in found:
            present = results.loc[
                (results["dataset"] == dataset) & (results["task"] == task), "metric"
            ].unique()
            raise MirRefError(
                f"main_metrics[('{dataset}', '{task}')]: '{metric}' is not among the metrics "
                f"in the results, {sorted(present)}{did_you_mean(metric, present)}"
            )
    # Tables read back from CSV may hold NaN for "none" and text for numbers.
    return rows.assign(
        deformation=rows["deformation"].fillna(CLEAN),
        strength=pd.to_numeric(rows["strength"], errors="coerce"),
    )


def _model_labels(rows: pd.DataFrame) -> pd.Series:
    """``model`` for single-layer models, ``model/layer`` for models with several layers."""
    layered = rows.groupby("model")["layer"].transform("nunique") > 1
    model = rows["model"].astype(str)
    return model.where(~layered, model + "/" + rows["layer"].astype(str))


def _plain(text: str) -> str:
    """``text`` with ``$`` escaped, so that matplotlib does not read names as math."""
    return str(text).replace("$", r"\$")


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=_DPI, format="png")
    logger.info("wrote %s", path)
    return path
