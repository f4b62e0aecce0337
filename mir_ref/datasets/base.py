"""The dataset contract: a dataset holds tracks, their labels per task, and splits."""

from __future__ import annotations

from typing import Any

import numpy as np

from mir_ref.datasets.checks import Checks
from mir_ref.datasets.track import SPLITS, Track
from mir_ref.errors import DataError
from mir_ref.tasks import Task


class Dataset(Checks):
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
