"""Embedding drift: how far a deformation moves each track's embedding, as a share of how far
apart two different clean tracks typically are.

A track's drift is the cosine distance between its deformed and its clean (pooled) embedding,
divided by the median cosine distance between different clean tracks of the same set. 0 means
the embedding did not move; 1, that it moved as far as another track typically is. Dividing
by the typical distance makes the figure comparable across models and layers, whose raw
distances live on different scales. Probe-free robustness, after Deng, Wang, Richard & McFee
(2025, arXiv 2501.15900).
"""

from __future__ import annotations

import numpy as np

MAX_PAIRS = 500_000
"""Track pairs behind the typical distance: all of them up to this many (about 1,000 tracks),
else a seeded sample of this many."""
_PAIRS_PER_CHUNK = 4096
"""Pairs whose distances are computed at a time (two ``[pairs, dim]`` float64 arrays)."""


def _unit_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows scaled to unit length in float64 (zero rows stay zero) and which rows are zero."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    zero = norms[:, 0] == 0
    return x / np.where(norms > 0, norms, 1.0), zero


def cosine_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``1 - cos(a_i, b_i)`` for each row pair of ``[n, dim]`` arrays, in float64.

    Equal rows are exactly 0 apart. A zero vector has no direction: the distance between two
    zero rows is 0, between a zero and a non-zero row 1 (as for orthogonal vectors).
    """
    a_unit, a_zero = _unit_rows(a)
    b_unit, b_zero = _unit_rows(b)
    distances = _distances(a_unit, a_zero, b_unit, b_zero)
    # Equal rows are 0 apart, not the ~1e-16 that rounding of their norms leaves.
    distances[(np.asarray(a) == np.asarray(b)).all(axis=1)] = 0.0
    return distances


def _distances(
    a_unit: np.ndarray, a_zero: np.ndarray, b_unit: np.ndarray, b_zero: np.ndarray
) -> np.ndarray:
    distances = 1.0 - np.einsum("nd,nd->n", a_unit, b_unit)
    distances[a_zero != b_zero] = 1.0
    distances[a_zero & b_zero] = 0.0
    return np.clip(distances, 0.0, 2.0)


def typical_distance(clean: np.ndarray, *, seed: int = 0) -> float:
    """The median cosine distance between two different rows of ``clean`` ``[n, dim]``.

    All pairs when there are at most :data:`MAX_PAIRS` of them, else a sample of that many
    drawn with ``seed``. NaN with fewer than two rows.
    """
    count = len(clean)
    if count < 2:
        return float("nan")
    if count * (count - 1) // 2 <= MAX_PAIRS:
        first, second = np.triu_indices(count, k=1)
    else:
        rng = np.random.default_rng(seed)
        first = rng.integers(0, count, MAX_PAIRS)
        second = (first + rng.integers(1, count, MAX_PAIRS)) % count  # never the same row
    unit, zero = _unit_rows(clean)
    distances = np.concatenate(
        [
            _distances(unit[a], zero[a], unit[b], zero[b])
            for a, b in (
                (first[start : start + _PAIRS_PER_CHUNK], second[start : start + _PAIRS_PER_CHUNK])
                for start in range(0, len(first), _PAIRS_PER_CHUNK)
            )
        ]
    )
    return float(np.median(distances))


def drift(clean: np.ndarray, deformed: np.ndarray, *, scale: float) -> np.ndarray:
    """Each track's drift: ``cosine_distances(clean, deformed) / scale``.

    Parameters
    ----------
    clean, deformed : ``[tracks, dim]`` the pooled embeddings of the same tracks, clean and
        deformed.
    scale : the typical distance between clean tracks (:func:`typical_distance`); a scale of
        0 or NaN (every clean track alike) gives NaN drifts.
    """
    distances = cosine_distances(clean, deformed)
    if not np.isfinite(scale) or scale <= 0:
        return np.full(len(distances), np.nan)
    return distances / scale


def median_and_iqr(drifts: np.ndarray) -> tuple[float, float]:
    """The median of per-track drifts and their interquartile range (NaN when empty)."""
    values = np.asarray(drifts, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    low, median, high = np.percentile(values, [25, 50, 75])
    return float(median), float(high - low)
