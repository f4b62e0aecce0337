"""GiantSteps key (test) with GiantSteps MTG key (train and validation), electronic dance music.

Layouts, as cloned from github.com/GiantSteps with their audio fetched by the repositories'
scripts::

    <path>/audio/<id>.LOFI.mp3                    giantsteps-key-dataset: 604 two-minute previews
    <path>/annotations/key/<id>.LOFI.key          one line, e.g. "Eb minor"

    <train_path>/audio/<id>.LOFI.mp3              giantsteps-mtg-key-dataset: 1486 previews
    <train_path>/annotations/annotations.txt      tab-separated: ID, MANUAL KEY, C (confidence)

The test split is all of GiantSteps key with one of the 24 keys. Train and validation come
from the MTG set: rows with a single key ("C minor / F# minor", "G minor/major", "-" are
dropped) and a confidence of at least ``min_confidence`` (0–2), split 85/15 stratified by key
with ``seed``. Scored with the MIREX weighted key score.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from mir_ref.datasets.base import Track, stratified_split
from mir_ref.datasets.beatport_key import single_key
from mir_ref.datasets.corpus import Corpus
from mir_ref.errors import DataError
from mir_ref.registry import register
from mir_ref.tasks import Task


@register("datasets", "giantsteps_key")
@dataclass(kw_only=True)
class GiantStepsKey(Corpus):
    """GiantSteps key: key (24 classes, MIREX score); MTG set to train, GiantSteps to test.

    Parameters
    ----------
    path : the giantsteps-key-dataset folder (the test set).
    train_path : the giantsteps-mtg-key-dataset folder (train and validation).
    min_confidence : keep MTG rows whose annotator confidence is at least this (0, 1 or 2).
    """

    train_path: Path
    min_confidence: int = 2

    name = "giantsteps_key"
    citation = (
        "P. Knees, Á. Faraldo, P. Herrera, R. Vogl, S. Böck, F. Hörschläger and M. Le Goff, "
        "'Two data sets for tempo estimation and key detection in electronic dance music "
        "annotated from user corrections', ISMIR 2015. Train set: Á. Faraldo, GiantSteps "
        "MTG key dataset (github.com/GiantSteps/giantsteps-mtg-key-dataset)."
    )
    download_hint = (
        "clone github.com/GiantSteps/giantsteps-key-dataset (path) and "
        "giantsteps-mtg-key-dataset (train_path) and run their audio download scripts"
    )

    def __post_init__(self) -> None:
        self.train_path = Path(self.train_path)
        super().__post_init__()

    def _declare_tasks(self) -> dict[str, Task]:
        return {"key": Task("key", "key")}

    def _read(self) -> dict[str, list[Track]]:
        test = []
        for key_file in sorted(self.require_folder("annotations/key").glob("*.key")):
            key = single_key(key_file.read_text(encoding="utf-8", errors="replace").strip())
            if key is not None:
                track_id = key_file.name.removesuffix(".key")
                test.append(
                    Track(
                        track_id, {"key": key}, audio_path=self.path / "audio" / f"{track_id}.mp3"
                    )
                )
        if not test:
            raise DataError(
                f"dataset '{self.name}': no key annotations in {self.path / 'annotations/key'}. "
                f"{self._get_it()}"
            )
        annotations = self.train_path / "annotations" / "annotations.txt"
        if not annotations.is_file():
            raise DataError(
                f"dataset '{self.name}': the annotation file {annotations} is missing; "
                f"train_path must be the giantsteps-mtg-key-dataset folder. {self._get_it()}"
            )
        train = []
        with open(annotations, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle, delimiter="\t")
            header = next(reader, [])
            if [cell.strip() for cell in header[:3]] != ["ID", "MANUAL KEY", "C"]:
                raise DataError(
                    f"{annotations}, line 1: expected the columns ID, MANUAL KEY, C (got {header})"
                )
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                try:
                    track_id, label, confidence = row[0].strip(), row[1].strip(), int(row[2])
                except (IndexError, ValueError):
                    raise DataError(
                        f"{annotations}, line {line}: expected ID, key and confidence separated "
                        f"by tabs (got {row})"
                    ) from None
                key = single_key(label)
                if key is not None and confidence >= self.min_confidence:
                    audio = self.train_path / "audio" / f"{track_id}.LOFI.mp3"
                    train.append(Track(f"mtg/{track_id}", {"key": key}, audio_path=audio))
        assignment = stratified_split(
            [t.labels["key"] for t in train], seed=self.seed, fractions=(0.85, 0.15, 0.0)
        )
        return {
            # stratified_split keeps one track per key for a test split; the test split is
            # GiantSteps, so those go to train.
            "train": [t for s, t in zip(assignment, train, strict=True) if s != "validation"],
            "validation": [t for s, t in zip(assignment, train, strict=True) if s == "validation"],
            "test": test,
        }
