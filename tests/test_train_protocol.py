"""The downstream protocol end to end: grid selection, data-efficiency sweep, intervals,
summaries, comparisons, and bit-identical reruns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mir_ref.cli import app
from mir_ref.compare import COMPARISON_COLUMNS, compare_models
from mir_ref.experiment import Experiment
from mir_ref.predictions import read_predictions
from mir_ref.results import COLUMNS
from mir_ref.stages import run_all
from mir_ref.train import train_subset
from tests.test_pipeline import small_config


def test_train_subset_is_stratified_seeded_and_nested_in_the_split():
    y = np.repeat(np.arange(4), [40, 20, 10, 2])
    rows = train_subset(y, 0.1, task_type="multiclass", seed=0)
    assert np.bincount(y[rows]).tolist() == [4, 2, 1, 1]  # every class keeps at least one
    assert np.array_equal(rows, train_subset(y, 0.1, task_type="multiclass", seed=0))
    assert not np.array_equal(rows, train_subset(y, 0.1, task_type="multiclass", seed=1))
    assert np.array_equal(train_subset(y, 1.0, task_type="multiclass", seed=0), np.arange(72))
    assert len(train_subset(np.zeros((50, 3)), 0.1, task_type="multilabel", seed=0)) == 5
    assert len(train_subset(np.zeros(5), 0.01, task_type="regression", seed=0)) == 1


def protocol_config(folder, name: str) -> dict:
    config = small_config(folder)
    config["output_dir"] = str(folder / name)
    config["probes"] = [{"type": "linear"}, {"type": "mlp", "hidden": [8], "batch_size": None}]
    config["protocol"] = {
        "epochs": 30,
        "patience": 5,
        "seeds": 2,
        "grid": {"learning_rate": [1e-2, 3e-2], "hidden": [[8], "infer"]},
        "train_fraction": [0.5, 1.0],
        "n_bootstrap": 200,
    }
    return config


@pytest.mark.slow
def test_protocol_run_is_bit_identical_and_writes_every_table(tmp_path):
    first = run_all(Experiment.from_config(protocol_config(tmp_path, "first")))
    second = protocol_config(tmp_path, "second")
    # Architectures' stacks trained at once in threads: the results must not depend on it.
    second["execution"] = {**second.get("execution", {}), "train_threads": 2}
    run_all(Experiment.from_config(second))
    assert list(first.columns) == COLUMNS
    for table in ("results.csv", "summary.csv", "robustness.csv", "selection.csv"):
        assert (tmp_path / "first" / table).read_bytes() == (
            tmp_path / "second" / table
        ).read_bytes(), table
    assert set(first["train_fraction"]) == {0.5, 1.0}
    assert set(first["seed"]) == {0, 1}
    defined = first.dropna(subset=["value", "ci_low"])
    assert (defined["ci_low"] <= defined["value"] + 1e-9).all()
    assert (defined["value"] <= defined["ci_high"] + 1e-9).all()

    selection = pd.read_csv(tmp_path / "first" / "selection.csv")
    linear = selection[selection["probe"] == "linear"]
    assert (linear["settings"] == 2).all()  # hidden is not a linear probe's parameter
    assert (selection.loc[selection["probe"] != "linear", "settings"] == 4).all()
    # Every seed of one (model, task, probe, fraction) uses the same selected setting.
    keys = ["dataset", "task", "model", "layer", "train_fraction", "probe"]
    assert (selection.groupby(keys)["selected"].nunique() == 1).all()
    items = selection.groupby(["task", "train_fraction"])["train_items"].max().unstack()
    # key and pitch_class have one train track per class here, which a subset always keeps
    assert (items[0.5] <= items[1.0]).all() and (items[0.5] < items[1.0]).sum() == 2

    summary = pd.read_csv(tmp_path / "first" / "summary.csv")
    assert (summary["seeds"] == 2).all()
    robustness = pd.read_csv(tmp_path / "first" / "robustness.csv")
    assert set(robustness["deformation"]) == {"white_noise", "gain"}

    experiment = Experiment.from_config(protocol_config(tmp_path, "first"))
    comparisons = compare_models(experiment)
    assert list(comparisons.columns) == COMPARISON_COLUMNS
    # two models with one layer each: one pair per (task, probe, fraction)
    assert len(comparisons) == 4 * 2 * 2
    assert comparisons["p_holm"].ge(comparisons["p_value"]).all()
    # Holm's family is one task, condition and probe: a single pair needs no correction.
    np.testing.assert_array_equal(comparisons["p_holm"], comparisons["p_value"])
    result = CliRunner().invoke(
        app, ["compare", "-c", str(tmp_path / "first" / "config.yml"), "--metric", "accuracy"]
    )
    assert result.exit_code == 0, result.output
    assert "significant" in result.output


@pytest.mark.slow
def test_probes_that_pool_windows_learn_from_tracks_through_the_protocol(tmp_path):
    """``pooling: none`` + a probe ``pool``: grid, seeds and train fractions work on tracks,
    predictions are per track, and a rerun is bit-identical."""

    def run(name: str) -> pd.DataFrame:
        config = small_config(
            tmp_path,
            deformations=[],
            models=[{"type": "mfcc", "n_mels": 40}],
            embedding={"window_s": 0.5, "hop_s": 0.5, "pooling": "none"},
            probes=[
                {"type": "linear", "pool": "attention"},
                {"type": "mlp", "hidden": [8], "pool": "mean", "batch_size": None},
            ],
            protocol={
                "epochs": 20,
                "patience": 5,
                "seeds": 2,
                "grid": {"learning_rate": [1e-2, 3e-2]},
                "train_fraction": [0.5, 1.0],
                "n_bootstrap": 0,
            },
        )
        config["output_dir"] = str(tmp_path / name)
        return run_all(Experiment.from_config(config))

    first = run("first")
    run("second")
    for table in ("results.csv", "selection.csv"):
        assert (tmp_path / "first" / table).read_bytes() == (
            tmp_path / "second" / table
        ).read_bytes(), table
    assert set(first["probe"]) == {"linear-attention", "mlp-8-meanpool"}
    assert set(first["seed"]) == {0, 1} and set(first["train_fraction"]) == {0.5, 1.0}
    experiment = Experiment.from_config(small_config(tmp_path))
    tracks = {
        split: len(experiment.datasets[0].task_tracks("key", split)) for split in ("train", "test")
    }
    predictions = tmp_path / "first" / "predictions" / "tones" / "key" / "mfcc"
    for path in predictions.rglob("*.npz"):
        assert len(read_predictions(path)[1][0]["y_score"]) == tracks["test"]
    selection = pd.read_csv(tmp_path / "first" / "selection.csv")
    full = selection[(selection.task == "key") & (selection.train_fraction == 1.0)]
    assert set(full.train_items) == {tracks["train"]}  # tracks, not windows
