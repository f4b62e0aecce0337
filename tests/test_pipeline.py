"""End-to-end runs of small configs: stages alone, resuming, crashes, the API and the CLI."""

from __future__ import annotations

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
from typer.testing import CliRunner

import mir_ref
from mir_ref.cli import app
from mir_ref.experiment import Experiment
from mir_ref.plan import embedding_key, extraction_units
from mir_ref.predictions import read_predictions
from mir_ref.stages import run_all
from mir_ref.store import Store
from tests.conftest import REPO, tiny_tones

pytestmark = pytest.mark.slow

SMALL_TONES = tiny_tones(mixtures=24, tasks=["pitch_class", "key", "tags", "tempo"])


def small_config(folder: Path, **overrides) -> dict:
    """A config that runs in seconds: tiny synthetic set, two deformations, two models."""
    config = {
        "name": "small",
        "output_dir": str(folder / "run"),
        "cache_dir": str(folder / "cache"),
        "datasets": [SMALL_TONES],
        "deformations": [
            {"type": "white_noise", "snr_db": [10]},
            {"type": "gain", "gain_db": [-20]},
        ],
        "models": [{"type": "mfcc", "n_mels": 40}, {"type": "melspectrogram", "n_mels": 32}],
        "embedding": {"window_s": 1.0, "hop_s": 1.0},
        "probes": [{"type": "linear"}],
        "protocol": {"epochs": 30, "patience": 5, "learning_rate": 0.01},
        "execution": {"workers": 1},
    }
    config.update(overrides)
    return config


def write_config(folder: Path, config: dict) -> Path:
    path = folder / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_rerun_computes_nothing_and_results_are_identical(tmp_path, embed_calls):
    calls = embed_calls
    first = run_all(Experiment.from_config(small_config(tmp_path)))
    cold = calls["n"]
    assert cold > 0
    second = run_all(Experiment.from_config(small_config(tmp_path)))
    assert calls["n"] == cold
    pd.testing.assert_frame_equal(first, second)


def test_results_do_not_depend_on_the_worker_count(tmp_path):
    one = run_all(Experiment.from_config(small_config(tmp_path / "a")))
    two = run_all(Experiment.from_config(small_config(tmp_path / "b", execution={"workers": 2})))
    pd.testing.assert_frame_equal(one, two)


def test_each_stage_runs_alone_from_the_cli(tmp_path):
    config = write_config(tmp_path, small_config(tmp_path))
    runner = CliRunner()
    for stage in ("validate", "deform", "extract", "train", "evaluate", "report"):
        result = runner.invoke(app, [stage, "-c", str(config), "--quiet"])
        assert result.exit_code == 0, (stage, result.output)
    run = tmp_path / "run"
    assert (run / "results.csv").is_file() and (run / "plots" / "heatmap.png").is_file()
    assert len(list((run / "deformed").rglob("*.wav"))) == 2 * 3  # 2 tracks x 3 conditions
    staged = pd.read_csv(run / "results.csv")
    together = run_all(
        Experiment.from_config(small_config(tmp_path, output_dir=str(tmp_path / "run2")))
    )
    pd.testing.assert_frame_equal(staged, together, check_dtype=False)


def test_train_before_extract_says_what_to_run(tmp_path):
    config = write_config(tmp_path, small_config(tmp_path))
    result = CliRunner().invoke(app, ["train", "-c", str(config), "--quiet"])
    assert result.exit_code == 2
    assert "mir_ref extract" in result.output


@pytest.mark.skipif(
    "MIR_REF_STRESS_KILLS" not in os.environ,
    reason="runs under `make stress` (test_crash kills runs at points across them by default)",
)
def test_kill_during_extraction_then_rerun_completes_identically(tmp_path):
    config = small_config(tmp_path, execution={"workers": 2})
    path = write_config(tmp_path, config)
    cache = tmp_path / "cache"
    process = subprocess.Popen(
        [sys.executable, "-m", "mir_ref", "extract", "-c", str(path), "--quiet"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(cache.rglob("*.npy"))) < 20:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    for child in _children_of(process.pid):
        os.kill(child, signal.SIGKILL)
    partial = list(cache.rglob("*.npy"))
    total = sum(len(unit.keys) for unit in extraction_units(Experiment.from_config(config)))
    assert 20 <= len(partial) < total, "the kill did not land mid-extraction"
    for entry in partial:
        np.load(entry, allow_pickle=False)  # every complete-looking entry is whole

    resumed = run_all(Experiment.from_config(config))
    clean = run_all(
        Experiment.from_config(small_config(tmp_path / "reference", execution={"workers": 2}))
    )
    pd.testing.assert_frame_equal(resumed, clean)


def _children_of(pid: int) -> list[int]:
    children = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("PPid:") and int(line.split()[1]) == pid:
                children.append(int(status.parent.name))
    return children


def test_manifest_dataset_runs_every_task_type(manifest_corpus):
    folder = manifest_corpus.parent
    config = small_config(
        folder,
        datasets=[
            {
                "name": "corpus",
                "type": "manifest",
                "path": str(manifest_corpus),
                "tasks": {
                    "genre": {"type": "multiclass", "column": "genre"},
                    "key": {"type": "key", "column": "key"},
                    "tags": {"type": "multilabel", "column": "tags", "separator": ";"},
                    "tempo": {"type": "regression", "column": "bpm"},
                },
            }
        ],
    )
    results = mir_ref.run(config)
    assert set(results.task) == {"genre", "key", "tags", "tempo"}
    clean = results[(results.deformation == "none") & (results.metric == "accuracy")]
    assert clean[clean.task == "genre"].value.min() == 1.0  # low vs high tones: easy


def test_python_api_builds_components():
    deform = mir_ref.deformation("white_noise", snr_db=10)
    audio = np.sin(np.linspace(0, 1000, 16000)).astype(np.float32)
    noisy = deform(audio, 16000, seed=3)
    assert noisy.shape == audio.shape and not np.array_equal(noisy, audio)
    np.testing.assert_array_equal(noisy, deform(audio, 16000, seed=3))
    model = mir_ref.model("mfcc", n_mfcc=13)
    out = model.embed(np.stack([audio, audio]))
    assert out.shape[:2] == (1, 2) and out.shape[-1] == 13
    with pytest.raises(mir_ref.errors.ConfigError, match="did you mean 'mfcc'"):
        mir_ref.model("mfc")


def test_cli_help_lists_every_command_and_python_m_works():
    result = subprocess.run(
        [sys.executable, "-m", "mir_ref", "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0
    for command in ("run", "deform", "extract", "train", "evaluate", "report", "list", "validate"):
        assert command in result.stdout


def test_cli_list_prints_every_kind():
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0
    for expected in (
        "datasets",
        "synthetic_tones",
        "manifest",
        "task types",
        "multilabel",
        "white_noise",
        "pitch_shift",
        "mfcc",
        "chroma",
        "linear",
        "mlp",
        "mirex_key",
        "roc_auc",
    ):
        assert expected in result.output


def test_cli_reports_config_errors_with_exit_code_2(tmp_path):
    config = write_config(tmp_path, small_config(tmp_path, models=[{"type": "chromaa"}]))
    result = CliRunner().invoke(app, ["validate", "-c", str(config)])
    assert result.exit_code == 2
    assert "models[0].type" in result.output and "did you mean 'chroma'" in result.output


def test_cli_validate_lists_every_problem(manifest_corpus):
    for name in ("low_00.wav", "high_03.wav"):
        (manifest_corpus.parent / "audio" / name).unlink()
    config = small_config(
        manifest_corpus.parent,
        datasets=[
            {
                "type": "manifest",
                "path": str(manifest_corpus),
                "tasks": {"genre": {"type": "multiclass"}},
            }
        ],
    )
    result = CliRunner().invoke(
        app, ["validate", "-c", str(write_config(manifest_corpus.parent, config))]
    )
    assert result.exit_code == 2  # what `run` exits with on the same problems
    assert "low_00.wav" in result.output and "high_03.wav" in result.output


def test_density_sweep_gives_one_result_set_per_window_and_hop(tmp_path):
    config = small_config(
        tmp_path,
        deformations=[{"type": "white_noise", "snr_db": [10]}],
        models=[{"type": "mfcc", "n_mels": 40}],
        embedding={"window_s": [1.0, 0.5], "hop_s": 0.5},
    )
    experiment = Experiment.from_config(config)
    assert [m.id for m in experiment.models] == [
        "mfcc@window_s=1,hop_s=0.5",
        "mfcc@window_s=0.5,hop_s=0.5",
    ]
    results = run_all(experiment)
    densities = results.groupby(["window_s", "hop_s"]).size()
    assert list(densities.index) == [(0.5, 0.5), (1.0, 0.5)]
    assert densities.nunique() == 1  # the same grid of rows at each density
    assert set(results.model) == {"mfcc"}
    # The two densities embed different windows: their stored embeddings differ in count.
    store = Store(experiment.cache_dir)
    # a 2-s phrase: 3 windows of 1 s or 4 of 0.5 s, every 0.5 s
    dataset = experiment.datasets[0]
    track = dataset.task_tracks("key", "train")[0]
    clean = experiment.conditions[0]
    counts = [
        store.get(embedding_key(model, track, clean, seed=0, dataset=dataset)).shape[1]
        for model in experiment.models
    ]
    assert counts == [3, 4]
    comparisons = pd.read_csv(tmp_path / "run" / "comparisons.csv")
    assert comparisons.empty  # one model: nothing to compare at a given density
    html = (tmp_path / "run" / "report" / "index.html").read_text()
    assert "Embedding density" in html


def test_pooling_none_trains_on_windows_and_predicts_tracks(tmp_path):
    def run(pooling: str, window_s: float, folder: str) -> pd.DataFrame:
        config = small_config(
            tmp_path / folder,
            deformations=[],
            models=[{"type": "mfcc", "n_mels": 40}],
            embedding={"window_s": window_s, "hop_s": window_s, "pooling": pooling},
            protocol={"epochs": 30, "patience": 5, "learning_rate": 0.01, "n_bootstrap": 0},
        )
        config["cache_dir"] = str(tmp_path / "cache")
        return run_all(Experiment.from_config(config))

    # One window per track: training on windows is training on tracks, to the bit.
    pd.testing.assert_frame_equal(run("none", 5.0, "none"), run("mean", 5.0, "mean"))
    # Several windows per phrase: the probe sees more items, results stay per track.
    windowed = run("none", 0.5, "windowed")
    path = next((tmp_path / "windowed" / "run" / "predictions" / "tones" / "key").rglob("*.npz"))
    meta, per_condition = read_predictions(path)
    experiment = Experiment.from_config(small_config(tmp_path / "windowed"))
    test_tracks = experiment.datasets[0].task_tracks("key", "test")
    assert len(per_condition[0]["y_score"]) == len(test_tracks)
    assert set(windowed.task) == {"pitch_class", "key", "tags", "tempo"}
    selection = pd.read_csv(tmp_path / "windowed" / "run" / "selection.csv")
    key_items = selection[selection.task == "key"].train_items.iloc[0]
    assert key_items == len(experiment.datasets[0].task_tracks("key", "train"))  # tracks
