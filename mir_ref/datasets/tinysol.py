"""TinySOL: 2913 single notes of 14 orchestral instruments played ordinario (Cella et al., 2020).

Layout, as unpacked from the Zenodo record 10.5281/zenodo.3685367 (``TinySOL.tar.gz``,
``TinySOL_metadata.csv``), or mirdata's ``tinysol`` folder::

    <path>/annotation/TinySOL_metadata.csv      (or <path>/TinySOL_metadata.csv)
    <path>/audio/TinySOL/<Family>/<Instrument>/ordinario/<file>.wav
    <path>/audio/<Family>/<Instrument>/ordinario/<file>.wav         (mirdata's)

The metadata's columns, by position: Path, Fold, Family, Instrument (abbr.), Instrument (in
full), Technique (abbr.), Technique (in full), Pitch, Pitch ID (MIDI), Dynamics, Dynamics ID,
Instance ID, String ID, Needed digital retuning.

Tasks: ``instrument`` (14 classes, the full names) and ``pitch_class`` (12, from the Pitch
ID). Track ids are the file names without ``.wav`` (as mirdata's). The official 5-fold
split, balanced by instrument, pitch range and dynamics. Two conventions number its rounds
(``fold_convention``):

- ``test_k`` (ours, the default): ``split: k`` tests on fold k, validates on fold k+1
  (cyclically) and trains on the other three;
- ``validation_k`` (the original mir_ref's, which took mirdata's folds in order): ``split:
  k`` validates on fold k and tests on fold k+1. Original configs converted by ``mir_ref
  convert`` (or run unchanged) use it, so their results keep their meaning.
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
    split : the round, 0..4: with ``fold_convention: test_k`` the test fold (validation is
        the next fold, train the other three); with ``validation_k`` the validation fold
        (test is the next fold).
    fold_convention : ``test_k`` (ours) or ``validation_k`` (the original mir_ref's).
    """

    split: int | Literal["all"] = 0
    fold_convention: Literal["test_k", "validation_k"] = "test_k"

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
        audio_root = self._audio_root([path for path, _, _ in entries])
        splits = fold_splits(
            [fold for _, fold, _ in entries], self.split, N_FOLDS, convention=self.fold_convention
        )
        out: dict[str, list[Track]] = {"train": [], "validation": [], "test": []}
        for split, (path, _, labels) in zip(splits, entries, strict=True):
            track_id = Path(path).stem
            out[split].append(Track(track_id, labels, audio_path=audio_root / path))
        return out

    def _audio_root(self, paths: list[str]) -> Path:
        """The folder the metadata's paths are relative to: the first that holds one of them
        (a partial download holds some)."""
        candidates = [self.path / "audio" / "TinySOL", self.path / "audio", self.path / "TinySOL"]
        for root in candidates:
            if root.is_dir() and any((root / path).is_file() for path in paths):
                return root
        raise DataError(
            f"dataset '{self.name}': none of the audio files of the metadata (first: "
            f"{paths[0]}) is in {', '.join(str(c) for c in candidates)}; unpack TinySOL.tar.gz "
            f"into {self.path / 'audio'}"
        )
