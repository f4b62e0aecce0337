"""Seeded random networks: reproducible, independent of batching, one row set per layer."""

from __future__ import annotations

import numpy as np
import pytest

import mir_ref
from mir_ref import registry
from tests.model_runs import notes_config

KINDS = {"random_cnn": ["block1", "block2", "block3", "block4"],
         "random_transformer": ["0", "1", "2", "3", "4"]}  # fmt: skip


def build(kind: str, **params):
    return registry.build("models", {"type": kind, **params}, where="models[0]")


@pytest.mark.parametrize("kind", list(KINDS))
def test_same_seed_same_network_other_seed_other_network(kind, rng):
    audio = rng.standard_normal((2, 16000)).astype(np.float32)
    first = build(kind, seed=3).embed(audio)
    np.testing.assert_array_equal(first, build(kind, seed=3).embed(audio))
    assert not np.allclose(first, build(kind, seed=4).embed(audio))


@pytest.mark.parametrize("kind", list(KINDS))
def test_layers_frames_and_sizes(kind, rng):
    model = build(kind, width=32, depth=len(KINDS[kind]) - (kind == "random_transformer"))
    output = model.embed(rng.standard_normal((3, 8000)).astype(np.float32))
    assert model.layers == KINDS[kind]
    assert output.shape == (len(KINDS[kind]), 3, 1 + 8000 // 320, 32)
    assert model.layer_sizes() == dict.fromkeys(KINDS[kind], 32)
    assert model.frame_hop_s == pytest.approx(0.02)
    assert 1000 < model.parameter_count() < 1_000_000


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_item_does_not_depend_on_its_batch(kind, rng):
    audio = rng.standard_normal((3, 8000)).astype(np.float32)
    together = build(kind, batch_size=3).embed(audio)
    alone = build(kind).embed(audio[1:2])
    np.testing.assert_allclose(together[:, 1:2], alone, atol=1e-4)


def test_transformer_segments_long_input_for_attention(rng):
    model = build("random_transformer", max_frames=50)
    output = model.embed(rng.standard_normal((1, 16000 * 2)).astype(np.float32))
    assert output.shape[2] == 1 + 32000 // 320
    assert np.all(np.isfinite(output))


@pytest.mark.slow
def test_random_baselines_run_end_to_end_one_row_set_per_layer(tmp_path):
    models = [
        {"type": "random_cnn", "width": 16, "depth": 2},
        {"type": "random_transformer", "width": 16, "depth": 1},
    ]
    results = mir_ref.run(notes_config(tmp_path, models))
    layers = results.groupby("model").layer.agg(lambda x: sorted(set(x.astype(str))))
    assert layers.to_dict() == {
        "random_cnn": ["block1", "block2"],
        "random_transformer": ["0", "1"],
    }
