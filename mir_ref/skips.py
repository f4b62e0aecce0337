"""Tracks left out of a run for bad audio (``execution.on_bad_audio: skip``).

The preflight and extraction record each in ``<output_dir>/skipped.csv`` with its reason;
every stage, also one run alone, drops the recorded tracks from their datasets
(:func:`apply_recorded`), so that all stages see the same tracks.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from mir_ref.datasets.base import Dataset, Track
from mir_ref.errors import AudioError
from mir_ref.experiment import Experiment

log = logging.getLogger(__name__)

SKIPPED_FILE = "skipped.csv"
_COLUMNS = ("dataset", "track", "path", "reason")


class TrackSkipped(AudioError):
    """A track's audio is bad and ``on_bad_audio`` is ``skip``: recorded, not embedded."""


@dataclass(frozen=True)
class Skip:
    """A track left out of the run, and why."""

    dataset: str
    track: str
    path: str
    reason: str


def skip_tracks(experiment: Experiment, skips: list[Skip], *, fresh: bool = False) -> None:
    """Record ``skips`` in ``skipped.csv`` and drop those tracks from their datasets.

    ``fresh`` starts the file anew (a run's preflight); otherwise rows are appended.
    """
    path = experiment.output_dir / SKIPPED_FILE
    if fresh:
        path.unlink(missing_ok=True)
    for entry in skips:
        _append(path, entry)
    _drop(experiment, skips)


def apply_recorded(experiment: Experiment) -> list[Skip]:
    """Drop the tracks ``skipped.csv`` lists (with ``on_bad_audio: skip``); return them.

    Stages run alone (``mir_ref train`` after ``mir_ref extract``) see the same tracks as the
    run that extracted them.
    """
    if experiment.config.execution.on_bad_audio != "skip":
        return []
    skips = read_skipped(experiment.output_dir)
    _drop(experiment, skips)
    return skips


def read_skipped(output_dir: Path) -> list[Skip]:
    """The rows of ``<output_dir>/skipped.csv`` (empty when there is none)."""
    path = Path(output_dir) / SKIPPED_FILE
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    unique = dict.fromkeys(Skip(**{c: row.get(c) or "" for c in _COLUMNS}) for row in rows)
    return list(unique)


def skip_or_raise(experiment: Experiment, dataset: Dataset, track: Track, error: Exception):
    """At decode time: under ``on_bad_audio: skip`` record the track and raise
    :class:`TrackSkipped`; otherwise return, so the caller raises ``error`` itself."""
    if experiment.config.execution.on_bad_audio != "skip" or not isinstance(error, AudioError):
        return
    entry = skip_of(dataset, track, str(error))
    _append(experiment.output_dir / SKIPPED_FILE, entry)
    log.warning("skipping track '%s' of dataset '%s': %s", track.id, dataset.name, error)
    raise TrackSkipped(str(error))


def skip_of(dataset: Dataset, track: Track, reason: str) -> Skip:
    """The record of ``track`` of ``dataset`` left out for ``reason``."""
    return Skip(dataset.name, track.id, str(track.audio_path or ""), reason)


def _append(path: Path, entry: Skip) -> None:
    """Append one row; one ``write`` on an ``O_APPEND`` file, so that extraction processes
    appending at once never interleave their rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if not path.is_file() or path.stat().st_size == 0:
        writer.writerow(_COLUMNS)
    writer.writerow([entry.dataset, entry.track, entry.path, entry.reason.replace("\n", " ")])
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, buffer.getvalue().encode("utf-8"))
    finally:
        os.close(descriptor)


def _drop(experiment: Experiment, skips: list[Skip]) -> None:
    by_dataset: dict[str, set[str]] = {}
    for entry in skips:
        by_dataset.setdefault(entry.dataset, set()).add(entry.track)
    for dataset in experiment.datasets:
        if dataset.name in by_dataset:
            dataset.exclude(by_dataset[dataset.name])
