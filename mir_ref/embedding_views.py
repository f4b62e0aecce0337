"""The views of the embeddings themselves, read from the cache (the first step of ``mir_ref
report -c``).

Per dataset, on its test tracks (those with a label of some task), with each track's
embedding pooled as the probes see it (``mean`` for ``pooling: none``):

- ``drift.csv``: per model, layer and deformed test condition, the median and interquartile
  range of the tracks' drift (:mod:`mir_ref.drift`: cosine distance from the clean embedding
  over the typical distance between clean tracks).
- ``similarity.csv``: linear CKA (:mod:`mir_ref.cka`) between every pair of (model, layer) on
  the clean embeddings.
- ``maps.csv``: per task and model (its best layer by validation, from ``selection.csv``),
  2-D maps (:mod:`mir_ref.embedding_maps`) of the task's clean test embeddings and of the
  same tracks under the first deformation entry at its strongest setting (the strength that
  moves the embeddings most, on average over models and layers).

Each model's embeddings of a condition are read from the cache once, all layers together.
The config's ``report`` section says which views are made (``drift``, ``similarity``,
``maps``); the report page draws them from these files, so ``mir_ref report --run`` redraws
them without the cache.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mir_ref import drift, embedding_maps, progress
from mir_ref.atomic import atomic_write
from mir_ref.cka import cka_matrix
from mir_ref.datasets.base import Dataset, Track
from mir_ref.errors import DataError
from mir_ref.experiment import Condition, Experiment, ModelEntry
from mir_ref.plan import embedding_key
from mir_ref.results import CLEAN, WEIGHTED_LAYER
from mir_ref.skips import apply_recorded
from mir_ref.store import Store
from mir_ref.train import pool

log = logging.getLogger(__name__)

DRIFT_COLUMNS = [
    "dataset", "model", "layer", "window_s", "hop_s", "deformation", "strength",
    "drift_median", "drift_iqr", "tracks",
]  # fmt: skip
"""Columns of ``drift.csv``; ``model`` and the density as in ``results.csv``."""
SIMILARITY_COLUMNS = ["dataset", "model_a", "layer_a", "model_b", "layer_b", "cka", "tracks"]
"""Columns of ``similarity.csv``: every ordered pair, the diagonal included; ``model_*`` is the
model's name, with its density appended when the config sweeps several."""
MAP_COLUMNS = [
    "dataset", "task", "model", "layer", "method", "deformation", "strength", "track", "x", "y",
    "label",
]  # fmt: skip
"""Columns of ``maps.csv``: one row per point; ``deformation`` is ``none`` for clean points."""
_READ_CHUNK = 256


@dataclass
class _Views:
    """The rows of the three tables, gathered over datasets."""

    drift: list[dict[str, Any]] = field(default_factory=list)
    similarity: list[dict[str, Any]] = field(default_factory=list)
    maps: list[dict[str, Any]] = field(default_factory=list)


def analyse(experiment: Experiment) -> list[Path]:
    """Write ``drift.csv``, ``similarity.csv`` and ``maps.csv`` (those the config's ``report``
    section asks for) from the cached embeddings; returns the files written.

    Raises
    ------
    DataError
        An embedding is missing from the cache (run ``mir_ref extract``), or maps of models
        with several layers are asked for before ``selection.csv`` exists (``mir_ref
        evaluate``).
    """
    settings = experiment.config.report
    output_dir = experiment.output_dir
    wanted = {
        "drift.csv": (settings.drift, DRIFT_COLUMNS),
        "similarity.csv": (settings.similarity, SIMILARITY_COLUMNS),
        "maps.csv": (bool(settings.maps), MAP_COLUMNS),
    }
    for name, (made, _) in wanted.items():
        if not made:  # a view of an earlier run is not this run's
            (output_dir / name).unlink(missing_ok=True)
    if not any(made for made, _ in wanted.values()):
        return []
    apply_recorded(experiment)  # bad audio skipped by extraction, also when run alone
    store = Store.of(experiment)
    best = _best_layers(experiment) if settings.maps else {}
    views = _Views()
    with progress.bar("analyse", len(experiment.datasets) * len(experiment.models)) as advance:
        for dataset in experiment.datasets:
            _dataset_views(experiment, dataset, store, best, views, advance)
    written = []
    for (name, (made, columns)), rows in zip(
        wanted.items(), (views.drift, views.similarity, views.maps), strict=True
    ):
        if made:
            text = pd.DataFrame(rows, columns=columns).to_csv(index=False).encode()
            atomic_write(output_dir / name, lambda file, text=text: file.write(text))
            written.append(output_dir / name)
    log.info("analyse: wrote %s", ", ".join(path.name for path in written))
    return written


def _dataset_views(
    experiment: Experiment,
    dataset: Dataset,
    store: Store,
    best: dict[tuple, str],
    views: _Views,
    advance: Any,
) -> None:
    """Add one dataset's drift, similarity and map rows to ``views``."""
    settings = experiment.config.report
    seed = experiment.config.protocol.seed
    tracks = [t for t in dataset.tracks("test") if any(task in t.labels for task in dataset.tasks)]
    if len(tracks) < 2:
        log.warning("dataset '%s': fewer than 2 test tracks; no embedding views", dataset.name)
        advance(len(experiment.models))
        return
    clean_condition, *others = experiment.conditions
    deformed = [c for c in others if c.apply_to in ("test", "both")]
    # The map shows the first deformation entry, at the strength chosen below.
    on_map = [c for c in deformed if c.title == deformed[0].title] if settings.maps else []
    read = deformed if settings.drift else on_map
    clean: dict[tuple[int, int], np.ndarray] = {}
    moved_on_map: dict[tuple[int, str], np.ndarray] = {}
    map_drift: dict[str, list[float]] = {c.label: [] for c in on_map}
    for index, model in enumerate(experiment.models):
        where = f"dataset '{dataset.name}', model '{model.id}'"
        embeddings = _pooled(store, experiment, dataset, model, clean_condition, tracks, where)
        scales = [drift.typical_distance(layer, seed=seed) for layer in embeddings]
        for layer_index in range(len(embeddings)):
            clean[index, layer_index] = embeddings[layer_index]
        for condition in read:
            moved = _pooled(store, experiment, dataset, model, condition, tracks, where)
            for layer_index, layer in enumerate(model.model.layers):
                drifts = drift.drift(
                    embeddings[layer_index], moved[layer_index], scale=scales[layer_index]
                )
                row = _drift_row(dataset, model, layer, condition, drifts)
                if condition in on_map:
                    map_drift[condition.label].append(row["drift_median"])
                if settings.drift:
                    views.drift.append(row)
            if condition in on_map:
                moved_on_map[index, condition.label] = moved
        advance()
    if settings.similarity:
        views.similarity += _similarity_rows(experiment, dataset, clean, len(tracks))
    if settings.maps:
        strongest = _strongest(on_map, map_drift)
        views.maps += _map_rows(experiment, dataset, tracks, clean, moved_on_map, strongest, best)


def _drift_row(
    dataset: Dataset, model: ModelEntry, layer: str, condition: Condition, drifts: np.ndarray
) -> dict[str, Any]:
    """One row of ``drift.csv``: the median and IQR of the tracks' drifts."""
    median, iqr = drift.median_and_iqr(drifts)
    return {
        "dataset": dataset.name,
        "model": model.name,
        "layer": layer,
        "window_s": model.window_s,
        "hop_s": model.hop_s,
        "deformation": condition.title,
        "strength": np.nan if condition.strength is None else condition.strength,
        "drift_median": median,
        "drift_iqr": iqr,
        "tracks": len(drifts),
    }


def _similarity_rows(
    experiment: Experiment,
    dataset: Dataset,
    clean: dict[tuple[int, int], np.ndarray],
    tracks: int,
) -> list[dict[str, Any]]:
    """The rows of ``similarity.csv`` for one dataset: CKA of every ordered pair of (model,
    layer), models in config order."""
    entries = [
        (model.id, layer, clean[index, layer_index])
        for index, model in enumerate(experiment.models)
        for layer_index, layer in enumerate(model.model.layers)
    ]
    matrix = cka_matrix([embeddings for _, _, embeddings in entries])
    return [
        {
            "dataset": dataset.name,
            "model_a": model_a,
            "layer_a": layer_a,
            "model_b": model_b,
            "layer_b": layer_b,
            "cka": matrix[a, b],
            "tracks": tracks,
        }
        for a, (model_a, layer_a, _) in enumerate(entries)
        for b, (model_b, layer_b, _) in enumerate(entries)
    ]


def _strongest(on_map: list[Condition], map_drift: dict[str, list[float]]) -> Condition | None:
    """Of the map's deformation strengths, the one that moves the embeddings most (mean of
    the median drifts over models and layers); the last listed when none is measurable."""
    if not on_map:
        return None
    means = [
        np.nanmean(map_drift[c.label]) if np.isfinite(map_drift[c.label]).any() else -np.inf
        for c in on_map
    ]
    return on_map[int(np.argmax(means))] if np.isfinite(means).any() else on_map[-1]


def _map_rows(
    experiment: Experiment,
    dataset: Dataset,
    tracks: list[Track],
    clean: dict[tuple[int, int], np.ndarray],
    moved_on_map: dict[tuple[int, str], np.ndarray],
    strongest: Condition | None,
    best: dict[tuple, str],
) -> list[dict[str, Any]]:
    """The points of every (task, model) map of ``dataset``, clean and deformed."""
    seed = experiment.config.protocol.seed
    position = {track.id: row for row, track in enumerate(tracks)}
    rows = []
    for task in dataset.tasks.values():
        members = [t for t in dataset.task_tracks(task.name, "test") if t.id in position]
        if len(members) < 3:
            continue
        items = np.array([position[t.id] for t in members])
        encoded = task.encode(
            [t.labels[task.name] for t in members], track_ids=[t.id for t in members]
        )
        labels = embedding_maps.colour_labels(task.type, list(task.classes), encoded)
        for index, model in enumerate(experiment.models):
            layer = _best_layer(best, dataset, task.name, model)
            layer_index = model.model.layers.index(layer)
            points = clean[index, layer_index][items]
            moved = None
            if strongest is not None:
                moved = moved_on_map[index, strongest.label][layer_index][items]
            for method in dict.fromkeys(experiment.config.report.maps):
                placed, placed_moved = embedding_maps.project(method, points, moved, seed=seed)
                identity = {
                    "dataset": dataset.name,
                    "task": task.name,
                    "model": model.id,
                    "layer": layer,
                    "method": method,
                }
                for condition, coordinates in ((None, placed), (strongest, placed_moved)):
                    if coordinates is None:
                        continue
                    for track, label, (x, y) in zip(members, labels, coordinates, strict=True):
                        rows.append(
                            {
                                **identity,
                                "deformation": CLEAN if condition is None else condition.title,
                                "strength": np.nan
                                if condition is None or condition.strength is None
                                else condition.strength,
                                "track": track.id,
                                "x": x,
                                "y": y,
                                "label": label,
                            }
                        )
    return rows


def _best_layers(experiment: Experiment) -> dict[tuple, str]:
    """``{(dataset, task, model name, window_s, hop_s): layer}``: each model's layer with the
    best validation main metric (the mean over seeds of its best probe, at the largest train
    fraction), from ``selection.csv``; empty when every model has one layer."""
    if all(len(model.model.layers) == 1 for model in experiment.models):
        return {}
    path = experiment.output_dir / "selection.csv"
    if not path.is_file():
        raise DataError(
            f"the embedding maps show each model's best layer by validation, read from {path}, "
            "which is missing; run `mir_ref evaluate` first (or set report.maps: [])"
        )
    selection = pd.read_csv(path)
    selection = selection[selection["layer"].astype(str) != WEIGHTED_LAYER]
    fraction = selection.groupby(["dataset", "task", "model"])["train_fraction"].transform("max")
    selection = selection[selection["train_fraction"] == fraction]
    keys = ["dataset", "task", "model", "window_s", "hop_s"]
    per_probe = selection.groupby([*keys, "layer", "probe"], sort=False)["validation_value"].mean()
    per_layer = per_probe.groupby(level=[*keys, "layer"], sort=False).max().dropna()
    best = {}
    for key, values in per_layer.groupby(level=keys, sort=False):
        best[tuple(key)] = str(values.idxmax()[-1])
    return best


def _best_layer(best: dict[tuple, str], dataset: Dataset, task: str, model: ModelEntry) -> str:
    """The model's layer on the map: its only one, or its best by validation."""
    layers = model.model.layers
    if len(layers) == 1:
        return layers[0]
    layer = best.get((dataset.name, task, model.name, model.window_s, model.hop_s))
    return layer if layer in layers else layers[-1]


def _pooled(
    store: Store,
    experiment: Experiment,
    dataset: Dataset,
    model: ModelEntry,
    condition: Condition,
    tracks: list[Track],
    where: str,
) -> np.ndarray:
    """``[layers, tracks, dim]`` the tracks' pooled embeddings under ``condition``."""
    seed = experiment.config.protocol.seed
    pooling = experiment.config.embedding.pooling
    method = "mean" if pooling == "none" else pooling
    keys = [embedding_key(model, t, condition, seed=seed, dataset=dataset) for t in tracks]
    vectors = []
    for start in range(0, len(keys), _READ_CHUNK):
        try:
            stored = store.get_many(keys[start : start + _READ_CHUNK])
        except KeyError as missing:
            track = tracks[keys.index(missing.args[0])]
            raise DataError(
                f"{where}, condition '{condition.label}': no embedding of track '{track.id}' "
                "in the cache for the embedding views; run `mir_ref extract` first, or draw "
                "the views stored earlier with `mir_ref report --run <output_dir>` (no cache "
                "needed), or turn them off (report: {drift: false, similarity: false, maps: [])"
            ) from None
        vectors += [pool(np.asarray(entry, dtype=np.float32), method) for entry in stored]
    return np.stack(vectors, axis=1)
