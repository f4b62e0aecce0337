"""Long windows in chunks with context, ``batch_size: auto`` and the adapter's new keys."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from mir_ref import registry
from mir_ref.cli import app
from tests import hf_tiny
from tests.model_runs import notes_config

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def local_model(tmp_path_factory) -> str:
    """The tiny wav2vec2 whose layer 0 is convolutional (``hf_tiny.wav2vec2_local``)."""
    return str(hf_tiny.wav2vec2_local(tmp_path_factory.mktemp("hf") / "local"))


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32)


def build(model_id: str, **params):
    spec = {"type": "huggingface", "model_id": model_id, "device": "cpu", **params}
    return registry.build("models", spec, where="models[0]")


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("context_s", [0.0, 0.01, 0.1])
@pytest.mark.parametrize("samples", [4001, 16000, 16019, 33333])
def test_chunks_fit_the_input_and_their_cores_tile_the_window(local_model, samples, context_s):
    model = build(local_model, max_chunk_s=0.25, chunk_context_s=context_s)
    architecture = model._architecture
    hop, maximum = architecture.hop_samples, architecture.max_samples
    chunks = architecture.chunks(samples, context_s=context_s)
    assert len(chunks) > 1
    core_start = 0
    for chunk in chunks:
        assert 0 <= chunk.start < chunk.stop <= samples and chunk.stop - chunk.start <= maximum
        assert chunk.start % hop == 0
        assert chunk.start + chunk.first * hop == core_start  # the core begins after the context
        if chunk.count is not None:
            core_start += chunk.count * hop
    assert chunks[-1].count is None and core_start < samples


def test_chunked_frames_equal_the_whole_windows_when_the_context_covers_the_receptive_field(
    local_model, audio
):
    whole = build(local_model, layers=[0]).embed(audio)
    chunked = build(local_model, layers=[0], max_chunk_s=0.25, chunk_context_s=0.01)
    assert whole.shape == (1, 2, 799, 16)
    np.testing.assert_allclose(chunked.embed(audio), whole, rtol=0, atol=1e-4)
    np.testing.assert_allclose(chunked.embed_mean(audio), whole.mean(axis=2), rtol=0, atol=1e-5)
    # Without context each chunk loses the frames its edges cut (and its edge frames change).
    bare = build(local_model, layers=[0], max_chunk_s=0.25).embed(audio)
    assert bare.shape[2] < whole.shape[2]


def test_chunk_context_leaves_attention_differences_in_a_transformer(local_model, audio):
    whole = build(local_model).embed(audio)
    chunked = build(local_model, max_chunk_s=0.25, chunk_context_s=0.05).embed(audio)
    assert chunked.shape == whole.shape == (3, 2, 799, 16)
    errors = [relative(chunked[layer], whole[layer]) for layer in range(3)]
    # Layer 0 (convolutions) is exact; the blocks' attention sees only its chunk: measured
    # 2.9e-4 and 4.4e-4 relative on this random-weight model (README, Embedding models).
    assert errors[0] < 1e-6
    assert all(1e-5 < error < 1e-2 for error in errors[1:]), errors


@pytest.mark.parametrize(
    ("window_s", "batch_size", "expected"),
    [(0.5, "auto", 16), (3.0, "auto", 2), (30.0, "auto", 1), (60.0, "auto", 1), (3.0, 5, 5)],
)
def test_batch_size_auto_fills_forward_passes_up_to_a_few_seconds_on_cpu(
    local_model, window_s, batch_size, expected
):
    model = build(local_model, batch_size=batch_size)
    assert model.windows_per_batch(int(window_s * 16000)) == expected


def test_bfloat16_runs_on_cpu_and_changes_embeddings_slightly(local_model, audio):
    full = build(local_model).embed(audio)
    half = build(local_model, dtype="bfloat16").embed(audio)
    assert half.dtype == np.float32 and half.shape == full.shape
    assert 1e-4 < relative(half, full) < 5e-2


@pytest.mark.parametrize(
    ("section", "bad", "message"),
    [
        ("model", {"chunk_contxt_s": 0.01}, "did you mean 'chunk_context_s'"),
        ("model", {"chunk_context_s": -1}, "chunk_context_s: -1.0 must be 0 or more"),
        ("model", {"chunk_context_s": 0.2, "max_chunk_s": 0.25}, "chunk_context_s: 0.2 s"),
        ("model", {"max_chunk_s": 0}, "max_chunk_s: 0.0 must be positive"),
        ("model", {"dtype": "bfloat"}, "did you mean 'bfloat16'"),
        ("model", {"batch_size": 0}, "batch_size: 0 must be positive"),
        ("model", {"batch_size": "auo"}, "did you mean 'auto'"),
        ("execution", {"threads": 0}, "execution.threads"),
        ("execution", {"thread": 2}, "did you mean 'threads'"),
        ("execution", {"workers": 0}, "execution.workers"),
    ],
)
def test_validate_refuses_a_bad_key_or_value_and_names_it(
    local_model, tmp_path, section, bad, message
):
    model = {"type": "huggingface", "model_id": local_model}
    config = notes_config(tmp_path, [{**model, **bad} if section == "model" else model])
    if section == "execution":
        config["execution"] = bad
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["validate", "-c", str(path)])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert message in output
    assert ("models[0]" if section == "model" else "execution") in output
