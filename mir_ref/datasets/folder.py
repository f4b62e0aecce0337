"""Folder: your own audio sorted into one folder per class, ``root/<label>/<file>``.

One multiclass task (named by ``task``) whose classes are the sub-folder names. Splits come
from sub-folders ``root/train``, ``root/validation`` (or ``valid``/``val``), ``root/test``
when they exist (each holding ``<label>/<file>``), else they are drawn with ``seed``,
stratified by class (70/15/15).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mir_ref.datasets.base import Track, stratified_split
from mir_ref.datasets.corpus import Corpus
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
    label_kind : what the folder names are: ``pitch_class`` (``C``, ``C#``, ``Db``...),
        ``pitch`` (MIDI numbers) or ``key``, so that pitch shifts move them; ``none`` (genre,
        instrument...) by default.
    """

    task: str = "label"
    suffixes: list[str] | None = None
    label_kind: LabelKindName = "none"

    name = "folder"
    citation = "A user's own dataset, read from a folder per class; cite the source of its data."
    download_hint = "a folder holding one sub-folder of audio files per class"

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
            return {
                split: self._tracks(root, prefix=f"{root.name}/")
                for split, root in split_roots.items()
            }
        tracks = self._tracks(self.path, prefix="")
        assignment = stratified_split([t.labels[self.task] for t in tracks], seed=self.seed)
        out: dict[str, list[Track]] = {"train": [], "validation": [], "test": []}
        for split, track in zip(assignment, tracks, strict=True):
            out[split].append(track)
        return out

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
