"""TinySOL (official folds) and VocalSet (exact labels, singer-disjoint technique split)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from mir_ref import registry
from mir_ref.datasets.tinysol import TinySol
from mir_ref.datasets.vocalset import SINGERS, TECHNIQUES, VocalSet, singer_abbreviation
from mir_ref.errors import ConfigError, DataError
from tests.fixtures.corpora import tinysol, vocalset


def test_tinysol_folds_and_labels(tmp_path: Path) -> None:
    tinysol(tmp_path)
    tested = []
    for fold in range(5):
        dataset = TinySol(path=tmp_path, split=fold)
        sizes = {s: len(dataset.tracks(s)) for s in ("train", "validation", "test")}
        assert sizes == {"train": 12, "validation": 4, "test": 4}
        tested += [t.id for t in dataset.tracks("test")]
    assert len(tested) == len(set(tested)) == 20  # each note is tested in exactly one fold
    dataset = TinySol(path=tmp_path, split=2)
    assert dataset.tasks["instrument"].classes == ["Bass Tuba", "Violin"]
    track = {t.id: t for t in dataset.tracks("test")}["Vn-ord-B3-ff-N-N"]
    assert track.labels == {"instrument": "Violin", "pitch_class": "B"}
    assert (
        track.audio_path == tmp_path / "audio/TinySOL/Strings/Violin/ordinario/Vn-ord-B3-ff-N-N.wav"
    )
    assert {t.id for t in dataset.tracks("validation")} == {
        "BTb-ord-C3-ff-N-N", "BTb-ord-C4-ff-N-N", "Vn-ord-C3-ff-N-N", "Vn-ord-C4-ff-N-N",
    }  # fmt: skip
    with pytest.raises(DataError, match="fold 5 does not exist"):
        TinySol(path=tmp_path, split=5)


def test_tinysol_missing_files(tmp_path: Path) -> None:
    tinysol(tmp_path)
    (tmp_path / "annotation/TinySOL_metadata.csv").rename(tmp_path / "metadata.csv")
    with pytest.raises(DataError, match=r"annotation file .*TinySOL_metadata.csv is missing"):
        TinySol(path=tmp_path)
    (tmp_path / "metadata.csv").rename(tmp_path / "TinySOL_metadata.csv")
    (tmp_path / "audio").rename(tmp_path / "sounds")
    with pytest.raises(DataError, match=r"unpack TinySOL.tar.gz into"):
        TinySol(path=tmp_path)


def test_vocalset_technique_split_is_singer_disjoint(tmp_path: Path) -> None:
    vocalset(tmp_path)
    dataset = VocalSet(path=tmp_path)
    assert list(dataset.tasks) == ["technique"] and dataset.tasks["technique"].classes == TECHNIQUES
    singers = {
        s: {t.id.split("/")[0] for t in dataset.tracks(s)} for s in ("train", "validation", "test")
    }
    assert singers["test"] == {"female2", "female8", "male3", "male5", "male10"}
    assert singers["validation"] == {"female9", "male9", "male11"}
    assert len(singers["train"]) == 12
    # lip_trill is its own class, not trill; fast_forte is not one of the 10 techniques.
    counts = Counter(t.labels["technique"] for t in dataset.tracks())
    # + the prefix-less lip_trill take and the 'vibrado' folder; the duplicate take left out
    assert counts == {"lip_trill": 41, "trill": 40, "vibrato": 42}
    ids = {t.id for t in dataset.tracks()}
    assert "female2/arpeggios/lip_trill/f2_lip_trill_arps" in ids
    assert "female3/arpeggios/vibrato/f3_arpeggios_vibrado" in ids
    assert not any("(1)" in track_id for track_id in ids)
    # male10 and male11 recordings are not male1's.
    male1 = [t for t in dataset.tracks() if t.id.startswith("male1/")]
    assert len(male1) == 7 and all("/m1_" in str(t.audio_path) or "m11_" in t.id for t in male1)
    # The misnamed file keeps its folder's singer.
    assert "male1/scales/vibrato/m11_scales_vibrato_o" in {t.id for t in dataset.tracks("train")}


def test_vocalset_singer_task(tmp_path: Path) -> None:
    vocalset(tmp_path)
    dataset = VocalSet(path=tmp_path, tasks=["singer"])
    assert dataset.tasks["singer"].classes == SINGERS
    test = Counter(t.labels["singer"] for t in dataset.tracks("test"))
    assert set(test) == set(SINGERS)  # every singer in every split
    assert sum(len(dataset.tracks(s)) for s in ("train", "validation", "test")) == 163
    assert singer_abbreviation("male10") == "m10" and singer_abbreviation("female2") == "f2"


def test_vocalset_errors(tmp_path: Path) -> None:
    vocalset(tmp_path)
    with pytest.raises(ConfigError, match="different splits; list vocalset twice"):
        registry.build(
            "datasets",
            {"type": "vocalset", "path": tmp_path, "tasks": ["singer", "technique"]},
            where="datasets[0]",
        )
    (tmp_path / "FULL" / "male7").rename(tmp_path / "male7")
    with pytest.raises(DataError, match=r"singer folder .*FULL/male7 is missing"):
        VocalSet(path=tmp_path)
