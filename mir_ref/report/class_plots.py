"""Plots of per-class analysis: confusion matrices, per-class score grids, error breakdowns,
and where predictions went under a pitch shift."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from mir_ref.report.plots import plain, save

_MAX_ANNOTATED_CLASSES = 12
_PANELS_PER_ROW = 3


def confusion_matrices(
    matrices: Mapping[str, np.ndarray],
    classes: Sequence[str],
    path: str | Path,
    *,
    title: str,
    orders: Mapping[str, Sequence[int]] | None = None,
) -> Path:
    """Write row-normalised confusion matrices, one panel per model (and per class order).

    Parameters
    ----------
    matrices : ``{model: [true, predicted] counts}``.
    classes : the class names, in the matrices' order.
    path : where to write the PNG.
    title : the figure's title.
    orders : ``{order name: class indices}`` to draw each matrix in several orders (one
        column per order, one row per model); by default, one order, the classes' own, and
        the models wrap into rows of three.

    Returns
    -------
    Path
        ``path``.
    """
    models = list(matrices)
    if orders:
        rows, columns = len(models), len(orders)
        panels = [(model, name, list(order)) for model in models for name, order in orders.items()]
    else:
        columns = min(len(models), _PANELS_PER_ROW)
        rows = -(-len(models) // _PANELS_PER_ROW)
        panels = [(model, "", list(range(len(classes)))) for model in models]
    side = 1.3 + 0.27 * len(classes)
    figure = Figure(figsize=(0.8 + side * columns, 0.9 + side * rows), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes in grid.flat[len(panels) :]:
        axes.set_axis_off()
    colormap = colormaps["Blues"]
    image = None
    for axes, (model, order_name, order) in zip(grid.flat, panels, strict=False):
        counts = matrices[model][np.ix_(order, order)].astype(float)
        totals = counts.sum(axis=1, keepdims=True)
        recall = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        image = axes.imshow(recall, cmap=colormap, norm=Normalize(0, 1))
        if len(order) <= _MAX_ANNOTATED_CLASSES:
            for true, predicted in zip(*np.nonzero(counts), strict=True):
                axes.text(
                    predicted,
                    true,
                    f"{int(counts[true, predicted])}",
                    ha="center",
                    va="center",
                    fontsize="x-small",
                    color="white" if recall[true, predicted] > 0.5 else "black",
                )
        names = [plain(classes[index]) for index in order]
        axes.set_xticks(range(len(order)), names, rotation=90, fontsize="small")
        axes.set_yticks(range(len(order)), names, fontsize="small")
        axes.set_xlabel("predicted class")
        axes.set_ylabel("true class")
        heading = f"{model} · {order_name}" if order_name else model
        axes.set_title(plain(heading), fontsize="medium")
    if image is not None:
        figure.colorbar(image, ax=grid, label="fraction of the true class", shrink=0.6)
    figure.suptitle(plain(title))
    return save(figure, path)


def class_scores(scores: pd.DataFrame, path: str | Path, *, title: str, value_label: str) -> Path:
    """Write a model × class grid of a per-class score (F1, AUC) as a PNG.

    Parameters
    ----------
    scores : models as index, classes as columns; NaN where the score is undefined.
    path : where to write the PNG.
    title : the figure's title.
    value_label : the colour bar's label.

    Returns
    -------
    Path
        ``path``.
    """
    values = scores.to_numpy(dtype=float)
    models, classes = list(scores.index), list(scores.columns)
    longest = max(len(str(model)) for model in models)
    figure = Figure(
        figsize=(2.6 + 0.07 * longest + 0.55 * len(classes), 1.9 + 0.42 * len(models)),
        layout="constrained",
    )
    axes = figure.add_subplot()
    colormap = colormaps["viridis"].with_extremes(bad="#dddddd")
    image = axes.imshow(values, cmap=colormap, norm=Normalize(0, 1), aspect="auto")
    if len(classes) <= 24:
        for row, column in np.ndindex(values.shape):
            value = values[row, column]
            axes.text(
                column,
                row,
                "–" if np.isnan(value) else f"{value:.2f}",
                ha="center",
                va="center",
                fontsize="x-small",
                color="black" if np.isnan(value) or value > 0.6 else "white",
            )
    axes.set_xticks(range(len(classes)), [plain(name) for name in classes], rotation=45, ha="right")
    axes.set_yticks(range(len(models)), [plain(model) for model in models])
    axes.set_xlabel("class")
    axes.tick_params(length=0)
    axes.set_title(plain(title))
    figure.colorbar(image, ax=axes, label=value_label, shrink=0.9)
    return save(figure, path)


def error_breakdown(
    fractions: pd.DataFrame,
    path: str | Path,
    *,
    title: str,
    palette: Mapping[str, str] | None = None,
) -> Path:
    """Write stacked horizontal bars: each model's items split into error categories.

    Parameters
    ----------
    fractions : models as index, categories as columns (in drawing order), rows summing to 1.
    path : where to write the PNG.
    title : the figure's title.
    palette : ``{category: colour}``; by default a sequential palette, green for the first.

    Returns
    -------
    Path
        ``path``.
    """
    categories = list(fractions.columns)
    if palette is None:
        shades = colormaps["RdYlGn_r"](np.linspace(0.1, 0.9, len(categories)))
        palette = dict(zip(categories, shades, strict=True))
    models = list(fractions.index)
    figure = Figure(figsize=(8.5, 1.5 + 0.45 * len(models)), layout="constrained")
    axes = figure.add_subplot()
    left = np.zeros(len(models))
    for category in categories:
        widths = 100 * fractions[category].to_numpy(dtype=float)
        axes.barh(range(len(models)), widths, left=left, color=palette[category], label=category)
        for row, (start, width) in enumerate(zip(left, widths, strict=True)):
            if width >= 6:
                axes.text(start + width / 2, row, f"{width:.0f}%", ha="center", va="center")
        left += widths
    axes.set_yticks(range(len(models)), [plain(model) for model in models])
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("share of test items (%)")
    axes.set_title(plain(title))
    figure.legend(loc="outside lower center", ncol=len(categories))
    return save(figure, path)


def shares_by_shift(
    shares: Mapping[str, pd.DataFrame],
    path: str | Path,
    *,
    title: str,
    palette: Mapping[str, str],
) -> Path:
    """Write one panel per model of stacked bars: for each shift, the items split into
    categories (moved with the audio, stayed, ...).

    Parameters
    ----------
    shares : ``{model: frame}``, each frame indexed by shift (its tick label) with one column
        per category (in drawing order), rows summing to 1.
    path : where to write the PNG.
    title : the figure's title.
    palette : ``{category: colour}``.

    Returns
    -------
    Path
        ``path``.
    """
    models = list(shares)
    categories = list(next(iter(shares.values())).columns)
    columns = min(len(models), _PANELS_PER_ROW)
    rows = -(-len(models) // columns)
    figure = Figure(figsize=(1.0 + 3.0 * columns, 0.8 + 2.6 * rows), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False, sharey=True)
    for axes, model in zip(grid.flat, models, strict=False):
        frame = shares[model]
        bottom = np.zeros(len(frame))
        for category in categories:
            heights = 100 * frame[category].to_numpy(dtype=float)
            axes.bar(range(len(frame)), heights, bottom=bottom, color=palette[category])
            bottom += heights
        axes.set_xticks(range(len(frame)), [plain(str(shift)) for shift in frame.index])
        axes.set_ylim(0, 100)
        axes.set_title(plain(model), fontsize="medium")
        axes.set_xlabel("shift (semitones)")
    for axes in grid[:, 0]:
        axes.set_ylabel("share of test items (%)")
    for axes in list(grid.flat)[len(models) :]:
        axes.set_visible(False)
    handles = [Patch(color=palette[category], label=category) for category in categories]
    figure.suptitle(plain(title))
    figure.legend(handles=handles, loc="outside lower center", ncol=len(categories))
    return save(figure, path)
