"""The ``hear`` adapter on a HEAR-API module written for the tests, and on broken ones."""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest

import mir_ref
from mir_ref import registry
from mir_ref.errors import ComponentError, ConfigError
from tests.model_runs import notes_config

MODULE = "tests.hear_example"


def build(**params):
    return registry.build("models", {"type": "hear", **params}, where="models[0]")


def test_timestamp_embeddings_are_frames_with_the_modules_hop(rng):
    model = build(module=MODULE)
    output = model.embed(rng.standard_normal((2, 8000)).astype(np.float32))
    assert output.shape == (1, 2, 1 + 8000 // 400, 8)
    assert model.layers == ["timestamp"]
    assert model.sample_rate == 16000
    assert model.frame_hop_s == pytest.approx(0.025)
    assert model.layer_sizes() == {"timestamp": 8}


def test_scene_embedding_is_one_frame_per_window_and_model_file_is_passed(tmp_path, rng):
    weights = tmp_path / "scale.txt"
    weights.write_text("2.0")
    audio = rng.standard_normal((3, 4000)).astype(np.float32)
    plain = build(module=MODULE, embedding="scene").embed(audio)
    scaled = build(module=MODULE, embedding="scene", model_file=str(weights)).embed(audio)
    assert plain.shape == (1, 3, 1, 8)
    np.testing.assert_allclose(scaled, 2 * plain, rtol=1e-5)
    assert math.isnan(build(module=MODULE, embedding="scene").frame_hop_s)


def test_hear_module_runs_end_to_end(tmp_path):
    models = [
        {"type": "hear", "module": MODULE, "name": "bands"},
        {"type": "hear", "module": MODULE, "embedding": "scene", "name": "bands-scene"},
    ]
    results = mir_ref.run(notes_config(tmp_path, models))
    assert set(results.model) == {"bands", "bands-scene"}
    assert set(results.layer.astype(str)) == {"timestamp", "scene"}


def fake_module(monkeypatch, name: str, **functions) -> str:
    module = types.ModuleType(name)
    for key, value in functions.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return name


def test_module_without_the_api_functions_is_named(monkeypatch):
    name = fake_module(monkeypatch, "half_hear", load_model=lambda path="": None)
    with pytest.raises(
        ConfigError,
        match="'half_hear' does not follow the HEAR API.*"
        "get_scene_embeddings, get_timestamp_embeddings",
    ):
        build(module=name)


def test_model_without_required_attributes_is_named(monkeypatch):
    name = fake_module(
        monkeypatch,
        "bare_hear",
        load_model=lambda path="": object(),
        get_scene_embeddings=lambda audio, model: None,
        get_timestamp_embeddings=lambda audio, model: None,
    )
    with pytest.raises(ConfigError, match="'bare_hear': load_model.*sample_rate"):
        _ = build(module=name).sample_rate


def test_wrong_output_shapes_are_component_errors_naming_the_module(monkeypatch, rng):
    from tests import hear_example

    name = fake_module(
        monkeypatch,
        "flat_hear",
        load_model=hear_example.load_model,
        get_scene_embeddings=lambda audio, model: model(audio),
        get_timestamp_embeddings=lambda audio, model: model(audio),
    )
    audio = rng.standard_normal((1, 4000)).astype(np.float32)
    with pytest.raises(ComponentError, match="'flat_hear': get_timestamp_embeddings must return"):
        build(module=name).embed(audio)
    with pytest.raises(ComponentError, match="'flat_hear': get_scene_embeddings returned shape"):
        build(module=name, embedding="scene").embed(audio)


def test_unknown_module_is_a_config_error():
    with pytest.raises(ConfigError, match="HEAR module 'no_such_hear' cannot be imported"):
        build(module="no_such_hear")
