"""The Ray backend: the same config on a (local) Ray instance gives the local backend's results,
and a worker killed mid-extraction is replaced without changing them."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from mir_ref import progress, stages
from mir_ref.cli import app
from mir_ref.errors import ConfigError
from mir_ref.experiment import Experiment
from mir_ref.plan import extraction_units
from mir_ref.predictions import read_predictions
from mir_ref.store import Store
from tests.test_pipeline import SMALL_TONES
from tests.test_pipeline import small_config as pipeline_small_config

ray = pytest.importorskip("ray")


def small_config(folder: Path, **execution) -> dict:
    """The pipeline tests' small config (four tasks, three audio conditions, two models: 420
    embeddings, seconds to run) with ``execution`` options."""
    config = pipeline_small_config(
        folder,
        protocol={"epochs": 30, "patience": 5, "learning_rate": 0.01, "n_bootstrap": 50},
    )
    config["execution"] = {"workers": 1, **execution}
    return config


@pytest.fixture(scope="module")
def ray_instance():
    """A local two-CPU Ray instance for this module, shut down (no raylet left) after it."""
    ray.init(
        num_cpus=2,
        object_store_memory=200 * 1024**2,
        include_dashboard=False,
        logging_level=logging.WARNING,
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    """The small config run with the local backend: the reference for every Ray run."""
    experiment = Experiment.from_config(small_config(tmp_path_factory.mktemp("local")))
    progress.set_enabled(False)
    try:
        stages.extract(experiment)
        stages.train(experiment)
        stages.evaluate(experiment)
    finally:
        progress.set_enabled(True)
    return experiment.output_dir.parent


def assert_same_results(run: Path, reference: Path) -> None:
    """Identical results tables (exact values) and identical embeddings, entry by entry."""
    got = pd.read_csv(run / "run" / "results.csv")
    expected = pd.read_csv(reference / "run" / "results.csv")
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    experiment = Experiment.from_config(small_config(run))
    keys = {key for unit in extraction_units(experiment) for key in unit.keys.values()}
    stores = Store.of(experiment), Store.of(Experiment.from_config(small_config(reference)))
    for key in keys:
        np.testing.assert_array_equal(stores[0].get(key), stores[1].get(key))


@pytest.mark.slow
def test_the_cli_backend_option_runs_on_ray_with_the_local_results(
    ray_instance, local_run, tmp_path
):
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump(small_config(tmp_path)))  # execution.backend: local
    runner = CliRunner()
    for command in (["extract", "--backend", "ray"], ["train", "--backend", "ray"], ["evaluate"]):
        result = runner.invoke(app, [*command, "-c", str(config), "-q"])
        assert result.exit_code == 0, result.output
    assert_same_results(tmp_path, local_run)
    resolved = yaml.safe_load((tmp_path / "run" / "config.yml").read_text())
    assert resolved["execution"]["backend"] == "ray"


def _parent(pid: int) -> int:
    return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])


def _descendants_named(title: str) -> list[int]:
    """Processes below this one (not another session's) whose title starts with ``title``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or not (entry / "cmdline").read_bytes().startswith(
                title.encode()
            ):
                continue
            ancestor = int(entry.name)
            while ancestor > 1 and ancestor != os.getpid():
                ancestor = _parent(ancestor)
        except (OSError, ValueError, IndexError):
            continue  # the process ended meanwhile
        if ancestor == os.getpid():
            found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="finds workers through /proc")
@pytest.mark.skipif(
    "MIR_REF_STRESS_KILLS" not in os.environ, reason="runs under `make stress` (a Ray cluster)"
)
def test_a_worker_killed_mid_extraction_is_replaced_and_results_are_identical(
    ray_instance, local_run, tmp_path
):
    experiment = Experiment.from_config(small_config(tmp_path, backend="ray", workers=2))
    entries = len({key for unit in extraction_units(experiment) for key in unit.keys.values()})
    embeddings = tmp_path / "cache" / "embeddings"
    killed: dict[str, int] = {}
    finished = threading.Event()

    def kill_a_worker_midway() -> None:
        while not finished.is_set() and not killed:
            written = sum(1 for _ in embeddings.rglob("*.npy")) if embeddings.is_dir() else 0
            workers = _descendants_named("ray::ExtractionWorker")
            if written >= 60 and workers:
                os.kill(workers[0], signal.SIGKILL)
                killed.update(pid=workers[0], written=written)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_a_worker_midway)
    killer.start()
    progress.set_enabled(False)
    try:
        stats = stages.extract(experiment)
    finally:
        progress.set_enabled(True)
        finished.set()
        killer.join()
    assert killed, "no extraction worker was found to kill"
    assert killed["written"] < entries, "the kill came after the extraction had finished"
    assert stats.computed == entries
    # The killed worker's shard was rerun: every entry is there, once, and complete.
    store = Store(experiment.cache_dir)
    assert all(
        store.has(key) for unit in extraction_units(experiment) for key in unit.keys.values()
    )
    # Training on Ray is covered above; here the local trainer keeps the test short.
    experiment.config.execution.backend = "local"
    progress.set_enabled(False)
    try:
        stages.train(experiment)
        stages.evaluate(experiment)
    finally:
        progress.set_enabled(True)
    assert_same_results(tmp_path, local_run)


def test_execution_options_are_validated(tmp_path):
    with pytest.raises(ConfigError, match="execution.address"):
        Experiment.from_config(small_config(tmp_path, backend="ray", address="not an address"))
    with pytest.raises(ConfigError, match="execution.backend"):
        Experiment.from_config(small_config(tmp_path, backend="spark"))
    experiment = Experiment.from_config(
        small_config(tmp_path, backend="ray", address="ray://head:10001", num_gpus_per_model=1)
    )
    assert experiment.config.execution.num_gpus_per_model == 1


@pytest.mark.slow
def test_a_gpu_config_on_a_cluster_without_gpus_fails_with_the_key_to_change(
    ray_instance, tmp_path
):
    experiment = Experiment.from_config(small_config(tmp_path, backend="ray", num_gpus_per_model=1))
    with pytest.raises(ConfigError, match="num_gpus_per_model: 1, but the Ray cluster has 0"):
        stages.extract(experiment)


def test_the_backend_option_rejects_an_unknown_backend(tmp_path):
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump(small_config(tmp_path)))
    result = CliRunner().invoke(app, ["extract", "--backend", "spark", "-c", str(config)])
    assert result.exit_code == 2
    assert "spark" in result.output


@pytest.mark.skipif(
    "MIR_REF_STRESS_KILLS" not in os.environ, reason="runs under `make stress` (two demo runs)"
)
def test_the_demo_config_on_ray_gives_the_local_results(ray_instance, tmp_path):
    """The issue's acceptance run: configs/demo.yml on Ray and locally, separate caches."""
    demo = yaml.safe_load((Path(__file__).parents[1] / "configs" / "demo.yml").read_text())
    results = {}
    for backend in ("local", "ray"):
        config = {
            **demo,
            "output_dir": str(tmp_path / backend / "run"),
            "cache_dir": str(tmp_path / backend / "cache"),
            "execution": {**demo.get("execution", {}), "backend": backend, "workers": 2},
        }
        stages.run_all(Experiment.from_config(config))
        results[backend] = pd.read_csv(tmp_path / backend / "run" / "results.csv")
    pd.testing.assert_frame_equal(results["ray"], results["local"], check_exact=True)


@pytest.mark.slow
def test_labels_follow_a_pitch_shift_on_ray_in_training_and_in_testing(ray_instance, tmp_path):
    """`apply_to: both` shifts train, validation and test audio: a Ray task trains and scores
    on the moved labels, and writes the very predictions a local run writes."""
    outputs = {}
    for backend in ("local", "ray"):
        config = pipeline_small_config(
            tmp_path,
            datasets=[{**SMALL_TONES, "tasks": ["pitch_class"]}],
            deformations=[{"type": "pitch_shift", "semitones": [1], "apply_to": "both"}],
            models=[{"type": "mfcc", "n_mels": 40}],
            output_dir=str(tmp_path / backend),
            protocol={"epochs": 30, "patience": 5, "learning_rate": 0.01, "n_bootstrap": 0},
        )
        config["execution"] = {"workers": 1, "backend": backend}
        experiment = Experiment.from_config(config)
        progress.set_enabled(False)
        try:
            stages.extract(experiment)  # the second run finds every embedding cached
            [outputs[backend]] = stages.train(experiment)
        finally:
            progress.set_enabled(True)
    meta, per_condition = read_predictions(outputs["ray"])
    _, local = read_predictions(outputs["local"])
    for ray_arrays, local_arrays in zip(per_condition, local, strict=True):
        for name, array in ray_arrays.items():
            np.testing.assert_array_equal(array, local_arrays[name])
    assert [c["label"] for c in meta["conditions"]] == ["none", "pitch_shift@semitones=1"]
    shifted = per_condition[1]
    np.testing.assert_array_equal(shifted["y_true"], (shifted["y_clean"] + 1) % 12)
