"""Ctrl-C: ``mir_ref run`` stops within 2 seconds, extraction workers included, keeps what is
finished and says how to resume; exit code 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.slow


class SlowModel:
    """Embeds slowly (0.25 s a call), so that a run is surely mid-extraction when interrupted."""

    sample_rate = 16000
    frame_hop_s = 0.5

    def embed(self, batch: np.ndarray) -> np.ndarray:
        time.sleep(0.25)
        return np.sqrt((batch**2).mean(axis=1))[None, :, None, None].astype(np.float32)


def _config(folder: Path, *, workers: int) -> Path:
    config = {
        "name": "interrupted",
        "output_dir": str(folder / "run"),
        "cache_dir": str(folder / "cache"),
        "datasets": [
            {
                "type": "synthetic_tones",
                "notes_per_class": 4,
                "note_duration_s": 0.5,
                "tasks": ["pitch_class"],
            }
        ],
        "models": [{"type": "python", "class": "tests.test_interrupt:SlowModel", "name": "slow"}],
        "embedding": {"window_s": 0.5, "hop_s": 0.5},
        "execution": {"workers": workers},
    }
    path = folder / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _start(config: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mir_ref", "run", "-c", str(config)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )


def _wait_for_entries(cache: Path, count: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while len(list(cache.rglob("*.npy"))) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "extraction did not start"
        time.sleep(0.05)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


# Each case starts a run (imports, spawned workers): ~10 s. Without workers (1) the path is the
# same minus the pool, so it runs only under `make stress`.
_STRESS = pytest.mark.skipif(
    "MIR_REF_STRESS_KILLS" not in os.environ, reason="runs under `make stress`"
)


@pytest.mark.parametrize(
    ("workers", "whole_group"),
    [(2, True), (2, False), pytest.param(1, True, marks=_STRESS)],
    ids=["terminal-ctrl-c-with-workers", "sigint-to-main-only", "in-process"],
)
def test_ctrl_c_stops_within_two_seconds_and_says_how_to_resume(tmp_path, workers, whole_group):
    config = _config(tmp_path, workers=workers)
    process = _start(config)
    group = os.getpgid(process.pid)
    try:
        _wait_for_entries(tmp_path / "cache", 1, process)
        sent = time.monotonic()
        if whole_group:
            os.killpg(group, signal.SIGINT)  # what Ctrl-C in a terminal does
        else:
            process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
        stopped_s = time.monotonic() - sent
        deadline = time.monotonic() + 2
        while _group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.05)
        workers_left = _group_alive(group)
    finally:
        if _group_alive(group):
            os.killpg(group, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert stopped_s < 2.0, f"took {stopped_s:.2f} s to stop"
    assert not workers_left, "extraction workers outlived the interrupted run"
    message = " ".join(stderr.split())  # rich wraps long lines
    assert f"interrupted. Finished work is kept; rerun the same command (-c {config})" in message
    assert "to resume" in message
    assert "Traceback" not in stderr, stderr
