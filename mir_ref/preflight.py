"""Preflight: every problem with a run's data, found before any heavy work and listed at once.

:func:`check` reads each audio file's header (never its audio), every label and every split,
and sorts what it finds into *problems* (the run cannot start), *skips* (bad audio, when the
config's ``execution.on_bad_audio`` is ``skip``) and *warnings*. Skipped tracks are recorded
in ``<output_dir>/skipped.csv`` with their reason, dropped from their dataset for every stage,
and listed in the report. Audio that only shows its fault when decoded (truncated data, NaN
samples) follows the same policy during extraction, through :func:`skip_or_raise`.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mir_ref import audio as audio_io
from mir_ref import progress
from mir_ref.config import Experiment
from mir_ref.datasets.base import SPLITS, Dataset, Track
from mir_ref.errors import AudioError, DataError
from mir_ref.plan import condition_labels, extraction_units
from mir_ref.store import Store

log = logging.getLogger(__name__)

SKIPPED_FILE = "skipped.csv"
_COLUMNS = ("dataset", "track", "path", "reason")
_HEADER_READERS = 8
"""Threads reading headers: enough to hide the latency of a network file system."""


class TrackSkipped(AudioError):
    """A track's audio is bad and ``on_bad_audio`` is ``skip``: recorded, not embedded."""


@dataclass(frozen=True)
class Skip:
    """A track left out of the run, and why."""

    dataset: str
    track: str
    path: str
    reason: str


@dataclass
class Preflight:
    """What :func:`check` found."""

    problems: list[str] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check(experiment: Experiment, *, audio: bool = True, deep: bool = False) -> Preflight:
    """Every problem with the experiment's data, decoding at most a few frames of each file.

    Checks per dataset: it has tracks; track ids are unique; with ``audio``, each file's
    header (exists, not empty, is audio, WAV data not cut short, audio where the header says
    it ends, a supported sample rate, long enough, the offset inside the file); every label is
    in its task's vocabulary (a finite number for regression); after the skips, every task has
    tracks in every split and at least two classes to train on. ``deep`` also decodes every
    file in full, in parallel (:func:`decode_problems`).
    """
    found = Preflight()
    found.problems.extend(folder_problems(experiment))
    found.problems.extend(model_problems(experiment))
    skip = experiment.config.execution.on_bad_audio == "skip"
    for dataset in experiment.datasets:
        check_dataset(dataset, audio=audio, skip=skip, found=found, deep=deep)
        if not found.problems:
            _moved_label_problems(experiment, dataset, found)
    if found.skips:
        first = found.skips[0]
        log.warning(
            "%d track(s) with bad audio will be skipped (on_bad_audio: skip), e.g. track '%s' "
            "of dataset '%s': %s; a run lists them all in %s",
            len(found.skips),
            first.track,
            first.dataset,
            first.reason,
            experiment.output_dir / SKIPPED_FILE,
        )
    for warning in found.warnings:
        log.warning("%s", warning)
    return found


def folder_problems(experiment: Experiment) -> list[str]:
    """``output_dir`` and ``cache_dir`` that cannot be used: a file where a folder should be,
    a read-only output folder, a read-only cache that lacks embeddings the run needs."""
    problems = []
    folders = {"output_dir": experiment.output_dir, "cache_dir": experiment.cache_dir}
    for key, folder in folders.items():
        existing = _nearest_existing(folder)
        if not existing.is_dir():
            problems.append(f"{key}: {folder} cannot be a folder: {existing} is a file")
            continue
        if os.access(existing, os.W_OK):
            continue
        if key == "cache_dir":
            missing = _missing_embeddings(experiment)
            if not missing:
                continue  # a read-only cache that holds everything serves the run
            detail = f" and lacks {missing} embedding(s) this config needs"
        else:
            detail = ""
        problems.append(
            f"{key}: {folder} is read-only{detail}; make it writable or point {key} elsewhere"
        )
    return problems


def model_problems(experiment: Experiment) -> list[str]:
    """What would stop each configured model from loading (a missing package, weights file or
    model folder), found without loading any network, each naming its ``models[i]`` entry."""
    problems = []
    checked: set[str] = set()
    for entry in experiment.models:  # one entry per density: check each config entry once
        if entry.name in checked:
            continue
        checked.add(entry.name)
        where = f"models[{len(checked) - 1}]"
        problems.extend(f"{where}: {problem}" for problem in entry.model.availability_problems())
    return problems


def _nearest_existing(folder: Path) -> Path:
    """``folder`` itself, or the closest of its parents that exists."""
    return next((path for path in (folder, *folder.parents) if path.exists()), Path("/"))


def _missing_embeddings(experiment: Experiment) -> int:
    store = Store.of(experiment)
    try:
        keys = {key for unit in extraction_units(experiment) for key in unit.keys.values()}
    except DataError:  # the dataset's own problem, reported with the others
        return 0
    return sum(not store.has(key) for key in keys)


def check_dataset(
    dataset: Dataset,
    *,
    audio: bool = True,
    skip: bool = False,
    found: Preflight | None = None,
    deep: bool = False,
) -> Preflight:
    """The checks of :func:`check` for one dataset, added to ``found`` (a new one if None).

    ``skip``: bad audio becomes a skip rather than a problem (``on_bad_audio: skip``).
    ``deep``: every file whose header is sound is also decoded in full.
    """
    found = Preflight() if found is None else found
    try:
        tracks = dataset.tracks()
    except DataError as error:
        found.problems.append(str(error))
        return found
    if not tracks:
        found.problems.append(
            f"dataset '{dataset.name}' holds no tracks; check its path (or manifest)"
        )
        return found
    found.problems.extend(_duplicate_ids(dataset, tracks))
    bad_audio = _audio_problems(dataset, tracks) if audio else []
    if audio and deep:
        headed = {track.id for track, _ in bad_audio}
        decoded, silent = decode_problems(dataset, [t for t in tracks if t.id not in headed])
        bad_audio += decoded
        found.warnings.extend(
            f"dataset '{dataset.name}', track '{track.id}': {track.audio_path} is silent "
            "(every sample is 0)"
            for track in silent
        )
    skipped: set[str] = set()
    for track, reason in bad_audio:
        if skip:
            found.skips.append(_skip(dataset, track, reason))
            skipped.add(track.id)
        else:
            found.problems.append(f"dataset '{dataset.name}', track '{track.id}': {reason}")
    found.problems.extend(_label_problems(dataset, tracks))
    _split_problems(dataset, skipped, found)
    return found


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
    entry = _skip(dataset, track, str(error))
    _append(experiment.output_dir / SKIPPED_FILE, entry)
    log.warning("skipping track '%s' of dataset '%s': %s", track.id, dataset.name, error)
    raise TrackSkipped(str(error))


def _skip(dataset: Dataset, track: Track, reason: str) -> Skip:
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


def _audio_problems(dataset: Dataset, tracks: list[Track]) -> list[tuple[Track, str]]:
    """``(track, reason)`` for each track whose audio header is unusable, in track order."""
    files = [track for track in tracks if track.audio_path is not None]
    with ThreadPoolExecutor(_HEADER_READERS) as pool:
        reasons = list(pool.map(_header_problem, files))
    return [(track, reason) for track, reason in zip(files, reasons, strict=True) if reason]


def decode_problems(
    dataset: Dataset, tracks: list[Track]
) -> tuple[list[tuple[Track, str]], list[Track]]:
    """Decode every track's file in full, in parallel, with a progress bar.

    Returns
    -------
    problems : ``(track, reason)`` for each file that cannot be decoded, stops short of its
        header's length, or holds NaN or infinite samples.
    silent : the tracks whose audio is all zeros (valid, but worth a look).
    """
    files = [track for track in tracks if track.audio_path is not None]
    problems, silent = [], []
    workers = min(_HEADER_READERS, os.cpu_count() or 1)
    with (
        progress.bar(f"decode {dataset.name}", len(files)) as advance,
        ThreadPoolExecutor(workers) as pool,  # libsndfile and soxr release the GIL
    ):
        for track, outcome in zip(files, pool.map(_decode_problem, files), strict=True):
            advance()
            if outcome == _SILENT:
                silent.append(track)
            elif outcome is not None:
                problems.append((track, outcome))
    return problems, silent


_SILENT = "silent"


def _decode_problem(track: Track) -> str | None:
    """Why a track's audio cannot be used (``None`` if it can, :data:`_SILENT` if all zero)."""
    try:
        samples, _ = audio_io.load(
            track.audio_path,
            offset_s=track.offset_s,
            duration_s=track.duration_s,
            min_duration_s=audio_io.MIN_TRACK_S,
            quiet=True,
        )
    except AudioError as error:
        return str(error)
    return None if samples.any() else _SILENT


def _header_problem(track: Track) -> str | None:
    try:
        header = audio_io.header(track.audio_path, min_duration_s=audio_io.MIN_TRACK_S)
    except AudioError as error:
        return str(error)
    if track.offset_s and track.offset_s >= header.duration_s:
        return (
            f"offset_s={track.offset_s:g} is past the end of {track.audio_path} "
            f"({header.duration_s:.3f} s long)"
        )
    return None


def _duplicate_ids(dataset: Dataset, tracks: list[Track]) -> list[str]:
    counts = Counter(track.id for track in tracks)
    repeated = sorted(track_id for track_id, count in counts.items() if count > 1)
    if not repeated:
        return []
    shown = ", ".join(f"'{track_id}'" for track_id in repeated[:10])
    more = f" and {len(repeated) - 10} more" if len(repeated) > 10 else ""
    return [
        f"dataset '{dataset.name}': track ids must be unique; repeated: {shown}{more} "
        f"(each would overwrite the other's predictions)"
    ]


def _label_problems(dataset: Dataset, tracks: list[Track]) -> list[str]:
    problems = []
    for task in dataset.tasks.values():
        vocabulary = set(task.classes)
        for track in tracks:
            if task.name not in track.labels:
                continue
            label = track.labels[task.name]
            where = f"dataset '{dataset.name}', track '{track.id}', task '{task.name}'"
            if not task.task_type.has_classes:
                try:
                    finite = math.isfinite(float(label))
                except (TypeError, ValueError):
                    finite = False
                if not finite:
                    problems.append(f"{where}: label {label!r} is not a finite number")
                continue
            values = task.task_type.label_classes(label)
            unknown = [value for value in values if value not in vocabulary]
            if unknown:
                shown = ", ".join(sorted(map(str, vocabulary))[:20])
                more = ", ..." if len(vocabulary) > 20 else ""
                problems.append(
                    f"{where}: label {', '.join(map(repr, unknown))} is not in the vocabulary "
                    f"({shown}{more})"
                )
    return problems


def _moved_label_problems(experiment: Experiment, dataset: Dataset, found: Preflight) -> None:
    """Items whose label a condition moves outside the vocabulary (a warning: they are left
    out of that condition), and splits that would be left empty (a problem)."""
    for condition in experiment.conditions[1:]:
        splits = {"test": ("test",), "train": ("train", "validation")}.get(
            condition.apply_to, SPLITS
        )
        for task in dataset.tasks.values():
            for split in splits:
                tracks = dataset.task_tracks(task.name, split)
                labels = condition_labels(task, tracks, condition)
                if not labels.left_out:
                    continue
                where = (
                    f"dataset '{dataset.name}', task '{task.name}', condition "
                    f"'{condition.label}', {split} split"
                )
                if not labels.tracks:
                    found.problems.append(
                        f"{where}: every label moves outside the task's vocabulary; nothing "
                        f"would be left (add `labels: keep` to the entry, or a milder strength)"
                    )
                    continue
                found.warnings.append(
                    f"{where}: {labels.left_out} of {len(tracks)} items have a moved label "
                    f"outside the task's vocabulary and are left out of this condition only"
                )


def _split_problems(dataset: Dataset, skipped: set[str], found: Preflight) -> None:
    """Empty splits and single-class splits, counted without the skipped tracks."""
    for task in dataset.tasks.values():
        for split in SPLITS:
            tracks = [t for t in dataset.task_tracks(task.name, split) if t.id not in skipped]
            where = f"dataset '{dataset.name}', task '{task.name}'"
            if not tracks:
                after = " once the skipped tracks are left out" if skipped else ""
                found.problems.append(
                    f"{where}: the {split} split has no tracks{after}; check the split column "
                    f"or add tracks"
                )
                continue
            if task.type not in ("multiclass", "key"):
                continue
            classes = sorted({str(t.labels[task.name]) for t in tracks})
            if len(classes) > 1:
                continue
            if split == "train":
                found.problems.append(
                    f"{where}: every track of the train split has the class '{classes[0]}'; a "
                    f"probe needs at least two classes to learn from"
                )
            else:
                found.warnings.append(
                    f"{where}: every track of the {split} split has the class '{classes[0]}'; "
                    f"its metrics say little"
                )
