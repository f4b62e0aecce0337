"""Corpus: a dataset read from a folder on disk, with the track options every corpus shares.

A corpus reads its annotation files once, on construction (cheap: no audio is decoded), so
that its tasks and vocabularies are known before a run starts and a missing or partial
download fails early, with a message that names the folder or file and what to do.

Track options, the same for every corpus:

- ``max_tracks``: keep at most this many tracks per split, drawn with ``seed`` and
  stratified by the first single-label task, for quick runs;
- ``offset_s`` / ``clip_s``: read only ``clip_s`` seconds of each file, from ``offset_s``;
- ``strict``: refuse a partial download. By default a corpus whose annotations are complete
  but whose audio is not (a subset of the release) loads the tracks that are there, and
  warns with the number of absent tracks per split; official splits keep their membership
  (an absent track is left out, never replaced or re-split).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from mir_ref.datasets.base import SPLITS, Dataset, Track
from mir_ref.datasets.remote import Remote
from mir_ref.datasets.splitting import stratified_subset
from mir_ref.errors import ConfigError, DataError, did_you_mean
from mir_ref.tasks import Task

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class Corpus(Dataset):
    """Base class of datasets read from a folder; subclasses implement :meth:`_read`.

    Parameters
    ----------
    path : the dataset's folder (as downloaded and unpacked).
    tasks : the task names to evaluate; every task the corpus declares when ``None``.
        After construction this holds the :class:`~mir_ref.tasks.Task` objects by name.
    max_tracks : keep at most this many tracks per split (stratified, drawn with ``seed``).
    offset_s : start reading each file here.
    clip_s : read at most this many seconds of each file; the whole file when ``None``.
    seed : draws ``max_tracks`` and any random split.
    strict : a track whose audio file is absent is an error, rather than a warning that
        leaves it out.
    """

    path: Path
    tasks: list[str] | None = None
    max_tracks: int | None = None
    offset_s: float = 0.0
    clip_s: float | None = None
    seed: int = 0
    strict: bool = False

    # How to get the data, shown when the folder is missing or incomplete, and the public
    # archives `mir_ref datasets download` fetches (none: the hint's manual steps).
    download_hint: ClassVar[str] = ""
    remotes: ClassVar[list[Remote]] = []

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        check_track_options(max_tracks=self.max_tracks, offset_s=self.offset_s, clip_s=self.clip_s)
        declared = self._declare_tasks()
        chosen = list(declared) if self.tasks is None else list(self.tasks)
        for name in chosen:
            if name not in declared:
                raise ValueError(
                    f"tasks: '{name}' is not a task of this dataset{did_you_mean(name, declared)} "
                    f"(tasks: {', '.join(declared)})"
                )
        if not chosen:
            raise ValueError(f"tasks: name at least one of {', '.join(declared)}")
        self.require_folder()
        splits = self._present(self._read())
        all_tasks = self._finish_tasks(declared, splits)
        for split, tracks in splits.items():
            for track in tracks:
                track.labels = {k: v for k, v in track.labels.items() if k in chosen}
            # Tracks that only served the tasks left out are not part of this run.
            splits[split] = [track for track in tracks if track.labels]
        self.tasks = {name: all_tasks[name] for name in chosen}
        self._tracks_by_split = apply_track_options(
            splits,
            self.tasks,
            max_tracks=self.max_tracks,
            offset_s=self.offset_s,
            clip_s=self.clip_s,
            seed=self.seed,
        )

    # What subclasses implement.

    def _declare_tasks(self) -> dict[str, Task]:
        """Every task the corpus offers, by name (vocabularies may be filled in later)."""
        raise NotImplementedError

    def _read(self) -> dict[str, list[Track]]:
        """Read the annotations: every track with its labels, by split."""
        raise NotImplementedError

    def _finish_tasks(
        self, declared: dict[str, Task], splits: dict[str, list[Track]]
    ) -> dict[str, Task]:
        """The tasks with their final vocabularies; ``declared`` as is unless overridden."""
        return declared

    # The Dataset contract.

    def _load(self) -> dict[str, list[Track]]:
        return self._tracks_by_split

    def absent_tracks(self) -> dict[str, int]:
        """Split → tracks left out because their audio file is absent (a partial download)."""
        return dict(self._absent)

    def _present(self, splits: dict[str, list[Track]]) -> dict[str, list[Track]]:
        """``splits`` without the tracks whose audio file is absent (a partial download)."""
        absent = {
            split: [t for t in tracks if t.audio_path is not None and not t.audio_path.is_file()]
            for split, tracks in splits.items()
        }
        self._absent = {split: len(absent.get(split, [])) for split in SPLITS}
        total = sum(self._absent.values())
        if not total:
            return splits
        first = next(t for tracks in absent.values() for t in tracks)
        counts = ", ".join(f"{split} {self._absent[split]}" for split in SPLITS)
        held = sum(len(tracks) for tracks in splits.values())
        if total == held:
            raise DataError(
                f"dataset '{self.name}': none of its {held} audio files is there (first: "
                f"{first.audio_path}). {self._get_it()}"
            )
        if self.strict:
            raise DataError(
                f"dataset '{self.name}': {total} of {held} tracks have no audio file ({counts}; "
                f"first: {first.audio_path}); the download looks incomplete. {self._get_it()} "
                f"Or set strict: false to load the tracks that are there."
            )
        logger.warning(
            "dataset '%s': %d of %d tracks have no audio file (%s; first: %s) and are left "
            "out, a partial download; strict: true refuses it",
            self.name,
            total,
            held,
            counts,
            first.audio_path,
        )
        gone = {id(t) for tracks in absent.values() for t in tracks}
        return {split: [t for t in tracks if id(t) not in gone] for split, tracks in splits.items()}

    # Helpers for subclasses: readable errors for missing data.

    def require_folder(self, relative: str | Path = "") -> Path:
        """``path / relative``, which must be a folder; else a :class:`DataError` saying why."""
        folder = self.path / relative
        if not folder.is_dir():
            what = "the dataset folder" if not str(relative) else "the folder"
            raise DataError(
                f"dataset '{self.name}': {what} {folder} does not exist. {self._get_it()}"
            )
        return folder

    def require_file(self, relative: str | Path) -> Path:
        """``path / relative``, which must be a file; else a :class:`DataError` saying why."""
        file = self.path / relative
        if not file.is_file():
            raise DataError(
                f"dataset '{self.name}': the annotation file {file} is missing; the download "
                f"looks incomplete. {self._get_it()}"
            )
        return file

    def _get_it(self) -> str:
        hint = self.download_hint or "see the dataset's page"
        return (
            f"Point `path` at the unpacked dataset ({hint}); "
            f"`mir_ref datasets download {self.name} --to DIR` says how to get it."
        )


def check_track_options(*, max_tracks: int | None, offset_s: float, clip_s: float | None) -> None:
    """Raise ``ValueError`` (a config error once pydantic wraps it) for impossible values."""
    if max_tracks is not None and max_tracks < 1:
        raise ValueError(f"max_tracks must be at least 1 (got {max_tracks})")
    if not math.isfinite(offset_s) or offset_s < 0:
        raise ValueError(f"offset_s must be finite seconds, 0 or more (got {offset_s})")
    if clip_s is not None and not (math.isfinite(clip_s) and clip_s > 0):
        raise ValueError(f"clip_s must be a finite number of seconds above 0 (got {clip_s})")


def apply_track_options(
    splits: dict[str, list[Track]],
    tasks: dict[str, Task],
    *,
    max_tracks: int | None,
    offset_s: float,
    clip_s: float | None,
    seed: int,
) -> dict[str, list[Track]]:
    """Keep at most ``max_tracks`` per split (stratified) and read each file from ``offset_s``
    for at most ``clip_s`` seconds."""
    out = {split: list(splits.get(split, [])) for split in SPLITS}
    if max_tracks is not None:
        strata_task = next((t.name for t in tasks.values() if t.task_type.one_class), None)
        for split, tracks in out.items():
            strata = [track.labels.get(strata_task) if strata_task else None for track in tracks]
            out[split] = [tracks[i] for i in stratified_subset(strata, max_tracks, seed=seed)]
    if offset_s or clip_s is not None:
        out = {
            split: [
                dataclasses.replace(
                    track,
                    identity="",
                    offset_s=track.offset_s + offset_s,
                    duration_s=(
                        track.duration_s
                        if clip_s is None
                        else clip_s
                        if track.duration_s is None
                        else min(clip_s, track.duration_s)
                    ),
                )
                for track in tracks
            ]
            for split, tracks in out.items()
        }
    return out


def build_every_split(
    spec: dict[str, Any], build: Callable[[dict[str, Any]], Dataset]
) -> list[Dataset]:
    """``split: all``: the dataset once per numbered split (fold), named ``<name>@split=<k>``.

    ``build`` makes a dataset from a spec; the first one, built with ``split: 0``, says how
    many splits there are in its ``split_count``.
    """
    first = build({**spec, "split": 0})
    count = getattr(first, "split_count", None)
    if not count:
        raise ConfigError(
            f"split: all: dataset type '{spec['type']}' has no numbered splits or folds"
        )
    datasets = [first] + [build({**spec, "split": k}) for k in range(1, count)]
    name = str(spec.get("name") or spec["type"])
    for k, dataset in enumerate(datasets):
        dataset.name = f"{name}{FOLD_SUFFIX}{k}"
    return datasets


FOLD_SUFFIX = "@split="


def unfolded_name(name: str) -> str:
    """A dataset's name without the ``@split=<k>`` that ``split: all`` adds to each fold's."""
    return name.partition(FOLD_SUFFIX)[0]
