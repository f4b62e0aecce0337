"""GiantSteps key (test) with GiantSteps MTG key (train and validation), electronic dance music.

``path`` holds GiantSteps key in one of two layouts:

- the Zenodo release 10.5281/zenodo.1095691 (``audio.zip``, ``keys.zip``,
  ``original_metadata.zip``), which is also mirdata's ``giantsteps_key`` folder::

      <path>/audio/<title>.mp3          604 two-minute previews
      <path>/keys_gs+/<title>.txt       the revised (+) keys, the ones mirdata reads
      <path>/meta/<title>.json          Beatport's metadata (the artists)

  where ``<title>``, the track id, is e.g. ``10089 Jason Sparks - Close My Eyes (Original
  Mix)``;

- the GitHub clone of github.com/GiantSteps/giantsteps-key-dataset, audio fetched by its
  script::

      <path>/audio/<id>.LOFI.mp3
      <path>/annotations/key/<id>.LOFI.key     one line, e.g. "Eb minor"

``train_path`` (optional) holds the training data, GiantSteps MTG key, either as the GitHub
clone of giantsteps-mtg-key-dataset (``audio/<id>.LOFI.mp3``, ``annotations/annotations.txt``,
tab-separated ID, MANUAL KEY, C for confidence) or as the Beatport EDM key release (the same
1486 previews with their artists; ``audio/``, ``keys/``, ``meta/``, see
:mod:`mir_ref.datasets.beatport_key`).

Splits:

- with ``train_path``: test is all of GiantSteps key with one of the 24 keys, as published;
  train and validation are the MTG tracks with one key (and, from annotations.txt, a
  confidence of at least ``min_confidence``, 0–2), 85/15 stratified by key with ``seed``,
  grouped by artist when the release names them (the Beatport layout);
- without ``train_path``: GiantSteps alone, split 70/15/15 with ``seed``, stratified by key
  and grouped by artist (from ``meta/`` or the titles). Its test split is then a subset of
  GiantSteps: scores do not compare with results published on all 604 tracks.

Labels with several keys, another mode or none are left out (see
:func:`mir_ref.datasets.key_labels.single_key`). Scored with the MIREX weighted key score.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from mir_ref.datasets.base import Track, stratified_split
from mir_ref.datasets.beatport_key import read_release
from mir_ref.datasets.corpus import Corpus
from mir_ref.datasets.key_labels import single_key
from mir_ref.datasets.splitting import grouped_split
from mir_ref.errors import DataError
from mir_ref.registry import register
from mir_ref.tasks import Task

logger = logging.getLogger(__name__)

ZENODO_KEYS = "keys_gs+"
CLONE_KEYS = "annotations/key"


def split_tracks(
    tracks: list[Track], *, seed: int, fractions: tuple[float, float, float]
) -> list[str]:
    """A seeded split stratified by key, grouped by ``Track.group`` when any track has one."""
    keys = [t.labels["key"] for t in tracks]
    if any(t.group is not None for t in tracks):
        groups = [t.group for t in tracks]
        return grouped_split([[k] for k in keys], groups, seed=seed, fractions=fractions)
    return stratified_split(keys, seed=seed, fractions=fractions)


@register("datasets", "giantsteps_key")
@dataclass(kw_only=True)
class GiantStepsKey(Corpus):
    """GiantSteps key: key (24 classes, MIREX score); MTG set to train, GiantSteps to test.

    Parameters
    ----------
    path : GiantSteps key (the Zenodo release or mirdata's folder, or the GitHub clone).
    train_path : GiantSteps MTG key (the GitHub clone, or the Beatport EDM key release) to
        train and validate on; ``None``: GiantSteps is split into train, validation and test.
    min_confidence : keep MTG rows whose annotator confidence is at least this (0, 1 or 2);
        the GitHub clone's annotations.txt only.
    """

    train_path: Path | None = None
    min_confidence: int = 2

    name = "giantsteps_key"
    group_kind = "artist"
    citation = (
        "P. Knees, Á. Faraldo, P. Herrera, R. Vogl, S. Böck, F. Hörschläger and M. Le Goff, "
        "'Two data sets for tempo estimation and key detection in electronic dance music "
        "annotated from user corrections', ISMIR 2015. Train set: Á. Faraldo, GiantSteps "
        "MTG key dataset (github.com/GiantSteps/giantsteps-mtg-key-dataset)."
    )
    download_hint = (
        "audio.zip, keys.zip and original_metadata.zip from doi.org/10.5281/zenodo.1095691, "
        "unpacked side by side (or mirdata's giantsteps_key folder, or a clone of "
        "github.com/GiantSteps/giantsteps-key-dataset with its audio script run); for "
        "train_path, giantsteps-mtg-key-dataset or the Beatport EDM key release"
    )

    def __post_init__(self) -> None:
        if self.train_path is not None:
            self.train_path = Path(self.train_path)
        super().__post_init__()

    def _declare_tasks(self) -> dict[str, Task]:
        return {"key": Task("key", "key")}

    def _read(self) -> dict[str, list[Track]]:
        test = self._giantsteps()
        if self.train_path is None:
            logger.info(
                "%s: no train_path; GiantSteps itself is split 70/15/15 (seed %d), its test "
                "split is not the published 604-track test set",
                self.name,
                self.seed,
            )
            assignment = split_tracks(test, seed=self.seed, fractions=(0.7, 0.15, 0.15))
            return {
                split: [t for s, t in zip(assignment, test, strict=True) if s == split]
                for split in ("train", "validation", "test")
            }
        train = self._mtg(self.train_path)
        assignment = split_tracks(train, seed=self.seed, fractions=(0.85, 0.15, 0.0))
        return {
            # stratified_split keeps one track per key for a test split; the test split is
            # GiantSteps, so those go to train.
            "train": [t for s, t in zip(assignment, train, strict=True) if s != "validation"],
            "validation": [t for s, t in zip(assignment, train, strict=True) if s == "validation"],
            "test": test,
        }

    def _giantsteps(self) -> list[Track]:
        """GiantSteps key's tracks with one key, from whichever layout ``path`` holds."""
        if (self.path / ZENODO_KEYS).is_dir():
            return read_release(self.path, ZENODO_KEYS, dataset=self.name, hint=self._get_it())[0]
        if not (self.path / CLONE_KEYS).is_dir():
            raise DataError(
                f"dataset '{self.name}': neither {self.path / ZENODO_KEYS} (the Zenodo release, "
                f"mirdata's layout) nor {self.path / CLONE_KEYS} (the GitHub clone) exists. "
                f"{self._get_it()}"
            )
        tracks = []
        for key_file in sorted((self.path / CLONE_KEYS).glob("*.key")):
            text = key_file.read_text(encoding="utf-8", errors="replace").strip()
            key = single_key(text, source=str(key_file))
            if key is not None:
                track_id = key_file.name.removesuffix(".key")
                audio = self.path / "audio" / f"{track_id}.mp3"
                tracks.append(Track(track_id, {"key": key}, audio_path=audio))
        if not tracks:
            raise DataError(
                f"dataset '{self.name}': no key annotations in {self.path / CLONE_KEYS}. "
                f"{self._get_it()}"
            )
        return tracks

    def _mtg(self, root: Path) -> list[Track]:
        """GiantSteps MTG key's tracks with one key, ids prefixed ``mtg/``."""
        if (root / "keys").is_dir():
            tracks = read_release(root, "keys", dataset=self.name, hint=self._get_it())[0]
        else:
            tracks = self._mtg_clone(root)
        for track in tracks:
            track.id = f"mtg/{track.id}"
        return tracks

    def _mtg_clone(self, root: Path) -> list[Track]:
        annotations = root / "annotations" / "annotations.txt"
        if not annotations.is_file():
            raise DataError(
                f"dataset '{self.name}': the annotation file {annotations} is missing; "
                f"train_path must be the giantsteps-mtg-key-dataset folder (or the Beatport "
                f"EDM key release, with keys/). {self._get_it()}"
            )
        tracks = []
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
                key = single_key(label, source=f"{annotations}, line {line}")
                if key is not None and confidence >= self.min_confidence:
                    audio = root / "audio" / f"{track_id}.LOFI.mp3"
                    tracks.append(Track(track_id, {"key": key}, audio_path=audio))
        return tracks
