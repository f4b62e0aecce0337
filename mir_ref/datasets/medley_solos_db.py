"""Medley-solos-DB: 21,572 three-second excerpts of 8 solo instruments (Lostanlen & Cella, 2016).

Layout, as unpacked from the Zenodo record 10.5281/zenodo.3464194 (also mirdata's
``medley_solos_db`` folder)::

    <path>/annotation/Medley-solos-DB_metadata.csv    (or <path>/Medley-solos-DB_metadata.csv)
    <path>/audio/Medley-solos-DB_<subset>-<instrument_id>_<uuid4>.wav

The metadata's columns: subset (training, validation, test), instrument, instrument_id,
song_id, uuid4. The official split; task ``instrument`` (8 classes). Track ids are the
uuid4 (as mirdata's), groups the song_id: excerpts of one song are resampled together.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from mir_ref.datasets.base import Track
from mir_ref.datasets.corpus import Corpus
from mir_ref.datasets.remote import Remote
from mir_ref.errors import DataError
from mir_ref.registry import register
from mir_ref.tasks import Task

SUBSETS = {"training": "train", "validation": "validation", "test": "test"}
COLUMNS = ["subset", "instrument", "instrument_id", "song_id", "uuid4"]


@register("datasets", "medley_solos_db")
@dataclass(kw_only=True)
class MedleySolosDb(Corpus):
    """Medley-solos-DB: instrument (8 classes); the official train/validation/test split."""

    name = "medley_solos_db"
    group_kind = "song"
    citation = (
        "V. Lostanlen and C. E. Cella, 'Deep convolutional networks on the pitch spiral for "
        "musical instrument recognition', ISMIR 2016. Data: doi:10.5281/zenodo.3464194."
    )
    download_hint = (
        "Medley-solos-DB.tar.gz into audio/ and Medley-solos-DB_metadata.csv into annotation/ "
        "from doi.org/10.5281/zenodo.3464194"
    )
    remotes = [
        Remote(
            "https://zenodo.org/record/3464194/files/Medley-solos-DB.tar.gz?download=1",
            "Medley-solos-DB.tar.gz",
            "md5:f5facf398793ef5c1f80c013afdf3e5f",
            into="audio",
        ),
        Remote(
            "https://zenodo.org/record/3464194/files/Medley-solos-DB_metadata.csv?download=1",
            "Medley-solos-DB_metadata.csv",
            "md5:fda6a589c56785f2195c9227809c521a",
            into="annotation",
            unpack=False,
        ),
    ]

    def _declare_tasks(self) -> dict[str, Task]:
        return {"instrument": Task("instrument", "multiclass")}

    def _finish_tasks(self, declared, splits):
        names = {t.labels["instrument"] for tracks in splits.values() for t in tracks}
        return {"instrument": Task("instrument", "multiclass", sorted(names))}

    def _metadata(self) -> Path:
        for candidate in (
            "annotation/Medley-solos-DB_metadata.csv",
            "Medley-solos-DB_metadata.csv",
        ):
            if (self.path / candidate).is_file():
                return self.path / candidate
        return self.require_file("annotation/Medley-solos-DB_metadata.csv")

    def _read(self) -> dict[str, list[Track]]:
        metadata = self._metadata()
        with open(metadata, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{metadata}, line 1: missing columns {', '.join(missing)}")
            rows = list(reader)
        audio_root = self.path / "audio"
        out: dict[str, list[Track]] = {"train": [], "validation": [], "test": []}
        for line, row in enumerate(rows, start=2):
            subset = row["subset"].strip()
            if subset not in SUBSETS:
                raise DataError(
                    f"{metadata}, line {line}, column 'subset': '{subset}' is not one of "
                    f"{', '.join(SUBSETS)}"
                )
            uuid, instrument_id = row["uuid4"].strip(), row["instrument_id"].strip()
            audio = audio_root / f"Medley-solos-DB_{subset}-{instrument_id}_{uuid}.wav"
            labels = {"instrument": row["instrument"].strip()}
            song = row["song_id"].strip() or None
            out[SUBSETS[subset]].append(Track(uuid, labels, audio_path=audio, group=song))
        return out
