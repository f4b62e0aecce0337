"""The training stage: pooled embeddings → probes (grid × seeds) → stored predictions.

Probes train on clean train/validation audio and predict every test condition (train clean,
test deformed). A condition with ``apply_to: train`` or ``both`` gets its own probe, trained on
deformed train/validation audio and tested on clean or deformed test audio. Each (dataset,
task, model, layer, probe, seed) writes one predictions file (all conditions in it), keyed
by everything that produced it, so a rerun skips what is done. A model entry with ``weighted:
true`` has one more layer, ``weighted``: probes that learn layer weights train on all its
layers at once, and the weights they learn are stored with their predictions.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mir_ref import progress
from mir_ref.config import Condition, Experiment, ModelEntry, ProtocolConfig
from mir_ref.datasets.base import Dataset, Track
from mir_ref.errors import DataError, MirRefError
from mir_ref.plan import component_material, embedding_key
from mir_ref.probes.bags import Bags
from mir_ref.probes.base import Probe
from mir_ref.probes.selection import expand_grid, select
from mir_ref.results import WEIGHTED_LAYER
from mir_ref.store import Store, atomic_write, cache_key
from mir_ref.tasks import Task

log = logging.getLogger(__name__)


def pool(windows: np.ndarray, method: str) -> np.ndarray:
    """Pool ``[layers, windows, dim]`` to one track vector per layer, ``[layers, dim']``."""
    if method == "mean":
        return windows.mean(axis=1)
    if method == "max":
        return windows.max(axis=1)
    if method == "mean_std":
        return np.concatenate([windows.mean(axis=1), windows.std(axis=1)], axis=-1)
    raise ValueError(f"pooling '{method}' is not one of mean, max, mean_std")


def safe_name(name: str) -> str:
    """A file-system-safe version of a user-given name."""
    return re.sub(r"[^A-Za-z0-9._=@+-]+", "_", name) or "_"


def predictions_path(output_dir: Path, *parts: str) -> Path:
    """``<output_dir>/predictions/<dataset>/<task>/<model>/<layer>/<probe>/seed<k>.npz``."""
    *folders, last = [safe_name(p) for p in parts]
    return output_dir.joinpath("predictions", *folders, f"{last}.npz")


@dataclass
class _Split:
    tracks: list[Track]
    keys: list[str]


@dataclass
class _Items:
    """A split as probe inputs: ``x`` is ``[layers, items, dim]``.

    With ``pooling: none`` an item is one window of a track and ``owner[i]`` the row of its
    track; otherwise an item is a whole track (``owner`` is ``arange``).
    """

    x: np.ndarray
    owner: np.ndarray

    def per_item(self, track_values: np.ndarray) -> np.ndarray:
        """Track-level labels repeated for each item."""
        return track_values[self.owner]

    def to_tracks(self, scores: np.ndarray) -> np.ndarray:
        """Item scores averaged per track: window predictions become track predictions."""
        tracks = int(self.owner.max()) + 1 if len(self.owner) else 0
        if len(self.owner) == tracks:
            return scores
        sums = np.zeros((tracks, *scores.shape[1:]), dtype=np.float64)
        np.add.at(sums, self.owner, scores)
        counts = np.bincount(self.owner, minlength=tracks).reshape(-1, *[1] * (scores.ndim - 1))
        return (sums / counts).astype(np.float32)

    def predict(self, probe: Probe, layer_index: int | None) -> np.ndarray:
        """Track scores: a probe that pools windows itself gets each track's bag of windows;
        otherwise its item scores are averaged per track."""
        x = layer_input(self.x, layer_index)
        if probe.takes_bags:
            return probe.predict(Bags(x, self.owner))
        return self.to_tracks(probe.predict(x))


def layer_input(x: np.ndarray, layer_index: int | None) -> np.ndarray:
    """A probe's input from ``[layers, items, dim]``: one layer's ``[items, dim]``, or with
    ``layer_index`` None (the weighted layer) every layer, ``[items, layers, dim]``."""
    return x[layer_index] if layer_index is not None else x.transpose(1, 0, 2)


def _features(store: Store, split: _Split, pooling: str, where: str) -> _Items:
    """The probe inputs of a split: pooled track vectors, or every window (``none``)."""
    arrays, owners = [], []
    # Bulk reads (several times faster than one `get` per track), a chunk at a time so that
    # only pooled vectors, never every track's raw windows, are held at once.
    for start in range(0, len(split.keys), 256):
        try:
            stored = store.get_many(split.keys[start : start + 256])
        except KeyError as missing:
            track = split.tracks[split.keys.index(missing.args[0])]
            raise DataError(
                f"{where}: no embedding of track '{track.id}' in the cache; run "
                f"`mir_ref extract` first"
            ) from None
        for row, entry in enumerate(stored, start):
            windows = np.asarray(entry, dtype=np.float32)  # float16 stores pool in float32
            if pooling == "none":
                arrays.append(windows)
                owners.append(np.full(windows.shape[1], row))
            else:
                arrays.append(pool(windows, pooling)[:, None, :])
                owners.append(np.array([row]))
    return _Items(np.concatenate(arrays, axis=1).astype(np.float32), np.concatenate(owners))


@dataclass
class _FitGroup:
    """One probe per (layer, probe, seed): its training splits and the conditions it tests."""

    fit: dict[str, _Split]
    labels: list[str]


def _task_splits(
    experiment: Experiment, dataset: Dataset, task: str, model: ModelEntry
) -> tuple[list[_FitGroup], dict[str, _Split]]:
    """The training groups (clean first) and, per condition label, its test split."""
    seed = experiment.config.protocol.seed
    clean = experiment.conditions[0]

    def split_of(split: str, condition: Condition) -> _Split:
        tracks = dataset.task_tracks(task, split)
        if not tracks:
            raise DataError(
                f"dataset '{dataset.name}', task '{task}': the {split} split has no tracks"
            )
        keys = [embedding_key(model, t, condition, seed=seed, dataset=dataset) for t in tracks]
        return _Split(tracks, keys)

    def fit_of(condition: Condition) -> dict[str, _Split]:
        return {split: split_of(split, condition) for split in ("train", "validation")}

    tested_only = [c.label for c in experiment.conditions if c.apply_to == "test"]
    groups = [_FitGroup(fit_of(clean), tested_only)]
    groups += [
        _FitGroup(fit_of(c), [c.label]) for c in experiment.conditions if c.apply_to != "test"
    ]
    test = {
        c.label: split_of("test", clean if c.apply_to == "train" else c)
        for c in experiment.conditions
    }
    return groups, test


@dataclass
class _GridFit:
    """The winning setting's probes, one per seed, and the record of the selection."""

    probes: list[Probe]
    selection: dict[str, Any]


def train_subset(y: np.ndarray, fraction: float, *, task_type: str, seed: int) -> np.ndarray:
    """Sorted row indices of a seeded subset of ``fraction`` of the training items.

    Multiclass and key tasks are stratified: each class keeps ``round(fraction · count)`` of
    its items, at least one. Other task types draw ``round(fraction · n)`` items (at least
    one) uniformly. The subset depends only on the labels, the fraction and the seed, so every
    model and probe sees the same items.
    """
    n_items = len(y)
    if fraction >= 1.0:
        return np.arange(n_items)
    rng = np.random.default_rng([seed, round(fraction * 1_000_000)])
    if task_type not in ("multiclass", "key"):
        count = max(1, round(fraction * n_items))
        return np.sort(rng.permutation(n_items)[:count])
    rows = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        count = max(1, round(fraction * len(members)))
        rows.append(rng.permutation(members)[:count])
    return np.sort(np.concatenate(rows))


def _fit_grid(
    probe: Probe,
    x: dict[str, np.ndarray],
    y: dict[str, np.ndarray],
    layer_index: int | None,
    task: Task,
    seeds: list[int],
    protocol: ProtocolConfig,
    fraction: float,
    train_owner: np.ndarray,
    train_tracks: np.ndarray,
    validation_owner: np.ndarray,
    validation_tracks: np.ndarray,
    workers: int = 1,
) -> _GridFit:
    """Every grid setting × seed of ``probe`` on one layer (all layers, weighted, with
    ``layer_index`` None), and the winner's per-seed probes.

    The train split is cut to ``fraction`` of its tracks first (all windows of a kept track
    stay, with ``pooling: none``); the winner has the highest validation main metric averaged
    over seeds (see :mod:`mir_ref.probes.selection`), measured per item. A probe that pools
    windows itself (``takes_bags``) learns and is selected on tracks, given as bags.
    """
    kept = train_subset(train_tracks, fraction, task_type=task.type, seed=protocol.seed)
    rows = np.flatnonzero(np.isin(train_owner, kept))
    x_train, y_train = layer_input(x["train"], layer_index)[rows], y["train"][rows]
    x_validation, y_validation = layer_input(x["validation"], layer_index), y["validation"]
    if probe.takes_bags:
        x_train = Bags(x_train, np.searchsorted(kept, train_owner[rows]))
        y_train = train_tracks[kept]
        x_validation, y_validation = Bags(x_validation, validation_owner), validation_tracks
    settings = expand_grid(
        probe,
        protocol.grid,
        {"learning_rate": protocol.learning_rate, "weight_decay": protocol.weight_decay},
    )
    fitted = probe.fit_grid(
        x_train,
        y_train,
        x_validation,
        y_validation,
        task=task,
        settings=settings,
        seeds=seeds,
        epochs=protocol.epochs,
        patience=protocol.patience,
        workers=workers,
    )
    winner, values = select(fitted, x_validation, y_validation, task=task)
    selection = {
        "metric": task.main_metric,
        "selected": settings[winner],
        "grid": [
            {"setting": setting, "validation": None if np.isnan(value) else float(value)}
            for setting, value in zip(settings, values, strict=True)
        ],
        "train_items": len(kept),
    }
    return _GridFit(list(fitted[winner]), selection)


def _labels(task: Task, tracks: list[Track]) -> np.ndarray:
    return task.encode([t.labels[task.name] for t in tracks], track_ids=[t.id for t in tracks])


class _OneThreadOnceNeeded:
    """:class:`~mir_ref.probes.torch_probes.OneThread`, entered when a probe is first trained:
    a rerun that trains nothing never imports torch (over a second of a warm rerun)."""

    def __init__(self) -> None:
        self._context = None

    def enter(self) -> None:
        """Switch to one thread, once."""
        if self._context is None:
            from mir_ref.probes.torch_probes import OneThread

            self._context = OneThread()
            self._context.__enter__()

    def __enter__(self) -> _OneThreadOnceNeeded:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._context is not None:
            self._context.__exit__(*exc_info)


def train(experiment: Experiment, *, cell: tuple[str, str, str, str] | None = None) -> list[Path]:
    """Train every probe × seed on every (dataset, task, model, layer); write predictions.

    ``cell`` — ``(dataset name, task name, model id, layer)`` — trains that one cell of the
    grid and writes exactly the files a full run writes for it (distributed backends run the
    cells as separate tasks).
    """
    from mir_ref.preflight import apply_recorded

    apply_recorded(experiment)  # bad audio skipped by extraction, also when run alone
    store = Store.of(experiment)
    protocol = experiment.config.protocol
    pooling = experiment.config.embedding.pooling
    jobs = [
        (dataset, task, model)
        for dataset in experiment.datasets
        for task in dataset.tasks.values()
        for model in experiment.models
        if cell is None or (dataset.name, task.name, model.id) == cell[:3]
    ]
    seeds = list(range(protocol.seed, protocol.seed + protocol.seeds))
    per_probe = len(protocol.train_fraction) * len(seeds)
    written: list[Path] = []
    trained = skipped = 0
    total = per_probe * sum(
        len(probes_of(experiment, layer))
        for _, _, model in jobs
        for layer in model.probed_layers
        if cell is None or layer == cell[3]
    )
    # Options that change what is trained; seeds are in because the winner is chosen on them.
    trained_by = protocol.model_dump(exclude={"seed", "n_bootstrap", "train_fraction"})
    trained_by["seeds"] = seeds
    # One thread-count switch for the whole stage instead of one per fit and per predict.
    with progress.bar("train", total) as advance, _OneThreadOnceNeeded() as one_thread:
        for dataset, task, model in jobs:
            where = f"dataset '{dataset.name}', task '{task.name}', model '{model.id}'"
            groups, test = _task_splits(experiment, dataset, task.name, model)

            # Read the embeddings only when a probe is trained: a rerun skips them all.
            @functools.cache
            def inputs(groups=groups, test=test, task=task, where=where) -> tuple:
                one_thread.enter()
                items = [
                    {n: _features(store, split, pooling, where) for n, split in g.fit.items()}
                    for g in groups
                ]
                test_items = {
                    label: _features(store, split, pooling, where) for label, split in test.items()
                }
                track_labels = [
                    {n: _labels(task, split.tracks) for n, split in g.fit.items()} for g in groups
                ]
                x = [{name: split.x for name, split in group.items()} for group in items]
                y = [
                    {name: split.per_item(labels[name]) for name, split in group.items()}
                    for group, labels in zip(items, track_labels, strict=True)
                ]
                return items, test_items, track_labels, x, y

            fit_keys: dict[str, Any] = {"fit": [s.keys for s in groups[0].fit.values()]}
            if len(groups) > 1:
                fit_keys["fit_deformed"] = [[s.keys for s in g.fit.values()] for g in groups[1:]]
            y_test = {label: _labels(task, split.tracks) for label, split in test.items()}
            for layer_index, layer in enumerate(model.probed_layers):
                if cell is not None and layer != cell[3]:
                    continue
                weighted = layer == WEIGHTED_LAYER
                index_of_layer = None if weighted else layer_index
                fractions = protocol.train_fraction
                probes = probes_of(experiment, layer)
                for probe, fraction in itertools.product(probes, fractions):
                    material = {
                        "kind": "predictions",
                        "embeddings": cache_key(
                            {**fit_keys, "test": [s.keys for s in test.values()]}
                        ),
                        "layer": layer,
                        "window_s": model.window_s,
                        "hop_s": model.hop_s,
                        "pooling": pooling,
                        "task": {"type": task.type, "classes": task.classes},
                        "probe": component_material(probe, probe.label()),
                        "protocol": trained_by,
                        "train_fraction": fraction,
                    }
                    if weighted:
                        material["layers"] = list(model.model.layers)
                    keys = [cache_key({**material, "seed": seed}) for seed in seeds]
                    parts = [dataset.name, task.name, model.id, layer, probe.label()]
                    if fraction != 1.0:
                        parts.append(f"fraction{fraction:g}")
                    paths = [
                        predictions_path(experiment.output_dir, *parts, f"seed{seed}")
                        for seed in seeds
                    ]
                    if all(_stored_key(p) == k for p, k in zip(paths, keys, strict=True)):
                        skipped += len(seeds)
                        written.extend(paths)
                        advance(len(seeds))
                        continue
                    items, test_items, track_labels, x, y = inputs()
                    scores: list[dict[str, np.ndarray]] = [{} for _ in seeds]
                    fits = zip(groups, x, y, items, track_labels, strict=True)
                    for group, x_fit, y_fit, fit_items, fit_labels in fits:
                        try:
                            grid_fit = _fit_grid(
                                probe,
                                x_fit,
                                y_fit,
                                index_of_layer,
                                task,
                                seeds,
                                protocol,
                                fraction,
                                train_owner=fit_items["train"].owner,
                                train_tracks=fit_labels["train"],
                                validation_owner=fit_items["validation"].owner,
                                validation_tracks=fit_labels["validation"],
                                workers=experiment.config.execution.train_threads,
                            )
                        except MirRefError as error:
                            trained_on = "" if group is groups[0] else f" ({group.labels[0]})"
                            raise type(error)(
                                f"{where}, layer '{layer}', probe "
                                f"'{probe.label()}', train_fraction {fraction:g}{trained_on}: "
                                f"{error}"
                            ) from None
                        if group is groups[0]:
                            clean_fit = grid_fit
                        for per_seed, fitted in zip(scores, grid_fit.probes, strict=True):
                            for label in group.labels:
                                per_seed[label] = test_items[label].predict(fitted, index_of_layer)
                    for index, seed in enumerate(seeds):
                        meta = {
                            "key": keys[index],
                            "dataset": dataset.name,
                            "task": task.name,
                            "model": model.name,
                            "layer": layer,
                            "window_s": model.window_s,
                            "hop_s": model.hop_s,
                            "probe": probe.label(),
                            "seed": seed,
                            "train_fraction": fraction,
                            "conditions": [
                                {"label": c.label, "deformation": c.title, "strength": c.strength}
                                for c in experiment.conditions
                            ],
                            "epochs": int(getattr(clean_fit.probes[index], "n_epochs_", 0)),
                            "selection": clean_fit.selection,
                        }
                        if weighted:
                            weights = clean_fit.probes[index].layer_weights_
                            meta["layer_weights"] = dict(
                                zip(model.model.layers, map(float, weights), strict=True)
                            )
                        _write_predictions(paths[index], meta, test, y_test, scores[index])
                    written.extend(paths)
                    trained += len(seeds)
                    advance(len(seeds))
    log.info("training: %d probes trained, %d found done", trained, skipped)
    return written


def probes_of(experiment: Experiment, layer: str) -> list[Probe]:
    """The probes trained on ``layer``: all of them, or on the weighted layer those that
    learn layer weights."""
    if layer != WEIGHTED_LAYER:
        return list(experiment.probes)
    return [probe for probe in experiment.probes if probe.learns_layer_weights]


def _write_predictions(
    path: Path,
    meta: dict[str, Any],
    test: dict[str, _Split],
    y_test: dict[str, np.ndarray],
    scores: dict[str, np.ndarray],
) -> None:
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta))}
    for index, condition in enumerate(meta["conditions"]):
        label = condition["label"]
        arrays[f"track_ids_{index}"] = np.array([t.id for t in test[label].tracks])
        arrays[f"y_true_{index}"] = y_test[label]
        arrays[f"y_score_{index}"] = np.asarray(scores[label], dtype=np.float32)
    atomic_write(path, lambda file: np.savez(file, **arrays))


def read_predictions(path: Path) -> tuple[dict[str, Any], list[dict[str, np.ndarray]]]:
    """Metadata and, per condition, ``track_ids``, ``y_true`` and ``y_score`` of one file."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        per_condition = [
            {
                "track_ids": data[f"track_ids_{i}"],
                "y_true": data[f"y_true_{i}"],
                "y_score": data[f"y_score_{i}"],
            }
            for i in range(len(meta["conditions"]))
        ]
    return meta, per_condition


def _stored_key(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return json.loads(str(data["meta"]))["key"]
    except Exception:  # an unreadable file is redone, never trusted
        return None
