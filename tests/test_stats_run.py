"""The statistics of a run, end to end: probes chosen on validation in ranks.csv and the report,
the cluster bootstrap on grouped test tracks, the bootstrap turned off, and a 13-entry study.

Most tests write the predictions of a small synthetic experiment themselves, in the training
stage's format, so that they know the answers (which probe wins on validation or on test,
which items are right); the last one runs the real pipeline.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from mir_ref import stats
from mir_ref.cli import app
from mir_ref.compare import COMPARISON_COLUMNS, RANK_COLUMNS, compare_models, rank_models
from mir_ref.evaluate import evaluate
from mir_ref.experiment import Experiment
from mir_ref.plan import planned_predictions
from mir_ref.predictions import predictions_path
from mir_ref.report import sections
from mir_ref.report.html import write_page
from mir_ref.report.run_folder import RunFolder
from mir_ref.stages import extract, train
from tests.conftest import tiny_tones

TONES = tiny_tones(notes_per_class=7)

LINEAR = ({"type": "linear"},)


def experiment_of(
    folder: Path,
    *,
    models: tuple[str, ...] = ("chroma", "mfcc"),
    probes: tuple[dict, ...] = ({"type": "linear"}, {"type": "mlp", "hidden": [8]}),
    **protocol,
) -> Experiment:
    """The synthetic study; evaluation asks for exactly its models × probes × seeds, so a
    test writes the predictions of each."""
    config = {
        "name": "stats",
        "output_dir": str(folder / "run"),
        "cache_dir": str(folder / "cache"),
        "datasets": [TONES],
        "models": [{"type": model} for model in models],
        "probes": list(probes),
        "protocol": {"seeds": 2, **protocol},
    }
    return Experiment.from_config(config)


def config_file(experiment: Experiment) -> Path:
    """The experiment's resolved config, written beside its run folder."""
    path = experiment.output_dir.parent / "config.yml"
    path.write_text(yaml.safe_dump(experiment.resolved()))
    return path


def write(
    experiment: Experiment,
    *,
    model: str,
    probe: str,
    seed: int,
    correct: np.ndarray,
    validation: float,
) -> None:
    """One predictions file of the pitch-class task: the test items right where ``correct``
    (else one class off), and a validation score for the selected setting."""
    dataset = experiment.datasets[0]
    task = dataset.tasks["pitch_class"]
    tracks = dataset.task_tracks("pitch_class", "test")
    y_true = task.encode([track.labels["pitch_class"] for track in tracks])
    predicted = np.where(correct, y_true, (y_true + 1) % len(task.classes))
    path = predictions_path(
        experiment.output_dir, dataset.name, task.name, model, "output", probe, f"seed{seed}"
    )
    meta = {
        # The key the plan expects of this file: it was made from the config's labels.
        "key": planned_predictions(experiment)[path],
        "dataset": dataset.name,
        "task": task.name,
        "model": model,
        "layer": "output",
        "window_s": 3.0,
        "hop_s": 3.0,
        "probe": probe,
        "seed": seed,
        "train_fraction": 1.0,
        "conditions": [{"label": "none", "deformation": "none", "strength": None}],
        "epochs": 10,
        "selection": {
            "metric": task.main_metric,
            "selected": {"learning_rate": 0.01},
            "grid": [{"setting": {"learning_rate": 0.01}, "validation": validation}],
            "train_items": 180,
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        meta=np.array(json.dumps(meta)),
        track_ids_0=np.array([track.id for track in tracks]),
        y_true_0=y_true,
        y_score_0=np.eye(len(task.classes), dtype=np.float32)[predicted],
    )


def overview_page(run: Path, tmp_path: Path) -> tuple[sections.Context, str]:
    """The report's shared context and its overview section as HTML (the other sections,
    which read the same context, are left out to keep the test fast)."""
    context = sections.Context(RunFolder(run), tmp_path / "plots")
    page = write_page([sections.overview(context)], tmp_path / "page", title="overview")
    return context, page.read_text(encoding="utf-8")


def right(n_items: int, accuracy: float, rng: np.random.Generator) -> np.ndarray:
    """``[n_items]`` booleans, exactly ``round(accuracy · n_items)`` of them true."""
    correct = np.zeros(n_items, dtype=bool)
    correct[rng.permutation(n_items)[: round(accuracy * n_items)]] = True
    return correct


def test_report_and_ranks_follow_validation_not_the_test_set(tmp_path, rng):
    """chroma's MLP scores best on test, its linear probe best on validation: chroma is
    represented by the linear probe in ranks.csv and in the report (the overview, and the
    context every other section reads), and the gap and p-value compare exactly the (model,
    probe) pairs the table names."""
    experiment = experiment_of(tmp_path)
    n_items = len(experiment.datasets[0].task_tracks("pitch_class", "test"))
    plan = {  # (model, probe): (test accuracy, validation score)
        ("chroma", "linear"): (0.75, 0.90),
        ("chroma", "mlp-8"): (0.95, 0.80),
        ("mfcc", "linear"): (0.30, 0.50),
        ("mfcc", "mlp-8"): (0.35, 0.60),
    }
    for (model, probe), (accuracy, validation) in plan.items():
        for seed in (0, 1):
            correct = right(n_items, accuracy, rng)
            write(experiment, model=model, probe=probe, seed=seed, correct=correct,
                  validation=validation)  # fmt: skip
    evaluate(experiment)
    ranks = rank_models(experiment)
    assert list(ranks.columns) == RANK_COLUMNS
    assert ranks.set_index("model")["probe"].to_dict() == {"chroma": "linear", "mfcc": "mlp-8"}
    chroma = ranks.set_index("model").loc["chroma"]
    assert chroma["mean"] == pytest.approx(0.75, abs=0.02)
    assert chroma["validation"] == pytest.approx(0.90)
    assert chroma["rank"] == 1 and chroma["tied_for_first"]
    mfcc = ranks.set_index("model").loc["mfcc"]
    assert not mfcc["tied_for_first"] and mfcc["p_holm"] < 0.05

    context, overview = overview_page(experiment.output_dir, tmp_path)
    assert context.best.set_index("model")["probe"].to_dict() == {
        "chroma": "linear",
        "mfcc": "mlp-8",
    }
    chroma_row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*?chroma(?:(?!</tr>).)*</tr>", overview, re.S)
    assert chroma_row is not None and "linear" in chroma_row.group(0)
    assert "mlp-8" not in chroma_row.group(0)
    assert "0.950" not in overview  # the test-selected score is never shown as chroma's
    assert "best validation score" in overview and "tied for first" in overview
    # The gap is chroma-linear minus mfcc-mlp-8, and its p-value is ranks.csv's test of them.
    assert f"{chroma['mean'] - mfcc['mean']:.3f}" in overview
    assert f"{mfcc['p_holm']:.4f}" in overview


def test_grouped_test_tracks_are_resampled_as_groups(tmp_path, rng):
    """Track-level groups (as #19's loaders set them): a model right or wrong on whole groups
    gets wider intervals than on independent tracks, and comparisons say how many groups the
    bootstrap drew. A `group_column` in a manifest feeds the same field."""
    experiment = experiment_of(tmp_path, probes=LINEAR, seeds=1, n_bootstrap=500)
    tracks = experiment.datasets[0].task_tracks("pitch_class", "test")
    for index, track in enumerate(tracks):
        track.group = f"artist{index // 6}"  # six groups of six tracks
    by_group = np.array([index // 6 for index in range(len(tracks))])
    clustered = np.isin(by_group, [0, 2, 4])  # right on half the groups, wrong on the rest
    write(experiment, model="chroma", probe="linear", seed=0, correct=clustered, validation=0.8)
    write(experiment, model="mfcc", probe="linear", seed=0, correct=right(36, 0.5, rng),
          validation=0.5)  # fmt: skip
    results = evaluate(experiment).set_index(["model", "metric"])
    grouped = results.loc[("chroma", "accuracy")]
    width = grouped["ci_high"] - grouped["ci_low"]
    for track in tracks:
        track.group = None
    independent = evaluate(experiment).set_index(["model", "metric"]).loc[("chroma", "accuracy")]
    assert width > 1.5 * (independent["ci_high"] - independent["ci_low"])
    for index, track in enumerate(tracks):
        track.group = f"artist{index // 6}"
    comparisons = compare_models(experiment)
    assert comparisons["groups"].tolist() == [6.0] and comparisons["items"].tolist() == [36]
    assert rank_models(experiment)["groups"].tolist() == [6.0, 6.0]


def test_no_bootstrap_gives_empty_p_values_and_intervals_without_error(tmp_path, rng, caplog):
    experiment = experiment_of(tmp_path, probes=LINEAR, n_bootstrap=0)
    for model, accuracy in (("chroma", 0.9), ("mfcc", 0.4)):
        for seed in (0, 1):
            write(experiment, model=model, probe="linear", seed=seed,
                  correct=right(36, accuracy, rng), validation=accuracy)  # fmt: skip
    with caplog.at_level(logging.WARNING):
        results = evaluate(experiment)
        comparisons = compare_models(experiment)
        ranks = rank_models(experiment)
    assert stats.NO_BOOTSTRAP in caplog.text
    assert results["value"].notna().all() and results[["ci_low", "ci_high"]].isna().all().all()
    summary = pd.read_csv(experiment.output_dir / "summary.csv")
    assert summary[["ci_low", "ci_high"]].isna().all().all() and summary["mean"].notna().all()
    assert comparisons["difference"].notna().all()
    assert comparisons[["p_value", "p_holm", "significant"]].isna().all().all()
    written = pd.read_csv(experiment.output_dir / "comparisons.csv")
    assert written[["p_value", "p_holm", "significant"]].isna().all().all()
    assert ranks["rank"].tolist() == [1, 2]
    assert ranks[["rank_low", "rank_high", "p_value", "tied_for_first"]].isna().all().all()
    page = overview_page(experiment.output_dir, tmp_path)[1]
    assert "protocol.n_bootstrap: 0" in page and "p (vs runner-up)" not in page
    outcome = CliRunner().invoke(app, ["compare", "-c", str(config_file(experiment))])
    assert outcome.exit_code == 0, outcome.output
    assert "no p-values: protocol.n_bootstrap is 0" in outcome.output


def test_summary_interval_is_for_the_mean_over_seeds(tmp_path, rng):
    experiment = experiment_of(tmp_path, models=("chroma",), probes=LINEAR, n_bootstrap=500)
    for seed, accuracy in ((0, 0.5), (1, 0.9)):  # trainings that disagree
        write(experiment, model="chroma", probe="linear", seed=seed,
              correct=right(36, accuracy, rng), validation=0.7)  # fmt: skip
    results = evaluate(experiment)
    rows = results[results["metric"] == "accuracy"]
    summary = pd.read_csv(experiment.output_dir / "summary.csv")
    mean = summary[summary["metric"] == "accuracy"].iloc[0]
    assert mean["mean"] == pytest.approx(0.7, abs=0.02)
    # Not the average of the seeds' bounds: drawing the seeds widens it.
    assert mean["ci_high"] - mean["ci_low"] > (rows["ci_high"] - rows["ci_low"]).mean()
    assert mean["ci_low"] < 0.7 < mean["ci_high"]


def test_thirteen_entries_chroma_against_mfcc_is_significant_after_holm(tmp_path):
    """The issue's acceptance run: 13 entries (chroma, MFCC and 11 variants of MFCC and mel
    features) on pitch classes, 12 test notes. Chroma scores 1.00 and MFCC 0.08 (0.00 to 0.42
    for the variants); among 78 Holm-corrected pairs, comparisons.csv calls chroma against
    MFCC significant (p_holm 0.0025, from the family's 31,200 resamples; with 1,000 it could
    not go below 0.078)."""
    variants = [{"type": "mfcc", "n_mfcc": n, "name": f"mfcc{n}"} for n in (8, 10, 16, 24, 30, 40)]
    variants += [
        {"type": "melspectrogram", "n_mels": n, "name": f"mel{n}"} for n in (16, 24, 32, 48, 64)
    ]
    config = {
        "name": "thirteen",
        "output_dir": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
        "datasets": [{**TONES, "notes_per_class": 2}],
        "models": [{"type": "chroma"}, {"type": "mfcc"}, *variants],
        "embedding": {"window_s": 0.5, "hop_s": 0.5},
        "probes": [{"type": "linear"}],
        "protocol": {"epochs": 60, "patience": 10, "learning_rate": 0.05},
        "execution": {"workers": 1},
    }
    experiment = Experiment.from_config(config)
    assert len(experiment.models) == 13
    extract(experiment)
    train(experiment)
    evaluate(experiment)
    comparisons = compare_models(experiment)
    assert list(comparisons.columns) == COMPARISON_COLUMNS
    assert len(comparisons) == 78 and (comparisons["resamples"] == 31_200).all()
    pair = comparisons[(comparisons["model_a"] == "chroma/output")
                       & (comparisons["model_b"] == "mfcc/output")].iloc[0]  # fmt: skip
    assert pair["value_a"] > 0.9 and pair["difference"] > 0.3
    assert pair["significant"] and pair["p_holm"] < 0.05
    ranks = rank_models(experiment)
    assert ranks.iloc[0]["model"].startswith("chroma") and ranks.iloc[0]["tied_for_first"]
