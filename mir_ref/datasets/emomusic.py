"""emoMusic (MediaEval 2013 Emotion in Music): 744 45-second clips rated for arousal and
valence on a 1–9 scale (Soleymani et al., 2013).

Layout, as unpacked from the release (clips_45sec_mp3.zip, default_features and annotations)::

    <path>/clips_45seconds/<song_id>.mp3
    <path>/annotations/static_annotations.csv   song_id, mean_arousal, std_arousal,
                                                 mean_valence, std_valence
    <path>/annotations/songs_info.csv           ..., last column: development / evaluation

Tasks ``arousal`` and ``valence`` (regression, the mean static rating). The official split:
``development`` songs train (a seeded 15% of them validate), ``evaluation`` songs test.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mir_ref.datasets.base import Track
from mir_ref.datasets.corpus import Corpus
from mir_ref.errors import DataError
from mir_ref.registry import register
from mir_ref.tasks import Task

VALIDATION_FRACTION = 0.15


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
        if "song_id" not in info_header:
            raise DataError(f"{info_file}, line 1: expected a song_id column")
        id_column = info_header.index("song_id")
        sets = {row[id_column].strip(): row[-1].strip().lower() for row in info_rows}
        development = sorted((s for s in ratings if sets.get(s) == "development"), key=int)
        evaluation = sorted((s for s in ratings if sets.get(s) == "evaluation"), key=int)
        if not development or not evaluation:
            raise DataError(
                f"{info_file}: its last column must mark songs 'development' or 'evaluation'"
            )
        rng = np.random.default_rng(self.seed)
        n_validation = max(1, round(VALIDATION_FRACTION * len(development)))
        validation = set(rng.permutation(development)[:n_validation].tolist())

        def track(song: str) -> Track:
            audio = self.path / "clips_45seconds" / f"{song}.mp3"
            return Track(song, dict(ratings[song]), audio_path=audio)

        return {
            "train": [track(s) for s in development if s not in validation],
            "validation": [track(s) for s in development if s in validation],
            "test": [track(s) for s in evaluation],
        }
