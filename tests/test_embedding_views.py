"""The embedding views stage (drift.csv, similarity.csv, maps.csv) on embeddings the tests
write into the cache, the 2-D map methods, and the config keys that switch the views."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mir_ref.embedding_maps import colour_labels, pca_map, project, tsne_map
from mir_ref.embedding_views import analyse
from mir_ref.errors import ConfigError, DataError
from mir_ref.evaluate import evaluate
from mir_ref.experiment import Experiment
from mir_ref.plan import embedding_key
from mir_ref.store import Store
from mir_ref.train import train
from tests.test_layer_weighting import synthetic_layers

NOISE_AT = {20.0: 0.05, 0.0: 1.5}
"""Noise added to the test tracks' embeddings under white_noise at each SNR (dB)."""


def _run(tmp_path, **report) -> Experiment:
    """A run of the three-layer test model (layer 2 carries the pitch class) whose clean and
    deformed embeddings the test writes into the cache: deformed = clean + Gaussian noise, more
    of it at the lower SNR."""
    config = {
        "name": "views",
        "output_dir": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
        "datasets": [
            {
                "name": "tones",
                "type": "synthetic_tones",
                "tasks": ["pitch_class", "instrument"],
                "notes_per_class": 3,
                "instruments": 3,
            }
        ],
        "deformations": [{"type": "white_noise", "snr_db": list(NOISE_AT)}],
        "models": [
            {"type": "python", "class": "tests.test_layer_weighting:ThreeLayers", "name": "three"}
        ],
        "probes": [{"type": "linear"}],
        "protocol": {"learning_rate": 1e-2, "n_bootstrap": 0, "epochs": 60},
        "report": report,
    }
    experiment = Experiment.from_config(config)
    dataset, [model] = experiment.datasets[0], experiment.models
    task = dataset.tasks["pitch_class"]
    store = Store.of(experiment)
    rng = np.random.default_rng(3)
    clean_condition, *deformed = experiment.conditions
    test_ids = {track.id for track in dataset.tracks("test")}
    for track in dataset.tracks():
        label = task.encode([track.labels["pitch_class"]])
        embedding = synthetic_layers(label, rng, classes=len(task.classes)).transpose(1, 0, 2)
        key = embedding_key(model, track, clean_condition, seed=0, dataset=dataset)
        store.put(key, embedding)
        if track.id in test_ids:
            for condition in deformed:
                moved = embedding + NOISE_AT[condition.strength] * rng.normal(size=embedding.shape)
                key = embedding_key(model, track, condition, seed=0, dataset=dataset)
                store.put(key, moved.astype(np.float32))
    return experiment


def test_the_views_of_a_run(tmp_path, cache_reads):
    experiment = _run(tmp_path)
    train(experiment)
    evaluate(experiment)
    reads = cache_reads
    reads.clear()  # the training stage's reads
    written = analyse(experiment)
    out = experiment.output_dir
    assert [path.name for path in written] == ["drift.csv", "similarity.csv", "maps.csv"]
    # Each embedding of each condition read once, all layers together.
    assert set(reads.values()) == {1}
    test_tracks = len(experiment.datasets[0].tracks("test"))
    assert len(reads) == test_tracks * len(experiment.conditions)

    drift = pd.read_csv(out / "drift.csv")
    assert len(drift) == 3 * len(NOISE_AT)  # layers × strengths
    assert (drift.tracks == test_tracks).all()
    # Noise of σ times a random embedding's size moves it by 1 - 1/sqrt(1 + σ²) in cosine
    # distance; two random embeddings are ~1 apart: 0.001 at σ = 0.05, 0.45 at σ = 1.5.
    low = drift[drift.strength == 20.0].drift_median
    high = drift[drift.strength == 0.0].drift_median
    assert low.max() < 0.01 and 0.3 < high.min() and high.max() < 0.6

    similarity = pd.read_csv(out / "similarity.csv")
    assert len(similarity) == 9
    matrix = similarity.pivot(index="layer_a", columns="layer_b", values="cka")
    np.testing.assert_allclose(np.diag(matrix), 1.0)
    np.testing.assert_allclose(matrix.to_numpy(), matrix.to_numpy().T)
    assert (matrix.to_numpy() < 0.999).sum() == 6  # independent noise layers differ

    maps = pd.read_csv(out / "maps.csv")
    assert set(maps.method) == {"pca"} and set(maps.task) == {"pitch_class", "instrument"}
    # The map shows the best layer by validation: layer 2, where the pitch class is.
    assert set(maps[maps.task == "pitch_class"].layer) == {"layer2"}
    # The deformation's strongest setting is the one that moves the embeddings most: 0 dB.
    moved = maps[maps.deformation != "none"]
    assert set(moved.deformation) == {"white_noise"} and set(moved.strength) == {0.0}
    pitch = maps[(maps.task == "pitch_class")]
    clean = pitch[pitch.deformation == "none"]
    assert (
        len(clean)
        == len(pitch) / 2
        == len(experiment.datasets[0].task_tracks("pitch_class", "test"))
    )
    assert set(clean.label) <= set(experiment.datasets[0].tasks["pitch_class"].classes)

    # A rerun without views removes those of the earlier run.
    experiment.config.report.drift = False
    experiment.config.report.maps = []
    assert [path.name for path in analyse(experiment)] == ["similarity.csv"]
    assert not (out / "drift.csv").exists() and not (out / "maps.csv").exists()


def test_a_missing_embedding_names_the_track(tmp_path):
    experiment = _run(tmp_path, maps=[])
    store = Store.of(experiment)
    dataset, [model] = experiment.datasets[0], experiment.models
    track = dataset.tracks("test")[0]
    key = embedding_key(model, track, experiment.conditions[1], seed=0, dataset=dataset)
    store.path(key).unlink()
    with pytest.raises(DataError, match=f"no embedding of track '{track.id}'.*mir_ref extract"):
        analyse(experiment)


def test_maps_of_a_multi_layer_model_need_the_validation_scores(tmp_path):
    experiment = _run(tmp_path, drift=False, similarity=False)
    with pytest.raises(DataError, match="selection.csv.*mir_ref evaluate"):
        analyse(experiment)


def test_pca_maps_place_deformed_points_with_the_clean_projection(rng):
    clean = rng.normal(size=(40, 6)) * [5, 3, 1, 0.1, 0.1, 0.1]
    placed, same = pca_map(clean, clean.copy())
    np.testing.assert_allclose(placed, same)
    assert placed.shape == (40, 2)
    np.testing.assert_allclose(placed.mean(axis=0), 0.0, atol=1e-12)
    assert placed[:, 0].var() >= placed[:, 1].var()
    # The same data give the same map, whatever the components' signs came out as.
    np.testing.assert_allclose(pca_map(clean)[0], placed)
    # A shifted copy of the clean points moves, all by the same step: one projection.
    shift = np.zeros(6)
    shift[0] = clean[:, 0].std()
    _, moved = pca_map(clean, clean + shift)
    steps = moved - placed
    np.testing.assert_allclose(steps, np.broadcast_to(steps[0], steps.shape), atol=1e-12)
    assert np.linalg.norm(steps[0]) > 0.1
    # The first two principal components, up to sign, for tall and for wide embeddings.
    for items, dim in ((40, 6), (20, 64)):
        x = rng.normal(size=(items, dim)) * np.linspace(3, 0.1, dim)
        z = (x - x.mean(axis=0)) / x.std(axis=0)
        reference = z @ np.linalg.svd(z, full_matrices=False)[2][:2].T
        np.testing.assert_allclose(np.abs(pca_map(x)[0]), np.abs(reference), atol=1e-9)
    # One informative direction only: the second coordinate is 0, not noise.
    line = np.outer(np.arange(10.0), np.ones(3))
    assert np.allclose(pca_map(line)[0][:, 1], 0.0)


def test_tsne_maps_place_clean_and_deformed_points_together(rng):
    clean = rng.normal(size=(30, 5))
    placed, moved = tsne_map(clean, clean + 0.01, seed=0)
    assert placed.shape == moved.shape == (30, 2)
    assert np.isfinite(placed).all() and np.isfinite(moved).all()
    with pytest.raises(ValueError, match="umap"):
        project("umap", clean)


def test_points_are_coloured_by_label_and_tags_by_the_most_frequent_one():
    tags = ["drums", "voice", "guitar"]
    encoded = np.array([[1, 1, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1], [0, 0, 0]])
    # voice is the most frequent tag (3), then guitar (2), then drums (1).
    assert colour_labels("multilabel", tags, encoded) == [
        "voice",
        "voice",
        "voice",
        "guitar",
        "no tag",
    ]
    assert colour_labels("multiclass", ["a", "b"], np.array([1, 0])) == ["b", "a"]
    assert colour_labels("regression", [], np.array([120.0, 95.5])) == ["120", "95.5"]


def test_the_views_are_checked_before_any_work():
    base = {
        "datasets": [{"type": "synthetic_tones", "notes_per_class": 1, "mixtures": 9}],
        "models": [{"type": "mfcc"}],
    }
    refused = {
        "drfit": "report.drfit: unknown key; did you mean 'drift'",
        "maps": "report.maps",
        "similarity": "report.similarity",
    }
    values = {"drfit": True, "maps": ["umap"], "similarity": "sometimes"}
    for key, message in refused.items():
        with pytest.raises(ConfigError, match=message):
            Experiment.from_config({**base, "report": {key: values[key]}})
    report = Experiment.from_config(base).config.report
    assert (report.drift, report.similarity, report.maps) == (True, True, ["pca"])
