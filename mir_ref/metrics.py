"""Per-task metrics: ``(y_true, y_score, task) -> float``.

``y_true`` is what ``task.encode`` returns and ``y_score`` what a probe's ``predict`` returns:
``[n]`` class indices with ``[n, classes]`` probabilities (multiclass, key), ``[n, classes]``
0/1 indicators with ``[n, classes]`` probabilities (multilabel), ``[n]`` values with ``[n]``
predictions (regression). Each metric declares the task types it fits in ``task_types``;
:func:`compute` refuses a metric on a task of another type.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import numpy as np

# sklearn.metrics, scipy.stats and mir_eval are imported inside the metrics that use them:
# together ~1 s of imports, which a warm rerun (no metric computed) would otherwise pay.
from mir_ref.errors import ConfigError
from mir_ref.registry import available, lookup, register
from mir_ref.tasks import TASK_TYPES, Task, normalize_key

Metric = Callable[[np.ndarray, np.ndarray, Task], float]
Resampled = Callable[[np.ndarray, np.ndarray, Task, np.ndarray], np.ndarray]
"""``(y_true, y_score, task, weights [resamples, n]) -> [resamples]``: a metric on many
resamples of the items at once (see :func:`resampled`). ``weights[r, i]`` is how many times
resample ``r`` draws item ``i``, so the function equals the metric on the items repeated that
many times; this form holds the item bootstrap and the cluster bootstrap (resamples of
different lengths) alike."""


def metric(name: str, *task_types: str) -> Callable[[Metric], Metric]:
    """Register a metric function under ``name`` for the given task types."""

    def decorate(function: Metric) -> Metric:
        function.task_types = task_types  # type: ignore[attr-defined]
        return register("metrics", name)(function)

    return decorate


def resampled(function: Metric) -> Callable[[Resampled], Resampled]:
    """Attach a vectorised version of ``function`` that scores many item resamples at once.

    :mod:`mir_ref.stats` bootstraps with it; a metric without one is recomputed per resample.
    """

    def decorate(vectorised: Resampled) -> Resampled:
        function.resampled = vectorised  # type: ignore[attr-defined]
        return vectorised

    return decorate


def _weighted_sums(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``[resamples]``: ``sum_i weights[r, i] * values[i]``."""
    return weights @ np.asarray(values, dtype=np.float64)


def _weighted_means(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``[resamples]`` weighted means of ``values [n]``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return _weighted_sums(values, weights) / weights.sum(axis=1)


def _confusions(
    y_true: np.ndarray, y_score: np.ndarray, task: Task, weights: np.ndarray
) -> np.ndarray:
    """``[resamples, classes, classes]`` confusion counts (true × predicted) per resample."""
    n_classes = len(task.classes)
    cells = np.asarray(y_true) * n_classes + _predicted_classes(y_score)
    # Items sorted by cell: each cell's count is one sum over a run of columns.
    order = np.argsort(cells, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(cells[order]) != 0])
    counts = np.zeros((len(weights), n_classes * n_classes), dtype=np.float64)
    if len(cells):
        counts[:, cells[order][starts]] = np.add.reduceat(weights[:, order], starts, axis=1)
    return counts.reshape(len(weights), n_classes, n_classes)


def _predicted_classes(y_score: np.ndarray) -> np.ndarray:
    return np.asarray(y_score).argmax(axis=1)


@metric("accuracy", "multiclass", "key")
def accuracy(y_true: np.ndarray, y_score: np.ndarray, task: Task) -> float:
    """Fraction of items whose highest-scoring class is the true class."""
    # Deferred: loads sklearn, which many runs never need.
    import sklearn.metrics

    return float(sklearn.metrics.accuracy_score(y_true, _predicted_classes(y_score)))


@resampled(accuracy)
def _accuracy_resampled(
    y_true: np.ndarray, y_score: np.ndarray, task: Task, weights: np.ndarray
) -> np.ndarray:
    return _weighted_means(np.asarray(y_true) == _predicted_classes(y_score), weights)


@metric("balanced_accuracy", "multiclass", "key")
def balanced_accuracy(y_true: np.ndarray, y_score: np.ndarray, task: Task) -> float:
    """Mean per-class recall over the classes present in the true labels.

    Predictions of classes absent from ``y_true`` count as errors, nothing more.
    """
    # Deferred: loads sklearn, which many runs never need.
    import sklearn.metrics

    with warnings.catch_warnings():
        # sklearn warns when predictions name a class that y_true lacks; that is expected.
        warnings.simplefilter("ignore", UserWarning)
        return float(sklearn.metrics.balanced_accuracy_score(y_true, _predicted_classes(y_score)))


@resampled(balanced_accuracy)
def _balanced_accuracy_resampled(
    y_true: np.ndarray, y_score: np.ndarray, task: Task, weights: np.ndarray
) -> np.ndarray:
    counts = _confusions(y_true, y_score, task, weights)
    support = counts.sum(axis=2)
    recall = np.diagonal(counts, axis1=1, axis2=2) / np.maximum(support, 1)
    present = support > 0
    return (recall * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


@metric("f1_macro", "multiclass", "key")
def f1_macro(y_true: np.ndarray, y_score: np.ndarray, task: Task) -> float:
    """Unweighted mean F1 over the classes that are true or predicted for some item.

    A class that is neither in ``y_true`` nor predicted has no defined F1 and is left out
    (sklearn's default), rather than scored 0, so that a test split lacking a rare class is
    not penalised; a class predicted but never true scores 0.
    """
    # Deferred: loads sklearn, which many runs never need.
    import sklearn.metrics

    return float(
        sklearn.metrics.f1_score(
            y_true, _predicted_classes(y_score), average="macro", zero_division=0
        )
    )


@resampled(f1_macro)
def _f1_macro_resampled(
    y_true: np.ndarray, y_score: np.ndarray, task: Task, weights: np.ndarray
) -> np.ndarray:
    counts = _confusions(y_true, y_score, task, weights)
    true_positives = np.diagonal(counts, axis1=1, axis2=2)
    true_or_predicted = counts.sum(axis=2) + counts.sum(axis=1)
    scored = true_or_predicted > 0
    f1 = 2 * true_positives / np.maximum(true_or_predicted, 1)
    return (f1 * scored).sum(axis=1) / np.maximum(scored.sum(axis=1), 1)


def _macro_over_scorable_tags(
    y_true: np.ndarray, y_score: np.ndarray, score: Callable[..., float]
) -> float:
    """Mean of ``score`` over the tags with both a positive and a negative item."""
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score)
    positives = y_true.sum(axis=0)
    scorable = np.flatnonzero((positives > 0) & (positives < len(y_true)))
    if len(scorable) == 0:
        return float("nan")
    return float(np.mean([score(y_true[:, tag], y_score[:, tag]) for tag in scorable]))


@metric("roc_auc", "multilabel")
def roc_auc(y_true: np.ndarray, y_score: np.ndarray, task: Task) -> float:
    """Area under the ROC curve, macro-averaged over tags with positives and negatives.

    Tags that are all positive or all negative in ``y_true`` have no ROC curve and are
    skipped; NaN when no tag can be scored.
    """
    # Deferred: loads sklearn, which many runs never need.
    import sklearn.metrics

    return _macro_over_scorable_tags(y_true, y_score, sklearn.metrics.roc_auc_score)


@resampled(roc_auc)
def _roc_auc_resampled(
    y_true: np.ndarray, y_score: np.ndarray, task: Task, weights: np.ndarray
) -> np.ndarray:
    values, defined = [], []
    for positives, negatives in _tag_curves(np.asarray(y_true), np.asarray(y_score), weights):
        # Each positive beats the negatives scored strictly lower and ties half of the equal.
        lower = negatives.sum(axis=1, keepdims=True) - np.cumsum(negatives, axis=1)
        pairs = (positives * (lower + 0.5 * negatives)).sum(axis=1)
        total = positives.sum(axis=1) * negatives.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            values.append(pairs / total)
        defined.append(total > 0)
    return _macro_over_resampled_tags(values, defined)


@metric("pr_auc", "multilabel")
def pr_auc(y_true: np.ndarray, y_score: np.ndarray, task: Task) -> float:
    """Average precision (area under the PR curve), macro-averaged like ``roc_auc``.

    Tags that are all positive or all negative in ``y_true`` are skipped; NaN when no tag
    can be scored.
    """
    # Deferred: loads sklearn, which many runs never need.
    import sklearn.metrics

    return _macro_over_scorable_tags(y_true, y_score, sklearn.metrics.average_precision_score)


@resampled(pr_auc)
def _pr_auc_resampled(
    y_true: np.ndarray, y_score: np.ndarray, task: Task, weights: np.ndarray
) -> np.ndarray:
    values, defined = [], []
    for positives, negatives in _tag_curves(np.asarray(y_true), np.asarray(y_score), weights):
        # sklearn's step-wise average precision: recall gained at each threshold × precision.
        true_positives = np.cumsum(positives, axis=1)
        retrieved = true_positives + np.cumsum(negatives, axis=1)
        total_positive = positives.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(retrieved > 0, true_positives / retrieved, 0.0)
            values.append((positives * precision).sum(axis=1) / total_positive)
        defined.append((total_positive > 0) & (negatives.sum(axis=1) > 0))
    return _macro_over_resampled_tags(values, defined)


def _tag_curves(
    y_true: np.ndarray, y_score: np.ndarray, weights: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per tag, ``[resamples, thresholds]`` positive and negative weights per distinct score.

    Distinct scores are sorted in decreasing order; a resample weighs each item by how often
    it was drawn, which equals scoring the resample itself.
    """
    weights = np.asarray(weights, dtype=np.float64)
    for tag in range(y_true.shape[1]):
        order = np.argsort(-y_score[:, tag], kind="stable")
        scores = y_score[order, tag]
        starts = np.flatnonzero(np.r_[True, scores[1:] != scores[:-1]])
        positive = y_true[order, tag] > 0
        sorted_weights = weights[:, order]
        positives = np.add.reduceat(sorted_weights * positive, starts, axis=1)
        negatives = np.add.reduceat(sorted_weights * ~positive, starts, axis=1)
        yield positives, negatives


def _macro_over_resampled_tags(values: list[np.ndarray], defined: list[np.ndarray]) -> np.ndarray:
    values, defined = np.stack(values, axis=1), np.stack(defined, axis=1)
    count = defined.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.where(defined, values, 0).sum(axis=1) / count, np.nan)


KEY_ERROR_CATEGORIES = ["correct", "fifth", "relative", "parallel", "other"]
"""MIREX key-error categories, scored 1, 0.5, 0.3, 0.2 and 0 by ``mir_eval.key``: the fifth is
a perfect fifth above the reference in the same mode, as the MIREX score counts it."""
_KEY_CATEGORY_OF_SCORE = dict(zip([1.0, 0.5, 0.3, 0.2, 0.0], KEY_ERROR_CATEGORIES, strict=True))


def key_error_category(reference: str, estimate: str) -> str:
    """The MIREX category (:data:`KEY_ERROR_CATEGORIES`) of key ``estimate`` for the true key
    ``reference``, both in any spelling :func:`~mir_ref.tasks.normalize_key` reads."""
    # Deferred: loads mir_eval, which many runs never need.
    import mir_eval

    score = mir_eval.key.weighted_score(
        _mir_eval_key(normalize_key(reference)), _mir_eval_key(normalize_key(estimate))
    )
    return _KEY_CATEGORY_OF_SCORE[score]


def _mir_eval_key(key: str) -> str:
    """Spell a key of :data:`mir_ref.tasks.KEYS` for mir_eval: ``'A#:minor'`` → ``'A# minor'``."""
    return key.replace(":", " ")


@metric("mirex_key", "key")
def mirex_key(y_true: np.ndarray, y_score: np.ndarray, task: Task) -> float:
    """MIREX weighted key score: 1 correct, 0.5 fifth, 0.3 relative, 0.2 parallel; mean.

    Computed per item by ``mir_eval.key.weighted_score`` (the fifth counts when the estimate
    is a perfect fifth above the reference, in the same mode).
    """
    # Deferred: loads mir_eval, which many runs never need.
    import mir_eval

    names = [_mir_eval_key(name) for name in task.classes]
    scores = [
        mir_eval.key.weighted_score(names[reference], names[estimate])
        for reference, estimate in zip(np.asarray(y_true), _predicted_classes(y_score), strict=True)
    ]
    return float(np.mean(scores)) if scores else float("nan")


@resampled(mirex_key)
def _mirex_key_resampled(
    y_true: np.ndarray, y_score: np.ndarray, task: Task, weights: np.ndarray
) -> np.ndarray:
    # Deferred: loads mir_eval, which many runs never need.
    import mir_eval

    names = [_mir_eval_key(name) for name in task.classes]
    per_item = np.array(
        [
            mir_eval.key.weighted_score(names[reference], names[estimate])
            for reference, estimate in zip(
                np.asarray(y_true), _predicted_classes(y_score), strict=True
            )
        ]
    )
    return _weighted_means(per_item, weights)


@metric("r2", "regression")
def r2(y_true: np.ndarray, y_score: np.ndarray, task: Task) -> float:
    """Coefficient of determination R² (1 is perfect; 0 is predicting the mean)."""
    # Deferred: loads sklearn, which many runs never need.
    import sklearn.metrics

    return float(sklearn.metrics.r2_score(np.ravel(y_true), np.ravel(y_score)))


@resampled(r2)
def _r2_resampled(
    y_true: np.ndarray, y_score: np.ndarray, task: Task, weights: np.ndarray
) -> np.ndarray:
    true = np.ravel(y_true).astype(np.float64)
    predicted = np.ravel(y_score).astype(np.float64)
    residual = _weighted_sums((true - predicted) ** 2, weights)
    total = (weights * (true - _weighted_means(true, weights)[:, None]) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # sklearn's convention for constant targets: 1 if predicted exactly, else 0.
        return np.where(total > 0, 1 - residual / total, np.where(residual == 0, 1.0, 0.0))


@metric("pearson", "regression")
def pearson(y_true: np.ndarray, y_score: np.ndarray, task: Task) -> float:
    """Pearson correlation between true and predicted values (NaN if either is constant)."""
    # Deferred: loads scipy, which many runs never need.
    import scipy.stats

    with warnings.catch_warnings():
        # A constant input has no correlation; scipy warns and returns NaN, which we report.
        warnings.simplefilter("ignore", scipy.stats.ConstantInputWarning)
        return float(scipy.stats.pearsonr(np.ravel(y_true), np.ravel(y_score)).statistic)


@resampled(pearson)
def _pearson_resampled(
    y_true: np.ndarray, y_score: np.ndarray, task: Task, weights: np.ndarray
) -> np.ndarray:
    true = np.ravel(y_true).astype(np.float64)
    predicted = np.ravel(y_score).astype(np.float64)
    true = true - _weighted_means(true, weights)[:, None]
    predicted = predicted - _weighted_means(predicted, weights)[:, None]
    denominator = np.sqrt((weights * true**2).sum(axis=1) * (weights * predicted**2).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        covariance = (weights * true * predicted).sum(axis=1)
        return np.where(denominator > 0, covariance / denominator, np.nan)


def metrics_for(task: Task) -> dict[str, Metric]:
    """The metric functions named in ``task.metrics``, checked against the task's type.

    Raises
    ------
    ConfigError
        A name that is not a registered metric, or a metric for another task type.
    """
    where = f"task '{task.name}' ({task.type}) metrics"
    functions = {}
    for name in task.metrics:
        function = lookup("metrics", name, where=where)
        # Third-party metrics without ``task_types`` are trusted to fit any task.
        task_types = getattr(function, "task_types", TASK_TYPES)
        if task.type not in task_types:
            fitting = [
                other
                for other, candidate in available("metrics").items()
                if task.type in getattr(candidate, "task_types", TASK_TYPES)
            ]
            raise ConfigError(
                f"{where}: '{name}' is a metric for {' or '.join(task_types)} tasks, not "
                f"{task.type}; metrics for {task.type} tasks: {', '.join(fitting)}"
            )
        functions[name] = function
    return functions


def compute(task: Task, y_true: np.ndarray, y_score: np.ndarray) -> dict[str, float]:
    """Every metric in ``task.metrics`` on one set of predictions.

    Parameters
    ----------
    task : the task; its ``metrics`` are computed.
    y_true : labels as encoded by ``task.encode``: ``[n]`` or ``[n, classes]``.
    y_score : a probe's ``predict`` output: ``[n, classes]`` or ``[n]``.

    Returns
    -------
    ``{metric name: value}`` in the order of ``task.metrics``; NaN where a metric is undefined.
    """
    if len(y_true) != len(y_score):
        raise ValueError(
            f"task '{task.name}': y_true has {len(y_true)} items but y_score has {len(y_score)}"
        )
    return {name: function(y_true, y_score, task) for name, function in metrics_for(task).items()}
