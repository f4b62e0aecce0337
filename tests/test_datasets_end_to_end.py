"""`mir_ref run` on each dataset's fixture tree produces results for every task."""

from __future__ import annotations

from pathlib import Path

import pytest

import mir_ref
from mir_ref.experiment import Experiment
from tests.fixtures.corpora import BUILDERS

pytestmark = pytest.mark.slow

# gtzan_genre's fixture has all 1000 files; max_tracks keeps the run short.
OPTIONS = {"gtzan_genre": {"max_tracks": 20}}


@pytest.mark.parametrize("name", sorted(set(BUILDERS) - {"synthetic_tones"}))
def test_run_on_the_fixture(name: str, tmp_path: Path) -> None:
    dataset = {**BUILDERS[name](tmp_path / "data"), **OPTIONS.get(name, {}), "name": name}
    config = {
        "name": "fixture",
        "output_dir": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
        "datasets": [dataset],
        "models": [{"type": "mfcc", "n_mels": 40}],
        "embedding": {"window_s": 0.25, "hop_s": 0.25},
        "probes": [{"type": "linear"}],
        "protocol": {"epochs": 10, "patience": 3, "learning_rate": 0.01},
        "report": {"plots": False},
        "execution": {"workers": 1},
    }
    results = mir_ref.run(config)
    assert set(results.task) == set(Experiment.from_config(config).datasets[0].tasks)
    assert results.value.notna().all()
