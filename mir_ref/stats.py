"""Uncertainty of results: bootstrap confidence intervals, paired model comparisons, and the
seed and robustness summaries built from the results table.

All resampling draws test items with replacement from a ``numpy`` generator seeded by the
caller, so the same inputs and seed give the same intervals and p-values. Metrics with a
vectorised version (:func:`mir_ref.metrics.resampled`) score every resample in one array
operation; the others are recomputed per resample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mir_ref.metrics import Metric
from mir_ref.results import CLEAN, COLUMNS
from mir_ref.tasks import Task


def bootstrap_indices(n_items: int, *, n_bootstrap: int, seed: int) -> np.ndarray:
    """``[n_bootstrap, n_items]`` item indices drawn with replacement."""
    return np.random.default_rng(seed).integers(0, n_items, size=(n_bootstrap, n_items))


def resampled_values(
    metric: Metric, y_true: np.ndarray, y_score: np.ndarray, task: Task, indices: np.ndarray
) -> np.ndarray:
    """``[resamples]`` values of ``metric`` on the item resamples ``indices [resamples, n]``."""
    vectorised = getattr(metric, "resampled", None)
    if vectorised is not None:
        return np.asarray(vectorised(y_true, y_score, task, indices), dtype=np.float64)
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    return np.array([metric(y_true[rows], y_score[rows], task) for rows in indices])


def percentile_interval(values: np.ndarray, *, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` interval of resampled values (NaN resamples ignored)."""
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_ci(
    metric: Metric,
    y_true: np.ndarray,
    y_score: np.ndarray,
    task: Task,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric`` over test items.

    Parameters
    ----------
    metric : a registered metric function ``(y_true, y_score, task) -> float``.
    y_true, y_score : ``[n]`` or ``[n, classes]`` labels and scores of the test items.
    n_bootstrap : resamples; ``0`` gives ``(nan, nan)``.
    seed : seeds the resampling.
    level : coverage of the interval, e.g. 0.95.

    Returns
    -------
    ``(low, high)``; NaN when there are no items or the metric is undefined on every resample.
    """
    n_items = len(y_true)
    if n_bootstrap < 1 or n_items == 0:
        return float("nan"), float("nan")
    indices = bootstrap_indices(n_items, n_bootstrap=n_bootstrap, seed=seed)
    return percentile_interval(
        resampled_values(metric, y_true, y_score, task, indices), level=level
    )


def paired_bootstrap(
    metric: Metric,
    y_true: np.ndarray,
    scores_a: Sequence[np.ndarray],
    scores_b: Sequence[np.ndarray],
    task: Task,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Difference ``metric(a) - metric(b)`` on the same test items, and its two-sided p-value.

    Both models' scores are resampled with the same item indices, so item difficulty cancels
    out. With several seeds per model (``scores_a[k]``, ``scores_b[k]``), the difference is the
    mean over seeds, resampled jointly. The p-value tests "no difference" by centring the
    resampled differences on zero (Efron & Tibshirani, 1993, §16.4):
    ``(1 + #{|d* - d| >= |d|}) / (1 + n_bootstrap)``.

    Parameters
    ----------
    metric : a registered metric function.
    y_true : ``[n]`` or ``[n, classes]`` labels of the shared test items.
    scores_a, scores_b : one ``[n, ...]`` score array per seed; the same number of seeds.
    task : the task.
    n_bootstrap, seed : resamples and their seed.

    Returns
    -------
    ``(difference, p_value)``; the p-value is 1 when the two models' scores are identical.
    """
    if len(scores_a) != len(scores_b) or not scores_a:
        raise ValueError(
            f"paired comparison needs the same number of seeds on both sides "
            f"(got {len(scores_a)} and {len(scores_b)})"
        )
    pairs = list(zip(scores_a, scores_b, strict=True))
    difference = float(
        np.mean([metric(y_true, a, task) - metric(y_true, b, task) for a, b in pairs])
    )
    indices = bootstrap_indices(len(y_true), n_bootstrap=n_bootstrap, seed=seed)
    resampled = np.mean(
        [
            resampled_values(metric, y_true, a, task, indices)
            - resampled_values(metric, y_true, b, task, indices)
            for a, b in pairs
        ],
        axis=0,
    )
    resampled = resampled[np.isfinite(resampled)]
    if not np.isfinite(difference) or len(resampled) == 0:
        return difference, float("nan")
    extreme = np.abs(resampled - difference) >= abs(difference) - 1e-12
    return difference, float((1 + extreme.sum()) / (1 + len(resampled)))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values over one comparison family.

    The ``i``-th smallest p-value is multiplied by ``m - i`` (``i`` from 0), then made
    monotone (each adjusted value at least the one before it in sorted order) and capped at
    1. Rejecting where the adjusted value is below ``alpha`` controls the family-wise error
    rate at ``alpha``. NaN p-values stay NaN and do not count towards ``m``.
    """
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full_like(p, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    scaled = p[order] * (m - np.arange(m))
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


SEED_KEYS = [c for c in COLUMNS if c not in ("seed", "value", "ci_low", "ci_high")]
"""The results columns that identify one measurement up to the seed."""


def summarize_seeds(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds (``summary.csv``).

    Returns
    -------
    pandas.DataFrame
        One row per :data:`SEED_KEYS` combination with ``mean``, ``std`` (NaN for one seed),
        ``seeds`` and the mean of the per-seed ``ci_low`` / ``ci_high``.
    """
    summary = results.groupby(SEED_KEYS, sort=False, dropna=False).agg(
        mean=("value", "mean"),
        std=("value", "std"),
        seeds=("seed", "nunique"),
        ci_low=("ci_low", "mean"),
        ci_high=("ci_high", "mean"),
    )
    return summary.reset_index()


def robustness(results: pd.DataFrame) -> pd.DataFrame:
    """Drop from clean audio per deformation strength, and the area under each curve.

    Per (dataset, task, model, layer, train_fraction, probe, metric, deformation), values are
    first averaged over seeds. ``relative_drop`` is ``(clean - value) / |clean|`` (0.2 means
    20 % below clean audio). ``area`` is the trapezoidal area under metric-vs-strength over the
    listed strengths divided by their range, i.e. the curve's mean height in metric units, so
    that deformations with strengths in different units compare; with one strength it is that
    strength's value.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, task, model, layer, window_s, hop_s, train_fraction, probe, metric,
        deformation, strength, clean, value, relative_drop, area`` (``robustness.csv``); empty
        when the results hold no deformed rows.
    """
    summary = summarize_seeds(results)
    keys = [k for k in SEED_KEYS if k not in ("deformation", "strength")]
    columns = [*keys, "deformation", "strength", "clean", "value", "relative_drop", "area"]
    clean = summary[summary["deformation"] == CLEAN].set_index(keys)["mean"]
    clean = clean[~clean.index.duplicated()]
    deformed = summary[summary["deformation"] != CLEAN]
    rows = []
    for group, curve in deformed.groupby([*keys, "deformation"], sort=False, dropna=False):
        reference = clean.get(tuple(group[:-1]), np.nan)
        curve = curve.sort_values("strength")
        strengths = curve["strength"].to_numpy(dtype=float)
        values = curve["mean"].to_numpy(dtype=float)
        span = strengths[-1] - strengths[0] if len(strengths) > 1 else 0.0
        area = (
            float(np.trapezoid(values, strengths) / span)
            if span > 0 and np.isfinite(values).all()
            else float(np.mean(values))
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            drops = (reference - values) / abs(reference)
        for strength, value, drop in zip(strengths, values, drops, strict=True):
            rows.append([*group, strength, reference, value, drop, area])
    return pd.DataFrame(rows, columns=columns)
