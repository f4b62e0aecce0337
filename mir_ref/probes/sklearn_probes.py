"""Closed-form and parameter-free baselines: ``logistic`` (scikit-learn) and ``knn`` (cosine).

Both standardise inputs with statistics of the training split, as the torch probes do, and
choose their one hyper-parameter (``C`` or ``k``) on the validation split's main metric, so a
config lists the candidates and the probe tunes itself. Neither uses ``seed``, ``epochs``,
``patience``, ``learning_rate`` or ``weight_decay``: both are deterministic.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mir_ref import metrics
from mir_ref.errors import ComponentError
from mir_ref.probes.base import Probe
from mir_ref.registry import register
from mir_ref.tasks import Task

logger = logging.getLogger(__name__)

# Features whose training std is below this are centred but not scaled (as the torch probes).
_MIN_STD = 1e-8


class _Standardised(Probe):
    """Input checks, train-split standardisation and validation selection shared by both."""

    def _prepare(self, x_train: np.ndarray, x_validation: np.ndarray, task: Task) -> None:
        for name, x in (("x_train", x_train), ("x_validation", x_validation)):
            if np.ndim(x) != 2 or not np.isfinite(x).all():
                raise ComponentError(
                    f"probe '{self.label()}': {name} must be a finite [n, dim] array "
                    f"(got shape {np.shape(x)}); check the embedding model's output"
                )
        if len(x_train) == 0:
            raise ComponentError(f"probe '{self.label()}': the training set is empty")
        self.mean_ = x_train.mean(axis=0, dtype=np.float64)
        std = x_train.std(axis=0, dtype=np.float64)
        std[std < _MIN_STD] = 1.0
        self.std_ = std
        self.task_ = task

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.mean_):
            raise ComponentError(
                f"probe '{self.label()}': x must have shape [n, {len(self.mean_)}] (got {x.shape})"
            )
        return (x - self.mean_) / self.std_

    def _choose(
        self,
        candidates: list[Any],
        score: Any,
        x_validation: np.ndarray,
        y_validation: np.ndarray,
        task: Task,
    ) -> tuple[Any, dict[Any, float]]:
        """The candidate whose scores on validation have the best main metric (first on a tie)."""
        if len(x_validation) == 0:
            return candidates[0], {}
        main = metrics.metrics_for(task)[task.main_metric]
        values = {c: main(y_validation, score(c, x_validation), task) for c in candidates}
        ranked = [-np.inf if np.isnan(values[c]) else values[c] for c in candidates]
        return candidates[int(np.argmax(ranked))], values


@register("probes", "logistic")
@dataclass
class LogisticProbe(_Standardised):
    """Logistic regression (scikit-learn, L-BFGS), a fast closed-form linear baseline.

    Multiclass and key tasks fit one multinomial model; multilabel tasks one binary model per
    tag (one-vs-rest); regression tasks a ridge regression with ``alpha = 1 / C``.

    Parameters
    ----------
    C : candidate inverse regularisation strengths; the best on validation is kept.
    max_iter : L-BFGS iterations.
    name : the probe's name in results; ``logistic`` when unset.
    """

    C: list[float] = field(default_factory=lambda: [0.01, 0.1, 1.0, 10.0, 100.0])
    max_iter: int = 1000
    name: str | None = None

    def __post_init__(self) -> None:
        if not self.C or any(c <= 0 for c in self.C):
            raise ValueError(f"C: must be positive values (got {self.C})")

    def label(self) -> str:
        """``name``, or ``logistic``."""
        return self.name or "logistic"

    def fit(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_validation: np.ndarray,
        y_validation: np.ndarray,
        *,
        task: Task,
        seed: int = 0,
        **unused: Any,
    ) -> LogisticProbe:
        """Fit one model per ``C`` on standardised train embeddings; keep the best on
        validation. Learned state: ``C_``, ``models_`` (per tag for multilabel),
        ``validation_scores_`` (``{C: main metric}``), ``mean_``, ``std_``, ``task_``."""
        self._prepare(x_train, x_validation, task)
        x = self._standardise(x_train)
        fitted = {c: self._fit_one(c, x, np.asarray(y_train), task) for c in self.C}

        def score(c: float, x_other: np.ndarray) -> np.ndarray:
            return self._scores(fitted[c], self._standardise(x_other), task)

        self.C_, self.validation_scores_ = self._choose(
            self.C, score, x_validation, y_validation, task
        )
        self.models_ = fitted[self.C_]
        return self

    def _fit_one(self, c: float, x: np.ndarray, y: np.ndarray, task: Task) -> Any:
        # Deferred: scikit-learn takes ~1.3 s to import, which every run would pay on reading
        # its config (the registry imports this module) and few runs need.
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression, Ridge

        with warnings.catch_warnings():
            # Separable data never converges in the strict sense; the model is still usable.
            warnings.simplefilter("ignore", ConvergenceWarning)
            if not task.task_type.has_classes:
                return Ridge(alpha=1.0 / c).fit(x, y)
            if not task.task_type.one_class:  # a binary model per class
                return [self._fit_one(c, x, y[:, tag], _BINARY) for tag in range(y.shape[1])]
            if len(np.unique(y)) < 2:
                return float(y[0]) if task is _BINARY else int(y[0])
            return LogisticRegression(C=c, max_iter=self.max_iter).fit(x, y)

    def _scores(self, model: Any, x: np.ndarray, task: Task) -> np.ndarray:
        if not task.task_type.has_classes:
            return model.predict(x).astype(np.float32)
        if not task.task_type.one_class:
            return np.stack([self._scores(tag, x, _BINARY)[:, 1] for tag in model], axis=1).astype(
                np.float32
            )
        n_classes = 2 if task is _BINARY else len(task.classes)
        scores = np.zeros((len(x), n_classes), dtype=np.float32)
        if isinstance(model, (int, float)):  # one class in training: certain of it
            scores[:, int(model)] = 1.0
            return scores
        scores[:, model.classes_.astype(int)] = model.predict_proba(x)
        return scores

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``[n, classes]`` probabilities, or ``[n]`` values (regression)."""
        if not hasattr(self, "models_"):
            raise ComponentError(f"probe '{self.label()}' is not fitted; call fit() first")
        return self._scores(self.models_, self._standardise(x), self.task_)


# One tag of a multilabel task, fitted as a two-class problem.
_BINARY = Task("tag", "multiclass", classes=["no", "yes"])


@register("probes", "knn")
@dataclass
class KNNProbe(_Standardised):
    """k nearest training neighbours by cosine similarity; a parameter-free probe.

    Scores are neighbour averages: the fraction of the ``k`` neighbours in each class
    (multiclass, key), with each tag (multilabel), or their mean value (regression).

    Parameters
    ----------
    k : candidate neighbour counts; the best on validation is kept (clipped to the training
        set size).
    name : the probe's name in results; ``knn`` when unset.
    """

    k: list[int] = field(default_factory=lambda: [1, 5, 10, 20])
    name: str | None = None

    def __post_init__(self) -> None:
        if not self.k or any(k < 1 for k in self.k):
            raise ValueError(f"k: must be values >= 1 (got {self.k})")

    def label(self) -> str:
        """``name``, or ``knn``."""
        return self.name or "knn"

    def fit(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_validation: np.ndarray,
        y_validation: np.ndarray,
        *,
        task: Task,
        seed: int = 0,
        **unused: Any,
    ) -> KNNProbe:
        """Store unit-length standardised train embeddings and targets; choose ``k``.

        Learned state: ``k_``, ``validation_scores_``, ``train_``, ``targets_``, ``mean_``,
        ``std_``, ``task_``."""
        self._prepare(x_train, x_validation, task)
        self.train_ = _unit(self._standardise(x_train))
        y_train = np.asarray(y_train)
        if task.task_type.one_class:
            self.targets_ = np.eye(len(task.classes), dtype=np.float64)[y_train]
        else:
            self.targets_ = y_train.astype(np.float64).reshape(len(y_train), -1)
        candidates = sorted({min(k, len(x_train)) for k in self.k})
        self.k_, self.validation_scores_ = self._choose(
            candidates, self._scores, x_validation, y_validation, task
        )
        return self

    def _scores(self, k: int, x: np.ndarray) -> np.ndarray:
        similarity = _unit(self._standardise(x)) @ self.train_.T
        # A stable sort makes ties (duplicates in the training set) break by training order.
        nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
        scores = self.targets_[nearest].mean(axis=1).astype(np.float32)
        return scores if self.task_.task_type.has_classes else scores[:, 0]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``[n, classes]`` neighbour fractions, or ``[n]`` neighbour means (regression)."""
        if not hasattr(self, "k_"):
            raise ComponentError(f"probe '{self.label()}' is not fitted; call fit() first")
        return self._scores(self.k_, x)


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)
