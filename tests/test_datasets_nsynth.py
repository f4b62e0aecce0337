"""NSynth: examples.json per split, its three tasks, and errors for a partial download."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mir_ref import registry
from mir_ref.datasets.nsynth import FAMILIES, NSynth
from mir_ref.errors import ConfigError, DataError
from tests.fixtures.corpora import nsynth


def test_official_splits_and_labels(tmp_path: Path) -> None:
    nsynth(tmp_path)
    dataset = NSynth(path=tmp_path)
    sizes = {split: len(dataset.tracks(split)) for split in ("train", "validation", "test")}
    assert sizes == {"train": 36, "validation": 12, "test": 12}
    assert len(FAMILIES) == 11 and dataset.tasks["instrument_family"].classes == FAMILIES
    # HEAR's 88 classes, MIDI 21-108, whichever notes the folder holds.
    assert dataset.tasks["pitch"].classes == [str(p) for p in range(21, 109)]
    assert len(dataset.tasks["pitch"].classes) == 88
    assert len(dataset.tasks["pitch_class"].classes) == 12
    track = {t.id: t for t in dataset.tracks("validation")}["brass_acoustic_003-061-100"]
    assert track.labels == {"instrument_family": "brass", "pitch": "61", "pitch_class": "C#"}
    assert track.audio_path == tmp_path / "nsynth-valid/audio/brass_acoustic_003-061-100.wav"
    assert dataset.check() == []


def test_pitch_range(tmp_path: Path) -> None:
    nsynth(tmp_path)
    full = NSynth(path=tmp_path, pitch_range="full")
    assert full.tasks["pitch"].classes == ["48", "60", "61", "72"]  # the notes present
    narrow = NSynth(path=tmp_path, pitch_range=[55, 70])
    assert narrow.tasks["pitch"].classes == [str(p) for p in range(55, 71)]
    tracks = {t.id: t for t in narrow.tracks("test")}
    # A note outside the range leaves the pitch task only.
    assert tracks["bass_electronic_004-048-100"].labels == {
        "instrument_family": "bass",
        "pitch_class": "C",
    }
    assert tracks["bass_electronic_004-060-100"].labels["pitch"] == "60"
    assert len(narrow.task_tracks("pitch", "test")) == 6
    for bad in ([70, 55], [0, 128], [60]):
        with pytest.raises(ConfigError, match=r"pitch_range: .* is not \[lowest, highest\]"):
            registry.build(
                "datasets", {"type": "nsynth", "path": tmp_path, "pitch_range": bad}, where="d"
            )


def test_task_subset(tmp_path: Path) -> None:
    nsynth(tmp_path)
    dataset = NSynth(path=tmp_path, tasks=["pitch_class"])
    assert list(dataset.tasks) == ["pitch_class"]
    assert all(list(t.labels) == ["pitch_class"] for t in dataset.tracks())
    with pytest.raises(ConfigError, match="'pitch_clas' is not a task.*did you mean 'pitch_class'"):
        registry.build(
            "datasets", {"type": "nsynth", "path": tmp_path, "tasks": ["pitch_clas"]}, where="d"
        )


def test_partial_download(tmp_path: Path) -> None:
    nsynth(tmp_path)
    shutil.rmtree(tmp_path / "nsynth-test")
    with pytest.raises(DataError, match=r"folder .*nsynth-test does not exist.*Point `path`"):
        NSynth(path=tmp_path)
    nsynth(tmp_path)
    (tmp_path / "nsynth-valid/examples.json").unlink()
    with pytest.raises(DataError, match=r"annotation file .*nsynth-valid/examples.json is missing"):
        NSynth(path=tmp_path)
    (tmp_path / "nsynth-valid/examples.json").write_text(json.dumps({"x": {"pitch": 60}}))
    with pytest.raises(DataError, match="note 'x': expected integer 'pitch'"):
        NSynth(path=tmp_path)
