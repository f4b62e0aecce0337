"""Crash harness: ``mir_ref run`` killed with SIGKILL at random points (extraction, store writes,
training, evaluation, report), then rerun, always ends with the results of an uninterrupted run
and a cache that passes verification.

The default suite kills 3 times; ``make stress`` (``MIR_REF_STRESS_KILLS=20``) kills 20 times.
``MIR_REF_STRESS_SEED`` picks other random points.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mir_ref.experiment import Experiment
from mir_ref.stages import run_all
from mir_ref.store import Store
from tests.conftest import REPO, tiny_tones

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("MIR_REF_STRESS_KILLS", "3"))
SEED = int(os.environ.get("MIR_REF_STRESS_SEED", "10"))

TONES = tiny_tones(instruments=None)  # five instruments


def _config(folder: Path, *, workers: int) -> Path:
    config = {
        "name": "crash",
        "output_dir": str(folder / "run"),
        "cache_dir": str(folder / "cache"),
        "datasets": [TONES],
        "deformations": [{"type": "white_noise", "snr_db": [10]}],
        "models": [{"type": "mfcc", "n_mels": 40}, {"type": "melspectrogram", "n_mels": 32}],
        "embedding": {"window_s": 0.5, "hop_s": 0.5},
        "protocol": {"epochs": 15, "patience": 5, "learning_rate": 0.01, "n_bootstrap": 20},
        "execution": {"workers": workers},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _run(config: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mir_ref", "run", "-c", str(config), "--quiet"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # killed as a group: extraction workers die with it
    )


def _started(folder: Path, process: subprocess.Popen) -> None:
    """Wait until the run is past start-up: it writes its resolved config before extracting."""
    deadline = time.monotonic() + 120
    while not (folder / "run" / "config.yml").is_file():
        assert process.poll() is None, process.communicate()[1].decode()
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.01)


def _phase(folder: Path) -> str:
    """How far a killed run got, from what it left on disk."""
    run = folder / "run"
    if (run / "report" / "index.html").is_file():
        return "report"
    if (run / "results.csv").is_file():
        return "evaluate/report"
    if (run / "predictions").is_dir():
        return "train"
    if (folder / "cache").is_dir():
        return "extract"
    if (run / "config.yml").is_file():
        return "extract (before the first entry)"
    return "preflight"


def _results(run: Path) -> pd.DataFrame:
    table = pd.read_csv(run / "results.csv")
    return table.sort_values(list(table.columns[:-1])).reset_index(drop=True)


def test_sigkill_at_random_points_then_rerun_gives_identical_results(tmp_path):
    reference = tmp_path / "reference"
    started = time.monotonic()
    run_all(Experiment.from_config(_config(reference, workers=1)))
    run_s = time.monotonic() - started  # a run after start-up (imports, preflight)
    expected = _results(reference / "run")

    rng = np.random.default_rng(SEED)
    phases = collections.Counter()
    for kill in range(KILLS):
        folder = tmp_path / f"kill{kill}"
        config = _config(folder, workers=1 + kill % 2)
        process = _run(config)
        _started(folder, process)
        # Stratified over the run: kill k lands in the k-th of KILLS equal slices (at a random
        # point within it), so 20 kills cover extraction, training, evaluation and report
        # rather than clustering where the run spends most of its time.
        time.sleep((kill + rng.uniform(0.0, 1.0)) / KILLS * run_s)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        phases[_phase(folder)] += 1

        run_all(Experiment.from_config(config))  # the rerun resumes from what survived
        pd.testing.assert_frame_equal(_results(folder / "run"), expected)
        assert Store(folder / "cache").verify() == [], f"kill {kill}: cache is damaged"
    print(f"{KILLS} kills over a {run_s:.1f} s run, landing in: {dict(phases)}")
