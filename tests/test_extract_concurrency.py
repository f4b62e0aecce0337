"""Two runs on one cache at once split the extraction: no entry is computed twice."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mir_ref.experiment import Experiment
from mir_ref.plan import extraction_units
from mir_ref.store import Store
from tests.conftest import REPO

pytestmark = pytest.mark.slow

_LOG_VARIABLE = "MIR_REF_TEST_EMBED_LOG"


class CountedEnergy:
    """Frame log-energy, slowed down (``delay_s`` per window), that logs each ``embed`` call's
    process to a file.

    Named by the ``python`` model adapter in the config, so the runs' own processes load it.
    """

    version = "1"

    def __init__(self, frame_length: int = 400, sample_rate: int = 16000, delay_s: float = 0.05):
        self.frame_length = frame_length
        self.sample_rate = sample_rate
        self.delay_s = delay_s

    @property
    def frame_hop_s(self) -> float:
        return self.frame_length / self.sample_rate

    def embed(self, batch: np.ndarray) -> np.ndarray:
        # One short O_APPEND write per call (a line per window): atomic, so concurrent
        # processes never interleave.
        with open(os.environ[_LOG_VARIABLE], "a") as log:
            log.write(f"{os.getpid()}\n" * len(batch))
        time.sleep(self.delay_s * len(batch))  # long enough that the two runs overlap
        frames = batch.shape[1] // self.frame_length
        x = batch[:, : frames * self.frame_length].reshape(len(batch), frames, -1)
        return np.log(np.mean(x**2, axis=-1) + 1e-8)[None, ..., None].astype(np.float32)


def run_config(folder: Path, cache: Path) -> dict:
    return {
        "name": "concurrent",
        "output_dir": str(folder / "run"),
        "cache_dir": str(cache),
        "datasets": [
            {
                "name": "tones",
                "type": "synthetic_tones",
                "notes_per_class": 1,
                "phrases_per_key": 3,
                "mixtures": 24,
                "instruments": 3,
                "mixture_duration_s": 1.0,
                "tasks": ["tags"],
            }
        ],
        "deformations": [
            {"type": "white_noise", "snr_db": [10]},
            {"type": "gain", "gain_db": [-20]},
        ],
        "models": [
            {
                "type": "python",
                "class": "tests.test_extract_concurrency:CountedEnergy",
                "name": "energy",
            },
            {"type": "mfcc", "n_mels": 40},
        ],
        "embedding": {"window_s": 1.0, "hop_s": 1.0},
        "probes": [{"type": "linear"}],
        "protocol": {"epochs": 10, "patience": 5, "n_bootstrap": 50},
        "execution": {"workers": 1},
    }


def test_two_runs_on_one_cache_compute_each_entry_once(tmp_path):
    cache = tmp_path / "cache"
    log = tmp_path / "embed_calls.log"
    log.touch()
    configs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        path = folder / "config.yml"
        path.write_text(yaml.safe_dump(run_config(folder, cache)))
        configs.append(path)
    environment = {**os.environ, _LOG_VARIABLE: str(log)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "mir_ref", "run", "-c", str(path), "--quiet"],
            cwd=REPO,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for path in configs
    ]
    for process in processes:
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output.decode()[-3000:]

    experiment = Experiment.from_config(run_config(tmp_path / "a", cache))
    units = extraction_units(experiment)
    callers = log.read_text().split()
    # One run alone embeds each window of each unit once; the two together, too.
    store = Store.of(experiment)
    model = experiment.models[0].id
    assert len(callers) == sum(store.get(unit.keys[model]).shape[1] for unit in units)
    assert len(set(callers)) == 2, "the runs did not overlap: one computed everything"
    first, second = (pd.read_csv(tmp_path / name / "run" / "results.csv") for name in "ab")
    pd.testing.assert_frame_equal(first, second)
