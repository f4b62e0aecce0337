"""One extraction unit's work: decode → deform → resample → window → model → pool → store.

Each track is decoded and deformed once per condition and fed to every model that still
lacks its embedding; what is in the store already is never recomputed. :func:`process_unit`
is the simple path (one unit, start to end); the streaming pipeline (:mod:`mir_ref.pipeline`)
and the Ray backend do the same steps with these helpers, and give bit-identical embeddings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from mir_ref.batches import WindowBatches, fresh_measures
from mir_ref.errors import MirRefError
from mir_ref.experiment import Experiment, ModelEntry
from mir_ref.plan import ExtractionUnit, track_rng
from mir_ref.skips import TrackSkipped, skip_or_raise
from mir_ref.store import Store

log = logging.getLogger(__name__)


@dataclass
class ExtractionStats:
    """What an extraction stage did."""

    computed: int = 0
    cached: int = 0
    speed: dict[str, list[float]] = field(default_factory=dict)
    """Model name → its :data:`~mir_ref.batches.MEASURES` (summed or maxed over processes,
    :func:`add_speed`), for the speed, peak memory and parameters in ``models.json``."""


def add_speed(totals: dict[str, list[float]], more: dict[str, list[float]]) -> None:
    """Add the per-model :data:`~mir_ref.batches.MEASURES` of ``more`` into ``totals``: times
    summed, peaks and counts maxed (NaN, unknown, yields to any number)."""
    for name, measured in more.items():
        total = totals.setdefault(name, fresh_measures())
        total[0] += measured[0]
        total[1] += measured[1]
        for index in (2, 3, 4):
            total[index] = float(np.fmax(total[index], measured[index]))


def missing_models(experiment: Experiment, store: Store, unit: ExtractionUnit) -> list[ModelEntry]:
    """The models whose embedding of ``unit`` the store lacks, one per distinct cache key.

    Two entries that differ only in name share a key; computing it once is enough.
    """
    seen: set[str] = set()
    missing = []
    for model in experiment.models:
        key = unit.keys[model.id]
        if key not in seen and not store.has(key):
            missing.append(model)
        seen.add(key)
    return missing


class LastTrack:
    """The last track decoded, kept for the next unit: a track's conditions follow one another
    (:func:`mir_ref.plan.extraction_units`), so each track is decoded once, not once per
    condition. Each caller gets its own copy (a deformation or a model may write into it)."""

    MAX_BYTES = 256 * 2**20
    """Longer tracks (~25 min of 44.1 kHz mono) are not kept: a copy would double the peak."""

    def __init__(self) -> None:
        self._kept: tuple[object, str, int | None, np.ndarray, int] | None = None

    def audio(self, unit: ExtractionUnit) -> tuple[np.ndarray, int]:
        """``unit.track.audio(...)`` at the dataset's rate, decoded once per run of units."""
        rate = unit.dataset.audio_sample_rate
        kept = self._kept
        if kept is not None and kept[0] is unit.dataset and kept[1:3] == (unit.track.id, rate):
            return kept[3].copy(), kept[4]
        self._kept = None
        audio, sample_rate = unit.track.audio(rate)
        if audio.nbytes <= self.MAX_BYTES:
            self._kept = (unit.dataset, unit.track.id, rate, audio.copy(), sample_rate)
        return audio, sample_rate


def decode_unit(
    experiment: Experiment, unit: ExtractionUnit, *, last: LastTrack | None = None
) -> tuple[np.ndarray, int]:
    """Decode (or generate) a unit's track and apply its condition's deformation.

    Parameters
    ----------
    last : reuses the previous unit's decoded track when it is the same track.

    Returns
    -------
    audio : ``[samples]`` float32.
    sample_rate : in Hz (the dataset's ``audio_sample_rate``, else the file's own).

    Raises
    ------
    TrackSkipped
        The audio is bad and ``on_bad_audio`` is ``skip``: the track is recorded as skipped
        (:mod:`mir_ref.preflight`) and the caller embeds nothing for the unit.
    """
    try:
        if last is None:
            audio, sample_rate = unit.track.audio(unit.dataset.audio_sample_rate)
        else:
            audio, sample_rate = last.audio(unit)
    except MirRefError as error:
        skip_or_raise(experiment, unit.dataset, unit.track, error)
        raise type(error)(
            f"dataset '{unit.dataset.name}', track '{unit.track.id}': {error}"
        ) from None
    if unit.condition.deformation is not None:
        rng = track_rng(experiment.config.protocol.seed, unit.dataset, unit.track, unit.condition)
        audio = unit.condition.deformation(audio, sample_rate, rng)
    return audio, sample_rate


def embed_unit(
    unit: ExtractionUnit,
    audio: np.ndarray,
    sample_rate: int,
    models: list[ModelEntry],
    speed: dict[str, list[float]],
) -> list[tuple[ModelEntry, np.ndarray]]:
    """Embed one unit's decoded audio with each of ``models``, on its own.

    The audio is resampled once per distinct model sample rate and cut into windows of each
    model's ``window_s`` every ``hop_s``; each window's frames are averaged
    (:class:`~mir_ref.batches.WindowBatches`, as in the pipeline, with this unit alone).
    ``speed`` accumulates, per model name, the :data:`~mir_ref.batches.MEASURES` of the calls.

    Returns
    -------
    ``(model, [layers, windows, dim] float32)`` per model, in the order of ``models``.
    """
    batches = WindowBatches(speed)
    done = batches.add(unit, audio, sample_rate, models) + batches.flush()
    return done[0][1]


def entry_meta(unit: ExtractionUnit, model: ModelEntry) -> dict[str, str]:
    """What produced ``model``'s entry of ``unit``, for ``mir_ref cache info`` and ``prune``."""
    return {
        "model": model.name,
        "dataset": unit.dataset.name,
        "condition": unit.condition.label,
        "track": unit.track.id,
    }


def process_unit(
    experiment: Experiment, store: Store, unit: ExtractionUnit, speed: dict[str, list[float]]
) -> int:
    """Decode, deform and embed one unit with every model the store lacks; store each.

    The simple path, one step after the other and without locks; :func:`extract` streams the
    same steps and gives bit-identical embeddings.

    Returns
    -------
    The number of embeddings computed (0 when the store had them all).
    """
    missing = missing_models(experiment, store, unit)
    if not missing:
        return 0
    try:
        audio, sample_rate = decode_unit(experiment, unit)
    except TrackSkipped:
        return 0
    results = embed_unit(unit, audio, sample_rate, missing, speed)
    for model, embeddings in results:
        store.put(unit.keys[model.id], embeddings, meta=entry_meta(unit, model))
    return len(results)
