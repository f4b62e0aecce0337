"""ONNX models: Basic Pitch's shipped network, and any exported model through ``onnx``."""

from __future__ import annotations

import importlib.util
import sys
import warnings

import librosa
import numpy as np
import pytest
import torch

import mir_ref
from mir_ref import registry
from mir_ref.errors import ConfigError
from tests.model_runs import notes_config

pytest.importorskip("onnxruntime")
needs_basic_pitch = pytest.mark.skipif(
    importlib.util.find_spec("basic_pitch") is None,
    reason="basic-pitch wheel not installed (make installs it with --no-deps)",
)


def build(spec: dict):
    return registry.build("models", spec, where="models[0]")


def tone(frequency_hz: float, seconds: float, sample_rate: int = 22050) -> np.ndarray:
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    return (0.5 * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)


@needs_basic_pitch
def test_basic_pitch_note_activations_find_the_played_key():
    midi = [45, 57, 64, 76]
    audio = np.stack([tone(librosa.midi_to_hz(m), 1.0) for m in midi])
    notes = build({"type": "basic_pitch", "layers": "note"}).embed(audio)
    assert notes.shape == (1, 4, 1 * 22050 * 86 // 22050, 88)
    assert (notes[0].mean(axis=1).argmax(axis=-1) + 21).tolist() == midi


@needs_basic_pitch
def test_basic_pitch_stitches_long_audio_without_gaps():
    audio = tone(330.0, 5.0)[None]
    contour = build({"type": "basic_pitch"}).embed(audio)[0, 0]
    assert contour.shape == (5 * 86, 264)
    peaks = contour.argmax(axis=-1)[20:-20]  # 3 bins per semitone from A0
    assert np.all(np.abs(peaks - round(3 * (librosa.hz_to_midi(330.0) - 21))) <= 1)
    assert "basic_pitch" not in sys.modules and "tensorflow" not in sys.modules


@needs_basic_pitch
def test_basic_pitch_runs_end_to_end(tmp_path):
    model = {"type": "basic_pitch", "layers": ["note", "onset"]}
    results = mir_ref.run(notes_config(tmp_path, [model]))
    assert set(results.layer.astype(str)) == {"note", "onset"}


@needs_basic_pitch
def test_basic_pitch_layers_of_different_sizes_are_refused():
    with pytest.raises(ConfigError, match="differ in size"):
        build({"type": "basic_pitch", "layers": ["note", "contour"]})


@needs_basic_pitch
def test_generic_onnx_adapter_reads_the_declared_input_of_nmp():
    from mir_ref.models.basic_pitch import model_path

    spec = {"type": "onnx", "path": str(model_path()), "sample_rate_hz": 22050}
    model = build({**spec, "outputs": ["StatefulPartitionedCall:1"]})
    assert model.input_samples == 2 * 22050 - 256
    output = model.embed(tone(440.0, 1.0)[None])
    assert output.shape[:2] == (1, 1) and output.shape[-1] == 88
    assert output[0, 0].mean(axis=0).argmax() + 21 == 69
    assert model.frame_hop_s == pytest.approx(256 / 22050, rel=0.02)


def export(module: torch.nn.Module, example: torch.Tensor, path, *, dynamic: dict) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=["audio"],
            output_names=["frames", "summary"],
            dynamic_axes=dynamic,
            dynamo=False,
        )
    return str(path)


class FrameNet(torch.nn.Module):
    """A strided conv over the waveform (frames every 160 samples) and a mean summary."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv1d(1, 8, 400, stride=160)

    def forward(self, audio: torch.Tensor):
        frames = torch.tanh(self.conv(audio[:, None])).transpose(1, 2)
        return frames, frames.mean(dim=1)


def test_onnx_waveform_model_matches_torch(tmp_path, rng):
    pytest.importorskip("onnx")
    net = FrameNet().eval()
    path = export(net, torch.zeros(1, 16000), tmp_path / "frames.onnx",
                  dynamic={"audio": {0: "batch", 1: "samples"}})  # fmt: skip
    audio = rng.standard_normal((3, 16000)).astype(np.float32)
    model = build({"type": "onnx", "path": path, "outputs": ["frames"], "output_hop_s": 0.01})
    with torch.no_grad():
        expected = net(torch.from_numpy(audio))[0].numpy()
    np.testing.assert_allclose(model.embed(audio)[0], expected, atol=1e-5)
    assert model.layers == ["frames"] and model.frame_hop_s == 0.01
    summary = build({"type": "onnx", "path": path, "outputs": ["summary"]}).embed(audio)
    assert summary.shape == (1, 3, 1, 8)


class MelNet(torch.nn.Module):
    def forward(self, log_mel: torch.Tensor):
        return log_mel * 2, log_mel.mean(dim=1)


def test_onnx_log_mel_model_gets_the_declared_front_end(tmp_path, rng):
    pytest.importorskip("onnx")
    path = export(MelNet(), torch.zeros(1, 10, 32), tmp_path / "mel.onnx",
                  dynamic={"audio": {0: "batch", 1: "frames"}})  # fmt: skip
    spec = {"type": "onnx", "path": path, "input": "log_mel", "n_mels": 32, "outputs": ["frames"]}
    audio = rng.standard_normal((2, 8000)).astype(np.float32)
    output = build(spec).embed(audio)
    power = librosa.feature.melspectrogram(y=audio, sr=16000, n_fft=512, hop_length=160, n_mels=32)
    expected = 2 * np.log(power + 1e-6).transpose(0, 2, 1)
    np.testing.assert_allclose(output[0], expected, rtol=1e-4, atol=1e-4)


def test_onnx_errors_name_the_file_and_the_choices(tmp_path):
    with pytest.raises(ConfigError, match="missing.onnx does not exist"):
        build({"type": "onnx", "path": str(tmp_path / "missing.onnx")})
    pytest.importorskip("onnx")
    path = export(MelNet(), torch.zeros(1, 10, 32), tmp_path / "mel.onnx",
                  dynamic={"audio": {0: "batch", 1: "frames"}})  # fmt: skip
    with pytest.raises(ConfigError, match=r"no output\(s\) \['logits'\]; outputs: \['frames', "):
        build({"type": "onnx", "path": path, "outputs": ["logits"]})
