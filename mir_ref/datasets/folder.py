"""Folder: your own audio sorted into one folder per class, ``root/<label>/<file>``.

One multiclass task (named by ``task``) whose classes are the sub-folder names. Splits come
from sub-folders ``root/train``, ``root/validation`` (or ``valid``/``val``), ``root/test``
when they exist (each holding ``<label>/<file>``), else they are drawn with ``seed``,
stratified by class (70/15/15).

To keep related files (one artist, album, singer or song) inside one split, give
``metadata``, a CSV with a ``path`` column (each file's path relative to ``path``, as
``rock/song.wav``) and a column naming its group, and ``group_column``, that column: the
drawn split then places whole groups, and the bootstrap resamples them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from mir_ref.datasets.base import Track, stratified_split
from mir_ref.datasets.corpus import Corpus
from mir_ref.datasets.splitting import grouped_split, warn_of_groups_across_splits
from mir_ref.errors import DataError
from mir_ref.registry import register
from mir_ref.tasks import LabelKindName, Task

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au")
_SPLIT_FOLDERS = {
    "train": ("train",),
    "validation": ("validation", "valid", "val"),
    "test": ("test",),
}


@register("datasets", "folder")
@dataclass(kw_only=True)
class FolderDataset(Corpus):
    """Your own audio in one folder per class, root/<label>/<file>: one multiclass task.

    Parameters
    ----------
    task : the task's name in results.
    suffixes : the audio file suffixes to read (case-insensitive).
    group_column : the column of ``metadata`` that names each file's group (artist, album,
        singer, song).
    metadata : a CSV (UTF-8, header first) with a ``path`` column, each file relative to
        ``path``, and the ``group_column``; required with ``group_column``.
    label_kind : what the folder names are: ``pitch_class`` (``C``, ``C#``, ``Db``...),
        ``pitch`` (MIDI numbers) or ``key``, so that pitch shifts move them; ``none`` (genre,
        instrument...) by default.
    """

    task: str = "label"
    suffixes: list[str] | None = None
    group_column: str | None = None
    metadata: Path | None = None
    label_kind: LabelKindName = "none"

    name = "folder"
    citation = "A user's own dataset, read from a folder per class; cite the source of its data."
    download_hint = "a folder holding one sub-folder of audio files per class"

    def __post_init__(self) -> None:
        if (self.group_column is None) != (self.metadata is None):
            raise ValueError(
                "group_column and metadata go together: metadata is the CSV (columns path and "
                "the group column) that group_column reads"
            )
        self.group_kind = self.group_column or ""
        super().__post_init__()

    def _declare_tasks(self) -> dict[str, Task]:
        return {self.task: Task(self.task, "multiclass", label_kind=self.label_kind)}

    def _finish_tasks(self, declared, splits):
        labels = {track.labels[self.task] for tracks in splits.values() for track in tracks}
        return {
            self.task: Task(self.task, "multiclass", sorted(labels), label_kind=self.label_kind)
        }

    def _read(self) -> dict[str, list[Track]]:
        split_roots = {
            split: next((self.path / n for n in names if (self.path / n).is_dir()), None)
            for split, names in _SPLIT_FOLDERS.items()
        }
        if all(root is not None for root in split_roots.values()):
            out = {
                split: self._tracks(root, prefix=f"{root.name}/")
                for split, root in split_roots.items()
            }
            self._group(out)
            warn_of_groups_across_splits(out, where=f"dataset '{self.name}', split folders")
            return out
        tracks = self._tracks(self.path, prefix="")
        self._group({"all": tracks})
        strata = [t.labels[self.task] for t in tracks]
        if self.group_column:
            groups = [t.group for t in tracks]
            assignment = grouped_split([[label] for label in strata], groups, seed=self.seed)
        else:
            assignment = stratified_split(strata, seed=self.seed)
        out = {"train": [], "validation": [], "test": []}
        for split, track in zip(assignment, tracks, strict=True):
            out[split].append(track)
        return out

    def _group(self, splits: dict[str, list[Track]]) -> None:
        """Set each track's group from ``metadata`` (nothing without ``group_column``)."""
        if self.group_column is None or self.metadata is None:
            return
        metadata = Path(self.metadata)
        if not metadata.is_file():
            raise DataError(f"dataset '{self.name}': metadata file not found: {metadata}")
        with open(metadata, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = list(reader.fieldnames or [])
            missing = [c for c in ("path", self.group_column) if c not in columns]
            if missing:
                raise DataError(
                    f"{metadata}, line 1: no column {', '.join(missing)} (columns: "
                    f"{', '.join(columns)})"
                )
            groups = {
                Path(row["path"].strip()).as_posix(): (row[self.group_column] or "").strip()
                for row in reader
            }
        unlisted = []
        for tracks in splits.values():
            for track in tracks:
                relative = track.audio_path.relative_to(self.path).as_posix()
                track.group = groups.get(relative) or None
                if relative not in groups:
                    unlisted.append(relative)
        if unlisted:
            raise DataError(
                f"{metadata}: {len(unlisted)} audio files have no row (first: {unlisted[0]}); "
                f"every file needs its group, or a split could divide one"
            )

    def _tracks(self, root: Path, *, prefix: str) -> list[Track]:
        suffixes = tuple(s.lower() for s in (self.suffixes or AUDIO_SUFFIXES))
        tracks = []
        for class_folder in sorted(p for p in root.iterdir() if p.is_dir()):
            if class_folder.name.startswith("."):
                continue
            for file in sorted(class_folder.rglob("*")):
                if file.is_file() and file.suffix.lower() in suffixes:
                    track_id = prefix + file.relative_to(root).as_posix()
                    tracks.append(Track(track_id, {self.task: class_folder.name}, audio_path=file))
        if not tracks:
            raise DataError(
                f"dataset '{self.name}': no audio files ({', '.join(suffixes)}) in class "
                f"sub-folders of {root}; expected {root}/<label>/<file>"
            )
        return tracks
