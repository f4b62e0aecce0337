"""Beatport key and GiantSteps key: single-key labels only, enharmonics normalised."""

from __future__ import annotations

from pathlib import Path

import pytest

from mir_ref.datasets.beatport_key import BeatportKey
from mir_ref.datasets.giantsteps_key import GiantStepsKey
from mir_ref.datasets.key_labels import single_key
from mir_ref.errors import DataError
from mir_ref.tasks import KEYS
from tests.fixtures.corpora import beatport_key, giantsteps_key


@pytest.mark.parametrize(
    ("label", "key"),
    [
        ("Bb minor", "A#:minor"),
        ("Eb minor", "D#:minor"),
        ("C# major", "C#:major"),
        ("F#_ minor", "F#:minor"),  # Beatport's stray underscore, repaired as the original did
        ("eb minor", "D#:minor"),
        ("F minor | Ab major", None),
        ("C minor / F# minor", None),
        ("G minor/major", None),
        ("A-A# minor", None),
        ("A other", None),
        ("unknown", None),
        ("-", None),
    ],
)
def test_single_key(label: str, key: str | None) -> None:
    assert single_key(label) == key


@pytest.mark.parametrize("label", ["EB minor", "BB major", "fB minor"])
def test_a_mangled_tonic_is_an_error_not_a_class(label: str) -> None:
    with pytest.raises(DataError, match=rf"keys/x.txt: key label '{label}' is not one of the 24"):
        single_key(label, source="keys/x.txt")


def test_beatport_names_the_file_of_a_mangled_label(tmp_path: Path) -> None:
    beatport_key(tmp_path)
    bad = tmp_path / "keys" / "Artist 3 - Track 3 (Original Mix).txt"
    bad.write_text("EB minor\n")
    with pytest.raises(DataError, match=r"Artist 3 - Track 3 \(Original Mix\).txt: key label"):
        BeatportKey(path=tmp_path)


def test_beatport_keeps_single_keys(tmp_path: Path) -> None:
    beatport_key(tmp_path)
    dataset = BeatportKey(path=tmp_path)
    tracks = dataset.tracks()
    assert len(tracks) == 12  # the three tracks without exactly one key are left out
    assert {t.labels["key"] for t in tracks} == {"A#:minor", "E:major"}
    assert dataset.tasks["key"].classes == KEYS and dataset.tasks["key"].type == "key"
    assert {s: len(dataset.tracks(s)) for s in ("train", "validation", "test")} == {
        "train": 8,
        "validation": 2,
        "test": 2,
    }
    track = tracks[0]
    assert track.audio_path.suffix == ".mp3" and track.audio()[0].size > 0


def test_giantsteps_test_is_giantsteps_and_train_is_mtg(tmp_path: Path) -> None:
    spec = giantsteps_key(tmp_path)
    dataset = GiantStepsKey(path=Path(spec["path"]), train_path=Path(spec["train_path"]))
    test = {t.id: t.labels["key"] for t in dataset.tracks("test")}
    assert test == {
        "1000.LOFI": "D#:minor",
        "1001.LOFI": "E:major",
        "1002.LOFI": "D#:minor",
        "1003.LOFI": "E:major",
    }
    train_ids = {t.id for s in ("train", "validation") for t in dataset.tracks(s)}
    # Ambiguous, unknown and low-confidence rows are dropped.
    assert train_ids == {f"mtg/{i}" for i in (*range(5000, 5006), *range(6000, 6006))}
    assert len(dataset.tracks("validation")) == 2
    relaxed = GiantStepsKey(
        path=Path(spec["path"]), train_path=Path(spec["train_path"]), min_confidence=1
    )
    assert "mtg/7002" in {t.id for s in ("train", "validation") for t in relaxed.tracks(s)}
    assert dataset.check() == []


def test_giantsteps_missing_train_annotations(tmp_path: Path) -> None:
    spec = giantsteps_key(tmp_path)
    (Path(spec["train_path"]) / "annotations" / "annotations.txt").unlink()
    with pytest.raises(DataError, match=r"annotations.txt is missing; train_path must be"):
        GiantStepsKey(path=Path(spec["path"]), train_path=Path(spec["train_path"]))
    with pytest.raises(DataError, match=r"neither .*keys_gs\+ .* nor .*annotations/key"):
        GiantStepsKey(path=tmp_path, train_path=Path(spec["train_path"]))
