"""Hyper-parameter selection: a protocol grid → settings of one probe → the winner on validation.

The protocol's ``grid`` names values per hyper-parameter; every combination is one setting.
A probe takes the keys it understands (its own fields, e.g. ``hidden``, and its
``grid_parameters``, e.g. ``learning_rate``) and ignores the rest, so one grid serves a
``linear`` and an ``mlp`` probe. The winner is the setting with the highest validation main
metric, averaged over seeds; all registered main metrics are higher-is-better.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np

from mir_ref import metrics
from mir_ref.errors import ComponentError
from mir_ref.probes.base import Probe
from mir_ref.tasks import Task


def tunable(probe: Probe) -> set[str]:
    """The grid keys ``probe`` understands."""
    # ``pool`` decides what the probe is given (bags or rows), so it cannot vary in a grid.
    fields = {f.name for f in dataclasses.fields(probe) if f.init} - {"name", "pool"}  # type: ignore[arg-type]
    return fields | set(probe.grid_parameters)


def expand_grid(
    probe: Probe, grid: dict[str, list[Any]], defaults: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every combination of the grid values ``probe`` understands, in grid order.

    Parameters
    ----------
    probe : the probe; keys it does not understand are dropped (so duplicates never arise).
    grid : ``{name: [values]}``, e.g. ``{"learning_rate": [1e-3, 1e-2], "hidden": [[64]]}``.
    defaults : values of :attr:`Probe.grid_parameters` not in the grid (e.g. the protocol's
        single ``learning_rate``).

    Returns
    -------
    One ``{name: value}`` per combination; ``[defaults]`` restricted to the probe when the
    grid holds nothing it understands.
    """
    known = tunable(probe)
    swept = {name: values for name, values in grid.items() if name in known}
    fixed = {k: v for k, v in defaults.items() if k in probe.grid_parameters and k not in swept}
    return [
        {**fixed, **dict(zip(swept, combination, strict=True))}
        for combination in itertools.product(*swept.values())
    ]


def select(
    fitted: list[list[Probe | None]],
    x_validation: np.ndarray,
    y_validation: np.ndarray,
    *,
    task: Task,
) -> tuple[int, np.ndarray]:
    """The setting with the highest mean validation main metric over seeds.

    Parameters
    ----------
    fitted : ``[settings][seeds]`` fitted probes (``None`` where training failed), as
        returned by :meth:`Probe.fit_grid`.
    x_validation, y_validation : the validation split.
    task : the task; its ``main_metric`` decides.

    Returns
    -------
    ``(index, values)``: the winning setting (the first on a tie) and ``[settings]`` mean
    validation metrics (NaN for settings with a failed seed). With an empty validation split
    the first setting wins.

    Raises
    ------
    ComponentError
        Every setting failed.
    """
    metric = metrics.metrics_for(task)[task.main_metric]
    values = np.full(len(fitted), np.nan)
    failed = np.array([any(probe is None for probe in row) for row in fitted], dtype=bool)
    if failed.all():
        raise ComponentError(
            f"task '{task.name}': every setting of the grid failed to train (see the warnings "
            "above); lower the learning rates"
        )
    if len(x_validation) == 0:
        return int(np.flatnonzero(~failed)[0]), values
    for index in np.flatnonzero(~failed):
        values[index] = np.mean(
            [metric(y_validation, probe.predict(x_validation), task) for probe in fitted[index]]
        )
    # An undefined metric (NaN) ranks below every defined one, and a failed setting below all.
    ranking = np.where(failed, -np.inf, np.nan_to_num(values, nan=-np.finfo(float).max))
    return int(np.argmax(ranking)), values
