"""Learned layer weighting (a model entry's ``weighted: true``): the probe learns softmax
weights over a model's layers and reads their weighted sum; the weights are stored, written to
``layer_weights.csv`` and say which layer holds the label."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
import pytest

from mir_ref import metrics
from mir_ref.errors import ConfigError
from mir_ref.evaluate import evaluate
from mir_ref.experiment import Experiment
from mir_ref.plan import embedding_key
from mir_ref.probes.bags import Bags
from mir_ref.probes.torch_probes import LinearProbe, MLPProbe
from mir_ref.store import Store
from mir_ref.tasks import Task
from mir_ref.train import train

CLASSES = 8
DIM = 16


class ThreeLayers:
    """A three-layer "model" whose embeddings the tests write into the cache themselves:
    noise in every layer, plus the track's label one-hot in the second layer."""

    version = "1"
    layers = ["layer1", "layer2", "layer3"]
    sample_rate = 16000
    frame_hop_s = 0.5

    def embed(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError("the tests write this model's embeddings into the cache")


def synthetic_layers(
    labels: np.ndarray, rng: np.random.Generator, *, classes: int = CLASSES
) -> np.ndarray:
    """``[items, 3, DIM]``: Gaussian noise, with the label one-hot (scaled) added in layer 2."""
    x = rng.normal(size=(len(labels), 3, DIM)).astype(np.float32)
    x[:, 1, :classes] += 2.5 * np.eye(classes, dtype=np.float32)[labels]
    return x


def test_the_weights_find_the_one_layer_that_carries_the_label(rng):
    task = Task("label", "multiclass", [str(c) for c in range(CLASSES)])
    splits = {name: rng.integers(0, CLASSES, n) for name, n in (("train", 600), ("val", 150))}
    y_test = np.repeat(np.arange(CLASSES), 100)
    x = {name: synthetic_layers(y, rng) for name, y in splits.items()}
    x_test = synthetic_layers(y_test, rng)
    accuracy = metrics.metrics_for(task)["accuracy"]
    settings = [{"learning_rate": 1e-2}, {"learning_rate": 3e-3}]
    for probe in (LinearProbe(), MLPProbe(hidden=[64])):
        # Every setting × seed of the batched grid learns its own weights.
        grid = probe.fit_grid(
            x["train"], splits["train"], x["val"], splits["val"],
            task=task, settings=settings, seeds=[0, 1],
        )  # fmt: skip
        for fitted in (member for row in grid for member in row):
            weights = fitted.layer_weights_
            assert weights.shape == (3,) and weights.sum() == pytest.approx(1.0)
            assert weights[1] >= 0.8, (probe.label(), weights)
        weighted = grid[0][0]
        alone = dataclasses.replace(probe).fit(
            x["train"][:, 1], splits["train"], x["val"][:, 1], splits["val"],
            task=task, seed=0, learning_rate=1e-2,
        )  # fmt: skip
        assert alone.layer_weights_ is None
        score_weighted = accuracy(y_test, weighted.predict(x_test), task)
        score_alone = accuracy(y_test, alone.predict(x_test[:, 1]), task)
        assert 0.5 < score_alone < 0.99, "neither a trivial nor a hopeless task"
        assert abs(score_weighted - score_alone) <= 0.02, (probe.label(), score_weighted)


@pytest.mark.parametrize("pool", ["mean", "attention"])
def test_probes_that_pool_windows_weight_layers_too(rng, pool):
    task = Task("label", "multiclass", [str(c) for c in range(CLASSES)])

    def bags(labels: np.ndarray) -> tuple[Bags, np.ndarray]:
        windows = np.repeat(labels, 3)  # three windows per track, each carrying the label
        return Bags(synthetic_layers(windows, rng), np.repeat(np.arange(len(labels)), 3)), labels

    train_x, train_y = bags(rng.integers(0, CLASSES, 200))
    validation_x, validation_y = bags(rng.integers(0, CLASSES, 60))
    probe = LinearProbe(pool=pool).fit(
        train_x, train_y, validation_x, validation_y, task=task, learning_rate=1e-2
    )
    assert probe.layer_weights_[1] >= 0.8
    test_x, test_y = bags(np.arange(CLASSES).repeat(10))
    assert probe.predict(test_x).shape == (len(test_y), CLASSES)


def _three_layer_run(tmp_path, probes) -> Experiment:
    """A run of the :class:`ThreeLayers` model (weighted) on synthetic notes' pitch classes,
    with the model's embeddings written into the cache by the test, as noise plus the pitch
    class's one-hot in layer 2."""
    config = {
        "name": "weighted",
        "output_dir": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
        "datasets": [
            {
                "name": "tones",
                "type": "synthetic_tones",
                "tasks": ["pitch_class"],
                "notes_per_class": 8,
                "instruments": 5,
            }
        ],
        "models": [
            {
                "type": "python",
                "class": "tests.test_layer_weighting:ThreeLayers",
                "name": "three",
                "weighted": True,
            }
        ],
        "probes": probes,
        "protocol": {"learning_rate": 1e-2, "seeds": 2, "n_bootstrap": 0},
    }
    experiment = Experiment.from_config(config)
    dataset, [model] = experiment.datasets[0], experiment.models
    task = dataset.tasks["pitch_class"]
    store = Store.of(experiment)
    rng = np.random.default_rng(5)
    for track in dataset.tracks():
        label = task.encode([track.labels["pitch_class"]])
        key = embedding_key(model, track, experiment.conditions[0], seed=0, dataset=dataset)
        # [layers, windows, dim]: one window per track.
        layers = synthetic_layers(label, rng, classes=len(task.classes))
        store.put(key, layers.transpose(1, 0, 2))
    return experiment


def test_a_weighted_model_gets_a_weighted_layer_its_weights_and_one_read_per_track(
    tmp_path, cache_reads, caplog
):
    with caplog.at_level(logging.WARNING):
        experiment = _three_layer_run(
            tmp_path, [{"type": "linear"}, {"type": "mlp", "hidden": [32]}, {"type": "knn"}]
        )
    assert "cannot learn layer weights" in caplog.text and "knn" in caplog.text
    reads = cache_reads
    train(experiment)
    # Every embedding is read once for the model's four probed layers, not once per layer.
    assert reads and set(reads.values()) == {1}

    results = evaluate(experiment)
    accuracy = results[results.metric == "accuracy"]
    layers = accuracy.groupby("probe")["layer"].unique().map(sorted).to_dict()
    assert layers["linear"] == ["layer1", "layer2", "layer3", "weighted"]
    assert layers["mlp-32"] == ["layer1", "layer2", "layer3", "weighted"]
    assert layers["knn"] == ["layer1", "layer2", "layer3"]  # knn cannot learn weights
    by_layer = accuracy[accuracy.probe == "linear"].groupby("layer")["value"].mean()
    assert by_layer["layer2"] > by_layer["layer1"] + 0.3
    assert abs(by_layer["weighted"] - by_layer["layer2"]) <= 0.05

    weights = pd.read_csv(experiment.output_dir / "layer_weights.csv")
    assert list(weights.columns) == [
        "dataset", "task", "model", "window_s", "hop_s", "train_fraction", "probe", "seed",
        "layer", "weight",
    ]  # fmt: skip
    assert set(weights.probe) == {"linear", "mlp-32"} and set(weights.seed) == {0, 1}
    sums = weights.groupby(["probe", "seed"])["weight"].sum()
    assert np.allclose(sums, 1.0)
    assert (weights[weights.layer == "layer2"].weight >= 0.8).all()
    # The weighted layer's predictions are keyed by the layers they weigh: a rerun trains nothing.
    reads.clear()
    train(experiment)
    assert reads == {}


def test_weighted_is_checked_before_any_work():
    base = {
        "datasets": [{"type": "synthetic_tones", "notes_per_class": 1, "mixtures": 9}],
        "probes": [{"type": "linear"}],
    }
    refused = {
        "weigthed": "did you mean 'weighted'",
        "weighted_single_layer": "gives one layer",
        "weighted_maybe": "must be true or false",
    }
    models = {
        "weigthed": {"type": "random_cnn", "depth": 2, "weigthed": True},
        "weighted_single_layer": {"type": "mfcc", "weighted": True},
        "weighted_maybe": {"type": "random_cnn", "depth": 2, "weighted": "maybe"},
    }
    for case, message in refused.items():
        with pytest.raises(ConfigError, match=message) as error:
            Experiment.from_config({**base, "models": [models[case]]})
        assert str(error.value).startswith("models[0].")
    experiment = Experiment.from_config(
        {**base, "models": [{"type": "random_cnn", "depth": 2, "weighted": True}]}
    )
    assert experiment.models[0].probed_layers == ["block1", "block2", "weighted"]
