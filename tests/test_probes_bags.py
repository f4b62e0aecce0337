"""Probes that pool a track's windows themselves (``pool: mean | attention``)."""

from __future__ import annotations

import numpy as np
import pytest

from mir_ref.errors import ComponentError
from mir_ref.metrics import compute
from mir_ref.probes.bags import Bags
from mir_ref.probes.torch_probes import LinearProbe, MLPProbe
from mir_ref.registry import build
from mir_ref.tasks import Task

TASK = Task("genre", "multiclass", classes=["a", "b", "c", "d"])


def needle_bags(rng: np.random.Generator, n_tracks: int, *, dim: int = 12):
    """Tracks of 4 to 10 windows where one window, marked by feature 0, carries the label.

    Every other window looks like a random class (a distractor), so the mean of a track's
    windows is dominated by distractors while attention can find the marked window.
    """
    centres = rng.normal(size=(len(TASK.classes), dim)) * 2.0
    centres[:, 0] = 0.0
    labels = rng.integers(0, len(TASK.classes), n_tracks)
    windows, owner = [], []
    for track, label in enumerate(labels):
        count = int(rng.integers(4, 11))
        classes = rng.integers(0, len(TASK.classes), count)
        needle = int(rng.integers(count))
        classes[needle] = label
        x = centres[classes] + rng.normal(size=(count, dim)) * 0.5
        x[needle, 0] += 4.0
        windows.append(x)
        owner.append(np.full(count, track))
    return Bags(np.concatenate(windows).astype(np.float32), np.concatenate(owner)), labels


def split(bags: Bags, labels: np.ndarray, start: int, stop: int):
    rows = np.arange(start, stop)
    return bags.subset(rows), labels[rows]


@pytest.fixture(scope="module")
def needles():
    bags, labels = needle_bags(np.random.default_rng(7), 500)
    return split(bags, labels, 0, 250), split(bags, labels, 250, 350), split(bags, labels, 350, 500)


def accuracy(probe, test) -> float:
    scores = probe.predict(test[0])
    assert scores.shape == (len(test[1]), len(TASK.classes))
    return compute(TASK, test[1], scores)["accuracy"]


def test_attention_finds_the_one_window_that_carries_the_label(needles):
    train, validation, test = needles
    options = dict(task=TASK, learning_rate=1e-2, epochs=150, patience=20)
    mean = MLPProbe(hidden=[32], pool="mean").fit(*train, *validation, **options)
    attention = MLPProbe(hidden=[32], pool="attention").fit(*train, *validation, **options)
    # Averaging dilutes the one informative window among distractors; attention weighs it.
    assert accuracy(attention, test) > 0.9
    assert accuracy(attention, test) > accuracy(mean, test) + 0.2


def test_bag_probes_are_bit_identical_on_rerun_and_seeded(needles):
    train, validation, test = needles

    def scores(seed: int) -> np.ndarray:
        probe = LinearProbe(pool="attention", batch_size=64)
        probe.fit(*train, *validation, task=TASK, seed=seed, epochs=5, learning_rate=1e-2)
        return probe.predict(test[0])

    assert np.array_equal(scores(0), scores(0))
    assert not np.allclose(scores(0), scores(1))


def test_bagged_grid_equals_sequential_loop(needles):
    from mir_ref.probes.base import Probe
    from mir_ref.probes.selection import expand_grid, select

    train, validation, _ = needles
    probe = MLPProbe(pool="attention", batch_size=128)
    grid = {"learning_rate": [3e-3, 1e-2], "hidden": [[8], [16]]}
    settings = expand_grid(probe, grid, {"weight_decay": 0.0})
    options = {"task": TASK, "settings": settings, "seeds": [0, 1], "epochs": 15, "patience": 5}
    batched = probe.fit_grid(*train, *validation, **options)
    sequential = Probe.fit_grid(probe, *train, *validation, **options)
    winner, values = select(batched, *validation, task=TASK)
    sequential_winner, sequential_values = select(sequential, *validation, task=TASK)
    assert winner == sequential_winner
    np.testing.assert_allclose(values, sequential_values, atol=0.005)


def test_rows_are_bags_of_one_window_and_mean_of_one_is_the_plain_probe():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + 2 * (x[:, 1] > 0)
    plain = MLPProbe(hidden=[8]).fit(x, y, x[:40], y[:40], task=TASK, epochs=10)
    pooled = MLPProbe(hidden=[8], pool="mean").fit(x, y, x[:40], y[:40], task=TASK, epochs=10)
    np.testing.assert_array_equal(plain.predict(x), pooled.predict(Bags.of_rows(x)))
    np.testing.assert_array_equal(pooled.predict(x), pooled.predict(Bags.of_rows(x)))


def test_padding_does_not_change_a_bag_s_prediction(needles):
    train, validation, test = needles
    probe = MLPProbe(hidden=[8], pool="attention").fit(
        *train, *validation, task=TASK, epochs=3, learning_rate=1e-2
    )
    together = probe.predict(test[0])
    alone = np.concatenate([probe.predict(test[0].subset(np.array([row]))) for row in range(5)])
    np.testing.assert_allclose(together[:5], alone, atol=1e-6)


def test_bags_padding_and_subset():
    bags = Bags(np.arange(10, dtype=np.float32).reshape(5, 2), np.array([1, 0, 1, 2, 1]))
    x, mask = bags.padded()
    assert x.shape == (3, 3, 2)
    assert mask.tolist() == [[True, False, False], [True, True, True], [True, False, False]]
    assert x[1, :, 0].tolist() == [0.0, 4.0, 8.0]  # windows keep their order within a bag
    kept = bags.subset(np.array([1, 2]))
    assert len(kept) == 2 and kept.owner.tolist() == [0, 0, 1, 0]


def test_pool_config_labels_and_misuse():
    assert MLPProbe(pool="attention").label() == "mlp-256-attention"
    assert build("probes", {"type": "linear", "pool": "mean"}, where="p").label() == (
        "linear-meanpool"
    )
    with pytest.raises(ValueError, match="pool"):
        MLPProbe(pool="max")
    bags = Bags(np.zeros((3, 2), np.float32), np.array([0, 0, 1]))
    with pytest.raises(ComponentError, match="bags"):
        LinearProbe().fit(bags, np.array([0, 1]), bags, np.array([0, 1]), task=TASK)
