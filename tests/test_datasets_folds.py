"""`split: all` in a config: one dataset per official split or fold, each test fold once."""

from __future__ import annotations

from pathlib import Path

import pytest

from mir_ref.errors import ConfigError
from mir_ref.experiment import Experiment
from tests.fixtures.corpora import manifest, tinysol


def experiment(dataset: dict) -> Experiment:
    return Experiment.from_config({"datasets": [dataset], "models": [{"type": "mfcc"}]})


def test_manifest_folds(tmp_path: Path) -> None:
    spec = {**manifest(tmp_path), "split": "all", "name": "mine"}
    datasets = experiment(spec).datasets
    assert [d.name for d in datasets] == ["mine@split=0", "mine@split=1", "mine@split=2"]
    tested = [t.id for d in datasets for t in d.tracks("test")]
    assert sorted(tested) == sorted(t.id for t in datasets[0].tracks())  # each track once


def test_tinysol_folds(tmp_path: Path) -> None:
    datasets = experiment({**tinysol(tmp_path), "split": "all"}).datasets
    assert [d.name for d in datasets] == [f"tinysol@split={k}" for k in range(5)]
    assert len({t.id for d in datasets for t in d.tracks("test")}) == 20


def test_split_all_needs_numbered_splits(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="split"):
        experiment({"type": "folder", "path": str(tmp_path), "split": "all"})
