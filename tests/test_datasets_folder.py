"""Folder: root/<label>/<file>, with split sub-folders or a drawn split."""

from __future__ import annotations

from pathlib import Path

import pytest

from mir_ref.datasets.folder import FolderDataset
from mir_ref.errors import DataError
from tests.fixtures.corpora import folder, write_tone


def test_classes_are_folders_and_split_is_stratified(tmp_path: Path) -> None:
    folder(tmp_path)
    (tmp_path / "voice" / "notes.txt").write_text("not audio")
    dataset = FolderDataset(path=tmp_path, task="instrument")
    assert dataset.tasks["instrument"].classes == ["cello", "flute", "voice"]
    assert {s: len(dataset.tracks(s)) for s in ("train", "validation", "test")} == {
        "train": 9,
        "validation": 3,
        "test": 3,
    }
    for split in ("validation", "test"):
        assert sorted(t.labels["instrument"] for t in dataset.tracks(split)) == [
            "cello",
            "flute",
            "voice",
        ]
    assert "flute/flute_0.wav" in {t.id for t in dataset.tracks()}


def test_split_folders(tmp_path: Path) -> None:
    for split in ("train", "val", "test"):
        for label in ("a", "b"):
            write_tone(tmp_path / split / label / "x.wav", 220)
    dataset = FolderDataset(path=tmp_path)
    assert [t.id for t in dataset.tracks("validation")] == ["val/a/x.wav", "val/b/x.wav"]
    assert dataset.tasks["label"].classes == ["a", "b"]


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        FolderDataset(path=tmp_path / "missing")
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(DataError, match=r"no audio files .* expected .*/<label>/<file>"):
        FolderDataset(path=tmp_path)
