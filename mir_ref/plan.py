"""The experiment grid as units of work, each with the cache key of what it produces.

Every job and every key of every stage is made here, for every backend: extraction units
(:func:`extraction_units`, :func:`embedding_key`), training cells with their predictions
files and keys (:func:`task_cells`, :func:`predictions_jobs`, :func:`planned_predictions`,
:func:`training_cells`), and the key of what evaluation and report read (:func:`outputs_key`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

import mir_ref
from mir_ref import provenance, registry
from mir_ref.config import ProtocolConfig
from mir_ref.datasets.base import Dataset, Track
from mir_ref.datasets.corpus import unfolded_name
from mir_ref.errors import ConfigError, DataError, MirRefError
from mir_ref.experiment import Condition, Experiment, ModelEntry
from mir_ref.paths import colliding_file_names, safe_name
from mir_ref.predictions import predictions_path, stored_key
from mir_ref.probes.base import Probe
from mir_ref.results import WEIGHTED_LAYER
from mir_ref.skips import apply_recorded
from mir_ref.store import cache_key
from mir_ref.tasks import LabelChange, Task

log = logging.getLogger(__name__)


def component_material(component: object, type_name: str) -> dict:
    """What identifies a configured component in a cache key: name, parameters, version."""
    return {
        "type": type_name,
        "params": registry.parameters(component),
        "version": getattr(component, "version", "1"),
    }


def embedding_key(
    model: ModelEntry,
    track: Track,
    condition: Condition,
    *,
    seed: int,
    dataset: Dataset,
) -> str:
    """Cache key of one track of ``dataset`` embedded by one model under one audio condition.

    The audio is keyed by its file's identity (:attr:`Track.identity`); a deformation also by
    what draws its noise (:func:`noise_source`), so the same file in two datasets, deformed
    with different noise, has two keys.
    """
    deformation = None
    if condition.deformation is not None:
        deformation = {
            **component_material(condition.deformation, condition.type),
            "seed": seed,
            "noise": noise_source(dataset, track),
        }
    return cache_key(
        {
            "kind": "embedding",
            "model": component_material(model.model, model.type),
            "track": track.identity,
            "deformation": deformation,
            "window_s": model.window_s,
            "hop_s": model.hop_s,
        }
    )


def noise_source(dataset: Dataset, track: Track) -> str:
    """What a track's deformation noise is drawn from: its dataset's name and its id.

    Not the file's path or modification time: a dataset moved or copied elsewhere deforms
    into the same audio. The folds of ``split: all`` share their dataset's name, so a track
    deformed in several folds is deformed alike (and embedded once).
    """
    return f"{unfolded_name(dataset.name)}|{track.id}"


def track_rng(
    seed: int, dataset: Dataset, track: Track, condition: Condition
) -> np.random.Generator:
    """The random generator of one deformation of one track: same inputs, same noise."""
    # Without the entry's name: entries that differ only in name (apply_to, labels) share
    # their embeddings' cache keys, so they must deform with the same noise too.
    label = replace(condition, name="", labels="follow").label
    digest = hashlib.sha256(f"{noise_source(dataset, track)}|{label}".encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


@dataclass
class ConditionLabels:
    """One split's items under one condition, and their labels.

    Attributes
    ----------
    tracks : the items of the condition, in split order: those whose label moved outside the
        task's vocabulary are left out (``labels: follow`` only).
    scored : the label each item is scored against: moved with the audio (``labels: follow``)
        or the clean track's (``labels: keep``).
    clean : each item's own (clean-audio) label.
    moved : each item's label moved with the audio; None where it left the vocabulary or the
        change has no mapping (a fractional shift under ``labels: keep``).
    left_out : how many items were left out.
    moves : whether the condition moves this task's labels at all (a pitch shift on a pitch
        task; not noise, not a genre task).
    """

    tracks: list[Track]
    scored: list[Any]
    clean: list[Any]
    moved: list[Any]
    left_out: int
    moves: bool


def condition_labels(task: Task, tracks: list[Track], condition: Condition) -> ConditionLabels:
    """The labels of ``tracks`` for ``task`` under ``condition``: the one place where labels
    follow the audio.

    With ``labels: follow`` (the default) a pitch shift by n semitones moves pitch classes,
    MIDI pitches and key tonics by n, and a time stretch at rate r multiplies tempi by r
    (:meth:`~mir_ref.tasks.Task.moved_labels`); an item whose moved label falls outside the
    vocabulary is left out of this condition and counted. With ``labels: keep`` every item is
    scored against its clean label. The same labels train the probes of ``apply_to: train |
    both`` conditions and are stored with the predictions they score.
    """
    clean = [track.labels[task.name] for track in tracks]
    # Under `labels: keep` the moved labels are still worked out where they can be: they show
    # whether predictions followed the audio (the pitch-equivariance view).
    change = condition.deformation.label_change() if condition.deformation else LabelChange()
    keep = condition.labels == "keep"
    if change is None and not keep and task.label_kind != "none":
        raise ConfigError(  # refused when the config is read; a guard for Python callers
            f"deformation '{condition.title}', task '{task.name}': the deformation does not "
            f"declare what it does to {task.label_kind} labels"
        )
    if change is None or not task.kind.moved_by(change):
        return ConditionLabels(list(tracks), clean, clean, clean, 0, False)
    if keep:
        defined = task.label_map_problem(change) is None
        moved = task.moved_labels(clean, change) if defined else [None] * len(clean)
        return ConditionLabels(list(tracks), clean, clean, moved, 0, True)
    try:
        moved = task.moved_labels(clean, change)
    except ValueError as error:
        raise ConfigError(f"deformation '{condition.title}': {error}") from None
    kept = [index for index, label in enumerate(moved) if label is not None]
    return ConditionLabels(
        [tracks[i] for i in kept],
        [moved[i] for i in kept],
        [clean[i] for i in kept],
        [moved[i] for i in kept],
        len(tracks) - len(kept),
        True,
    )


def condition_tracks(dataset: Dataset, condition: Condition) -> list[Track]:
    """Tracks that need embeddings under ``condition``.

    All of them when clean; for a deformation, the splits it applies to: test (``apply_to:
    test``), train and validation (``train``), or all (``both``).
    """
    if condition.deformation is None or condition.apply_to == "both":
        tracks = dataset.tracks()
    elif condition.apply_to == "train":
        tracks = dataset.tracks("train") + dataset.tracks("validation")
    else:
        tracks = dataset.tracks("test")
    return [t for t in tracks if any(task in t.labels for task in dataset.tasks)]


@dataclass
class ExtractionUnit:
    """One track under one condition, and the models whose embeddings it still needs."""

    dataset: Dataset
    condition: Condition
    track: Track
    keys: dict[str, str]


def extraction_units(experiment: Experiment) -> list[ExtractionUnit]:
    """Every (dataset, condition, track) with the embedding key of each model.

    Track by track: a track's conditions follow one another, so whoever extracts them in
    order decodes the track once (:func:`mir_ref.units.decode_unit` keeps the last one).
    """
    seed = experiment.config.protocol.seed
    units = []
    for dataset in experiment.datasets:
        wanted = [
            (condition, {track.id for track in condition_tracks(dataset, condition)})
            for condition in experiment.conditions
        ]
        for track in dataset.tracks():
            for condition, tracks in wanted:
                if track.id not in tracks:
                    continue
                keys = {
                    model.id: embedding_key(model, track, condition, seed=seed, dataset=dataset)
                    for model in experiment.models
                }
                units.append(ExtractionUnit(dataset, condition, track, keys))
    return units


# -- training: cells, predictions jobs and their keys -----------------------------------


@dataclass
class Split:
    """One split of a task under one condition: its tracks, their embedding keys and their
    labels (moved with the audio, or kept)."""

    tracks: list[Track]
    keys: list[str]
    labels: ConditionLabels


@dataclass
class FitGroup:
    """One probe per (layer, probe, seed): its training splits and the conditions it tests."""

    fit: dict[str, Split]
    labels: list[str]


def task_splits(
    experiment: Experiment, dataset: Dataset, task: Task, model: ModelEntry
) -> tuple[list[FitGroup], dict[str, Split]]:
    """The training groups (clean first) and, per condition label, its test split; each
    split's items and labels are those of its condition (labels follow the audio)."""
    seed = experiment.config.protocol.seed
    clean = experiment.conditions[0]

    def split_of(split: str, condition: Condition) -> Split:
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
        return Split(labels.tracks, keys, labels)

    def fit_of(condition: Condition) -> dict[str, Split]:
        return {split: split_of(split, condition) for split in ("train", "validation")}

    tested_only = [c.label for c in experiment.conditions if c.apply_to == "test"]
    groups = [FitGroup(fit_of(clean), tested_only)]
    groups += [
        FitGroup(fit_of(c), [c.label]) for c in experiment.conditions if c.apply_to != "test"
    ]
    test = {
        c.label: split_of("test", clean if c.apply_to == "train" else c)
        for c in experiment.conditions
    }
    return groups, test


def split_labels(task: Task, split: Split) -> np.ndarray:
    """The encoded labels a split is trained or scored on (moved with the audio, or kept)."""
    return task.encode(split.labels.scored, track_ids=[t.id for t in split.tracks])


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
class TaskCell:
    """One (dataset, task, model) of the grid: its splits with their encoded labels, and the
    key material every predictions file of the cell shares."""

    dataset: Dataset
    task: Task
    model: ModelEntry
    groups: list[FitGroup]
    test: dict[str, Split]
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


def task_cells(
    experiment: Experiment, *, cell: tuple[str, str, str, str] | None = None
) -> Iterator[TaskCell]:
    """Every (dataset, task, model) of the grid (only ``cell``'s when given), in grid order."""
    for dataset in experiment.datasets:
        for task in dataset.tasks.values():
            for model in experiment.models:
                if cell is not None and (dataset.name, task.name, model.id) != cell[:3]:
                    continue
                groups, test = task_splits(experiment, dataset, task, model)
                fit_labels = [
                    {name: split_labels(task, split) for name, split in group.fit.items()}
                    for group in groups
                ]
                y_test = {label: split_labels(task, split) for label, split in test.items()}
                yield TaskCell(dataset, task, model, groups, test, fit_labels, y_test)


@dataclass
class PredictionsJob:
    """One (layer, probe, train fraction) of a task cell: one predictions file per seed."""

    layer_index: int | None
    """The layer's row in the embeddings; None for the weighted layer (every row)."""
    layer: str
    probe: Probe
    fraction: float
    keys: list[str]
    paths: list[Path]


def predictions_jobs(
    experiment: Experiment, task_cell: TaskCell, *, layer: str | None = None
) -> Iterator[PredictionsJob]:
    """The predictions files of a task cell (of one ``layer`` when given) and their keys."""
    protocol = experiment.config.protocol
    seeds = protocol_seeds(protocol)
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
            yield PredictionsJob(
                None if weighted else layer_index,
                layer_name,
                probe,
                fraction,
                keys=[cache_key({**material, "seed": seed}) for seed in seeds],
                paths=[
                    predictions_path(experiment.output_dir, *parts, f"seed{seed}") for seed in seeds
                ],
            )


def protocol_seeds(protocol: ProtocolConfig) -> list[int]:
    """The seeds every probe setting is trained with."""
    return list(range(protocol.seed, protocol.seed + protocol.seeds))


def planned_predictions(experiment: Experiment) -> dict[Path, str]:
    """Every predictions file the config asks for, with the key its contents must carry.

    The key covers the embeddings read, the labels and split membership of every track
    trained on and scored against, the probe and the protocol: a stored file with another
    key was made from something else than what the config now gives.
    """
    apply_recorded(experiment)  # the tracks training left out
    return {
        path: key
        for task_cell in task_cells(experiment)
        for job in predictions_jobs(experiment, task_cell)
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


def probes_of(experiment: Experiment, layer: str) -> list[Probe]:
    """The probes trained on ``layer``: all of them, or on the weighted layer those that
    learn layer weights."""
    if layer != WEIGHTED_LAYER:
        return list(experiment.probes)
    return [probe for probe in experiment.probes if probe.learns_layer_weights]


Cell = tuple[str, str, str, str]
"""A cell of the training grid: ``(dataset name, task name, model id, layer)``."""


def training_cells(experiment: Experiment) -> list[Cell]:
    """Every cell of the training grid, in the order the trainer visits them; each backend
    trains them (the local one in turn, Ray one task each)."""
    return [
        (dataset.name, task.name, model.id, layer)
        for dataset in experiment.datasets
        for task in dataset.tasks.values()
        for model in experiment.models
        for layer in model.probed_layers
    ]


def groups_of_test_tracks(experiment: Experiment) -> dict[str, dict[str, str | None]]:
    """``{dataset: {test track id: group}}`` for the datasets whose test tracks declare groups.

    Bootstrap intervals and paired tests resample these groups instead of the tracks (see
    :mod:`mir_ref.bootstrap`); a dataset without groups is left out (tracks resampled).
    """
    groups = {}
    for dataset in experiment.datasets:
        tracks = dataset.tracks("test")
        if any(track.group is not None for track in tracks):
            groups[dataset.name] = {track.id: track.group for track in tracks}
    return groups


RUN_FILES_BY_CONTENT = ("models.json", "skipped.csv")
"""Run files that every run rewrites: the outputs key reads their content, not their time."""


def outputs_key(experiment: Experiment) -> str:
    """A key of everything evaluation, comparison and report read: the resolved config, the
    predictions and run files as they are on disk, and the mir_ref code itself."""

    def state(paths: list[Path], root: Path) -> list[tuple[str, int, int]]:
        stats = [(path, path.stat()) for path in paths if path.is_file()]
        return sorted((str(p.relative_to(root)), s.st_size, s.st_mtime_ns) for p, s in stats)

    out = experiment.output_dir
    code = Path(mir_ref.__file__).parent
    run_files: dict[str, Any] = {
        name: (out / name).read_text() if (out / name).is_file() else None
        for name in RUN_FILES_BY_CONTENT
    }
    # provenance.json's time of writing and stage timings change on every run; what it
    # identifies (data, models, packages) is what the report's reproduction section shows.
    recorded = provenance.read(out) or {}
    run_files["provenance"] = {k: recorded.get(k) for k in ("datasets", "models", "packages")}
    return cache_key(
        {
            "kind": "outputs",
            "config": experiment.resolved(),
            "predictions": state(list((out / "predictions").rglob("*.npz")), out),
            "run_files": run_files,
            # The bootstrap resamples the test tracks' groups, which no predictions key holds.
            "groups": groups_of_test_tracks(experiment),
            "code": state(list(code.rglob("*.py")) + list(code.rglob("*.j2")), code),
        }
    )
