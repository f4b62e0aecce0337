"""emoMusic (MediaEval 2013 Emotion in Music): 744 45-second clips rated for arousal and
valence on a 1–9 scale (Soleymani et al., 2013).

Layout, as unpacked from the release (clips_45sec_mp3.zip, default_features and annotations)::

    <path>/clips_45seconds/<song_id>.mp3
    <path>/annotations/static_annotations.csv   song_id, mean_arousal, std_arousal,
                                                 mean_valence, std_valence
    <path>/annotations/songs_info.csv           song_id, ..., Artist, ..., Mediaeval 2013 set
                                                 (development / evaluation)

Columns are found by name. Tasks ``arousal`` and ``valence`` (regression, the mean static
rating). The official split: ``development`` songs train, ``evaluation`` songs test; a
seeded 15% of the development songs validate, drawn by artist (no artist straddles train
and validation). Groups are the artists.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from mir_ref.datasets.base import Track
from mir_ref.datasets.corpus import Corpus
from mir_ref.datasets.splitting import grouped_split
from mir_ref.errors import DataError
from mir_ref.registry import register
from mir_ref.tasks import Task

VALIDATION_FRACTION = 0.15
SET_COLUMN = "mediaeval 2013 set"


def _table(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header (cells stripped, lower case) and rows of a comma-separated file."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        rows = [row for row in csv.reader(handle) if row]
    if not rows:
        raise DataError(f"{path} is empty")
    return [cell.strip().lower() for cell in rows[0]], rows[1:]


@register("datasets", "emomusic")
@dataclass(kw_only=True)
class EmoMusic(Corpus):
    """emoMusic: arousal and valence (regression); the MediaEval 2013 split."""

    name = "emomusic"
    group_kind = "artist"
    citation = (
        "M. Soleymani, M. N. Caro, E. M. Schmidt, C.-Y. Sha and Y.-H. Yang, '1000 songs for "
        "emotional analysis of music', ACM CrowdMM workshop, 2013."
    )
    download_hint = (
        "the emoMusic release from cvml.unige.ch/databases/emoMusic (clips and annotations)"
    )

    def _declare_tasks(self) -> dict[str, Task]:
        return {"arousal": Task("arousal", "regression"), "valence": Task("valence", "regression")}

    def _read(self) -> dict[str, list[Track]]:
        self.require_folder("clips_45seconds")
        ratings_file = self.require_file("annotations/static_annotations.csv")
        info_file = self.require_file("annotations/songs_info.csv")
        header, rows = _table(ratings_file)
        try:
            columns = [header.index(c) for c in ("song_id", "mean_arousal", "mean_valence")]
        except ValueError:
            raise DataError(
                f"{ratings_file}, line 1: expected columns song_id, mean_arousal, mean_valence "
                f"(got {', '.join(header)})"
            ) from None
        ratings = {}
        for line, row in enumerate(rows, start=2):
            try:
                song, arousal, valence = (row[i].strip() for i in columns)
                values = {"arousal": float(arousal), "valence": float(valence)}
            except (IndexError, ValueError):
                raise DataError(f"{ratings_file}, line {line}: expected numeric ratings") from None
            if not all(math.isfinite(v) for v in values.values()):
                raise DataError(f"{ratings_file}, line {line}: ratings must be finite")
            ratings[song] = values
        info_header, info_rows = _table(info_file)
        missing = [c for c in ("song_id", "artist", SET_COLUMN) if c not in info_header]
        if missing:
            raise DataError(
                f"{info_file}, line 1: expected the columns song_id, Artist and "
                f"Mediaeval 2013 set (missing: {', '.join(missing)})"
            )
        id_column, artist_column, set_column = (
            info_header.index(c) for c in ("song_id", "artist", SET_COLUMN)
        )
        sets, artists = {}, {}
        for line, row in enumerate(info_rows, start=2):
            if len(row) <= max(id_column, artist_column, set_column):
                raise DataError(
                    f"{info_file}, line {line}: {len(row)} cells, fewer than the header's columns"
                )
            song = row[id_column].strip()
            sets[song] = row[set_column].strip().lower()
            artists[song] = row[artist_column].strip() or None
        development = sorted((s for s in ratings if sets.get(s) == "development"), key=int)
        evaluation = sorted((s for s in ratings if sets.get(s) == "evaluation"), key=int)
        if not development or not evaluation:
            raise DataError(
                f"{info_file}: its column 'Mediaeval 2013 set' must mark songs 'development' "
                f"or 'evaluation'"
            )
        assignment = grouped_split(
            [[] for _ in development],
            [artists.get(s) for s in development],
            seed=self.seed,
            fractions=(1 - VALIDATION_FRACTION, VALIDATION_FRACTION, 0.0),
        )
        validation = {
            s for s, split in zip(development, assignment, strict=True) if split == "validation"
        }

        def track(song: str) -> Track:
            audio = self.path / "clips_45seconds" / f"{song}.mp3"
            return Track(song, dict(ratings[song]), audio_path=audio, group=artists.get(song))

        return {
            "train": [track(s) for s in development if s not in validation],
            "validation": [track(s) for s in development if s in validation],
            "test": [track(s) for s in evaluation],
        }
