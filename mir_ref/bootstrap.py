"""Bootstrap resamples of test items, or of the groups the items belong to, and metrics scored
on them.

A resample draws the ``n`` test items with replacement (the item bootstrap). When the tracks
declare groups (an artist, a singer, a song: :attr:`mir_ref.datasets.base.Track.group`), items
of one group are not independent, and a resample draws as many groups as the test split holds,
with replacement, keeping every item of each drawn group (the cluster bootstrap); a track
without a group is a group of its own. A resample is held as multiplicities, how many times
it draws each item, so that resamples of different lengths share one array.

Resamples are generated block by block from a generator seeded by the caller, so that memory
stays bounded however many resamples a family of tests needs, and the same items, groups,
count and seed always give the same resamples in the same order: several models scored on one
:class:`Resamples` are paired. Metrics with a vectorised version
(:func:`mir_ref.metrics.resampled`) score a block of resamples in one array operation; the
others are recomputed per resample.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from mir_ref.metrics import Metric
from mir_ref.tasks import Task

BLOCK_ITEMS = 2**21
"""Multiplicities held at once while resampling (16 MiB of int64): the block size in
resamples is this over the number of items."""


def cluster_codes(groups: Sequence[str | None] | None) -> np.ndarray | None:
    """``[items]`` integer group codes, or None when no item declares a group.

    Items whose group is ``None`` (or NaN, as a table reads an empty cell) each form a group
    of their own.
    """
    if groups is None:
        return None
    named = [None if _missing(group) else str(group) for group in groups]
    if all(group is None for group in named):
        return None
    codes: dict[str, int] = {}
    out = np.empty(len(named), dtype=np.int64)
    for index, group in enumerate(named):
        key = f"\0item{index}" if group is None else group
        out[index] = codes.setdefault(key, len(codes))
    return out


def _missing(group: object) -> bool:
    return group is None or (isinstance(group, float) and np.isnan(group))


@dataclass(frozen=True, eq=False)
class Resamples:
    """``count`` bootstrap resamples of ``n_items`` test items, generated lazily in blocks.

    Parameters
    ----------
    n_items : test items.
    count : resamples; 0 gives none.
    seed : seeds the generator.
    clusters : ``[n_items]`` group codes from :func:`cluster_codes` (cluster bootstrap), or
        None (item bootstrap).
    """

    n_items: int
    count: int
    seed: int
    clusters: np.ndarray | None = None

    @property
    def units(self) -> int:
        """What is drawn with replacement: the number of groups, or of items."""
        if self.clusters is None:
            return self.n_items
        return int(self.clusters.max()) + 1 if len(self.clusters) else 0

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(positions [k], weights [k, n_items])``: resamples number ``positions`` as how
        many times each draws each item; every resample appears in exactly one block."""
        if self.count < 1 or self.n_items == 0:
            return
        rng = np.random.default_rng(self.seed)
        per_block = max(1, BLOCK_ITEMS // max(self.n_items, self.units))
        for start in range(0, self.count, per_block):
            size = min(per_block, self.count - start)
            positions = np.arange(start, start + size)
            if self.clusters is None:
                drawn = rng.integers(0, self.n_items, size=(size, self.n_items))
                weights = multiplicities(drawn, self.n_items)
            else:
                drawn = rng.integers(0, self.units, size=(size, self.units))
                weights = multiplicities(drawn, self.units)[:, self.clusters]
            # float64: the vectorised metrics reduce them with matrix products (BLAS).
            yield positions, weights.astype(np.float64)


def multiplicities(indices: np.ndarray, n_items: int) -> np.ndarray:
    """``[resamples, n_items]``: how often each item is drawn in each row of ``indices``."""
    n_resamples = len(indices)
    # Cell r·n + i counts item i in resample r; int32 halves the memory touched (blocks stay
    # far below 2**31 cells).
    dtype = np.int32 if n_resamples * n_items < 2**31 else np.int64
    cells = indices.astype(dtype) + (np.arange(n_resamples, dtype=dtype) * n_items)[:, None]
    return np.bincount(cells.ravel(), minlength=n_resamples * n_items).reshape(n_resamples, n_items)


def weighted_values(
    metric: Metric, y_true: np.ndarray, y_score: np.ndarray, task: Task, weights: np.ndarray
) -> np.ndarray:
    """``[resamples]`` values of ``metric`` on the resamples ``weights [resamples, n]``.

    A metric without a vectorised version is recomputed on each resample's items.
    """
    vectorised = getattr(metric, "resampled", None)
    if vectorised is not None:
        return np.asarray(vectorised(y_true, y_score, task, weights), dtype=np.float64)
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    items = np.arange(len(y_true))
    values = []
    for row in weights:
        drawn = np.repeat(items, row)
        values.append(metric(y_true[drawn], y_score[drawn], task))
    return np.array(values, dtype=np.float64)


def resampled_values(
    metric: Metric, y_true: np.ndarray, y_score: np.ndarray, task: Task, indices: np.ndarray
) -> np.ndarray:
    """``[resamples]`` values of ``metric`` on the item resamples ``indices [resamples, n]``."""
    weights = multiplicities(np.asarray(indices), len(y_true))
    return weighted_values(metric, y_true, y_score, task, weights)


def score_resamples(
    metric: Metric,
    y_true: np.ndarray,
    scores: Sequence[np.ndarray],
    task: Task,
    resamples: Resamples,
) -> np.ndarray:
    """``[len(scores), resamples.count]``: ``metric`` of each score array on every resample.

    Parameters
    ----------
    metric : a registered metric function.
    y_true : ``[n]`` or ``[n, classes]`` labels of the test items, shared by every array.
    scores : ``[n, ...]`` score arrays (models, seeds) on the same items.
    task : the task.
    resamples : the resamples; each array sees the same ones, so the rows are paired.
    """
    out = np.full((len(scores), resamples.count), np.nan)
    for positions, weights in resamples.blocks():
        for row, y_score in enumerate(scores):
            out[row, positions] = weighted_values(metric, y_true, y_score, task, weights)
    return out


def seed_means(per_seed: np.ndarray, *, seed: int, stream: int = 0) -> np.ndarray:
    """``[resamples]``: per resample, the mean over seeds drawn with replacement.

    The second level of a two-level bootstrap: ``per_seed [seeds, resamples]`` holds each
    training seed's metric on the (shared) item resamples; drawing the seeds too adds the
    variance between trainings to that between test sets. With one seed it is that seed's row.

    Parameters
    ----------
    per_seed : ``[seeds, resamples]`` metric values.
    seed : seeds the draws of seeds.
    stream : tells apart the draws of entries compared with one another (independent trainings).
    """
    n_seeds, count = per_seed.shape
    if n_seeds == 1:
        return per_seed[0]
    draws = np.random.default_rng([seed, stream, n_seeds]).integers(
        0, n_seeds, size=(count, n_seeds)
    )
    return np.take_along_axis(per_seed.T, draws, axis=1).mean(axis=1)
