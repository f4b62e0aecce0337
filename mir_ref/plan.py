"""The experiment grid as units of work, each with the cache key of what it produces."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mir_ref import registry
from mir_ref.config import Condition, Experiment, ModelEntry
from mir_ref.datasets.base import Dataset, Track
from mir_ref.datasets.corpus import unfolded_name
from mir_ref.errors import ConfigError
from mir_ref.store import cache_key
from mir_ref.tasks import LabelChange, Task


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
    order decodes the track once (:func:`mir_ref.extract.decode_unit` keeps the last one).
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
