"""The experiment grid as units of work, each with the cache key of what it produces."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np

from mir_ref import registry
from mir_ref.config import Condition, Experiment, ModelEntry
from mir_ref.datasets.base import Dataset, Track
from mir_ref.datasets.corpus import unfolded_name
from mir_ref.store import cache_key


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
    # Without the entry's name: entries that differ only in name (and apply_to) share their
    # embeddings' cache keys, so they must deform with the same noise too.
    label = replace(condition, name="").label
    digest = hashlib.sha256(f"{noise_source(dataset, track)}|{label}".encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


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
