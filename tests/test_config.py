"""The config: validation errors name the key path, the bad value and the closest choice."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mir_ref.errors import ConfigError, DataError
from mir_ref.experiment import Experiment, load_config
from mir_ref.stages import ensure_valid
from tests.conftest import manifest_config


def _config(manifest: Path, **overrides) -> dict:
    return manifest_config(manifest, **overrides)


def _error(config: dict) -> str:
    with pytest.raises(ConfigError) as raised:
        Experiment.from_config(config)
    return str(raised.value)


def test_a_valid_config_resolves_every_component(manifest_corpus):
    config = _config(
        manifest_corpus,
        deformations=[{"type": "white_noise", "snr_db": [20, 10]}, {"type": "gain", "gain_db": -6}],
        probes=[{"type": "linear"}, {"type": "mlp", "hidden": [32]}],
    )
    experiment = Experiment.from_config(config)
    assert [c.label for c in experiment.conditions] == [
        "none",
        "white_noise@snr_db=20",
        "white_noise@snr_db=10",
        "gain@gain_db=-6",
    ]
    assert [p.label() for p in experiment.probes] == ["linear", "mlp-32"]
    assert experiment.datasets[0].name == "corpus"
    ensure_valid(experiment)


def test_unknown_top_level_key_suggests_the_closest():
    message = _error({"datasets": [], "modles": []})
    assert "modles: unknown key; did you mean 'models'?" in message


def test_unknown_nested_key_names_its_path(manifest_corpus):
    message = _error(_config(manifest_corpus, embedding={"windows_s": 1.0}))
    assert "embedding.windows_s" in message and "did you mean 'window_s'" in message


def test_wrong_type_names_key_and_value(manifest_corpus):
    message = _error(_config(manifest_corpus, embedding={"window_s": "long"}))
    assert "embedding.window_s" in message and "'long'" in message


def test_unknown_model_name_suggests_a_registered_one(manifest_corpus):
    message = _error(_config(manifest_corpus, models=[{"type": "mfcc"}, {"type": "mfc"}]))
    assert "models[1].type: 'mfc' is not a registered model; did you mean 'mfcc'?" in message


def test_unknown_model_parameter(manifest_corpus):
    message = _error(_config(manifest_corpus, models=[{"type": "mfcc", "n_mfc": 13}]))
    assert "models[0].n_mfc" in message and "did you mean 'n_mfcc'" in message


def test_task_type_typo_names_the_nested_path(manifest_corpus):
    config = _config(manifest_corpus)
    config["datasets"][0]["tasks"]["genre"]["type"] = "multi-class"
    message = _error(config)
    assert "datasets[0].tasks.genre.type" in message
    assert "did you mean 'multiclass'" in message


def test_sweeps_need_exactly_one_non_empty_list(manifest_corpus):
    two = [{"type": "white_noise", "snr_db": [20, 10], "seed": [1, 2]}]
    assert "only one parameter can be swept" in _error(_config(manifest_corpus, deformations=two))
    empty = [{"type": "white_noise", "snr_db": []}]
    assert "deformations[0].snr_db" in _error(_config(manifest_corpus, deformations=empty))


def test_out_of_range_strength_names_the_deformation(manifest_corpus):
    bad = [{"type": "pitch_shift", "semitones": [1, 99]}]
    assert "deformations[0]" in _error(_config(manifest_corpus, deformations=bad))


def test_duplicate_model_names_are_refused(manifest_corpus):
    message = _error(_config(manifest_corpus, models=[{"type": "mfcc"}, {"type": "mfcc"}]))
    assert "'mfcc' appears twice" in message


def test_missing_config_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_relative_paths_resolve_against_the_config_folder(manifest_corpus):
    folder = manifest_corpus.parent
    config = _config(manifest_corpus)
    config["datasets"][0]["path"] = "manifest.csv"
    config["output_dir"] = "out"
    config["cache_dir"] = "cache"
    (folder / "cfg.yml").write_text(yaml.safe_dump(config))
    experiment = Experiment.from_config(folder / "cfg.yml")
    assert experiment.output_dir == folder / "out"
    assert experiment.cache_dir == folder / "cache"
    assert len(experiment.datasets[0].tracks()) == 24


def test_missing_audio_file_is_named(manifest_corpus):
    (manifest_corpus.parent / "audio" / "low_00.wav").unlink()
    with pytest.raises(DataError, match="low_00.wav"):
        ensure_valid(Experiment.from_config(_config(manifest_corpus)))


def test_unreadable_audio_is_named(manifest_corpus):
    (manifest_corpus.parent / "audio" / "high_01.wav").write_bytes(b"this is not audio" * 10)
    with pytest.raises(DataError, match="high_01.wav"):
        ensure_valid(Experiment.from_config(_config(manifest_corpus)))


def test_missing_label_column_is_named(manifest_corpus):
    config = _config(manifest_corpus)
    config["datasets"][0]["tasks"] = {"mood": {"type": "multiclass"}}
    with pytest.raises((DataError, ConfigError), match="mood"):
        Experiment.from_config(config).datasets[0].tracks()


def test_empty_split_is_named(manifest_corpus):
    text = manifest_corpus.read_text().replace(",validation\n", ",train\n")
    manifest_corpus.write_text(text)
    with pytest.raises(DataError, match="validation split has no tracks"):
        ensure_valid(Experiment.from_config(_config(manifest_corpus)))
