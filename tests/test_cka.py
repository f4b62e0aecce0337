"""Linear CKA: its invariances, and agreement with the textbook O(n²) Gram-matrix formula."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from mir_ref import cka
from mir_ref.cka import cka_matrix, linear_cka


def reference_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al.'s definition written out: HSIC of the items' linear Gram matrices,
    centred with H = I - 11ᵀ/n, normalised (n × n matrices, float64)."""
    n = len(x)
    centring = np.eye(n) - np.ones((n, n)) / n
    gram_x = centring @ (x.astype(np.float64) @ x.T.astype(np.float64)) @ centring
    gram_y = centring @ (y.astype(np.float64) @ y.T.astype(np.float64)) @ centring

    def hsic(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.trace(a @ b)) / (n - 1) ** 2

    return hsic(gram_x, gram_y) / np.sqrt(hsic(gram_x, gram_x) * hsic(gram_y, gram_y))


def test_cka_of_a_representation_with_itself_is_one(rng):
    x = rng.normal(size=(80, 24)) + 3.0
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)


def test_cka_ignores_orthogonal_transforms_and_isotropic_scaling(rng):
    x = rng.normal(size=(120, 16))
    y = x[:, :10] @ rng.normal(size=(10, 12)) + 0.5 * rng.normal(size=(120, 12))
    base = linear_cka(x, y)
    assert 0.05 < base < 0.95  # neither trivial end
    rotation = ortho_group.rvs(16, random_state=3)
    assert linear_cka(x @ rotation, y) == pytest.approx(base, abs=1e-10)
    assert linear_cka(x * 7.5, y / 3.0) == pytest.approx(base, abs=1e-10)
    assert linear_cka(x @ rotation * 0.01, y) == pytest.approx(base, abs=1e-10)
    # An anisotropic scaling is not an invariance: it changes the value.
    stretched = x * np.linspace(0.1, 10, 16)
    assert abs(linear_cka(stretched, y) - base) > 1e-3


def test_cka_equals_the_gram_matrix_reference(rng, monkeypatch):
    # Chunks smaller than the item count, so that the accumulation over chunks is exercised.
    monkeypatch.setattr(cka, "CHUNK_ITEMS", 64)
    cases = [
        (rng.normal(size=(200, 30)), rng.normal(size=(200, 7))),
        (rng.normal(size=(150, 50)).astype(np.float32) + 100.0, rng.normal(size=(150, 200))),
    ]
    x = rng.normal(size=(90, 20))
    cases.append((x, np.tanh(x @ rng.normal(size=(20, 20)))))
    for first, second in cases:
        assert linear_cka(first, second) == pytest.approx(reference_cka(first, second), abs=1e-9)


def test_the_matrix_is_symmetric_and_marks_constant_representations(rng):
    x = rng.normal(size=(50, 8))
    constant = np.ones((50, 4))
    matrix = cka_matrix([x, x[:, :3], constant])
    assert matrix.shape == (3, 3)
    np.testing.assert_allclose(matrix[:2, :2], matrix[:2, :2].T)
    np.testing.assert_allclose(np.diag(matrix)[:2], 1.0)
    assert np.isnan(matrix[2]).all() and np.isnan(matrix[:, 2]).all()


def test_mismatched_items_are_refused(rng):
    with pytest.raises(ValueError, match="same items"):
        linear_cka(rng.normal(size=(10, 3)), rng.normal(size=(11, 3)))
