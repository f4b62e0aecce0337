"""The huggingface adapter on tiny random-weight models saved to folders (offline)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import mir_ref
from mir_ref import registry
from mir_ref.errors import ConfigError
from mir_ref.experiment import Experiment
from mir_ref.plan import extraction_units
from mir_ref.store import Store
from tests import hf_tiny
from tests.model_runs import notes_config

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict:
    """Every tiny model, saved once for the module."""
    root = tmp_path_factory.mktemp("hf")
    return {name: build(root / name) for name, build in hf_tiny.BUILDERS.items()}


def build(spec: dict):
    return registry.build("models", spec, where="models[0]")


EXPECTED = {  # layers and embedding size each tiny model yields with `layers: all`
    "wav2vec2": (["0", "1", "2"], 16),
    "hubert": (["0", "1", "2"], 16),
    "whisper": (["0", "1", "2"], 16),
    "ast": (["0", "1", "2"], 16),
    "clap": (["projection"], 8),
    "encodec": (["encoder"], 16),
}


# wav2vec2 stays in the quick suite; the others (seconds each) run with the slow tests.
@pytest.mark.parametrize(
    "name", [n if n == "wav2vec2" else pytest.param(n, marks=pytest.mark.slow) for n in EXPECTED]
)
def test_every_architecture_runs_end_to_end_one_row_set_per_layer(name, folders, tmp_path):
    config = notes_config(tmp_path, [{"type": "huggingface", "model_id": str(folders[name])}])
    results = mir_ref.run(config)
    layers, size = EXPECTED[name]
    assert sorted(results.layer.astype(str).unique()) == sorted(layers)
    assert results.groupby("layer").size().nunique() == 1
    experiment = Experiment.from_config(config)
    store = Store(experiment.cache_dir)
    for unit in extraction_units(experiment)[:3]:
        stored = store.get(unit.keys["huggingface"])
        assert stored.shape == (len(layers), 1, size)


@pytest.mark.slow
def test_layer_selection_gives_one_row_set_per_chosen_layer(folders, tmp_path):
    model = {"type": "huggingface", "model_id": str(folders["wav2vec2"]), "layers": [0, -1]}
    results = mir_ref.run(notes_config(tmp_path, [model]))
    assert sorted(results.layer.astype(str).unique()) == ["0", "2"]


@pytest.mark.parametrize(
    ("layers", "expected"), [("all", ["0", "1", "2"]), ("last", ["2"]), ([1, "2"], ["1", "2"])]
)
def test_layers_resolve_to_hidden_state_names(folders, layers, expected):
    model = build({"type": "huggingface", "model_id": str(folders["hubert"]), "layers": layers})
    assert model.layers == expected
    assert model.layer_sizes() == dict.fromkeys(expected, 16)


def test_golden_embedding_equals_the_direct_transformers_call(folders):
    import transformers

    folder = str(folders["wav2vec2"])
    t = np.arange(16000) / 16000
    signal = np.stack([np.sin(2 * np.pi * 220 * t), 0.5 * np.sin(2 * np.pi * 440 * t)])
    ours = build({"type": "huggingface", "model_id": folder, "device": "cpu"}).embed(signal)

    extractor = transformers.AutoFeatureExtractor.from_pretrained(folder)
    reference = transformers.AutoModel.from_pretrained(folder).eval()
    inputs = extractor(list(signal.astype(np.float32)), sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        hidden = reference(**inputs, output_hidden_states=True).hidden_states
    expected = np.stack([h.numpy() for h in hidden])
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_long_windows_are_chunked_and_frames_concatenated(folders):
    model = build({"type": "huggingface", "model_id": str(folders["wav2vec2"]), "max_chunk_s": 0.5})
    whole = build({"type": "huggingface", "model_id": str(folders["wav2vec2"])})
    audio = np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32)
    chunked = model.embed(audio)
    halves = [whole.embed(audio[:, :8000]), whole.embed(audio[:, 8000:])]
    np.testing.assert_allclose(chunked, np.concatenate(halves, axis=2), atol=1e-5)


def test_batch_size_does_not_change_embeddings(folders, rng):
    audio = rng.standard_normal((5, 8000)).astype(np.float32)
    spec = {"type": "huggingface", "model_id": str(folders["whisper"])}
    one = build({**spec, "batch_size": 1}).embed(audio)
    five = build({**spec, "batch_size": 5}).embed(audio)
    np.testing.assert_allclose(one, five, atol=1e-5)
    # Whisper pads to 30 s; only frames of the real half second are kept (50 per second).
    assert one.shape == (3, 5, 26, 16)


def test_model_pickles_without_weights_and_reloads(folders, rng):
    model = build({"type": "huggingface", "model_id": str(folders["ast"])})
    audio = rng.standard_normal((1, 16000)).astype(np.float32)
    before = model.embed(audio)
    copy = pickle.loads(pickle.dumps(model))
    assert len(pickle.dumps(model)) < 10_000
    np.testing.assert_allclose(copy.embed(audio), before, atol=1e-6)


def test_native_rates_come_from_each_feature_extractor(folders):
    rates = {
        name: build({"type": "huggingface", "model_id": str(folder)})
        for name, folder in folders.items()
    }
    assert {n: m.sample_rate for n, m in rates.items()} == {
        "wav2vec2": 16000, "hubert": 16000, "whisper": 16000, "ast": 16000,
        "clap": 48000, "encodec": 24000,
    }  # fmt: skip
    assert rates["wav2vec2"].frame_hop_s == pytest.approx(20 / 16000)
    assert rates["whisper"].frame_hop_s == pytest.approx(0.02)
    assert rates["encodec"].frame_hop_s == pytest.approx(16 / 24000)


def test_missing_local_folder_is_a_config_error_naming_it(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ConfigError, match="no-such-model.*does not exist"):
        build({"type": "huggingface", "model_id": str(missing)})


def test_remote_code_without_trust_is_a_config_error_naming_the_model(tmp_path):
    folder = tmp_path / "custom-mert"
    folder.mkdir()
    (folder / "config.json").write_text(
        '{"model_type": "mert", "auto_map": {"AutoModel": "modeling_mert.MERTModel"}}'
    )
    with pytest.raises(ConfigError, match="custom-mert.*trust_remote_code: true"):
        build({"type": "huggingface", "model_id": str(folder)})


def test_unknown_layer_names_the_choices(folders):
    with pytest.raises(ConfigError, match=r"layer 7 does not exist; layers: \['0', '1', '2'\]"):
        build({"type": "huggingface", "model_id": str(folders["hubert"]), "layers": [7]})


def test_layers_of_different_sizes_need_separate_entries(folders):
    with pytest.raises(ConfigError, match="differ in size"):
        build(
            {"type": "huggingface", "model_id": str(folders["clap"]),
             "layers": ["pooled", "projection"]}
        )  # fmt: skip


@pytest.mark.parametrize("preset", ["mert-v1-95m", "clap-htsat", "whisper-base"])
def test_presets_expand_to_the_adapter_with_hub_ids(preset):
    import dataclasses

    from mir_ref.models.hf import HuggingFace
    from mir_ref.models.presets import PRESETS

    cls = registry.lookup("models", preset)
    assert issubclass(cls, HuggingFace)
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    assert defaults["model_id"] == PRESETS[preset]["model_id"]
    # MERT's trust is left unset, to be resolved against the model_id actually used.
    assert defaults["trust_remote_code"] is (None if preset.startswith("mert") else False)


@pytest.mark.parametrize(
    ("spec", "trusted"),
    [
        ({}, True),
        ({"model_id": "someone/else"}, False),
        ({"model_id": "someone/else", "trust_remote_code": True}, True),
        ({"trust_remote_code": False}, False),
    ],
    ids=["own-hub-id", "other-id", "other-id-trusted-by-the-user", "own-id-distrusted"],
)
def test_a_presets_trust_covers_its_own_hub_id_only(monkeypatch, spec, trusted):
    from mir_ref.models.hf import HuggingFace

    seen = {}
    # The hub is out of reach here: record the resolved option instead of loading the model.
    monkeypatch.setattr(HuggingFace, "__post_init__", lambda self: seen.update(model=self))
    build({"type": "mert-v1-95m", **spec})
    assert seen["model"].trust_remote_code is trusted


def test_preset_offline_says_it_needs_the_internet_or_a_local_path(monkeypatch):
    import huggingface_hub

    # Offline mode fails at once where the real network would be retried for ~20 s.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigError, match=r"m-a-p/MERT-v1-95M.*internet.*local path"):
        build({"type": "mert-v1-95m"})


def test_preset_parameters_can_point_at_a_local_copy(folders):
    model = build({"type": "wav2vec2-base", "model_id": str(folders["wav2vec2"]), "layers": "last"})
    assert model.layers == ["2"]


def test_unknown_preset_suggests_the_closest_name():
    with pytest.raises(ConfigError, match="did you mean 'mert-v1-95m'"):
        build({"type": "mert-v1-96m"})


@pytest.mark.slow
def test_spawned_workers_load_their_own_weights(folders, tmp_path):
    model = {"type": "huggingface", "model_id": str(folders["hubert"]), "layers": "last"}
    one = mir_ref.run(notes_config(tmp_path / "a", [model]))
    config = notes_config(tmp_path / "b", [model])
    two = mir_ref.run({**config, "execution": {"workers": 2}})
    assert one["value"].tolist() == pytest.approx(two["value"].tolist(), abs=1e-6)


def test_out_of_memory_halves_the_batch_and_gives_the_same_embeddings(folders, rng):
    model = build({"type": "huggingface", "model_id": str(folders["hubert"]), "batch_size": 8})
    audio = rng.standard_normal((5, 4000)).astype(np.float32)
    expected = model.embed(audio)
    forward = model._forward

    def tight(module, device, dtype, rows):
        if len(rows) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return forward(module, device, dtype, rows)

    model._forward = tight
    np.testing.assert_allclose(model.embed(audio), expected, atol=1e-5)
    assert model._runtime["batch_size"] == 2
