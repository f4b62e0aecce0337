"""The dataset contract: a dataset holds tracks, their labels per task, and splits."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mir_ref import audio as audio_io
from mir_ref.errors import DataError
from mir_ref.tasks import Task

SPLITS = ("train", "validation", "test")
GENERATED_SAMPLE_RATE_HZ = 22050
"""The rate a synthetic track is generated at when no rate is asked for."""


@dataclass
class Track:
    """One audio item and its labels.

    Parameters
    ----------
    id : unique within its dataset.
    labels : task name → label (a class name, a list of tags, or a number). A task missing
        from ``labels`` does not use this track.
    audio_path : the file to decode, or ``None`` when ``generate`` makes the audio.
    generate : ``(sample_rate) -> [samples]`` float32, for synthetic tracks.
    identity : what makes this audio unique (for cache keys); derived from the file's path,
        size and modification time when empty.
    offset_s, duration_s : read only this part of the file.
    group : what ties this track to others that must stay in one split and be resampled
        together by the bootstrap (an artist, a singer, a song), or ``None`` when the track
        stands alone.
    """

    id: str
    labels: dict[str, Any]
    audio_path: Path | None = None
    generate: Callable[[int], np.ndarray] | None = field(default=None, repr=False)
    identity: str = ""
    offset_s: float = 0.0
    duration_s: float | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        if not self.identity and self.audio_path is not None:
            try:
                stat = os.stat(self.audio_path)
                resolved = Path(self.audio_path).resolve()
                self.identity = f"{resolved}:{stat.st_size}:{stat.st_mtime_ns}"
            except OSError:
                self.identity = f"{Path(self.audio_path).resolve()}:missing"
            if self.offset_s or self.duration_s is not None:
                self.identity += f":{self.offset_s}:{self.duration_s}"

    def audio(self, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
        """Decode (or generate) the track as mono float32 ``[samples]`` and its sample rate."""
        if self.generate is not None:
            rate = sample_rate or GENERATED_SAMPLE_RATE_HZ
            return np.asarray(self.generate(rate), dtype=np.float32), rate
        if self.audio_path is None:
            raise DataError(f"track '{self.id}' has neither an audio file nor a generator")
        return audio_io.load(
            self.audio_path,
            sample_rate=sample_rate,
            offset_s=self.offset_s,
            duration_s=self.duration_s,
            min_duration_s=audio_io.MIN_TRACK_S,
        )


class Dataset:
    """Base class of datasets; subclasses are dataclasses whose fields are config parameters.

    A subclass implements :meth:`_load` (all tracks with their split) and provides
    :attr:`tasks`, task name → :class:`~mir_ref.tasks.Task`, either as a property or as its
    config field ``tasks`` turned into ``Task`` objects in ``__post_init__``. (A property
    here would hide such a field: the config key and the contract share the name ``tasks``.)
    ``name`` is the label used in results (the config's ``name``, else the type).
    ``group_kind`` says what :attr:`Track.group` holds ("artist", "singer", "song"), or ""
    when the dataset's tracks have no groups.
    """

    name: str = ""
    group_kind: str = ""
    citation: str = ""
    audio_sample_rate: int | None = None
    tasks: dict[str, Task]

    def _load(self) -> dict[str, list[Track]]:
        """All tracks by split name (``train``, ``validation``, ``test``)."""
        raise NotImplementedError

    def splits(self) -> dict[str, list[Track]]:
        """Tracks by split, loaded once."""
        cached = self.__dict__.get("_splits")
        if cached is None:
            cached = self._load()
            self.__dict__["_splits"] = cached
        return cached

    def absent_tracks(self) -> dict[str, int]:
        """Split → tracks left out because their audio file is absent (a partial download)."""
        return {}

    def exclude(self, track_ids: set[str]) -> None:
        """Leave these tracks out of every split from now on (skipped bad audio)."""
        self.__dict__["_splits"] = {
            name: [track for track in tracks if track.id not in track_ids]
            for name, tracks in self.splits().items()
        }

    def tracks(self, split: str | None = None) -> list[Track]:
        """Tracks of one split, or of all splits when ``split`` is ``None``."""
        splits = self.splits()
        if split is None:
            return [track for name in SPLITS for track in splits.get(name, [])]
        if split not in SPLITS:
            raise DataError(f"dataset '{self.name}': unknown split '{split}'; one of {SPLITS}")
        return splits.get(split, [])

    def task_tracks(self, task: str, split: str) -> list[Track]:
        """Tracks of ``split`` that carry a label for ``task``."""
        return [track for track in self.tracks(split) if task in track.labels]

    def check(self, *, audio: bool = True) -> list[str]:
        """Problems that would stop a run, as messages (empty when all is well).

        The run's own preflight for this dataset (:func:`mir_ref.preflight.check_dataset`):
        tracks, unique ids, labels in the vocabulary, every task with tracks in every split
        and two classes to train on, and, with ``audio``, every file's header (no audio is
        read).
        """
        from mir_ref.preflight import check_dataset

        return check_dataset(self, audio=audio).problems


def stratified_split(
    strata: list[Any],
    *,
    seed: int,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> list[str]:
    """Assign each item a split, stratified by ``strata`` (one hashable label per item).

    Within each stratum, items are shuffled with ``seed`` and cut by ``fractions``
    (train, validation, test), rounding so that every split of a stratum with at least
    three items gets one.
    """
    rng = np.random.default_rng(seed)
    assignment = [""] * len(strata)
    groups: dict[Any, list[int]] = {}
    for index, stratum in enumerate(strata):
        groups.setdefault(stratum, []).append(index)
    for key in sorted(groups, key=str):
        members = groups[key]
        order = [members[i] for i in rng.permutation(len(members))]
        n = len(order)
        n_test = max(1, int(round(fractions[2] * n))) if n >= 3 else 0
        n_val = max(1, int(round(fractions[1] * n))) if n >= 3 else 0
        for rank, index in enumerate(order):
            if rank < n_test:
                assignment[index] = "test"
            elif rank < n_test + n_val:
                assignment[index] = "validation"
            else:
                assignment[index] = "train"
    return assignment
