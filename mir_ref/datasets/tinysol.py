"""TinySOL: 2913 single notes of 14 orchestral instruments played ordinario (Cella et al., 2020).

Layout, as unpacked from the Zenodo record 10.5281/zenodo.3685367 (``TinySOL.tar.gz``,
``TinySOL_metadata.csv``)::

    <path>/annotation/TinySOL_metadata.csv      (or <path>/TinySOL_metadata.csv)
    <path>/audio/TinySOL/<Family>/<Instrument>/ordinario/<file>.wav   (or <path>/audio/...)

The metadata's columns, by position: Path, Fold, Family, Instrument (abbr.), Instrument (in
full), Technique (abbr.), Technique (in full), Pitch, Pitch ID (MIDI), Dynamics, Dynamics ID,
Instance ID, String ID, Needed digital retuning.

Tasks: ``instrument`` (14 classes, the full names) and ``pitch_class`` (12). The official
5-fold split, balanced by instrument, pitch range and dynamics: ``split: k`` makes fold k the
test split, fold k+1 (cyclically) the validation split and the rest the train split.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mir_ref.datasets.base import Track
from mir_ref.datasets.corpus import Corpus
from mir_ref.datasets.remote import Remote
from mir_ref.datasets.splitting import fold_splits
from mir_ref.errors import DataError
from mir_ref.registry import register
from mir_ref.tasks import PITCH_CLASSES, Task

N_FOLDS = 5


@register("datasets", "tinysol")
@dataclass(kw_only=True)
class TinySol(Corpus):
    """TinySOL: instrument (14 classes) and pitch class (12); the official 5 folds.

    Parameters
    ----------
    split : the test fold, 0..4 (validation is the next fold, train the other three).
    """

    split: int | Literal["all"] = 0

    name = "tinysol"
    split_count = N_FOLDS
    citation = (
        "C. E. Cella, D. Ghisi, V. Lostanlen, F. Lévy, J. Fineberg and Y. Maresz, 'OrchideaSOL: "
        "a dataset of extended instrumental techniques for computer-aided orchestration', "
        "ICMC 2020. Data: doi:10.5281/zenodo.3685367."
    )
    download_hint = "TinySOL.tar.gz into audio/ and TinySOL_metadata.csv into annotation/"
    remotes = [
        Remote(
            "https://zenodo.org/record/3685367/files/TinySOL.tar.gz?download=1",
            "TinySOL.tar.gz",
            "md5:36030a7fe389da86c3419e5ee48e3b7f",
            into="audio",
        ),
        Remote(
            "https://zenodo.org/record/3685367/files/TinySOL_metadata.csv?download=1",
            "TinySOL_metadata.csv",
            "md5:a86c9bb115f69e61f2f25872e397fc4a",
            into="annotation",
            unpack=False,
        ),
    ]

    def _declare_tasks(self) -> dict[str, Task]:
        return {
            "instrument": Task("instrument", "multiclass"),
            "pitch_class": Task(
                "pitch_class", "multiclass", list(PITCH_CLASSES), label_kind="pitch_class"
            ),
        }

    def _finish_tasks(self, declared, splits):
        # The vocabulary is read from the metadata, spelled as the release spells it.
        names = {t.labels["instrument"] for tracks in splits.values() for t in tracks}
        declared["instrument"] = Task("instrument", "multiclass", sorted(names))
        return declared

    def _metadata(self) -> Path:
        for candidate in ("annotation/TinySOL_metadata.csv", "TinySOL_metadata.csv"):
            if (self.path / candidate).is_file():
                return self.path / candidate
        return self.require_file("annotation/TinySOL_metadata.csv")

    def _read(self) -> dict[str, list[Track]]:
        if self.split == "all":
            raise ValueError(
                "split: 'all' is expanded by the config into one dataset per split; build one "
                "per split with split=0, 1, ... in Python"
            )
        metadata = self._metadata()
        with open(metadata, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
        if not rows or [cell.strip() for cell in rows[0][:2]] != ["Path", "Fold"]:
            raise DataError(f"{metadata}, line 1: expected a header starting with Path, Fold")
        entries = []
        for line, row in enumerate(rows[1:], start=2):
            if not row:
                continue
            try:
                path, fold, instrument, midi = row[0], int(row[1]), row[4].strip(), int(row[8])
            except (IndexError, ValueError):
                raise DataError(
                    f"{metadata}, line {line}: expected Path, Fold (0-4), ..., Instrument (in "
                    f"full) in column 5 and Pitch ID (MIDI) in column 9"
                ) from None
            if not instrument or not 0 <= fold < N_FOLDS:
                raise DataError(
                    f"{metadata}, line {line}: expected an instrument name and a fold 0-4 "
                    f"(got '{instrument}', {fold})"
                )
            labels = {"instrument": instrument, "pitch_class": PITCH_CLASSES[midi % 12]}
            entries.append((path, fold, labels))
        if not entries:
            raise DataError(f"{metadata} has no rows")
        audio_root = self._audio_root(entries[0][0])
        splits = fold_splits([fold for _, fold, _ in entries], self.split, N_FOLDS)
        out: dict[str, list[Track]] = {"train": [], "validation": [], "test": []}
        for split, (path, _, labels) in zip(splits, entries, strict=True):
            track_id = Path(path).stem
            out[split].append(Track(track_id, labels, audio_path=audio_root / path))
        return out

    def _audio_root(self, first_path: str) -> Path:
        candidates = [self.path / "audio" / "TinySOL", self.path / "audio", self.path / "TinySOL"]
        for root in candidates:
            if (root / first_path).is_file():
                return root
        raise DataError(
            f"dataset '{self.name}': audio file {first_path} is in none of "
            f"{', '.join(str(c) for c in candidates)}; unpack TinySOL.tar.gz into "
            f"{self.path / 'audio'}"
        )
