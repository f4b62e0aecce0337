"""Basic Pitch's NMP network (the ``nmp.onnx`` inside the basic-pitch wheel) in onnxruntime.

basic-pitch declares tensorflow as a hard dependency; it is installed with ``--no-deps`` and
never imported: only its ONNX file is read. Its activations are frame features at 22.05 kHz
every 256 samples (~86 per second): ``contour`` (264 bins, a third of a semitone each, from
A0), ``note`` and ``onset`` (88 piano keys).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mir_ref.digests import file_checksum
from mir_ref.errors import ComponentError, ConfigError
from mir_ref.models.base import EmbeddingModel, LazyRuntime
from mir_ref.models.onnx_model import onnx_parameter_count, onnx_problems, onnx_session
from mir_ref.registry import register

SAMPLE_RATE = 22050
FFT_HOP = 256
INPUT_SAMPLES = 2 * SAMPLE_RATE - FFT_HOP
"""The network's fixed input length (just under 2 s)."""
OVERLAP_FRAMES = 30
"""Frames shared by consecutive pieces; half are dropped at each inner edge, as basic-pitch does."""
FRAMES_PER_SECOND = SAMPLE_RATE // FFT_HOP
_OUTPUTS = {  # layer → ONNX output name (basic_pitch/inference.py)
    "contour": "StatefulPartitionedCall:0",
    "note": "StatefulPartitionedCall:1",
    "onset": "StatefulPartitionedCall:2",
}
_SIZES = {"contour": 264, "note": 88, "onset": 88}


def model_path() -> Path:
    """``nmp.onnx`` inside the installed basic-pitch wheel (found without importing it)."""
    spec = importlib.util.find_spec("basic_pitch")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "model 'basic_pitch' needs the basic-pitch wheel's ONNX file: "
            "pip install --no-deps basic-pitch==0.4.0 (without --no-deps it pulls tensorflow)"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder / "saved_models" / "icassp_2022" / "nmp.onnx"


@register("models", "basic_pitch")
@dataclass
class BasicPitch(LazyRuntime, EmbeddingModel):
    """Basic Pitch (Spotify) note/onset/contour activations as frame features (ONNX).

    Parameters
    ----------
    layers : one or a list of ``contour`` (264), ``note`` and ``onset`` (88 each); one size
        per model entry.
    """

    layers: str | list[str] = "contour"

    version: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        self.layers = [self.layers] if isinstance(self.layers, str) else list(self.layers)
        unknown = [layer for layer in self.layers if layer not in _OUTPUTS]
        if unknown or not self.layers:
            raise ValueError(f"layers: {self.layers!r} must name some of {list(_OUTPUTS)}")
        if len({_SIZES[layer] for layer in self.layers}) > 1:
            raise ValueError(
                f"layers {self.layers} differ in size; put 'contour' in its own model entry"
            )

    @property
    def sample_rate(self) -> int:
        """22 050 Hz."""
        return SAMPLE_RATE

    @property
    def frame_hop_s(self) -> float:
        """256 / 22 050 s (about 11.6 ms)."""
        return FFT_HOP / SAMPLE_RATE

    def layer_sizes(self) -> dict[str, int]:
        """Embedding size of each configured layer."""
        return {layer: _SIZES[layer] for layer in self.layers}

    def availability_problems(self) -> list[str]:
        """The basic-pitch wheel, its ONNX file or onnxruntime, when missing."""
        try:
            path = model_path()
        except ConfigError as error:
            return [str(error)]
        return onnx_problems(path, owner="basic_pitch")

    def parameter_count(self) -> int | None:
        """Weights stored in ``nmp.onnx`` (about 17 k)."""
        return onnx_parameter_count(model_path())

    def provenance(self) -> dict[str, Any]:
        """The SHA-256 of ``nmp.onnx``."""
        return {"weights_sha256": file_checksum(model_path())}

    def _session(self) -> Any:
        if "session" not in self._runtime:
            self._runtime["session"] = onnx_session(model_path(), owner="basic_pitch")
        return self._runtime["session"]

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """Basic Pitch's activations for a batch of 22.05 kHz waveforms.

        Each waveform is cut into overlapping pieces of :data:`INPUT_SAMPLES` exactly as
        basic-pitch's own inference does, and the pieces' frames stitched back together.

        Parameters
        ----------
        batch : ``[batch, samples]`` float32 at 22 050 Hz.

        Returns
        -------
        ``[layers, batch, frames, dim]`` float32, ``frames = floor(samples * 86 / 22050)``
        (at least 1).
        """
        batch = np.asarray(batch, dtype=np.float32)
        count, samples = batch.shape
        overlap = OVERLAP_FRAMES * FFT_HOP
        hop = INPUT_SAMPLES - overlap
        padded = np.pad(batch, [(0, 0), (overlap // 2, 0)])
        starts = range(0, padded.shape[1], hop)
        padded = np.pad(padded, [(0, 0), (0, starts[-1] + INPUT_SAMPLES - padded.shape[1])])
        # [batch, pieces, INPUT_SAMPLES]
        pieces = np.stack([padded[:, s : s + INPUT_SAMPLES] for s in starts], axis=1)
        names = [_OUTPUTS[layer] for layer in self.layers]
        outputs = self._session().run(
            names, {"serving_default_input_2:0": pieces.reshape(-1, INPUT_SAMPLES, 1)}
        )
        keep = max(1, samples * FRAMES_PER_SECOND // SAMPLE_RATE)
        layers = []
        half = OVERLAP_FRAMES // 2
        for output in outputs:
            trimmed = output[:, half:-half]
            frames = trimmed.reshape(count, -1, trimmed.shape[-1])[:, :keep]
            if frames.shape[1] < keep:
                raise ComponentError(f"basic_pitch returned {frames.shape[1]} frames for {keep}")
            layers.append(frames)
        return np.stack(layers).astype(np.float32)
