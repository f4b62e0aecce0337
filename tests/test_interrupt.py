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

from mir_ref import stages
from mir_ref.experiment import Experiment
from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.serial]


class SlowModel:
    """Embeds slowly (0.25 s a call), so that a run is surely mid-extraction when interrupted."""

    sample_rate = 16000
    frame_hop_s = 0.5

    def embed(self, batch: np.ndarray) -> np.ndarray:
        time.sleep(0.25)
        return np.sqrt((batch**2).mean(axis=1))[None, :, None, None].astype(np.float32)


SLOW = {"type": "python", "class": "tests.test_interrupt:SlowModel", "name": "slow"}


def _config(folder: Path, *, workers: int, model: dict = SLOW) -> Path:
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
        "models": [model],
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


def _children(pid: int) -> list[int]:
    """Every process descended from ``pid`` (Linux: read from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat(int(entry.name))[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def _stat(pid: int) -> list[str]:
    """``state, ppid, ...`` of a process, from /proc/<pid>/stat."""
    return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()


def _running(pid: int) -> bool:
    try:
        return _stat(pid)[0] != "Z"  # a zombie has exited; only its exit status is left
    except (OSError, IndexError):
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, pytest.param(signal.SIGKILL, marks=_STRESS)], ids=["term", "kill"]
)
def test_no_child_outlives_a_terminated_or_killed_run_by_five_seconds(tmp_path, signum):
    """SIGTERM (a scheduler, `kill`) stops a run as Ctrl-C does; after SIGKILL the workers and
    multiprocessing's resource tracker notice their parent is gone and exit."""
    config = _config(tmp_path, workers=2)
    process = _start(config)
    children: list[int] = []
    try:
        _wait_for_entries(tmp_path / "cache", 1, process)
        children = _children(process.pid)
        assert len(children) >= 2  # a worker and the resource tracker, at least
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=10)
        deadline = time.monotonic() + 5
        while any(map(_running, children)) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [child for child in children if _running(child)]
    finally:
        for child in _children(process.pid) + children:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert not left, f"{len(left)} process(es) outlived the run by 5 s"
    if signum == signal.SIGTERM:
        assert process.returncode == 143, stderr
        message = " ".join(stderr.split())
        assert (
            f"interrupted. Finished work is kept; rerun the same command (-c {config})" in message
        )
        assert "Traceback" not in stderr, stderr


_INTERRUPTING_SITECUSTOMIZE = """
import os
import signal
import sys

if os.environ.pop("MIR_REF_TEST_INTERRUPT_IMPORT", None) is not None:

    class _InterruptImport:
        # Ctrl-C half way through `import torch`: while torch/__init__ imports torch.functional.
        def find_spec(self, name, path=None, target=None):
            if name == "torch.functional":
                sys.meta_path.remove(self)
                os.kill(os.getpid(), signal.SIGINT)
            return None

    sys.meta_path.insert(0, _InterruptImport())
"""


def test_ctrl_c_during_import_torch_exits_130_with_the_hint(tmp_path):
    """Half-imported torch cannot be imported again (it crashes, or raises AttributeError):
    nothing on the way out may try."""
    config = _config(tmp_path, workers=1, model={"type": "mfcc", "n_mels": 40})
    stages.extract(Experiment.from_config(config))  # warm: the run's first torch is training's
    (tmp_path / "inject").mkdir()
    (tmp_path / "inject" / "sitecustomize.py").write_text(_INTERRUPTING_SITECUSTOMIZE)
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "inject"), str(REPO)]),
        "MIR_REF_TEST_INTERRUPT_IMPORT": "torch",
    }
    done = subprocess.run(
        [sys.executable, "-m", "mir_ref", "run", "-c", str(config)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert f"rerun the same command (-c {config}) to resume" in " ".join(done.stderr.split())
