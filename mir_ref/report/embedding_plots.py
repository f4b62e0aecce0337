"""Plots of the embeddings themselves: drift against deformation strength, layer/model
similarity (CKA) heatmaps, 2-D maps of test embeddings, and learned layer weights.

These figures have fixed layouts (``subplots_adjust``) rather than matplotlib's constrained
layout, which measures every tick label and would make them several times slower to draw:
their panels are many and their tick labels few or none.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.colors import Normalize, to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from mir_ref.report.plots import deformation_class, mild_is_high, plain, save
from mir_ref.report.tables import layer_order
from mir_ref.tasks import TASK_TYPES

_GREY = "#555555"
_MAX_ANNOTATED_ENTRIES = 12
_MAX_LEGEND_LABELS = 12
_MAP_GAP = 0.12
"""Space between two map panels, as a share of a panel's side."""
_MAP_PANEL_IN = 1.65
"""A map panel's side in inches: five across (and the legends) fill the page's width, 1,280
pixels, without being scaled down; larger only costs drawing time."""
_MAP_LEGEND_IN = 1.3


def drift_curves(drift: pd.DataFrame, colors: Mapping[str, str], path: str | Path) -> Path:
    """Write embedding drift against deformation strength, one panel per deformation.

    Parameters
    ----------
    drift : one dataset's rows of ``drift.csv`` with a ``label`` column (``model`` or
        ``model/layer``), at one embedding density.
    colors : ``{label: colour}``, as the robustness curves use.
    path : where to write the PNG.

    Returns
    -------
    Path
        ``path``.
    """
    drift = drift.assign(strength=drift["strength"].fillna(0.0))
    deformations = list(dict.fromkeys(drift["deformation"]))
    labels = list(dict.fromkeys(drift["label"]))
    width = 1.0 + 3.4 * max(len(deformations), 2)
    # The legend below the panels: as many columns as fit, each about 2.2 inches wide.
    columns = max(1, min(len(labels) + 1, int(width // 2.2)))
    legend_height = 0.3 * -(-(len(labels) + 1) // columns)
    height = 3.2 + legend_height
    figure = Figure(figsize=(width, height))
    grid = figure.subplots(1, len(deformations), squeeze=False)[0]
    figure.subplots_adjust(
        left=0.7 / width, right=1 - 0.2 / width, top=1 - 0.7 / height,
        bottom=(0.65 + legend_height) / height, wspace=0.3,
    )  # fmt: skip
    for axes, deformation in zip(grid, deformations, strict=True):
        panel = drift[drift["deformation"] == deformation]
        for label, curve in panel.groupby("label", sort=False):
            curve = curve.sort_values("strength")
            strength = curve["strength"].to_numpy(dtype=float)
            median = curve["drift_median"].to_numpy(dtype=float)
            spread = curve["drift_iqr"].to_numpy(dtype=float) / 2
            color = colors.get(label, _GREY)
            axes.plot(strength, median, marker="o", markersize=4, color=color)
            axes.fill_between(strength, median - spread, median + spread, color=color, alpha=0.15)
        strengths = np.sort(panel["strength"].unique())
        if deformation_class(deformation).log_strength:
            axes.set_xscale("log")
            axes.minorticks_off()
        if len(strengths) <= 8:
            axes.set_xticks(strengths, [f"{value:g}" for value in strengths])
        axes.xaxis.set_inverted(mild_is_high(deformation, strengths))
        axes.axhline(1.0, color="grey", linestyle=":", lw=1)
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
        axes.set_title(plain(deformation), fontsize="medium")
        axes.set_xlabel(deformation_class(deformation).strength_label)
    grid[0].set_ylabel("drift (median, band: IQR)")
    handles = [
        Line2D([], [], color=colors.get(label, _GREY), marker="o", markersize=4, label=plain(label))
        for label in labels
    ]
    handles.append(Line2D([], [], color="grey", linestyle=":", lw=1, label="typical distance"))
    figure.legend(handles=handles, loc="lower center", ncol=columns, frameon=False)
    figure.suptitle(
        plain(f"{drift['dataset'].iloc[0]}: how far the test embeddings move (mild → severe)")
    )
    return save(figure, path)


def similarity_heatmap(similarity: pd.DataFrame, path: str | Path) -> Path:
    """Write one dataset's linear CKA between every pair of (model, layer) as a heatmap.

    Parameters
    ----------
    similarity : one dataset's rows of ``similarity.csv``, in the order the models were
        configured.
    path : where to write the PNG.

    Returns
    -------
    Path
        ``path``.
    """
    entries = list(dict.fromkeys(zip(similarity["model_a"], similarity["layer_a"], strict=True)))
    models = list(dict.fromkeys(model for model, _ in entries))
    layers = {m: layer_order(layer for model, layer in entries if model == m) for m in models}
    entries = [(model, layer) for model in models for layer in layers[model]]
    several = {model for model in models if len(layers[model]) > 1}
    names = [f"{m}/{layer}" if m in several else str(m) for m, layer in entries]
    index = {entry: position for position, entry in enumerate(entries)}
    matrix = np.full((len(entries), len(entries)), np.nan)
    for row in similarity.itertuples(index=False):
        a, b = (row.model_a, str(row.layer_a)), (row.model_b, str(row.layer_b))
        if a in index and b in index:
            matrix[index[a], index[b]] = row.cka
    # Inches: the square of cells, room for the tick labels left and below, the colour bar.
    side = 0.6 + 0.55 * len(entries)
    margin = 0.4 + 0.075 * max(len(name) for name in names)
    width, height = margin + side + 1.3, margin + side + 0.6
    figure = Figure(figsize=(width, height))
    axes = figure.add_axes((margin / width, margin / height, side / width, side / height))
    bar = (margin + side + 0.2) / width, margin / height, 0.2 / width, side / height
    bar = figure.add_axes(bar)
    colormap = colormaps["magma"].with_extremes(bad="#dddddd")
    image = axes.imshow(matrix, cmap=colormap, norm=Normalize(0, 1))
    if len(entries) <= _MAX_ANNOTATED_ENTRIES:
        for (row, column), value in np.ndenumerate(matrix):
            if np.isfinite(value):
                axes.text(
                    column, row, f"{value:.2f}", ha="center", va="center", fontsize="small",
                    color="black" if value > 0.6 else "white",
                )  # fmt: skip
    axes.set_xticks(range(len(names)), [plain(name) for name in names], rotation=45, ha="right")
    axes.set_yticks(range(len(names)), [plain(name) for name in names])
    axes.tick_params(length=0)
    # Lines between models, so a model's layers read as one block.
    edges = np.cumsum([len(layers[model]) for model in models])[:-1] - 0.5
    for edge in edges:
        axes.axhline(edge, color="white", lw=1.5)
        axes.axvline(edge, color="white", lw=1.5)
    figure.colorbar(image, cax=bar, label="linear CKA")
    axes.set_title(plain(f"{similarity['dataset'].iloc[0]}: linear CKA on clean test embeddings"))
    return save(figure, path)


def embedding_maps(
    points: pd.DataFrame, path: str | Path, *, task_types: Mapping[str, str]
) -> Path:
    """Write 2-D maps of test embeddings: one row per task, one panel per model.

    Clean points are filled and coloured by label; the same tracks under the deformation are
    small hollow markers, each linked to its clean position by a grey line. Each panel is
    scaled to its own points (a map's units mean nothing across models). The panels share one
    set of axes, each in its own box: drawing 25 matplotlib axes costs several times more.

    Parameters
    ----------
    points : one dataset's and one method's rows of ``maps.csv``.
    path : where to write the PNG.
    task_types : ``{task: type}``; regression labels get a continuous colour scale.

    Returns
    -------
    Path
        ``path``.
    """
    tasks = list(dict.fromkeys(points["task"]))
    models = list(dict.fromkeys(points["model"]))
    step = 1.0 + _MAP_GAP
    # Data units: a panel is 1 × 1, _MAP_PANEL_IN inches on the page; the legends to the right.
    x_low, x_high = -0.08, len(models) * step - _MAP_GAP + _MAP_LEGEND_IN / _MAP_PANEL_IN
    y_low, y_high = -len(tasks) * step + _MAP_GAP - 0.02, 0.12
    span_x, span_y = (x_high - x_low) * _MAP_PANEL_IN, (y_high - y_low) * _MAP_PANEL_IN
    width, height = 0.45 + span_x, 0.75 + span_y
    figure = Figure(figsize=(width, height))
    axes = figure.add_axes((0.35 / width, 0.05 / height, span_x / width, span_y / height))
    axes.set_axis_off()
    frames, clean_xy, clean_colour, moved_xy, moved_colour, links = [], [], [], [], [], []
    legend_x, legend_y, legend_colour = [], [], []
    layers = {model: set(rows["layer"].astype(str)) for model, rows in points.groupby("model")}
    for row, task in enumerate(tasks):
        in_task = points[points["task"] == task]
        colour_of, legend = _label_colours(in_task["label"], task_types.get(task, "multiclass"))
        bottom = -row * step - 1.0
        axes.text(-0.06, bottom + 0.5, plain(task), rotation=90, ha="right", va="center")
        for model, panel in in_task.groupby("model", sort=False):
            left = models.index(model) * step
            frames.append(Rectangle((left, bottom), 1.0, 1.0))
            clean = panel[panel["deformation"] == "none"].set_index("track")
            moved = panel[panel["deformation"] != "none"].set_index("track").reindex(clean.index)
            xy = clean[["x", "y"]].to_numpy(dtype=float)
            moved_points = moved[["x", "y"]].to_numpy(dtype=float)
            everything = np.concatenate([xy, moved_points[np.isfinite(moved_points).all(axis=1)]])
            low, high = everything.min(axis=0), everything.max(axis=0)
            scale = np.where(high > low, high - low, 1.0)
            # Into the box, 5 % in from each edge.
            corner = np.array([left, bottom]) + 0.05
            placed = corner + 0.9 * (xy - low) / scale
            placed_moved = corner + 0.9 * (moved_points - low) / scale
            colours = [colour_of[label] for label in clean["label"]]
            clean_xy.append(placed)
            clean_colour += colours
            shown = np.isfinite(placed_moved).all(axis=1)
            if shown.any():
                moved_xy.append(placed_moved[shown])
                moved_colour += [c for c, keep in zip(colours, shown, strict=True) if keep]
                links.append(np.stack([placed[shown], placed_moved[shown]], axis=1))
            if len(layers[model]) > 1:  # the best layer differs between tasks: name it here
                axes.text(left + 0.03, bottom + 0.97, plain(str(clean["layer"].iloc[0])),
                          va="top", fontsize="x-small", color=_GREY)  # fmt: skip
        right = len(models) * step - _MAP_GAP + 0.05
        spacing = min(0.08, 1.0 / max(len(legend), 1))
        heights = bottom + 1.0 - (np.arange(len(legend)) + 0.5) * spacing
        legend_x.append(np.full(len(legend), right))
        legend_y.append(heights)
        legend_colour += [colour for _, colour in legend]
        for y, (label, _) in zip(heights, legend, strict=True):
            axes.text(right + 0.05, y, plain(label), va="center", fontsize="x-small")
    for column, model in enumerate(models):
        # One title per column: the model, and its layer when every task shows the same one.
        [layer] = layers[model] if len(layers[model]) == 1 else [""]
        title = model if layer in ("", "output") else f"{model}/{layer}"
        axes.text(column * step + 0.5, 0.02, plain(title), ha="center", va="bottom",
                  fontsize="small")  # fmt: skip
    axes.scatter(np.concatenate(legend_x), np.concatenate(legend_y), s=14, c=legend_colour, lw=0)
    axes.add_collection(PatchCollection(frames, facecolor="none", edgecolor="#333333", lw=0.8))
    if links:
        segments = np.concatenate(links)
        axes.add_collection(LineCollection(segments, colors="#999999", lw=0.5, zorder=1))
        moved_all = np.concatenate(moved_xy)
        axes.scatter(moved_all[:, 0], moved_all[:, 1], s=9, facecolors="none",
                     edgecolors=moved_colour, lw=0.6, zorder=2)  # fmt: skip
    if clean_xy:
        clean_all = np.concatenate(clean_xy)
        axes.scatter(clean_all[:, 0], clean_all[:, 1], s=14, c=clean_colour, lw=0, zorder=3)
    axes.set_xlim(x_low, x_high)
    axes.set_ylim(y_low, y_high)
    moved = points[points["deformation"] != "none"]
    subtitle = "filled: clean"
    if not moved.empty:
        strength = moved["strength"].iloc[0]
        condition = moved["deformation"].iloc[0] + ("" if pd.isna(strength) else f" {strength:g}")
        subtitle += f"; hollow, linked: the same tracks under {condition}"
    method = str(points["method"].iloc[0]).upper().replace("TSNE", "t-SNE")
    figure.suptitle(plain(f"{points['dataset'].iloc[0]}: test embeddings, {method} ({subtitle})"))
    return save(figure, path)


def _label_colours(
    labels: pd.Series, task_type: str
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """A colour per label and the legend's (label, colour) entries: categorical labels by
    frequency (the rarest beyond :data:`_MAX_LEGEND_LABELS` share grey), regression values on
    a continuous scale (legend: its ends)."""
    if not TASK_TYPES[task_type].has_classes:
        values = pd.to_numeric(labels, errors="coerce")
        low, high = float(values.min()), float(values.max())
        scale = Normalize(low, high if high > low else low + 1)
        colormap = colormaps["viridis"]
        colours = {label: to_hex(colormap(scale(float(label)))) for label in labels.unique()}
        return colours, [(f"{low:g}", to_hex(colormap(0.0))), (f"{high:g}", to_hex(colormap(1.0)))]
    counts = labels.value_counts(sort=True)
    shown = list(counts.index[:_MAX_LEGEND_LABELS])
    palette = colormaps["tab20"].colors if len(shown) > 10 else colormaps["tab10"].colors
    colours = {label: _GREY for label in counts.index}
    colours.update({label: to_hex(palette[index]) for index, label in enumerate(shown)})
    legend = [(label, colours[label]) for label in sorted(shown, key=str)]
    if len(counts) > len(shown):
        legend.append((f"{len(counts) - len(shown)} more", _GREY))
    return colours, legend


def layer_weight_bars(weights: pd.DataFrame, path: str | Path) -> Path:
    """Write learned layer weights: one row per model, a group of bars per task, one bar per
    layer and probe.

    Parameters
    ----------
    weights : rows of ``layer_weights.csv`` (one density, one train fraction) with a
        ``column`` column (``dataset/task``).
    path : where to write the PNG.

    Returns
    -------
    Path
        ``path``.
    """
    models = list(dict.fromkeys(weights["model"]))
    probes = list(dict.fromkeys(weights["probe"]))
    palette = colormaps["tab10"].colors
    bar = 0.8 / len(probes)
    groups = max(weights.groupby("model")["column"].nunique())
    bars = max(weights.groupby("model")["layer"].nunique()) * groups
    width = 1.6 + 0.45 * len(probes) * bars + 0.25 * groups
    height = 1.3 + 2.6 * len(models)
    figure = Figure(figsize=(max(width, 6.0), height))
    grid = figure.subplots(len(models), 1, squeeze=False)[:, 0]
    figure.subplots_adjust(
        left=0.9 / figure.get_figwidth(), right=1 - 0.2 / figure.get_figwidth(),
        top=1 - 0.55 / height, bottom=0.95 / height, hspace=0.75,
    )  # fmt: skip
    for axes, model in zip(grid, models, strict=True):
        rows = weights[weights["model"] == model]
        layers = layer_order(rows["layer"])
        columns = list(dict.fromkeys(rows["column"]))
        ticks, labels, start = [], [], 0.0
        for column in columns:
            panel = rows[rows["column"] == column]
            position = start + np.arange(len(layers))
            for index, probe in enumerate(probes):
                per_layer = panel[panel["probe"] == probe].groupby("layer")["weight"]
                if not per_layer.size().sum():
                    continue
                mean = per_layer.mean().reindex(layers).to_numpy(dtype=float)
                spread = None
                if per_layer.size().max() > 1:
                    low = mean - per_layer.min().reindex(layers).to_numpy(dtype=float)
                    high = per_layer.max().reindex(layers).to_numpy(dtype=float) - mean
                    spread = np.stack([low, high])
                axes.bar(
                    position + (index - (len(probes) - 1) / 2) * bar, mean, bar,
                    yerr=spread, color=palette[index % 10], capsize=2,
                )  # fmt: skip
            axes.text(
                start + (len(layers) - 1) / 2, -0.12, plain(column), ha="center", va="top",
                transform=axes.get_xaxis_transform(), fontsize="small",
            )  # fmt: skip
            ticks += list(position)
            labels += layers
            start += len(layers) + 0.8
        axes.axhline(1 / len(layers), color="grey", linestyle=":", lw=1)
        axes.set_xticks(ticks, [plain(layer) for layer in labels], fontsize="x-small")
        axes.set_ylim(0, 1)
        axes.set_ylabel("weight")
        axes.set_title(plain(model), fontsize="medium")
    handles = [
        Line2D([], [], color=palette[index % 10], lw=6, label=plain(probe))
        for index, probe in enumerate(probes)
    ]
    handles.append(Line2D([], [], color="grey", linestyle=":", lw=1, label="equal weights"))
    figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), frameon=False)
    figure.suptitle("Learned layer weights per task (mean over seeds; whiskers: min to max)")
    return save(figure, path)
