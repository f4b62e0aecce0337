"""FMA: the Free Music Archive dataset's ``small`` (8,000 clips, 8 genres) and ``medium``
(25,000 clips, 16 genres) subsets (Defferrard et al., 2017).

Layout, as unpacked from ``fma_metadata.zip`` and ``fma_<subset>.zip``::

    <path>/fma_metadata/tracks.csv      two header rows (e.g. set/split, set/subset,
                                        track/genre_top), then track_id and the values
    <path>/fma_<subset>/<first 3 digits>/<6-digit track_id>.mp3

Task ``genre`` (the top-level genre, multiclass). The official split (``set/split``:
training, validation, test), which keeps each artist in one split; ``medium`` includes the
``small`` tracks, as in the release. Groups are the artists (``artist/id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from mir_ref.datasets.base import Track
from mir_ref.datasets.corpus import Corpus
from mir_ref.datasets.remote import Remote
from mir_ref.errors import DataError
from mir_ref.registry import register
from mir_ref.tasks import Task

SPLITS = {"training": "train", "validation": "validation", "test": "test"}
SUBSETS = {"small": ("small",), "medium": ("small", "medium")}


def _artist(cell: object) -> str | None:
    """An ``artist/id`` cell as a group name (``None`` when empty)."""
    if pd.isna(cell):
        return None
    return str(int(cell)) if isinstance(cell, float) and float(cell).is_integer() else str(cell)


@register("datasets", "fma")
@dataclass(kw_only=True)
class Fma(Corpus):
    """FMA small / medium: genre (8 / 16 classes); the official split.

    Parameters
    ----------
    subset : ``small`` or ``medium``.
    """

    subset: Literal["small", "medium"] = "small"

    name = "fma"
    group_kind = "artist"
    citation = (
        "M. Defferrard, K. Benzi, P. Vandergheynst and X. Bresson, 'FMA: a dataset for music "
        "analysis', ISMIR 2017."
    )
    download_hint = (
        "fma_metadata.zip and fma_small.zip from os.unil.cloud.switch.ch/fma, unpacked side by "
        "side; for medium also fma_medium.zip (sha1 c67b69ea232021025fca9231fc1c7c1a063ab50b)"
    )
    # The download fetches the metadata and the small subset (the medium one is 22 GiB).
    remotes = [
        Remote(
            "https://os.unil.cloud.switch.ch/fma/fma_metadata.zip",
            "fma_metadata.zip",
            "sha1:f0df49ffe5f2a6008d7dc83c6915b31835dfe733",
        ),
        Remote(
            "https://os.unil.cloud.switch.ch/fma/fma_small.zip",
            "fma_small.zip",
            "sha1:ade154f733639d52e35e32f5593efe5be76c6d70",
        ),
    ]

    def _declare_tasks(self) -> dict[str, Task]:
        return {"genre": Task("genre", "multiclass")}

    def _finish_tasks(self, declared, splits):
        genres = {t.labels["genre"] for tracks in splits.values() for t in tracks}
        return {"genre": Task("genre", "multiclass", sorted(genres))}

    def _read(self) -> dict[str, list[Track]]:
        table = self.require_file("fma_metadata/tracks.csv")
        audio_root = self.require_folder(f"fma_{self.subset}")
        try:
            tracks = pd.read_csv(table, index_col=0, header=[0, 1], low_memory=False)
            chosen = tracks[tracks[("set", "subset")].isin(SUBSETS[self.subset])]
            split_column, genres = chosen[("set", "split")], chosen[("track", "genre_top")]
            artists = chosen[("artist", "id")] if ("artist", "id") in chosen else None
        except (KeyError, ValueError, pd.errors.ParserError) as error:
            raise DataError(
                f"{table}: expected the release's two header rows with set/split, set/subset and "
                f"track/genre_top ({error})"
            ) from None
        out: dict[str, list[Track]] = {"train": [], "validation": [], "test": []}
        groups = [None] * len(chosen) if artists is None else [_artist(a) for a in artists]
        for track_id, split, genre, group in zip(
            chosen.index, split_column, genres, groups, strict=True
        ):
            if split not in SPLITS or not isinstance(genre, str):
                raise DataError(
                    f"{table}, track {track_id}: bad split '{split}' or genre '{genre}'"
                )
            name = f"{int(track_id):06d}"
            audio = audio_root / name[:3] / f"{name}.mp3"
            track = Track(name, {"genre": genre}, audio_path=audio, group=group)
            out[SPLITS[split]].append(track)
        return out
