"""The probe contract: estimator-style fit on (train, validation), scores for test."""

from __future__ import annotations

import numpy as np

from mir_ref.tasks import Task


class Probe:
    """Base class of probes; subclasses are dataclasses whose fields are config parameters.

    ``fit`` returns ``self``; learned state ends in ``_``. ``predict`` returns scores:
    ``[n, classes]`` probabilities (multiclass, key: softmax; multilabel: sigmoid) or ``[n]``
    values (regression).
    """

    def label(self) -> str:
        """The probe's name in results (e.g. ``mlp-256``)."""
        raise NotImplementedError

    def fit(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_validation: np.ndarray,
        y_validation: np.ndarray,
        *,
        task: Task,
        seed: int = 0,
        epochs: int = 200,
        patience: int = 20,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> Probe:
        """Train on ``[n, dim]`` embeddings and labels encoded by ``task.encode``."""
        raise NotImplementedError

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scores for ``[n, dim]`` embeddings."""
        raise NotImplementedError
