"""MTG-Jamendo, MagnaTagATune, emoMusic, FMA and Medley-solos-DB: real layouts and splits."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from mir_ref.datasets.emomusic import EmoMusic
from mir_ref.datasets.fma import Fma
from mir_ref.datasets.magnatagatune import MagnaTagATune
from mir_ref.datasets.medley_solos_db import MedleySolosDb
from mir_ref.datasets.mtg_jamendo import MtgJamendo
from mir_ref.datasets.splitting import groups_across_splits
from mir_ref.errors import DataError
from tests.fixtures.corpora import emomusic, fma, magnatagatune, medley_solos_db, mtg_jamendo

SPLITS = ("train", "validation", "test")


def sizes(dataset) -> dict[str, int]:
    return {split: len(dataset.tracks(split)) for split in SPLITS}


def test_mtg_jamendo_official_splits_and_tags(tmp_path: Path) -> None:
    mtg_jamendo(tmp_path)
    dataset = MtgJamendo(path=tmp_path, subset="moodtheme", split=1)
    assert sizes(dataset) == {"train": 8, "validation": 2, "test": 2}
    assert dataset.tasks["tags"].type == "multilabel"
    assert dataset.tasks["tags"].classes == [
        "mood/theme---film",
        "mood/theme---happy",
        "mood/theme---sad",
    ]
    test = {t.id: t for t in dataset.tracks("test")}
    assert set(test) == {"track_0001011", "track_0001000"}  # split-1 rotates the list by one
    assert test["track_0001000"].labels == {"tags": ["mood/theme---happy", "mood/theme---film"]}
    assert test["track_0001000"].audio_path == tmp_path / "audio/00/1000.mp3"
    other = MtgJamendo(path=tmp_path, split=2)
    assert {t.id for t in other.tracks("test")} != set(test)
    with pytest.raises(DataError, match=r"none of its 12 audio files is there .*\.low\.mp3"):
        MtgJamendo(path=tmp_path, split=1, audio_suffix=".low.mp3")
    with pytest.raises(DataError, match=r"autotagging_genre-train.tsv is missing"):
        MtgJamendo(path=tmp_path, subset="genre")


def test_magnatagatune_won_split_skips_empty_files(tmp_path: Path) -> None:
    magnatagatune(tmp_path)
    dataset = MagnaTagATune(path=tmp_path)
    assert sizes(dataset) == {"train": 5, "validation": 2, "test": 2}  # one empty mp3 dropped
    assert dataset.tasks["tags"].classes == ["guitar", "classical", "rock", "quiet"]
    tracks = {t.id: t for t in dataset.tracks()}
    assert "6/norine_braun-now_and_zen-08-gently-117-146.mp3" not in tracks
    first = tracks["f/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria-30-59.mp3"]
    assert first.labels == {"tags": ["guitar"]}  # row 2 of binary.npy, not row 0
    assert tracks["0/chris_harvey-the_white_sail-01-the_white_sail-175-204.mp3"].labels == {
        "tags": ["classical", "quiet"]
    }
    assert dataset.check() == []
    (tmp_path / "split" / "binary.npy").unlink()
    with pytest.raises(DataError, match=r"split file .*binary.npy is missing"):
        MagnaTagATune(path=tmp_path)


def test_emomusic_ratings_and_official_split(tmp_path: Path) -> None:
    emomusic(tmp_path)
    dataset = EmoMusic(path=tmp_path)
    assert sizes(dataset) == {"train": 19, "validation": 3, "test": 6}
    assert {t.id for t in dataset.tracks("test")} == {str(s) for s in range(24, 30)}
    track = {t.id: t for t in dataset.tracks()}["5"]
    assert track.labels == {"arousal": pytest.approx(5.0), "valence": pytest.approx(4.0)}
    assert [task.type for task in dataset.tasks.values()] == ["regression", "regression"]
    # Validation songs are drawn by artist: no artist in both train and validation.
    assert track.group == "Artist 1"
    assert groups_across_splits(dataset.splits()) == {}
    # Columns are found by name, wherever the set column is.
    info = tmp_path / "annotations" / "songs_info.csv"
    rows = list(csv.reader(info.read_text().splitlines()))
    info.write_text("\n".join(",".join(f'"{c}"' for c in [r[-1], *r[:-1], "x"]) for r in rows))
    moved = EmoMusic(path=tmp_path)
    assert {s: [t.id for t in moved.tracks(s)] for s in SPLITS} == {
        s: [t.id for t in dataset.tracks(s)] for s in SPLITS
    }
    info.write_text(info.read_text().replace("Mediaeval 2013 set", "set"))
    with pytest.raises(DataError, match=r"songs_info.csv, line 1: .*missing: mediaeval 2013 set"):
        EmoMusic(path=tmp_path)
    (tmp_path / "annotations" / "songs_info.csv").unlink()
    with pytest.raises(DataError, match=r"annotation file .*songs_info.csv is missing"):
        EmoMusic(path=tmp_path)


def test_fma_subsets_and_official_split(tmp_path: Path) -> None:
    fma(tmp_path)
    small = Fma(path=tmp_path, subset="small")
    assert sizes(small) == {"train": 15, "validation": 3, "test": 3}
    assert small.tasks["genre"].classes == ["Folk", "Hip-Hop", "Rock"]
    track = {t.id: t for t in small.tracks()}["000002"]
    assert track.labels == {"genre": "Hip-Hop"}
    assert track.audio_path == tmp_path / "fma_small/000/000002.mp3"
    assert track.group == "100"  # artist/id
    assert groups_across_splits(small.splits()) == {}
    medium = Fma(path=tmp_path, subset="medium")
    assert sizes(medium) == {"train": 18, "validation": 3, "test": 3}
    assert medium.check() == []
    shutil.rmtree(tmp_path / "fma_medium")
    with pytest.raises(DataError, match=r"fma_medium does not exist"):
        Fma(path=tmp_path, subset="medium")


def test_medley_solos_db(tmp_path: Path) -> None:
    medley_solos_db(tmp_path)
    dataset = MedleySolosDb(path=tmp_path)
    assert sizes(dataset) == {"train": 12, "validation": 3, "test": 3}
    assert dataset.tasks["instrument"].classes == [
        "clarinet",
        "distorted electric guitar",
        "female singer",
    ]
    track = dataset.tracks("test")[0]
    assert track.audio_path.name.startswith("Medley-solos-DB_test-")
    assert dataset.check() == []
