"""``models.json``: frame rate, size per layer, parameters and measured speed of each model."""

from __future__ import annotations

import json

import pytest

from mir_ref.experiment import Experiment
from mir_ref.extract import extract
from tests.model_runs import notes_config


def test_extraction_writes_models_json_and_a_rerun_keeps_the_speed(tmp_path):
    models = [
        {"type": "random_cnn", "width": 16, "depth": 2},
        {"type": "mfcc"},
    ]
    config = notes_config(tmp_path, models)
    extract(Experiment.from_config(config))
    path = tmp_path / "run" / "models.json"
    first = json.loads(path.read_text())
    assert first["random_cnn"]["layers"] == {"block1": 16, "block2": 16}
    assert first["random_cnn"]["frame_rate_hz"] == pytest.approx(50)
    assert first["random_cnn"]["parameters"] == 16 * 9 + 16 + 16 * 16 * 9 + 16
    assert first["mfcc"]["layers"] == {"output": 20}
    for record in first.values():
        speed = record["extraction"]
        assert speed["audio_s"] > 0 and speed["audio_s_per_s"] > 0
        assert speed["device"] == "cpu"
    # A rerun embeds nothing (all cached) and keeps the measured speeds.
    extract(Experiment.from_config(config))
    assert json.loads(path.read_text()) == first


def test_parameters_are_counted_where_the_model_runs_not_reloaded_in_the_parent(tmp_path):
    config = notes_config(tmp_path, [{"type": "random_cnn", "width": 16, "depth": 2}])
    config["execution"] = {"workers": 2}
    experiment = Experiment.from_config(config)
    stats = extract(experiment)
    record = json.loads((tmp_path / "run" / "models.json").read_text())["random_cnn"]
    assert record["parameters"] == 16 * 9 + 16 + 16 * 16 * 9 + 16
    assert stats.speed["random_cnn"][4] == record["parameters"]
    # The workers built the network; the parent, which only writes models.json, did not.
    assert "network" not in experiment.models[0].model._runtime
