"""One contract over every registered model: shapes, layers, frame rate, pickling, batching."""

from __future__ import annotations

import importlib.util
import pickle

import numpy as np
import pytest

from mir_ref import registry
from mir_ref.models.presets import PRESETS

# Parameters a model needs to be built offline; the presets need the internet and are
# covered by the huggingface adapter's own tests.
NEEDS = {
    "hear": {"module": "tests.hear_example"},
    "python": {"class": "tests.python_model_example:FrameEnergy"},
    "crepe": {"hop_length": 800},
}
OPTIONAL = {"crepe": "torchcrepe", "basic_pitch": "basic_pitch", "huggingface": "transformers"}


def names() -> list[str]:
    return [
        name
        for name in registry.available("models")
        if name not in PRESETS and name != "onnx"  # onnx needs a file: test_models_onnx.py
    ]


def build(name: str, tmp_path_factory) -> object:
    module = OPTIONAL.get(name)
    if module and importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    params = dict(NEEDS.get(name, {}))
    if name == "huggingface":
        from tests import hf_tiny

        params["model_id"] = str(hf_tiny.hubert(tmp_path_factory.mktemp("hubert")))
    return registry.build("models", {"type": name, **params}, where="models[0]")


@pytest.mark.parametrize("name", names())
def test_model_contract(name, tmp_path_factory, rng):
    model = build(name, tmp_path_factory)
    seconds = 1.0
    batch = (0.1 * rng.standard_normal((3, int(seconds * model.sample_rate)))).astype(np.float32)
    output = np.asarray(model.embed(batch))
    assert output.dtype == np.float32
    assert output.ndim == 4 and output.shape[:2] == (len(model.layers), 3)
    assert np.all(np.isfinite(output))
    assert len(set(model.layers)) == len(model.layers)
    hop_s = model.frame_hop_s
    if np.isfinite(hop_s) and hop_s < seconds:
        expected = seconds / hop_s
        assert abs(output.shape[2] - expected) <= max(2, 0.1 * expected), (output.shape, hop_s)
    # Workers receive a pickled model: it must survive the trip and give the same output.
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(copy.embed(batch[:1]), output[:, :1], atol=1e-4)


@pytest.mark.parametrize("name", names())
def test_a_window_embeds_alike_alone_and_in_any_batch(name, tmp_path_factory, rng):
    # The pipeline fills each call with windows of successive tracks (mir_ref/batches.py),
    # so a window's batch depends on the schedule: its cached entry must not.
    model = build(name, tmp_path_factory)
    batch = (0.1 * rng.standard_normal((5, int(3.0 * model.sample_rate)))).astype(np.float32)
    together = np.asarray(model.embed(batch))
    for index in range(len(batch)):
        alone = np.asarray(model.embed(batch[index : index + 1]))
        assert np.array_equal(alone[:, 0], together[:, index]), index
