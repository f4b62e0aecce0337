"""Metrics against hand-computed values and mir_eval; the contract of every registered metric."""

from __future__ import annotations

import warnings

import mir_eval
import numpy as np
import pytest

from mir_ref.errors import ConfigError
from mir_ref.metrics import compute, metrics_for
from mir_ref.registry import available, describe
from mir_ref.tasks import KEYS, TASK_TYPES, Task


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def one_hot(indices: list[int], n_classes: int) -> np.ndarray:
    """Scores whose argmax is ``indices``: ``[n, n_classes]``."""
    scores = np.full((len(indices), n_classes), 0.1, dtype=np.float32)
    scores[np.arange(len(indices)), indices] = 0.9
    return scores


def test_classification_metrics_by_hand():
    # Class 'd' is neither true nor predicted: f1_macro leaves it out rather than scoring 0.
    task = Task("genre", "multiclass", classes=["a", "b", "c", "d"])
    y_true = np.array([0, 1, 2, 2])
    y_score = one_hot([0, 2, 2, 2], 4)
    values = compute(task, y_true, y_score)
    assert values["accuracy"] == pytest.approx(0.75)
    # recalls: a 1, b 0, c 1
    assert values["balanced_accuracy"] == pytest.approx(2 / 3)
    # F1: a 1, b 0, c 2·(2/3·1)/(2/3+1) = 0.8
    assert values["f1_macro"] == pytest.approx((1 + 0 + 0.8) / 3)
    assert list(values) == ["accuracy", "balanced_accuracy", "f1_macro"]
    assert all(isinstance(value, float) for value in values.values())


def test_balanced_accuracy_predicting_a_class_absent_from_truth_is_quiet():
    task = Task("genre", "multiclass", classes=["a", "b", "c"], metrics=["balanced_accuracy"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = compute(task, np.array([0, 0, 1]), one_hot([0, 2, 1], 3))
    assert values["balanced_accuracy"] == pytest.approx((0.5 + 1) / 2)


def test_multilabel_metrics_skip_tags_without_both_classes():
    task = Task("tags", "multilabel", classes=["rock", "loud", "quiet", "sad"])
    y_true = np.array(
        [
            [1, 1, 0, 1],
            [0, 1, 0, 0],
            [1, 1, 0, 0],
            [0, 1, 0, 1],
        ],
        dtype=np.float32,
    )
    y_score = np.array(
        [
            [0.9, 0.1, 0.9, 0.8],
            [0.8, 0.2, 0.1, 0.1],
            [0.3, 0.9, 0.5, 0.2],
            [0.1, 0.4, 0.3, 0.7],
        ],
        dtype=np.float32,
    )
    values = compute(task, y_true, y_score)
    # 'loud' (all positive) and 'quiet' (all negative) are skipped.
    # rock: positive/negative pairs (0.9>0.8, 0.9>0.1, 0.3<0.8, 0.3>0.1) → 3/4; sad: perfect.
    assert values["roc_auc"] == pytest.approx((0.75 + 1.0) / 2)
    # rock ranks pos, neg, pos, neg → AP (1/1 + 2/3) / 2; sad: perfect.
    assert values["pr_auc"] == pytest.approx(((1 + 2 / 3) / 2 + 1.0) / 2)


def test_multilabel_metrics_are_nan_when_no_tag_can_be_scored():
    task = Task("tags", "multilabel", classes=["x", "y"])
    y_true = np.array([[1, 0], [1, 0]], dtype=np.float32)
    values = compute(task, y_true, np.full((2, 2), 0.5, dtype=np.float32))
    assert np.isnan(values["roc_auc"]) and np.isnan(values["pr_auc"])


@pytest.mark.parametrize(
    ("reference", "estimate", "expected"),
    [
        ("C:major", "C:major", 1.0),
        ("C:major", "G:major", 0.5),  # a fifth above
        ("C:major", "A:minor", 0.3),  # relative minor
        ("A:minor", "C:major", 0.3),  # relative major
        ("C:major", "C:minor", 0.2),  # parallel
        ("C:major", "F:major", 0.0),  # a fifth below is not credited by mir_eval
        ("A#:minor", "F:minor", 0.5),
        ("C:major", "C#:major", 0.0),
    ],
)
def test_mirex_key_relationships(reference, estimate, expected):
    task = Task("key", "key", metrics=["mirex_key"])
    y_true = np.array([KEYS.index(reference)])
    y_score = one_hot([KEYS.index(estimate)], 24)
    assert compute(task, y_true, y_score)["mirex_key"] == pytest.approx(expected)


def test_mirex_key_is_the_mean_of_mir_eval_over_all_key_pairs():
    task = Task("key", "key")
    references, estimates = np.divmod(np.arange(24 * 24), 24)
    # mir_eval spelled with flats where they exist, to check the spelling conversion too.
    flats = {"C#": "Db", "D#": "Eb", "F#": "Gb", "G#": "Ab", "A#": "Bb"}

    def spell(key: str) -> str:
        tonic, mode = key.split(":")
        return f"{flats.get(tonic, tonic)} {mode}"

    expected = np.mean(
        [
            mir_eval.key.weighted_score(spell(KEYS[r]), spell(KEYS[e]))
            for r, e in zip(references, estimates, strict=True)
        ]
    )
    values = compute(task, references, one_hot(list(estimates), 24))
    assert values["mirex_key"] == pytest.approx(expected)
    assert values["accuracy"] == pytest.approx(1 / 24)


def test_regression_metrics_by_hand():
    task = Task("tempo", "regression")
    y_true = np.array([1, 2, 3, 4], dtype=np.float32)
    y_score = np.array([1, 2, 3, 5], dtype=np.float32)
    values = compute(task, y_true, y_score)
    # residuals 0, 0, 0, 1; total sum of squares 5
    assert values["r2"] == pytest.approx(1 - 1 / 5)
    assert values["pearson"] == pytest.approx(np.corrcoef(y_true, y_score)[0, 1])


def test_pearson_of_constant_prediction_is_nan_without_warning():
    task = Task("tempo", "regression", metrics=["pearson"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = compute(task, np.array([1.0, 2.0, 3.0]), np.full(3, 2.0))["pearson"]
    assert np.isnan(value)


def test_metric_for_another_task_type_is_a_config_error():
    task = Task("genre", "multiclass", classes=["a", "b"], metrics=["accuracy", "roc_auc"])
    with pytest.raises(ConfigError, match=r"task 'genre'.*'roc_auc'.*multilabel.*accuracy"):
        compute(task, np.array([0, 1]), one_hot([0, 1], 2))


def test_unknown_metric_is_a_config_error_with_a_suggestion():
    task = Task("genre", "multiclass", classes=["a", "b"], metrics=["acuracy"])
    with pytest.raises(ConfigError, match=r"task 'genre'.*did you mean 'accuracy'"):
        metrics_for(task)


def test_length_mismatch_is_refused():
    task = Task("genre", "multiclass", classes=["a", "b"])
    with pytest.raises(ValueError, match="2 items but y_score has 3"):
        compute(task, np.array([0, 1]), one_hot([0, 1, 1], 2))


def random_predictions(task: Task, rng: np.random.Generator, n: int = 30):
    """Encoded labels and plausible scores of ``task``'s type."""
    if task.type == "regression":
        y_true = rng.normal(size=n).astype(np.float32)
        return y_true, y_true + rng.normal(size=n).astype(np.float32)
    scores = rng.dirichlet(np.ones(len(task.classes)), size=n).astype(np.float32)
    if task.type == "multilabel":
        return (rng.random((n, len(task.classes))) < 0.5).astype(np.float32), scores
    return rng.integers(0, len(task.classes), n), scores


@pytest.mark.parametrize("name", sorted(available("metrics")))
def test_metric_contract(name, rng):
    """Every registered metric: a one-line description, task types, a float on fitting data."""
    function = available("metrics")[name]
    assert describe(function)
    task_types = getattr(function, "task_types", tuple(TASK_TYPES))
    assert task_types and set(task_types) <= set(TASK_TYPES)
    for task_type in task_types:
        classes = [] if task_type in ("regression", "key") else ["a", "b", "c"]
        task = Task("t", task_type, classes=classes, metrics=[name])
        value = compute(task, *random_predictions(task, rng))[name]
        assert isinstance(value, float)
        assert np.isfinite(value)
