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
import hashlib
import itertools
import json
import logging
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mir_ref import progress
from mir_ref.config import Condition, Experiment, ModelEntry, ProtocolConfig
from mir_ref.datasets.base import Dataset, Track
from mir_ref.errors import ConfigError, DataError, MirRefError
from mir_ref.paths import colliding_file_names, safe_name
from mir_ref.plan import ConditionLabels, component_material, condition_labels, embedding_key
from mir_ref.probes.bags import Bags
from mir_ref.probes.base import Probe
from mir_ref.probes.selection import expand_grid, select
from mir_ref.results import WEIGHTED_LAYER
from mir_ref.store import Store, atomic_write, cache_key
from mir_ref.tasks import TASK_TYPES, Task

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


def predictions_path(output_dir: Path, *parts: str) -> Path:
    """``<output_dir>/predictions/<dataset>/<task>/<model>/<layer>/<probe>/seed<k>.npz``."""
    *folders, last = [safe_name(p) for p in parts]
    return output_dir.joinpath("predictions", *folders, f"{last}.npz")


@dataclass
class _Split:
    tracks: list[Track]
    keys: list[str]
    labels: ConditionLabels


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
    experiment: Experiment, dataset: Dataset, task: Task, model: ModelEntry
) -> tuple[list[_FitGroup], dict[str, _Split]]:
    """The training groups (clean first) and, per condition label, its test split; each
    split's items and labels are those of its condition (labels follow the audio)."""
    seed = experiment.config.protocol.seed
    clean = experiment.conditions[0]

    def split_of(split: str, condition: Condition) -> _Split:
        tracks = dataset.task_tracks(task.name, split)
        where = f"dataset '{dataset.name}', task '{task.name}'"
        if not tracks:
            raise DataError(f"{where}: the {split} split has no tracks")
        labels = condition_labels(task, tracks, condition)
        if not labels.tracks:
            raise DataError(
                f"{where}, condition '{condition.label}': every label of the {split} split "
                f"moves outside the task's vocabulary; nothing is left to score"
            )
        keys = [
            embedding_key(model, t, condition, seed=seed, dataset=dataset) for t in labels.tracks
        ]
        return _Split(labels.tracks, keys, labels)

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

    Task types of one class per item (multiclass, key) are stratified: each class keeps
    ``round(fraction · count)`` of its items, at least one. Other task types draw
    ``round(fraction · n)`` items (at least one) uniformly. The subset depends only on the
    labels, the fraction and the seed, so every model and probe sees the same items.
    """
    n_items = len(y)
    if fraction >= 1.0:
        return np.arange(n_items)
    rng = np.random.default_rng([seed, round(fraction * 1_000_000)])
    if not TASK_TYPES[task_type].one_class:
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


def _labels(task: Task, split: _Split) -> np.ndarray:
    """The encoded labels a split is trained or scored on (moved with the audio, or kept)."""
    return task.encode(split.labels.scored, track_ids=[t.id for t in split.tracks])


def _encoded_or_missing(task: Task, labels: list[Any]) -> np.ndarray:
    """Encoded labels with ``-1`` (NaN for regression) where a label is None (it moved
    outside the vocabulary)."""
    present = [index for index, label in enumerate(labels) if label is not None]
    encoded = task.encode([labels[i] for i in present])
    missing = task.task_type.missing_label()
    out = np.full((len(labels), *encoded.shape[1:]), missing, dtype=encoded.dtype)
    out[present] = encoded
    return out


def scored_labels_key(parts: dict[str, tuple[Sequence[str], np.ndarray]]) -> str:
    """A hash of what probes learn from and are scored against, for their predictions' key.

    Parameters
    ----------
    parts : per part of the data (a training split such as ``"train"``, or a test
        condition), its track ids in order and their encoded labels ``[tracks, ...]``.

    Returns
    -------
    A hex digest that changes when a label changes, when a track moves to another split, and
    when tracks are added, removed or reordered: predictions made under other labels are
    retrained, never served.
    """
    digest = hashlib.sha256()
    for name in sorted(parts):
        track_ids, labels = parts[name]
        labels = np.ascontiguousarray(labels)
        header = [name, [str(t) for t in track_ids], labels.dtype.str, list(labels.shape)]
        digest.update(json.dumps(header).encode())
        digest.update(labels.tobytes())
    return digest.hexdigest()


@dataclass
class _TaskCell:
    """One (dataset, task, model) of the grid: its splits with their encoded labels, and the
    key material every predictions file of the cell shares."""

    dataset: Dataset
    task: Task
    model: ModelEntry
    groups: list[_FitGroup]
    test: dict[str, _Split]
    fit_labels: list[dict[str, np.ndarray]]
    """Per training group, per split: the encoded labels of its tracks."""
    y_test: dict[str, np.ndarray]
    """Per condition label: the encoded labels of its test tracks."""

    @property
    def where(self) -> str:
        """The cell in error messages."""
        return f"dataset '{self.dataset.name}', task '{self.task.name}', model '{self.model.id}'"

    def key_material(self) -> dict[str, Any]:
        """The embeddings read and the labels learnt and scored, as parts of a key."""
        fit_keys: dict[str, Any] = {"fit": [s.keys for s in self.groups[0].fit.values()]}
        if len(self.groups) > 1:
            fit_keys["fit_deformed"] = [[s.keys for s in g.fit.values()] for g in self.groups[1:]]
        parts = {
            f"fit{index}/{name}": ([t.id for t in split.tracks], labels[name])
            for index, (group, labels) in enumerate(zip(self.groups, self.fit_labels, strict=True))
            for name, split in group.fit.items()
        }
        parts.update(
            {
                f"test/{label}": ([t.id for t in split.tracks], self.y_test[label])
                for label, split in self.test.items()
            }
        )
        return {
            "embeddings": cache_key({**fit_keys, "test": [s.keys for s in self.test.values()]}),
            "labels": scored_labels_key(parts),
        }


def _task_cells(
    experiment: Experiment, *, cell: tuple[str, str, str, str] | None = None
) -> Iterator[_TaskCell]:
    """Every (dataset, task, model) of the grid (only ``cell``'s when given), in grid order."""
    for dataset in experiment.datasets:
        for task in dataset.tasks.values():
            for model in experiment.models:
                if cell is not None and (dataset.name, task.name, model.id) != cell[:3]:
                    continue
                groups, test = _task_splits(experiment, dataset, task, model)
                fit_labels = [
                    {name: _labels(task, split) for name, split in group.fit.items()}
                    for group in groups
                ]
                y_test = {label: _labels(task, split) for label, split in test.items()}
                yield _TaskCell(dataset, task, model, groups, test, fit_labels, y_test)


@dataclass
class _PredictionsJob:
    """One (layer, probe, train fraction) of a task cell: one predictions file per seed."""

    layer_index: int | None
    """The layer's row in the embeddings; None for the weighted layer (every row)."""
    layer: str
    probe: Probe
    fraction: float
    keys: list[str]
    paths: list[Path]


def _predictions_jobs(
    experiment: Experiment, task_cell: _TaskCell, *, layer: str | None = None
) -> Iterator[_PredictionsJob]:
    """The predictions files of a task cell (of one ``layer`` when given) and their keys."""
    protocol = experiment.config.protocol
    seeds = _seeds(protocol)
    # Options that change what is trained; seeds are in because the winner is chosen on them.
    trained_by = protocol.model_dump(exclude={"seed", "n_bootstrap", "train_fraction"})
    trained_by["seeds"] = seeds
    shared = task_cell.key_material()
    model, task = task_cell.model, task_cell.task
    layers = model.probed_layers
    for other, name in colliding_file_names(str(name) for name in layers):
        raise ConfigError(
            f"{task_cell.where}: layers '{other}' and '{name}' would share one predictions "
            f"folder ('{safe_name(name)}'); a model's layers need distinct file names"
        )
    for layer_index, layer_name in enumerate(layers):
        if layer is not None and layer_name != layer:
            continue
        weighted = layer_name == WEIGHTED_LAYER
        probes = probes_of(experiment, layer_name)
        for probe, fraction in itertools.product(probes, protocol.train_fraction):
            material = {
                "kind": "predictions",
                **shared,
                "layer": layer_name,
                "window_s": model.window_s,
                "hop_s": model.hop_s,
                "pooling": experiment.config.embedding.pooling,
                "task": {"type": task.type, "classes": task.classes, "label_kind": task.label_kind},
                # `labels: keep` and `follow` share embeddings, not labels.
                "conditions": [c.label for c in experiment.conditions],
                "probe": component_material(probe, probe.label()),
                "protocol": trained_by,
                "train_fraction": fraction,
            }
            if weighted:
                material["layers"] = list(model.model.layers)
            parts = [task_cell.dataset.name, task.name, model.id, layer_name, probe.label()]
            if fraction != 1.0:
                parts.append(f"fraction{fraction:g}")
            yield _PredictionsJob(
                None if weighted else layer_index,
                layer_name,
                probe,
                fraction,
                keys=[cache_key({**material, "seed": seed}) for seed in seeds],
                paths=[
                    predictions_path(experiment.output_dir, *parts, f"seed{seed}") for seed in seeds
                ],
            )


def _seeds(protocol: ProtocolConfig) -> list[int]:
    return list(range(protocol.seed, protocol.seed + protocol.seeds))


def planned_predictions(experiment: Experiment) -> dict[Path, str]:
    """Every predictions file the config asks for, with the key its contents must carry.

    The key covers the embeddings read, the labels and split membership of every track
    trained on and scored against, the probe and the protocol: a stored file with another
    key was made from something else than what the config now gives.
    """
    from mir_ref.preflight import apply_recorded

    apply_recorded(experiment)  # the tracks training left out
    return {
        path: key
        for task_cell in _task_cells(experiment)
        for job in _predictions_jobs(experiment, task_cell)
        for path, key in zip(job.paths, job.keys, strict=True)
    }


def current_predictions(experiment: Experiment) -> list[Path]:
    """The predictions files the config asks for, each checked to be made from what the
    config now gives (its labels, splits, embeddings, probes and protocol).

    Raises
    ------
    MirRefError
        None is there yet, or some are missing.
    DataError
        Some were made from something else (e.g. labels changed since): they would be scored
        against the labels they were trained with, not the config's.
    """
    folder = experiment.output_dir / "predictions"
    planned = planned_predictions(experiment)
    present = {path for path in planned if path.is_file()}
    if not present:
        raise MirRefError(f"no predictions under {folder}; run `mir_ref train` first")
    missing = sorted(set(planned) - present)
    if missing:
        raise MirRefError(
            f"{len(missing)} of the {len(planned)} predictions files the config asks for are "
            f"missing, e.g. {missing[0]}; run `mir_ref train` first"
        )
    stale = sorted(path for path, key in planned.items() if stored_key(path) != key)
    if stale:
        raise DataError(
            f"{len(stale)} predictions file(s) were made from other labels, splits, embeddings "
            f"or settings than the config now gives, e.g. {stale[0]} (or they are damaged); "
            "run `mir_ref train` (or `mir_ref run`) to retrain them"
        )
    others = sorted(set(folder.rglob("*.npz")) - set(planned))
    if others:
        log.warning(
            "leaving out %d predictions file(s) this config does not ask for, e.g. %s",
            len(others),
            others[0],
        )
    return sorted(planned)


class _OneThreadOnceNeeded:
    """:class:`~mir_ref.probes.torch_probes.OneThread`, entered when a probe is first trained:
    a rerun that trains nothing never imports torch (over a second of a warm rerun)."""

    def __init__(self) -> None:
        self._context = None

    def enter(self) -> None:
        """Switch to one thread, once."""
        if self._context is None:
            from mir_ref.probes.torch_probes import OneThread

            context = OneThread()
            context.__enter__()
            # Only once entered: leaving a context whose `import torch` was interrupted
            # (Ctrl-C) would import torch a second time, which crashes the interpreter.
            self._context = context

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
    seeds = _seeds(protocol)
    per_probe = len(protocol.train_fraction) * len(seeds)
    written: list[Path] = []
    trained = skipped = 0
    total = per_probe * sum(
        len(probes_of(experiment, layer))
        for _, _, model in jobs
        for layer in model.probed_layers
        if cell is None or layer == cell[3]
    )
    # One thread-count switch for the whole stage instead of one per fit and per predict.
    with progress.bar("train", total) as advance, _OneThreadOnceNeeded() as one_thread:
        for task_cell in _task_cells(experiment, cell=cell):
            task, where = task_cell.task, task_cell.where
            groups, test = task_cell.groups, task_cell.test

            # Read the embeddings only when a probe is trained: a rerun skips them all.
            @functools.cache
            def inputs(groups=groups, test=test, track_labels=task_cell.fit_labels, where=where):
                one_thread.enter()
                items = [
                    {n: _features(store, split, pooling, where) for n, split in g.fit.items()}
                    for g in groups
                ]
                test_items = {
                    label: _features(store, split, pooling, where) for label, split in test.items()
                }
                x = [{name: split.x for name, split in group.items()} for group in items]
                y = [
                    {name: split.per_item(labels[name]) for name, split in group.items()}
                    for group, labels in zip(items, track_labels, strict=True)
                ]
                return items, test_items, x, y

            layer = None if cell is None else cell[3]
            for job in _predictions_jobs(experiment, task_cell, layer=layer):
                probe, fraction, layer_index = job.probe, job.fraction, job.layer_index
                paths, keys = job.paths, job.keys
                if all(stored_key(p) == k for p, k in zip(paths, keys, strict=True)):
                    skipped += len(seeds)
                    written.extend(paths)
                    advance(len(seeds))
                    continue
                items, test_items, x, y = inputs()
                scores: list[dict[str, np.ndarray]] = [{} for _ in seeds]
                fits = zip(groups, x, y, items, task_cell.fit_labels, strict=True)
                for group, x_fit, y_fit, fit_items, fit_labels in fits:
                    try:
                        grid_fit = _fit_grid(
                            probe,
                            x_fit,
                            y_fit,
                            layer_index,
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
                            f"{where}, layer '{job.layer}', probe "
                            f"'{probe.label()}', train_fraction {fraction:g}{trained_on}: "
                            f"{error}"
                        ) from None
                    if group is groups[0]:
                        clean_fit = grid_fit
                    for per_seed, fitted in zip(scores, grid_fit.probes, strict=True):
                        for label in group.labels:
                            per_seed[label] = test_items[label].predict(fitted, layer_index)
                for index, seed in enumerate(seeds):
                    meta = {
                        "key": keys[index],
                        "dataset": task_cell.dataset.name,
                        "task": task.name,
                        "model": task_cell.model.name,
                        "layer": job.layer,
                        "window_s": task_cell.model.window_s,
                        "hop_s": task_cell.model.hop_s,
                        "probe": probe.label(),
                        "seed": seed,
                        "train_fraction": fraction,
                        "conditions": [
                            _condition_record(c, test[c.label].labels)
                            for c in experiment.conditions
                        ],
                        "epochs": int(getattr(clean_fit.probes[index], "n_epochs_", 0)),
                        "selection": clean_fit.selection,
                    }
                    if job.layer_index is None:  # the weighted layer: what it learned
                        weights = clean_fit.probes[index].layer_weights_
                        meta["layer_weights"] = dict(
                            zip(task_cell.model.model.layers, map(float, weights), strict=True)
                        )
                    _write_predictions(
                        paths[index], meta, task, test, task_cell.y_test, scores[index]
                    )
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


def _condition_record(condition: Condition, labels: ConditionLabels) -> dict[str, Any]:
    """A condition as the predictions file's metadata describes it: which labels its rows
    are scored against and how many test items it left out."""
    change = condition.deformation.label_change() if condition.deformation else None
    return {
        "label": condition.label,
        "deformation": condition.title,
        "strength": condition.strength,
        "labels": condition.labels,
        "semitones": None if change is None else change.semitones,
        "tempo_factor": None if change is None else change.tempo_factor,
        "labels_moved": labels.moves,
        "left_out": labels.left_out,
    }


def _write_predictions(
    path: Path,
    meta: dict[str, Any],
    task: Task,
    test: dict[str, _Split],
    y_test: dict[str, np.ndarray],
    scores: dict[str, np.ndarray],
) -> None:
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta))}
    for index, condition in enumerate(meta["conditions"]):
        split = test[condition["label"]]
        arrays[f"track_ids_{index}"] = np.array([t.id for t in split.tracks])
        arrays[f"y_true_{index}"] = y_test[condition["label"]]
        arrays[f"y_score_{index}"] = np.asarray(scores[condition["label"]], dtype=np.float32)
        if split.labels.moves:  # both labels of each item, for the pitch-equivariance view
            arrays[f"y_clean_{index}"] = task.encode(split.labels.clean)
            arrays[f"y_moved_{index}"] = _encoded_or_missing(task, split.labels.moved)
    atomic_write(path, lambda file: np.savez(file, **arrays))


def read_predictions(path: Path) -> tuple[dict[str, Any], list[dict[str, np.ndarray]]]:
    """Metadata and, per condition, ``track_ids``, ``y_true`` (the labels scored) and
    ``y_score`` of one file; where the condition moved the labels, also ``y_clean`` (each
    item's clean label) and ``y_moved`` (moved with the audio; -1 outside the vocabulary)."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        per_condition = []
        for i in range(len(meta["conditions"])):
            names = ("track_ids", "y_true", "y_score", "y_clean", "y_moved")
            per_condition.append(
                {name: data[f"{name}_{i}"] for name in names if f"{name}_{i}" in data.files}
            )
    return meta, per_condition


def stored_key(path: Path) -> str | None:
    """The key a predictions file carries, or None when it is absent or damaged (the CRC-32
    of every member is checked: a damaged file is redone, never trusted)."""
    if not path.is_file():
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            if archive.testzip() is not None:  # a member whose bytes changed
                return None
        with np.load(path, allow_pickle=False) as data:
            return json.loads(str(data["meta"]))["key"]
    except Exception:  # an unreadable file is redone, never trusted
        return None
