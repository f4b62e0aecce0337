"""MTG-Jamendo: 55,000 full songs tagged with genres, instruments and moods (Bogdanov et al., 2019).

Layout: a clone of github.com/MTG/mtg-jamendo-dataset (the split files) and the audio, as
fetched by its ``scripts/download/download.py``, or mirdata's
``mtg_jamendo_autotagging_moodtheme`` folder (the same ``data/`` and the audio in
``audios/``)::

    <path>/data/splits/split-<k>/autotagging_<subset>-{train,validation,test}.tsv
    <audio_path>/<NN>/<id>.mp3        (``audio_suffix: .low.mp3`` for the low-quality copy)

where ``audio_path`` is, unless set, ``<path>/audio`` or else ``<path>/audios`` (mirdata's).

A split file is tab-separated: TRACK_ID, ARTIST_ID, ALBUM_ID, PATH, DURATION, then one tag per
remaining cell (``genre---rock``, ``mood/theme---sad``). Subsets ``genre`` (87 tags),
``instrument`` (40), ``moodtheme`` (56) and ``top50tags`` (50), each one multilabel task
named ``tags``; the vocabulary is every tag the split files use, spelled as they spell it
(mirdata drops the category: ``happy`` for ``mood/theme---happy``). Track ids are the
TRACK_ID column (``track_0000948``, as mirdata's), groups the ARTIST_ID column. The 5
official splits (``split: 0..4``), which keep each artist in one split.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mir_ref.datasets.base import Track
from mir_ref.datasets.corpus import Corpus
from mir_ref.errors import DataError
from mir_ref.registry import register
from mir_ref.tasks import Task

SPLIT_FILES = {"train": "train", "validation": "validation", "test": "test"}
N_SPLITS = 5
# Audio folders tried in turn when `audio_path` is not set: the clone's, then mirdata's.
AUDIO_FOLDERS = ("audio", "audios")


@register("datasets", "mtg_jamendo")
@dataclass(kw_only=True)
class MtgJamendo(Corpus):
    """MTG-Jamendo auto-tagging: one subset's tags (multilabel); the 5 official splits.

    Parameters
    ----------
    subset : ``genre``, ``instrument``, ``moodtheme`` or ``top50tags``.
    split : the official split, 0..4.
    audio_path : the audio folder; ``<path>/audio`` or ``<path>/audios`` when ``None``.
    audio_suffix : replaces ``.mp3`` in the split files' paths (``.low.mp3`` for low quality).
    """

    subset: Literal["genre", "instrument", "moodtheme", "top50tags"] = "moodtheme"
    split: int | Literal["all"] = 0
    audio_path: Path | None = None
    audio_suffix: str = ".mp3"

    name = "mtg_jamendo"
    group_kind = "artist"
    split_count = N_SPLITS
    citation = (
        "D. Bogdanov, M. Won, P. Tovstogan, A. Porter and X. Serra, 'The MTG-Jamendo dataset "
        "for automatic music tagging', Machine Learning for Music Discovery Workshop, ICML 2019."
    )
    download_hint = (
        "clone github.com/MTG/mtg-jamendo-dataset (path) and fetch the audio with its "
        "scripts/download/download.py into <path>/audio or audio_path (or use mirdata's "
        "mtg_jamendo_autotagging_moodtheme folder, audio in <path>/audios)"
    )

    def _declare_tasks(self) -> dict[str, Task]:
        return {"tags": Task("tags", "multilabel")}

    def _finish_tasks(self, declared, splits):
        tags = {tag for tracks in splits.values() for t in tracks for tag in t.labels["tags"]}
        return {"tags": Task("tags", "multilabel", sorted(tags))}

    def _read(self) -> dict[str, list[Track]]:
        if self.split == "all":
            raise ValueError(
                "split: 'all' is expanded by the config into one dataset per split; build one "
                "per split with split=0, 1, ... in Python"
            )
        if not 0 <= self.split < N_SPLITS:
            raise DataError(f"split: {self.split} is not an official split (0..{N_SPLITS - 1})")
        audio_root = self._audio_root()
        folder = f"data/splits/split-{self.split}"
        out = {}
        for split, suffix in SPLIT_FILES.items():
            table = self.require_file(f"{folder}/autotagging_{self.subset}-{suffix}.tsv")
            out[split] = self._tracks(table, audio_root)
        return out

    def _audio_root(self) -> Path:
        searched = (
            [Path(self.audio_path)]
            if self.audio_path is not None
            else [self.path / folder for folder in AUDIO_FOLDERS]
        )
        for folder in searched:
            if folder.is_dir():
                return folder
        raise DataError(
            f"dataset '{self.name}': no audio folder; searched "
            f"{', '.join(str(folder) for folder in searched)}. {self._get_it()}"
        )

    def _tracks(self, table: Path, audio_root: Path) -> list[Track]:
        with open(table, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle, delimiter="\t"))
        if not rows or rows[0][:4] != ["TRACK_ID", "ARTIST_ID", "ALBUM_ID", "PATH"]:
            raise DataError(f"{table}, line 1: expected TRACK_ID, ARTIST_ID, ALBUM_ID, PATH, ...")
        tracks = []
        for line, row in enumerate(rows[1:], start=2):
            if not row:
                continue
            if len(row) < 6:
                raise DataError(f"{table}, line {line}: expected at least one tag after DURATION")
            relative = row[3].removesuffix(".mp3") + self.audio_suffix
            tags = list(dict.fromkeys(tag.strip() for tag in row[5:] if tag.strip()))
            audio = audio_root / relative
            tracks.append(Track(row[0], {"tags": tags}, audio_path=audio, group=row[1] or None))
        return tracks
