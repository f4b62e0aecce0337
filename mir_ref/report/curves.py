"""Metric-against-setting plots: one panel per task, one line per model.

The report draws probe size, layer, train fraction, hop and window this way; each caller
passes a table with one row per (task, model, setting) and says how to label the setting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from mir_ref.report.plots import plain, save
from mir_ref.report.tables import INTERVAL, pareto_front

_PANELS_PER_ROW = 4


def _panels(count: int, *, panel_size: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    """A figure with ``count`` panels, :data:`_PANELS_PER_ROW` to a row (the rest hidden)."""
    width = min(count, _PANELS_PER_ROW)
    height = -(-count // _PANELS_PER_ROW)
    size = (1.2 + panel_size[0] * max(width, 2), 1.3 + panel_size[1] * height)
    figure = Figure(figsize=size, layout="constrained")
    grid = figure.subplots(height, width, squeeze=False)
    for axes in grid.flat[count:]:
        axes.set_axis_off()
    return figure, grid


def metric_curves(
    table: pd.DataFrame,
    setting: str,
    colors: Mapping[str, str],
    path: str | Path,
    *,
    title: str,
    xlabel: str,
    series: str = "model",
    categories: Sequence[str] | None = None,
    log_x: bool = False,
) -> Path:
    """Write the main metric against ``setting``, one panel per task, as a PNG.

    Parameters
    ----------
    table : rows with columns ``column`` (the task), ``metric``, ``series``, ``setting``,
        ``mean``, ``std``, ``seeds`` and optionally ``ci_low``, ``ci_high``.
    setting : the column of ``table`` on the x axis.
    colors : ``{series value: colour}``.
    path : where to write the PNG.
    title : the figure's title.
    xlabel : the x axis label, with its unit.
    series : the column whose values are drawn as separate lines.
    categories : when given, ``setting`` holds labels drawn at evenly spaced positions in this
        order (probes, layers); otherwise it is numeric.
    log_x : draw the x axis on a log scale (fractions, hops).

    Returns
    -------
    Path
        ``path``.
    """
    columns = list(dict.fromkeys(table["column"]))
    has_interval = all(name in table.columns for name in INTERVAL) and bool(
        table["ci_low"].notna().any()
    )
    has_spread = bool((table["seeds"] > 1).any())
    figure, grid = _panels(len(columns), panel_size=(3.5, 2.9))
    position = {name: index for index, name in enumerate(categories or [])}

    for axes, column in zip(grid.flat, columns, strict=False):
        panel = table[table["column"] == column]
        for name, curve in panel.groupby(series, sort=False):
            if categories is None:
                curve = curve.sort_values(setting)
                x = curve[setting].to_numpy(dtype=float)
            else:
                curve = curve.assign(_x=curve[setting].map(position)).sort_values("_x")
                x = curve["_x"].to_numpy(dtype=float)
            mean = curve["mean"].to_numpy(dtype=float)
            color = colors.get(name, "#555555")
            axes.plot(x, mean, marker="o", markersize=4, color=color)
            if has_interval:
                lower = curve["ci_low"].to_numpy(dtype=float)
                upper = curve["ci_high"].to_numpy(dtype=float)
                axes.fill_between(x, lower, upper, color=color, alpha=0.18)
            elif has_spread:
                spread = np.nan_to_num(curve["std"].to_numpy(dtype=float))
                axes.fill_between(x, mean - spread, mean + spread, color=color, alpha=0.18)
        if categories is not None:
            shown = [name for name in categories if name in set(panel[setting])]
            ticks = [position[name] for name in shown]
            axes.set_xticks(ticks, [plain(name) for name in shown], rotation=30, ha="right")
        else:
            if log_x:
                axes.set_xscale("log")
                axes.minorticks_off()
            values = np.sort(pd.to_numeric(panel[setting]).unique())
            if len(values) <= 8:
                axes.set_xticks(values, [f"{value:g}" for value in values])
        axes.set_title(plain(column), fontsize="medium")
        axes.set_xlabel(xlabel)
        axes.set_ylabel(plain(panel["metric"].iloc[0]))
        axes.grid(alpha=0.3)

    handles = [
        Line2D(
            [], [], color=colors.get(name, "#555555"), marker="o", markersize=4, label=plain(name)
        )
        for name in dict.fromkeys(table[series])
    ]
    if has_interval:
        handles.append(Patch(color="grey", alpha=0.18, label="95% CI"))
    elif has_spread:
        handles.append(Patch(color="grey", alpha=0.18, label="±1 std over seeds"))
    figure.suptitle(plain(title))
    figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 5))
    return save(figure, path)


def score_against_cost(
    points: pd.DataFrame,
    colors: Mapping[str, str],
    path: str | Path,
    *,
    xlabel: str,
    title: str,
    cheap_is_low: bool,
) -> Path:
    """Write one scatter per task of the main metric against a cost (size, speed), each
    model a point, with the Pareto front drawn, as a PNG.

    Parameters
    ----------
    points : columns ``column`` (the task), ``metric``, ``model``, ``cost`` (positive;
        drawn on a log axis) and ``score``.
    colors : ``{model: colour}``.
    path : where to write the PNG.
    xlabel, title : the cost axis label (with its unit) and the title.
    cheap_is_low : a lower cost is better (parameters), else a higher one (speed); it sets
        which models are on the front (:func:`~mir_ref.report.tables.pareto_front`).

    Returns
    -------
    Path
        ``path``.
    """
    columns = list(dict.fromkeys(points["column"]))
    figure, grid = _panels(len(columns), panel_size=(3.8, 3.2))
    for axes, column in zip(grid.flat, columns, strict=False):
        panel = points[points["column"] == column]
        for row in panel.itertuples(index=False):
            color = colors.get(row.model, "#555555")
            axes.scatter(row.cost, row.score, s=45, color=color, zorder=3)
            axes.annotate(
                plain(row.model), (row.cost, row.score), textcoords="offset points",
                xytext=(5, 3), fontsize="small",
            )  # fmt: skip
        front = panel[pareto_front(panel["cost"], panel["score"], cheap_is_low=cheap_is_low)]
        front = front.sort_values("cost")
        axes.step(
            front["cost"], front["score"], where="post" if cheap_is_low else "pre",
            color="#222222", linestyle="--", linewidth=1, zorder=2,
        )  # fmt: skip
        axes.set_xscale("log")
        axes.set_title(plain(column), fontsize="medium")
        axes.set_xlabel(xlabel)
        axes.set_ylabel(plain(panel["metric"].iloc[0]))
        axes.grid(alpha=0.3)
    figure.legend(
        handles=[Line2D([], [], color="#222222", linestyle="--", label="Pareto front")],
        loc="outside lower center",
    )
    figure.suptitle(plain(title))
    return save(figure, path)
