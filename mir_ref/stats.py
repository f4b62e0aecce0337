"""Uncertainty of results: bootstrap confidence intervals, paired model comparisons, rank
intervals, and the seed and robustness summaries built from the results table.

Everything resamples test items (or their groups, when the tracks declare groups) through
:mod:`mir_ref.bootstrap`, from a generator seeded by the caller, so the same inputs and seed
give the same intervals, p-values and ranks. Where a model has several training seeds, the
resamples are two-level: the test items and the seeds are both drawn with replacement
(:func:`mir_ref.bootstrap.seed_means`), so an interval or a test accounts for the variance
between test sets and between trainings.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mir_ref.bootstrap import Resamples, cluster_codes, score_resamples, seed_means
from mir_ref.metrics import Metric
from mir_ref.results import CLEAN, COLUMNS
from mir_ref.tasks import Task

RESOLUTION = 20
"""A family of ``m`` tests gets at least ``RESOLUTION · m / alpha`` resamples, so that the
smallest Holm-adjusted p-value it can reach, ``m / (resamples + 1)``, is ``alpha / 20``: a
bootstrap p-value cannot fall below ``1 / (resamples + 1)``, and with the usual 1000 resamples
eleven or more entries (55 pairs) could never differ significantly."""

NO_BOOTSTRAP = (
    "protocol.n_bootstrap is 0: no confidence intervals, p-values or rank intervals are computed"
)
"""The one-line note the stages log when the bootstrap is off."""


def percentile_interval(values: np.ndarray, *, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` interval of resampled values (NaN resamples ignored)."""
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def _resamples(
    n_items: int, n_bootstrap: int, seed: int, groups: Sequence[str | None] | None
) -> Resamples:
    """The resamples of one test set; none when fewer than two groups can be drawn (an
    interval from one group would be a point, not an estimate of uncertainty)."""
    resamples = Resamples(n_items, n_bootstrap, seed, cluster_codes(groups))
    if resamples.clusters is not None and resamples.units < 2:
        return Resamples(n_items, 0, seed)
    return resamples


def bootstrap_ci(
    metric: Metric,
    y_true: np.ndarray,
    y_score: np.ndarray,
    task: Task,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    groups: Sequence[str | None] | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric`` over test items (or their groups).

    Parameters
    ----------
    metric : a registered metric function ``(y_true, y_score, task) -> float``.
    y_true, y_score : ``[n]`` or ``[n, classes]`` labels and scores of the test items.
    n_bootstrap : resamples; ``0`` gives ``(nan, nan)``.
    seed : seeds the resampling.
    level : coverage of the interval, e.g. 0.95.
    groups : ``[n]`` each item's group (``None``: a group of its own); the groups are
        resampled instead of the items (cluster bootstrap).

    Returns
    -------
    ``(low, high)``; NaN when there are no items, fewer than two groups, or the metric is
    undefined on every resample.
    """
    return seed_intervals(
        metric, y_true, [y_score], task, n_bootstrap=n_bootstrap, seed=seed, level=level,
        groups=groups,
    )[0][0]  # fmt: skip


def seed_intervals(
    metric: Metric,
    y_true: np.ndarray,
    scores: Sequence[np.ndarray],
    task: Task,
    *,
    n_bootstrap: int,
    seed: int,
    level: float = 0.95,
    groups: Sequence[str | None] | None = None,
) -> tuple[list[tuple[float, float]], tuple[float, float]]:
    """Each seed's interval and the interval of the mean over seeds, from one set of resamples.

    Parameters
    ----------
    metric, y_true, task, n_bootstrap, seed, level, groups : as for :func:`bootstrap_ci`.
    scores : one ``[n, ...]`` score array per training seed, on the same items.

    Returns
    -------
    ``(per_seed, mean)``: a ``(low, high)`` per seed (items resampled), and one for the mean
    over seeds (items and seeds resampled: :func:`mir_ref.bootstrap.seed_means`).
    """
    resamples = _resamples(len(y_true), n_bootstrap, seed, groups)
    if resamples.count == 0:
        nan = (float("nan"), float("nan"))
        return [nan] * len(scores), nan
    per_seed = score_resamples(metric, y_true, scores, task, resamples)
    intervals = [percentile_interval(values, level=level) for values in per_seed]
    return intervals, percentile_interval(seed_means(per_seed, seed=seed), level=level)


def bootstrap_p_value(observed: float, resampled: np.ndarray) -> float:
    """Two-sided p-value of "no difference" from resampled differences.

    The resampled differences centred on zero stand for the null distribution (Efron &
    Tibshirani, 1993, §16.4): ``(1 + #{|d* - d| >= |d|}) / (1 + resamples)``; NaN resamples
    are left out. It cannot fall below ``1 / (1 + resamples)``: see :data:`RESOLUTION`.
    """
    finite = resampled[np.isfinite(resampled)]
    if not np.isfinite(observed) or len(finite) == 0:
        return float("nan")
    extreme = np.abs(finite - observed) >= abs(observed) - 1e-12
    return float((1 + extreme.sum()) / (1 + len(finite)))


def paired_bootstrap(
    metric: Metric,
    y_true: np.ndarray,
    scores_a: Sequence[np.ndarray],
    scores_b: Sequence[np.ndarray],
    task: Task,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    groups: Sequence[str | None] | None = None,
) -> tuple[float, float]:
    """Difference ``metric(a) - metric(b)`` on the same test items, and its two-sided p-value.

    Both models are scored on the same resamples of the items (or groups), so item difficulty
    cancels out. With several seeds per model (``scores_a[k]``), each side is its mean over
    seeds, and each side's seeds are also resampled (independent trainings).

    Parameters
    ----------
    metric : a registered metric function.
    y_true : ``[n]`` or ``[n, classes]`` labels of the shared test items.
    scores_a, scores_b : one ``[n, ...]`` score array per seed.
    task : the task.
    n_bootstrap, seed : resamples and their seed; ``0`` resamples give a NaN p-value.
    groups : ``[n]`` each item's group, for the cluster bootstrap.

    Returns
    -------
    ``(difference, p_value)``; the p-value is 1 when the two models' scores are identical.
    """
    table = paired_tests(
        metric, y_true, {"a": scores_a, "b": scores_b}, task, n_bootstrap=n_bootstrap,
        alpha=1.0, seed=seed, groups=groups, scale=False,
    )  # fmt: skip
    return float(table["difference"].iloc[0]), float(table["p_value"].iloc[0])


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


def family_resamples(n_bootstrap: int, *, comparisons: int, alpha: float) -> int:
    """Resamples for a family of ``comparisons`` tests at family-wise error rate ``alpha``.

    At least ``n_bootstrap``, and at least :data:`RESOLUTION` ``· comparisons / alpha``;
    ``n_bootstrap: 0`` (no bootstrap) stays 0.
    """
    if n_bootstrap < 1:
        return 0
    return max(n_bootstrap, math.ceil(RESOLUTION * comparisons / alpha))


def _entry_resamples(
    metric: Metric,
    y_true: np.ndarray,
    entries: Sequence[Sequence[np.ndarray]],
    task: Task,
    resamples: Resamples,
) -> tuple[np.ndarray, np.ndarray]:
    """``observed [entries]``: each entry's mean over its seeds; ``resampled [entries,
    resamples]``: the same on every resample, items shared and seeds drawn per entry."""
    observed = np.array(
        [np.mean([metric(y_true, scores, task) for scores in seeds]) for seeds in entries]
    )
    if resamples.count == 0:
        return observed, np.empty((len(entries), 0))
    flat = [scores for seeds in entries for scores in seeds]
    per_seed = score_resamples(metric, y_true, flat, task, resamples)
    bounds = np.cumsum([0, *(len(seeds) for seeds in entries)])
    resampled = np.stack(
        [
            seed_means(per_seed[start:stop], seed=resamples.seed, stream=index)
            for index, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
        ]
    )
    return observed, resampled


def paired_tests(
    metric: Metric,
    y_true: np.ndarray,
    entries: Mapping[str, Sequence[np.ndarray]],
    task: Task,
    *,
    n_bootstrap: int,
    alpha: float,
    seed: int,
    groups: Sequence[str | None] | None = None,
    scale: bool = True,
) -> pd.DataFrame:
    """Every pair of entries compared by a paired bootstrap, Holm-corrected as one family.

    Parameters
    ----------
    metric : a registered metric function.
    y_true : ``[n]`` or ``[n, classes]`` labels of the test items every entry scored.
    entries : ``{name: one [n, ...] score array per seed}``, in the order pairs are formed.
    task : the task.
    n_bootstrap : the resamples asked for; the family gets :func:`family_resamples` of it
        (with ``scale``), so that its p-values can reach ``alpha``; 0 gives NaN p-values.
    alpha : the family-wise error rate of ``significant``.
    seed : seeds the resampling.
    groups : ``[n]`` each item's group, for the cluster bootstrap.
    scale : grow the resamples with the family (else exactly ``n_bootstrap``).

    Returns
    -------
    pandas.DataFrame
        One row per pair (``model_a`` before ``model_b`` in ``entries``' order) with
        ``value_a, value_b`` (means over seeds), ``difference``, ``p_value``, ``p_holm``,
        ``significant`` (``p_holm < alpha``; empty without a p-value), ``resamples``.
    """
    names = list(entries)
    pairs = list(itertools.combinations(range(len(names)), 2))
    count = n_bootstrap
    if scale:
        count = family_resamples(n_bootstrap, comparisons=len(pairs), alpha=alpha)
    resamples = _resamples(len(y_true), count, seed, groups)
    observed, resampled = _entry_resamples(
        metric, y_true, [entries[name] for name in names], task, resamples
    )
    rows = []
    for a, b in pairs:
        difference = float(observed[a] - observed[b])
        p_value = (
            bootstrap_p_value(difference, resampled[a] - resampled[b])
            if resamples.count
            else float("nan")
        )
        rows.append(
            {
                "model_a": names[a],
                "model_b": names[b],
                "value_a": float(observed[a]),
                "value_b": float(observed[b]),
                "difference": difference,
                "p_value": p_value,
            }
        )
    table = pd.DataFrame(
        rows, columns=["model_a", "model_b", "value_a", "value_b", "difference", "p_value"]
    )
    table["p_holm"] = holm(table["p_value"].to_numpy(dtype=float))
    table["significant"] = _below(table["p_holm"], alpha)
    table["resamples"] = resamples.count
    return table


def _below(p_values: pd.Series, alpha: float) -> pd.Series:
    """``p < alpha`` as a nullable boolean: empty where there is no p-value."""
    return (p_values < alpha).astype("boolean").mask(p_values.isna())


def rank_intervals(
    observed: np.ndarray, resampled: np.ndarray, *, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ranks of entries (1 is the highest value) and their bootstrap intervals.

    Parameters
    ----------
    observed : ``[entries]`` values.
    resampled : ``[entries, resamples]`` the values on the same resamples.
    level : coverage of the intervals.

    Returns
    -------
    ``(rank, low, high)``, each ``[entries]``: ``rank`` orders ``observed`` (NaN last, ties in
    entry order); ``low`` / ``high`` bound the central ``level`` of the ranks an entry takes
    over the resamples, a tie counting as the best of the tied ranks for ``low`` and the worst
    for ``high`` (an undefined value ranks last); NaN without resamples.
    """
    k = len(observed)
    rank = np.empty(k)
    rank[np.argsort(-np.nan_to_num(observed, nan=-np.inf), kind="stable")] = np.arange(1, k + 1)
    if resampled.shape[1] == 0 or k == 0:
        return rank, np.full(k, np.nan), np.full(k, np.nan)
    import scipy.stats  # deferred, as in mir_ref.metrics: a warm rerun ranks nothing

    lower = -np.nan_to_num(resampled, nan=-np.inf)
    best_of_ties = scipy.stats.rankdata(lower, method="min", axis=0)
    worst_of_ties = scipy.stats.rankdata(lower, method="max", axis=0)
    tail = (1 - level) / 2
    low = np.quantile(best_of_ties, tail, axis=1, method="inverted_cdf")
    high = np.quantile(worst_of_ties, 1 - tail, axis=1, method="inverted_cdf")
    return rank, low.astype(float), high.astype(float)


def rank_entries(
    metric: Metric,
    y_true: np.ndarray,
    entries: Mapping[str, Sequence[np.ndarray]],
    task: Task,
    *,
    n_bootstrap: int,
    alpha: float,
    seed: int,
    level: float = 0.95,
    groups: Sequence[str | None] | None = None,
) -> pd.DataFrame:
    """Entries ranked with bootstrap rank intervals, and the set tied for first.

    Every entry is scored on the same resamples (items or groups shared, each entry's seeds
    drawn on their own, as in :func:`paired_tests`). The first is the highest mean; each other
    entry is tested against it (paired bootstrap), Holm-corrected over those ``entries - 1``
    tests with :func:`family_resamples` resamples. Tied for first: the first, and every entry
    whose difference from it is not significant at ``alpha``.

    Parameters
    ----------
    metric, y_true, task, n_bootstrap, alpha, seed, groups : as for :func:`paired_tests`.
    entries : ``{name: one [n, ...] score array per seed}``; a tie in mean goes to the first.
    level : coverage of the rank intervals.

    Returns
    -------
    pandas.DataFrame
        One row per entry, in rank order, with ``model, mean, rank, rank_low, rank_high,
        p_value, p_holm`` (against the first; empty on the first's row), ``tied_for_first``
        (empty without resamples) and ``resamples``.
    """
    names = list(entries)
    count = family_resamples(n_bootstrap, comparisons=max(len(names) - 1, 1), alpha=alpha)
    resamples = _resamples(len(y_true), count, seed, groups)
    observed, resampled = _entry_resamples(
        metric, y_true, [entries[name] for name in names], task, resamples
    )
    rank, low, high = rank_intervals(observed, resampled, level=level)
    best = int(np.argmin(rank))
    p_values = np.full(len(names), np.nan)
    if resamples.count:
        for index in range(len(names)):
            if index != best:
                p_values[index] = bootstrap_p_value(
                    observed[best] - observed[index], resampled[best] - resampled[index]
                )
    table = pd.DataFrame(
        {
            "model": names,
            "mean": observed,
            "rank": rank.astype(int),
            "rank_low": low,
            "rank_high": high,
            "p_value": p_values,
            "p_holm": holm(p_values),
        }
    )
    tied = ~_below(table["p_holm"], alpha)
    tied[best] = True if resamples.count else pd.NA
    table["tied_for_first"] = tied
    table["resamples"] = resamples.count
    return table.sort_values("rank", kind="stable").reset_index(drop=True)


SEED_KEYS = [c for c in COLUMNS if c not in ("seed", "value", "ci_low", "ci_high")]
"""The results columns that identify one measurement up to the seed."""


def summarize_seeds(results: pd.DataFrame, intervals: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean and std over seeds, and the interval of the mean (``summary.csv``).

    Parameters
    ----------
    results : the results table.
    intervals : per :data:`SEED_KEYS` combination, ``ci_low`` and ``ci_high`` of the mean over
        seeds (:func:`seed_intervals`, items and seeds resampled); without it they are NaN.

    Returns
    -------
    pandas.DataFrame
        One row per :data:`SEED_KEYS` combination with ``mean``, ``std`` (NaN for one seed),
        ``seeds``, ``ci_low`` and ``ci_high``.
    """
    summary = results.groupby(SEED_KEYS, sort=False, dropna=False).agg(
        mean=("value", "mean"), std=("value", "std"), seeds=("seed", "nunique")
    )
    summary = summary.reset_index()
    if intervals is None:
        return summary.assign(ci_low=np.nan, ci_high=np.nan)
    return summary.merge(intervals[[*SEED_KEYS, "ci_low", "ci_high"]], on=SEED_KEYS, how="left")


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
