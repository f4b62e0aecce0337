"""Bootstrap intervals, paired comparisons, Holm correction and the results summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mir_ref import metrics
from mir_ref.registry import available
from mir_ref.stats import (
    bootstrap_ci,
    bootstrap_indices,
    holm,
    paired_bootstrap,
    percentile_interval,
    resampled_values,
    robustness,
    summarize_seeds,
)
from mir_ref.tasks import KEYS, Task

MULTICLASS = Task("genre", "multiclass", classes=["a", "b", "c", "d"])


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(11)


def scores_with_accuracy(y_true: np.ndarray, correct: np.ndarray, n_classes: int) -> np.ndarray:
    """``[n, n_classes]`` scores whose argmax is right exactly where ``correct``."""
    predicted = np.where(correct, y_true, (y_true + 1) % n_classes)
    scores = np.full((len(y_true), n_classes), 0.1, dtype=np.float32)
    scores[np.arange(len(y_true)), predicted] = 0.9
    return scores


def test_percentile_intervals_cover_known_accuracy_at_nominal_rate(rng):
    # 200 synthetic classifiers with true accuracy 0.8 on 200 test items each; the 95 %
    # interval should contain 0.8 about 95 % of the time (binomial sd over 200 reps: 1.5 %).
    true_accuracy, n_items, repetitions, n_bootstrap = 0.8, 200, 200, 1000
    correct = rng.random((repetitions, n_items)) < true_accuracy
    indices = bootstrap_indices(n_items, n_bootstrap=n_bootstrap, seed=0)
    resampled = correct[:, indices].mean(axis=2)  # [repetitions, n_bootstrap], vectorised
    low, high = np.percentile(resampled, [2.5, 97.5], axis=1)
    coverage = np.mean((low <= true_accuracy) & (true_accuracy <= high))
    assert 0.90 <= coverage <= 0.99
    # The same computation through the public function, on one repetition.
    y_true = rng.integers(0, 4, n_items)
    scores = scores_with_accuracy(y_true, correct[0], 4)
    assert bootstrap_ci(
        metrics.accuracy, y_true, scores, MULTICLASS, n_bootstrap=n_bootstrap, seed=0
    ) == pytest.approx((low[0], high[0]))


def test_bootstrap_is_seeded_and_brackets_the_value(rng):
    y_true = rng.integers(0, 4, 300)
    scores = rng.random((300, 4)).astype(np.float32)
    first = bootstrap_ci(metrics.f1_macro, y_true, scores, MULTICLASS, n_bootstrap=200, seed=3)
    assert first == bootstrap_ci(
        metrics.f1_macro, y_true, scores, MULTICLASS, n_bootstrap=200, seed=3
    )
    assert first != bootstrap_ci(
        metrics.f1_macro, y_true, scores, MULTICLASS, n_bootstrap=200, seed=4
    )
    value = metrics.f1_macro(y_true, scores, MULTICLASS)
    assert first[0] < value < first[1]
    assert bootstrap_ci(metrics.accuracy, y_true[:0], scores[:0], MULTICLASS)[0] != 0.0


def _example(name: str, rng: np.random.Generator) -> tuple[Task, np.ndarray, np.ndarray]:
    n = 60
    if name in ("accuracy", "balanced_accuracy", "f1_macro"):
        return MULTICLASS, rng.integers(0, 4, n), rng.random((n, 4))
    if name == "mirex_key":
        task = Task("key", "key", classes=list(KEYS))
        return task, rng.integers(0, len(KEYS), n), rng.random((n, len(KEYS)))
    if name in ("r2", "pearson"):
        y = rng.normal(size=n)
        return Task("tempo", "regression"), y, y + rng.normal(size=n)
    task = Task("tags", "multilabel", classes=["x", "y", "z", "rare"])
    y_true = (rng.random((n, 4)) < [0.4, 0.4, 0.4, 0.03]).astype(int)
    return task, y_true, np.round(rng.random((n, 4)), 1)  # rounded: tied scores


@pytest.mark.parametrize("name", sorted(available("metrics")))
def test_vectorised_resampling_equals_recomputing_each_resample(name, rng):
    metric = available("metrics")[name]
    task, y_true, y_score = _example(name, rng)
    indices = bootstrap_indices(len(y_true), n_bootstrap=25, seed=1)
    looped = np.array([metric(y_true[rows], y_score[rows], task) for rows in indices])
    np.testing.assert_allclose(
        resampled_values(metric, y_true, y_score, task, indices), looped, atol=1e-9
    )


def test_paired_bootstrap_separates_better_from_identical_models(rng):
    n = 400
    y_true = rng.integers(0, 4, n)
    weak = [scores_with_accuracy(y_true, rng.random(n) < 0.6, 4) for _ in range(2)]
    strong = [scores_with_accuracy(y_true, rng.random(n) < 0.8, 4) for _ in range(2)]
    difference, p = paired_bootstrap(
        metrics.accuracy, y_true, strong, weak, MULTICLASS, n_bootstrap=1000, seed=0
    )
    assert difference == pytest.approx(0.2, abs=0.06)
    assert p < 0.01
    difference, p = paired_bootstrap(
        metrics.accuracy, y_true, weak, weak, MULTICLASS, n_bootstrap=1000, seed=0
    )
    assert (difference, p) == (0.0, 1.0)
    # Two models of equal skill, different errors: no significant difference, usually.
    other = [scores_with_accuracy(y_true, rng.random(n) < 0.6, 4) for _ in range(2)]
    assert paired_bootstrap(metrics.accuracy, y_true, weak, other, MULTICLASS, seed=0)[1] > 0.05


def test_holm_matches_a_hand_computation():
    p = [0.01, 0.04, 0.03, 0.20, np.nan]
    # sorted: 0.01·4 = 0.04, 0.03·3 = 0.09, 0.04·2 = 0.08 → 0.09 (monotone), 0.20·1 = 0.20
    np.testing.assert_allclose(holm(p), [0.04, 0.09, 0.09, 0.20, np.nan])
    assert holm([0.5, 0.6]).tolist() == [1.0, 1.0]
    assert holm([]).shape == (0,)


def test_percentile_interval_ignores_undefined_resamples():
    assert percentile_interval(np.array([np.nan, 1.0, 1.0])) == (1.0, 1.0)
    assert np.isnan(percentile_interval(np.array([np.nan]))[0])


def _results(rows: list[tuple]) -> pd.DataFrame:
    columns = ["model", "deformation", "strength", "seed", "value"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.assign(
        dataset="tones",
        task="genre",
        layer="x",
        window_s=3.0,
        hop_s=3.0,
        train_fraction=1.0,
        probe="linear",
        metric="accuracy",
        ci_low=frame["value"] - 0.1,
        ci_high=frame["value"] + 0.1,
    )


def test_seed_summary_and_robustness_by_hand():
    results = _results(
        [
            ("m", "none", np.nan, 0, 0.8),
            ("m", "none", np.nan, 1, 1.0),
            ("m", "noise", 20.0, 0, 0.9),
            ("m", "noise", 20.0, 1, 0.9),
            ("m", "noise", 10.0, 0, 0.6),
            ("m", "noise", 10.0, 1, 0.6),
            ("m", "noise", 0.0, 0, 0.3),
            ("m", "noise", 0.0, 1, 0.3),
        ]
    )
    summary = summarize_seeds(results)
    clean = summary[summary["deformation"] == "none"].iloc[0]
    assert (clean["mean"], clean["seeds"]) == (pytest.approx(0.9), 2)
    assert clean["std"] == pytest.approx(np.std([0.8, 1.0], ddof=1))
    table = robustness(results)
    assert table["strength"].tolist() == [0.0, 10.0, 20.0]
    np.testing.assert_allclose(table["relative_drop"], [0.6 / 0.9, 0.3 / 0.9, 0.0], atol=1e-12)
    # trapezoid over 0..20: (0.3+0.6)/2·10 + (0.6+0.9)/2·10 = 12, over a range of 20
    assert table["area"].tolist() == pytest.approx([0.6] * 3)
    assert robustness(results[results["deformation"] == "none"]).empty
