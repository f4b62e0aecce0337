"""The checks a dataset runs on itself before any heavy work: tracks, ids, audio, labels,
splits. The preflight (:mod:`mir_ref.preflight`) calls them for each configured dataset and
decides what bad audio means for the run (a problem, or a track to skip)."""

from __future__ import annotations

import math
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from mir_ref import audio as audio_io
from mir_ref import progress
from mir_ref.datasets.track import SPLITS, Track
from mir_ref.errors import AudioError, DataError

_HEADER_READERS = 8
"""Threads reading headers: enough to hide the latency of a network file system."""


@dataclass
class Findings:
    """What a dataset's checks found: problems (the run cannot start), tracks with bad audio
    (each with its reason) when they are to be skipped, and warnings."""

    problems: list[str] = field(default_factory=list)
    bad_audio: list[tuple[Track, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Checks:
    """The checks of a dataset, mixed into :class:`~mir_ref.datasets.base.Dataset`."""

    def check(self, *, audio: bool = True) -> list[str]:
        """Problems that would stop a run, as messages (empty when all is well).

        The run's own preflight for this dataset (:meth:`findings`): tracks, unique ids,
        labels in the vocabulary, every task with tracks in every split and two classes to
        train on, and, with ``audio``, every file's header (no audio is read).
        """
        return self.findings(audio=audio).problems

    def findings(self, *, audio: bool = True, skip: bool = False, deep: bool = False) -> Findings:
        """Every problem with this dataset, decoding at most a few frames of each file.

        ``skip``: a track with bad audio is listed in ``bad_audio`` and left out of the split
        checks rather than being a problem (``on_bad_audio: skip``). ``deep``: every file
        whose header is sound is also decoded in full.
        """
        found = Findings()
        try:
            tracks = self.tracks()
        except DataError as error:
            found.problems.append(str(error))
            return found
        if not tracks:
            found.problems.append(
                f"dataset '{self.name}' holds no tracks; check its path (or manifest)"
            )
            return found
        found.problems.extend(_duplicate_ids(self.name, tracks))
        bad_audio = _audio_problems(tracks) if audio else []
        if audio and deep:
            headed = {track.id for track, _ in bad_audio}
            decoded, silent = decode_problems(self.name, [t for t in tracks if t.id not in headed])
            bad_audio += decoded
            found.warnings.extend(
                f"dataset '{self.name}', track '{track.id}': {track.audio_path} is silent "
                "(every sample is 0)"
                for track in silent
            )
        skipped: set[str] = set()
        for track, reason in bad_audio:
            if skip:
                found.bad_audio.append((track, reason))
                skipped.add(track.id)
            else:
                found.problems.append(f"dataset '{self.name}', track '{track.id}': {reason}")
        found.problems.extend(self._label_problems(tracks))
        self._split_problems(skipped, found)
        return found

    def _label_problems(self, tracks: list[Track]) -> list[str]:
        problems = []
        for task in self.tasks.values():
            vocabulary = set(task.classes)
            for track in tracks:
                if task.name not in track.labels:
                    continue
                label = track.labels[task.name]
                where = f"dataset '{self.name}', track '{track.id}', task '{task.name}'"
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

    def _split_problems(self, skipped: set[str], found: Findings) -> None:
        """Empty splits and single-class splits, counted without the skipped tracks."""
        for task in self.tasks.values():
            for split in SPLITS:
                tracks = [t for t in self.task_tracks(task.name, split) if t.id not in skipped]
                where = f"dataset '{self.name}', task '{task.name}'"
                if not tracks:
                    after = " once the skipped tracks are left out" if skipped else ""
                    found.problems.append(
                        f"{where}: the {split} split has no tracks{after}; check the split column "
                        f"or add tracks"
                    )
                    continue
                if not task.task_type.one_class:
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


def _audio_problems(tracks: list[Track]) -> list[tuple[Track, str]]:
    """``(track, reason)`` for each track whose audio header is unusable, in track order."""
    files = [track for track in tracks if track.audio_path is not None]
    with ThreadPoolExecutor(_HEADER_READERS) as pool:
        reasons = list(pool.map(_header_problem, files))
    return [(track, reason) for track, reason in zip(files, reasons, strict=True) if reason]


def decode_problems(name: str, tracks: list[Track]) -> tuple[list[tuple[Track, str]], list[Track]]:
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
        progress.bar(f"decode {name}", len(files)) as advance,
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


def _duplicate_ids(name: str, tracks: list[Track]) -> list[str]:
    counts = Counter(track.id for track in tracks)
    repeated = sorted(track_id for track_id, count in counts.items() if count > 1)
    if not repeated:
        return []
    shown = ", ".join(f"'{track_id}'" for track_id in repeated[:10])
    more = f" and {len(repeated) - 10} more" if len(repeated) > 10 else ""
    return [
        f"dataset '{name}': track ids must be unique; repeated: {shown}{more} "
        f"(each would overwrite the other's predictions)"
    ]
