"""Two-dimensional maps of embeddings, clean and deformed, to look at.

Features are standardised with the clean embeddings' mean and standard deviation first, so
that no dimension dominates by its units. ``pca`` projects onto the clean embeddings' first
two principal components, and places deformed embeddings with the same projection: a point's
move on the map is its embedding's move, seen along those two axes. ``tsne`` (scikit-learn's
t-SNE) places clean and deformed embeddings together in one map, which keeps neighbourhoods
rather than distances; it costs about a second per map where PCA costs milliseconds.
"""

from __future__ import annotations

import numpy as np

from mir_ref.tasks import TASK_TYPES

METHODS = ("pca", "tsne")
"""The map methods, as ``report.maps`` names them."""

_MIN_STD = 1e-8
_TSNE_PERPLEXITY = 30.0


def _standardised(clean: np.ndarray, *others: np.ndarray | None) -> list[np.ndarray | None]:
    """``clean`` and ``others`` in float64, standardised with ``clean``'s per-feature statistics
    (a constant feature is centred, not scaled)."""
    clean = np.asarray(clean, dtype=np.float64)
    mean = clean.mean(axis=0)
    std = clean.std(axis=0)
    std[std < _MIN_STD] = 1.0
    return [
        None if x is None else (np.asarray(x, dtype=np.float64) - mean) / std
        for x in (clean, *others)
    ]


def pca_map(
    clean: np.ndarray, deformed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Clean embeddings ``[n, dim]`` on their first two principal components, ``[n, 2]``, and
    ``deformed`` (the same tracks deformed) projected onto the same components.

    Each component's sign is fixed so that its largest loading is positive: the same data
    give the same map. With fewer than two informative directions the missing coordinates
    are 0.
    """
    clean_z, deformed_z = _standardised(clean, deformed)
    items, dim = clean_z.shape
    # The principal axes from the eigenvectors of the smaller Gram matrix: a few hundred
    # tracks of a 768-wide layer cost a [tracks, tracks] problem, not a [768, 768] one.
    if dim <= items:
        values, vectors = np.linalg.eigh(clean_z.T @ clean_z)
        kept = vectors[:, ::-1][:, :2]
    else:
        values, vectors = np.linalg.eigh(clean_z @ clean_z.T)
        kept = clean_z.T @ vectors[:, ::-1][:, :2]
        kept /= np.maximum(np.linalg.norm(kept, axis=0), np.finfo(float).tiny)
    # Directions without variance (fewer than two informative ones) are left at 0.
    variances = values[::-1][: kept.shape[1]]
    kept = kept * (variances > 1e-9 * variances[0]) if variances[0] > 0 else kept * 0.0
    axes = np.zeros((dim, 2))
    signs = np.sign(kept[np.abs(kept).argmax(axis=0), np.arange(kept.shape[1])])
    axes[:, : kept.shape[1]] = kept * np.where(signs == 0, 1.0, signs)
    return clean_z @ axes, None if deformed_z is None else deformed_z @ axes


def tsne_map(
    clean: np.ndarray, deformed: np.ndarray | None = None, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray | None]:
    """Clean (and deformed) embeddings placed together by t-SNE (scikit-learn; PCA
    initialisation, perplexity 30 or less for small sets), ``[n, 2]`` each."""
    from sklearn.manifold import TSNE  # scikit-learn's manifold module costs ~1 s to import

    clean_z, deformed_z = _standardised(clean, deformed)
    points = clean_z if deformed_z is None else np.concatenate([clean_z, deformed_z])
    if len(points) < 4:
        return pca_map(clean, deformed)
    perplexity = min(_TSNE_PERPLEXITY, (len(points) - 1) / 3)
    placed = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(points)
    return placed[: len(clean_z)], None if deformed_z is None else placed[len(clean_z) :]


def project(
    method: str, clean: np.ndarray, deformed: np.ndarray | None = None, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray | None]:
    """The map of ``method`` (one of :data:`METHODS`)."""
    if method == "pca":
        return pca_map(clean, deformed)
    if method == "tsne":
        return tsne_map(clean, deformed, seed=seed)
    raise ValueError(f"map method {method!r} is not one of {', '.join(METHODS)}")


def colour_labels(task_type: str, classes: list[str], encoded: np.ndarray) -> list[str]:
    """The label each point is coloured by, from labels as ``Task.encode`` gives them.

    Multiclass and key tasks: the class name. Multilabel: of a track's tags, the most frequent
    one among these tracks (``no tag`` for a track without tags), so that few colours cover
    most points. Regression: the value, written out.
    """
    encoded = np.asarray(encoded)
    kind = TASK_TYPES[task_type]
    if kind.has_classes and not kind.one_class:
        frequency = encoded.sum(axis=0)
        # Ties go to the tag listed first.
        ranked = np.where(encoded > 0, frequency[None, :], -1)
        return [classes[int(row.argmax())] if row.max() >= 0 else "no tag" for row in ranked]
    if not kind.has_classes:
        return [f"{float(value):g}" for value in encoded]
    return [classes[int(index)] for index in encoded]
