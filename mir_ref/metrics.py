"""Per-task metrics: ``(y_true, y_score, task) -> float``.

``y_true`` is what ``task.encode`` returns and ``y_score`` what a probe's ``predict`` returns:
``[n]`` class indices with ``[n, classes]`` probabilities (multiclass, key), ``[n, classes]``
0/1 indicators with ``[n, classes]`` probabilities (multilabel), ``[n]`` values with ``[n]``
predictions (regression). Each metric declares the task types it fits in ``task_types``;
:func:`compute` refuses a metric on a task of another type.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import mir_eval
import numpy as np
import scipy.stats
import sklearn.metrics

from mir_ref.errors import ConfigError
from mir_ref.registry import available, lookup, register
from mir_ref.tasks import TASK_TYPES, Task

Metric = Callable[[np.ndarray, np.ndarray, Task], float]


def metric(name: str, *task_types: str) -> Callable[[Metric], Metric]:
    """Register a metric function under ``name`` for the given task types."""

    def decorate(function: Metric) -> Metric:
        function.task_types = task_types  # type: ignore[attr-defined]
        return register("metrics", name)(function)

    return decorate


def _predicted_classes(y_score: np.ndarray) -> np.ndarray:
    return np.asarray(y_score).argmax(axis=1)


@metric("accuracy", "multiclass", "key")
def accuracy(y_true: np.ndarray, y_score: np.ndarray, task: Task) -> float:
    """Fraction of items whose highest-scoring class is the true class."""
    return float(sklearn.metrics.accuracy_score(y_true, _predicted_classes(y_score)))


@metric("balanced_accuracy", "multiclass", "key")
def balanced_accuracy(y_true: np.ndarray, y_score: np.ndarray, task: Task) -> float:
    """Mean per-class recall over the classes present in the true labels.

    Predictions of classes absent from ``y_true`` count as errors, nothing more.
    """
    with warnings.catch_warnings():
        # sklearn warns when predictions name a class that y_true lacks; that is expected.
        warnings.simplefilter("ignore", UserWarning)
        return float(sklearn.metrics.balanced_accuracy_score(y_true, _predicted_classes(y_score)))


@metric("f1_macro", "multiclass", "key")
def f1_macro(y_true: np.ndarray, y_score: np.ndarray, task: Task) -> float:
    """Unweighted mean F1 over the classes that are true or predicted for some item.

    A class that is neither in ``y_true`` nor predicted has no defined F1 and is left out
    (sklearn's default), rather than scored 0, so that a test split lacking a rare class is
    not penalised; a class predicted but never true scores 0.
    """
    return float(
        sklearn.metrics.f1_score(
            y_true, _predicted_classes(y_score), average="macro", zero_division=0
        )
    )


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
    return _macro_over_scorable_tags(y_true, y_score, sklearn.metrics.roc_auc_score)


@metric("pr_auc", "multilabel")
def pr_auc(y_true: np.ndarray, y_score: np.ndarray, task: Task) -> float:
    """Average precision (area under the PR curve), macro-averaged like ``roc_auc``.

    Tags that are all positive or all negative in ``y_true`` are skipped; NaN when no tag
    can be scored.
    """
    return _macro_over_scorable_tags(y_true, y_score, sklearn.metrics.average_precision_score)


def _mir_eval_key(key: str) -> str:
    """Spell a key of :data:`mir_ref.tasks.KEYS` for mir_eval: ``'A#:minor'`` → ``'A# minor'``."""
    return key.replace(":", " ")


@metric("mirex_key", "key")
def mirex_key(y_true: np.ndarray, y_score: np.ndarray, task: Task) -> float:
    """MIREX weighted key score: 1 correct, 0.5 fifth, 0.3 relative, 0.2 parallel; mean.

    Computed per item by ``mir_eval.key.weighted_score`` (the fifth counts when the estimate
    is a perfect fifth above the reference, in the same mode).
    """
    names = [_mir_eval_key(name) for name in task.classes]
    scores = [
        mir_eval.key.weighted_score(names[reference], names[estimate])
        for reference, estimate in zip(np.asarray(y_true), _predicted_classes(y_score), strict=True)
    ]
    return float(np.mean(scores)) if scores else float("nan")


@metric("r2", "regression")
def r2(y_true: np.ndarray, y_score: np.ndarray, task: Task) -> float:
    """Coefficient of determination R² (1 is perfect; 0 is predicting the mean)."""
    return float(sklearn.metrics.r2_score(np.ravel(y_true), np.ravel(y_score)))


@metric("pearson", "regression")
def pearson(y_true: np.ndarray, y_score: np.ndarray, task: Task) -> float:
    """Pearson correlation between true and predicted values (NaN if either is constant)."""
    with warnings.catch_warnings():
        # A constant input has no correlation; scipy warns and returns NaN, which we report.
        warnings.simplefilter("ignore", scipy.stats.ConstantInputWarning)
        return float(scipy.stats.pearsonr(np.ravel(y_true), np.ravel(y_score)).statistic)


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
