"""GTZAN genre: the real layout, the fault-filtered split, and errors for partial downloads."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from mir_ref.datasets.gtzan_genre import GENRES, GtzanGenre, filtered_split
from mir_ref.errors import DataError
from tests.fixtures.corpora import gtzan_genre, write_tone


@pytest.fixture(scope="module")
def gtzan_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gtzan")
    gtzan_genre(root)
    return root


def test_filtered_split_is_the_published_one() -> None:
    split = filtered_split()
    assert {name: len(names) for name, names in split.items()} == {
        "train": 443,
        "validation": 197,
        "test": 290,
    }
    every = [name for names in split.values() for name in names]
    assert len(set(every)) == 930  # disjoint; the other 70 are Sturm's faults
    assert "jazz.00054" in split["train"] and "blues.00012" in split["test"]
    # Tracks Sturm lists as repeated or mislabelled are in no split.
    assert not {"pop.00015", "reggae.00003", "disco.00050", "hiphop.00039"} & set(every)


def test_loads_the_filtered_split(gtzan_root: Path) -> None:
    dataset = GtzanGenre(path=gtzan_root)
    sizes = {split: len(dataset.tracks(split)) for split in ("train", "validation", "test")}
    assert sizes == {"train": 443, "validation": 197, "test": 290}
    assert dataset.tasks["genre"].classes == GENRES
    test = {track.id: track for track in dataset.tracks("test")}
    assert test["hiphop.00099"].labels == {"genre": "hiphop"}
    assert test["hiphop.00099"].audio_path == gtzan_root / "genres/hiphop/hiphop.00099.au"
    assert Counter(t.labels["genre"] for t in dataset.tracks("test"))["jazz"] == 27
    audio, rate = test["rock.00010"].audio()
    assert rate == 4000 and audio.size == 200


def test_random_split_uses_all_tracks_stratified(gtzan_root: Path) -> None:
    dataset = GtzanGenre(path=gtzan_root, split="random", seed=3)
    sizes = {split: len(dataset.tracks(split)) for split in ("train", "validation", "test")}
    assert sizes == {"train": 700, "validation": 150, "test": 150}
    assert set(Counter(t.labels["genre"] for t in dataset.tracks("test")).values()) == {15}
    other = GtzanGenre(path=gtzan_root, split="random", seed=4)
    assert [t.id for t in dataset.tracks("test")] != [t.id for t in other.tracks("test")]


def test_max_tracks_and_clip(gtzan_root: Path) -> None:
    full = GtzanGenre(path=gtzan_root)
    dataset = GtzanGenre(path=gtzan_root, max_tracks=20, clip_s=0.02, offset_s=0.01)
    for split in ("train", "validation", "test"):
        tracks = dataset.tracks(split)
        assert len(tracks) == 20
        # Stratified: each genre keeps its share of the split, to within one track.
        kept = Counter(t.labels["genre"] for t in tracks)
        everyone = Counter(t.labels["genre"] for t in full.tracks(split))
        for genre in GENRES:
            assert abs(kept[genre] - 20 * everyone[genre] / len(full.tracks(split))) < 1
    track = dataset.tracks("test")[0]
    audio, rate = track.audio()
    assert audio.size == 80 and track.offset_s == 0.01 and track.duration_s == 0.02
    assert track.identity.endswith(":0.01:0.02")


def test_kaggle_layout_with_wav(tmp_path: Path) -> None:
    for genre in GENRES:
        for number in range(100):
            (tmp_path / "genres_original" / genre).mkdir(parents=True, exist_ok=True)
            (tmp_path / "genres_original" / genre / f"{genre}.{number:05d}.wav").touch()
    write_tone(tmp_path / "genres_original/blues/blues.00000.wav", 220)
    dataset = GtzanGenre(path=tmp_path, split="random")
    assert len(dataset.tracks()) == 1000
    problems = dataset.check()
    assert len(problems) == 999 and "cannot decode" in problems[0]


def test_missing_folder_and_partial_download(
    tmp_path: Path, gtzan_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(DataError) as error:
        GtzanGenre(path=tmp_path / "nowhere")
    assert f"{tmp_path / 'nowhere'} does not exist" in str(error.value)
    assert "mir_ref datasets download gtzan_genre" in str(error.value)

    # A partial download loads what is there; its tracks keep their official splits.
    partial = tmp_path / "partial"
    shutil.copytree(gtzan_root, partial)
    (partial / "genres/jazz/jazz.00080.au").unlink()
    shutil.rmtree(partial / "genres/metal")
    full = GtzanGenre(path=gtzan_root)
    dataset = GtzanGenre(path=partial)
    for split in ("train", "validation", "test"):
        kept = [t.id for t in full.tracks(split) if t.id != "jazz.00080" and "metal" not in t.id]
        assert [t.id for t in dataset.tracks(split)] == kept
    absent = dataset.absent_tracks()
    metal = {s: sum("metal" in t.id for t in full.tracks(s)) for s in absent}
    assert absent == {"train": metal["train"], "validation": metal["validation"],
                      "test": metal["test"] + 1}  # fmt: skip
    assert f"{sum(absent.values())} of 930 tracks have no audio file" in caplog.text
    with pytest.raises(DataError, match=r"tracks have no audio file .*first: .*genres/.*strict"):
        GtzanGenre(path=partial, strict=True)
    with pytest.raises(DataError, match=r"no genre folders .* in any of .*/genres, .*gtzan_genre"):
        GtzanGenre(path=tmp_path)
