"""The probe contract: estimator-style fit on (train, validation), scores for test."""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from mir_ref.errors import ComponentError
from mir_ref.tasks import Task

logger = logging.getLogger(__name__)


class Probe:
    """Base class of probes; subclasses are dataclasses whose fields are config parameters.

    ``fit`` returns ``self``; learned state ends in ``_``. ``predict`` returns scores:
    ``[n, classes]`` probabilities (multiclass, key: softmax; multilabel: sigmoid) or ``[n]``
    values (regression).
    """

    grid_parameters: tuple[str, ...] = ()
    """Options of :meth:`fit` (beyond the probe's own fields) that a protocol grid may set."""

    learns_layer_weights: bool = False
    """Whether :meth:`fit` takes ``[n, layers, dim]`` inputs and learns a weighting of the
    layers with the probe (``layer_weights_``), as a model entry's ``weighted: true`` needs."""

    @property
    def takes_bags(self) -> bool:
        """Whether the probe learns from whole tracks given as
        :class:`~mir_ref.probes.bags.Bags` of windows (``embedding.pooling: none``), pooling
        them itself; otherwise each window is an item and the caller averages a track's
        window predictions."""
        return False

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

    def fit_grid(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_validation: np.ndarray,
        y_validation: np.ndarray,
        *,
        task: Task,
        settings: list[dict[str, Any]],
        seeds: list[int],
        epochs: int = 200,
        patience: int = 20,
        workers: int = 1,
    ) -> list[list[Probe | None]]:
        """One fitted probe per setting × seed: ``result[setting][seed]``.

        A setting maps probe fields (e.g. ``hidden``) and :attr:`grid_parameters` (e.g.
        ``learning_rate``) to values. This default fits each combination alone, up to
        ``workers`` of them at once in threads; probes that can batch the grid override it.
        A combination whose training failed with a :class:`~mir_ref.errors.ComponentError`
        (e.g. a diverging loss) gives ``None``.
        """

        def fit(combination: tuple[dict[str, Any], int]) -> Probe | None:
            setting, seed = combination
            options = {k: v for k, v in setting.items() if k in self.grid_parameters}
            fields = {k: v for k, v in setting.items() if k not in self.grid_parameters}
            probe = dataclasses.replace(self, **fields)  # type: ignore[type-var]
            try:
                probe.fit(
                    x_train,
                    y_train,
                    x_validation,
                    y_validation,
                    task=task,
                    seed=seed,
                    epochs=epochs,
                    patience=patience,
                    **options,
                )
            except ComponentError as error:
                logger.warning("%s", error)
                return None
            return probe

        combinations = [(setting, seed) for setting in settings for seed in seeds]
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                probes = list(pool.map(fit, combinations))
        else:
            probes = [fit(combination) for combination in combinations]
        return [probes[row * len(seeds) : (row + 1) * len(seeds)] for row in range(len(settings))]
