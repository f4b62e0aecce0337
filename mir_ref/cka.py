"""Linear centred kernel alignment (CKA; Kornblith, Norouzi, Lee & Hinton 2019): how alike two
representations of the same items are, whatever their dimensions.

For column-centred embeddings ``X`` ``[items, d_x]`` and ``Y`` ``[items, d_y]``,
``CKA = ||Xᵀ Y||²_F / (||Xᵀ X||_F ||Yᵀ Y||_F)``: the HSIC of the items' linear Gram matrices
``X Xᵀ`` and ``Y Yᵀ``, normalised, written in feature space (Kornblith et al.'s eq. 5). It is 1
for identical representations and invariant to orthogonal transforms and isotropic scaling
of either. The products are accumulated over chunks of items in float64, so memory grows with
the dimensions (``d_x · d_y``), never with the number of items squared.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CHUNK_ITEMS = 1024
"""Items converted to float64 at a time."""


def cross_covariance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``Xcᵀ Yc`` in float64, ``[d_x, d_y]``, for column-centred ``x`` ``[items, d_x]`` and ``y``
    ``[items, d_y]`` (rows are the same items)."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise ValueError(
            f"x and y must be [items, dim] arrays of the same items (got {x.shape}, {y.shape})"
        )
    x_mean = x.mean(axis=0, dtype=np.float64)
    y_mean = y.mean(axis=0, dtype=np.float64)
    product = np.zeros((x.shape[1], y.shape[1]))
    for start in range(0, len(x), CHUNK_ITEMS):
        rows = slice(start, start + CHUNK_ITEMS)
        product += (x[rows].astype(np.float64) - x_mean).T @ (y[rows].astype(np.float64) - y_mean)
    return product


def cka_matrix(representations: Sequence[np.ndarray]) -> np.ndarray:
    """Linear CKA between every pair of representations of the same items.

    Parameters
    ----------
    representations : ``E`` arrays ``[items, dim_e]`` (dimensions may differ).

    Returns
    -------
    ``[E, E]`` symmetric float64, 1 on the diagonal; NaN where a representation is constant
    over the items (CKA is undefined for it).
    """
    norms = [np.linalg.norm(cross_covariance(x, x)) for x in representations]
    count = len(representations)
    matrix = np.full((count, count), np.nan)
    for i in range(count):
        for j in range(i, count):
            denominator = norms[i] * norms[j]
            if denominator > 0:
                product = cross_covariance(representations[i], representations[j])
                matrix[i, j] = matrix[j, i] = np.sum(product**2) / denominator
    return matrix


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two representations ``[items, d_x]`` and ``[items, d_y]`` of the same
    items (see :func:`cka_matrix`)."""
    return float(cka_matrix([x, y])[0, 1])
