"""Pitch equivariance: did a model's predictions move with transposed audio, or stay put?

Under a pitch shift by n semitones, each test item has two labels: its clean one and the one
moved with the audio (``labels: follow`` scores the latter, ``labels: keep`` the former). A
pitch-aware representation predicts the moved label; a pitch-blind one keeps predicting the
clean label or scatters. :func:`shares` sorts each prediction into

- ``moved``: it equals the moved label;
- ``stayed``: it equals the clean label;
- ``elsewhere``: neither. For key tasks this splits further, by the MIREX category of the
  prediction against the moved label: ``fifth``, ``relative``, ``parallel`` (the rest of
  ``elsewhere`` is neither).

The evaluation stage writes the shares of every (model, probe, condition) to
``equivariance.csv``, beside ``robustness.csv``; the report plots them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mir_ref.metrics import key_error_category
from mir_ref.tasks import Task

EQUIVARIANCE_FILE = "equivariance.csv"
LABEL_KINDS_SHOWN = ("pitch_class", "pitch", "key")
"""The label kinds whose tasks get the view: a pitch shift moves their labels."""
SHARES = ["moved", "stayed", "elsewhere"]
KEY_SHARES = ["fifth", "relative", "parallel"]
"""For key tasks: the parts of ``elsewhere`` a fifth from, relative to, or parallel to the
moved key (MIREX categories)."""
IDENTITY = [
    "dataset",
    "task",
    "model",
    "layer",
    "window_s",
    "hop_s",
    "train_fraction",
    "probe",
    "deformation",
    "strength",
    "semitones",
    "labels",
]
COLUMNS = [*IDENTITY, "items", *SHARES, *KEY_SHARES]
"""Columns of ``equivariance.csv``: shares are fractions of ``items`` (test items whose moved
label is in the vocabulary, all seeds pooled); the key shares are NaN for other tasks."""


def applies(task: Task, condition: dict[str, Any]) -> bool:
    """Whether the view covers ``task`` under ``condition`` (a predictions file's record)."""
    return (
        task.label_kind in LABEL_KINDS_SHOWN
        and bool(condition.get("labels_moved"))
        and bool(condition.get("semitones"))
    )


def counts(
    task: Task, y_clean: np.ndarray, y_moved: np.ndarray, y_score: np.ndarray
) -> dict[str, int]:
    """How many items' predictions moved, stayed or went elsewhere (see the module notes).

    Parameters
    ----------
    task : a multiclass or key task.
    y_clean, y_moved : ``[items]`` class indices of the clean and moved labels; ``-1`` in
        ``y_moved`` where the moved label is outside the vocabulary (not counted).
    y_score : ``[items, classes]`` scores; the prediction is the highest.
    """
    inside = np.asarray(y_moved) >= 0
    predicted = np.asarray(y_score).argmax(axis=1)[inside]
    clean, moved = np.asarray(y_clean)[inside], np.asarray(y_moved)[inside]
    is_moved = predicted == moved
    is_stayed = (predicted == clean) & ~is_moved
    elsewhere = ~is_moved & ~is_stayed
    found = {
        "items": int(inside.sum()),
        "moved": int(is_moved.sum()),
        "stayed": int(is_stayed.sum()),
        "elsewhere": int(elsewhere.sum()),
    }
    if task.label_kind == "key":
        categories = [
            key_error_category(task.classes[reference], task.classes[estimate])
            for reference, estimate in zip(moved[elsewhere], predicted[elsewhere], strict=True)
        ]
        found.update({name: categories.count(name) for name in KEY_SHARES})
    return found


def shares(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Pool count rows (:data:`IDENTITY` columns and :func:`counts`) over seeds into shares.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`, one row per identity; empty when there are no rows.
    """
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    table = pd.DataFrame(rows)
    for name in KEY_SHARES:
        if name not in table.columns:
            table[name] = np.nan
    totals = table.groupby(IDENTITY, sort=False, dropna=False)[["items", *SHARES, *KEY_SHARES]].sum(
        min_count=1
    )
    for name in [*SHARES, *KEY_SHARES]:
        totals[name] = totals[name] / totals["items"].where(totals["items"] > 0)
    return totals.reset_index()[COLUMNS]
