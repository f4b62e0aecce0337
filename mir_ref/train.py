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
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mir_ref import progress
from mir_ref.config import ProtocolConfig
from mir_ref.errors import DataError, MirRefError
from mir_ref.experiment import Condition, Experiment
from mir_ref.plan import (
    ConditionLabels,
    Split,
    predictions_jobs,
    probes_of,
    protocol_seeds,
    task_cells,
    training_cells,
)
from mir_ref.predictions import stored_key, write_predictions
from mir_ref.probes.bags import Bags
from mir_ref.probes.base import Probe
from mir_ref.probes.selection import expand_grid, select
from mir_ref.probes.torch_probes import OneThread
from mir_ref.skips import apply_recorded
from mir_ref.store import Store
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


def _features(store: Store, split: Split, pooling: str, where: str) -> _Items:
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


def _encoded_or_missing(task: Task, labels: list[Any]) -> np.ndarray:
    """Encoded labels with ``-1`` (NaN for regression) where a label is None (it moved
    outside the vocabulary)."""
    present = [index for index, label in enumerate(labels) if label is not None]
    encoded = task.encode([labels[i] for i in present])
    missing = task.task_type.missing_label()
    out = np.full((len(labels), *encoded.shape[1:]), missing, dtype=encoded.dtype)
    out[present] = encoded
    return out


class _OneThreadOnceNeeded:
    """:class:`~mir_ref.probes.torch_probes.OneThread`, entered when a probe is first trained:
    a rerun that trains nothing never imports torch (over a second of a warm rerun)."""

    def __init__(self) -> None:
        self._context = None

    def enter(self) -> None:
        """Switch to one thread, once."""
        if self._context is None:
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
    apply_recorded(experiment)  # bad audio skipped by extraction, also when run alone
    store = Store.of(experiment)
    protocol = experiment.config.protocol
    pooling = experiment.config.embedding.pooling
    seeds = protocol_seeds(protocol)
    per_probe = len(protocol.train_fraction) * len(seeds)
    written: list[Path] = []
    trained = skipped = 0
    total = per_probe * sum(
        len(probes_of(experiment, layer))
        for *_, layer in (c for c in training_cells(experiment) if cell in (None, c))
    )
    # One thread-count switch for the whole stage instead of one per fit and per predict.
    with progress.bar("train", total) as advance, _OneThreadOnceNeeded() as one_thread:
        for task_cell in task_cells(experiment, cell=cell):
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
            for job in predictions_jobs(experiment, task_cell, layer=layer):
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
                    _write(paths[index], meta, task, test, task_cell.y_test, scores[index])
                written.extend(paths)
                trained += len(seeds)
                advance(len(seeds))
    log.info("training: %d probes trained, %d found done", trained, skipped)
    return written


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


def _write(
    path: Path,
    meta: dict[str, Any],
    task: Task,
    test: dict[str, Split],
    y_test: dict[str, np.ndarray],
    scores: dict[str, np.ndarray],
) -> None:
    """One predictions file: per test condition, its tracks, the labels scored, the scores
    and, where the labels moved with the audio, both labels of each item."""
    per_condition = []
    for condition in meta["conditions"]:
        split = test[condition["label"]]
        arrays = {
            "track_ids": np.array([t.id for t in split.tracks]),
            "y_true": y_test[condition["label"]],
            "y_score": np.asarray(scores[condition["label"]], dtype=np.float32),
        }
        if split.labels.moves:  # both labels of each item, for the pitch-equivariance view
            arrays["y_clean"] = task.encode(split.labels.clean)
            arrays["y_moved"] = _encoded_or_missing(task, split.labels.moved)
        per_condition.append(arrays)
    write_predictions(path, meta, per_condition)
