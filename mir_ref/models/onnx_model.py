"""The ``onnx`` adapter: any ONNX model that takes a waveform or a log-mel spectrogram.

The model runs in onnxruntime (no training framework needed). What its input is must be
declared in the config: ``input: waveform`` (``[batch, samples]``, ``[batch, samples, 1]`` or
``[batch, 1, samples]``, read from the model's declared input shape) or ``input: log_mel``
with the front end's parameters. Each requested output is a layer: ``[batch, frames, dim]``
or ``[batch, dim]`` (one frame).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import librosa
import numpy as np

from mir_ref.digests import file_checksum
from mir_ref.errors import ComponentError, ConfigError
from mir_ref.models.base import EmbeddingModel, LazyRuntime
from mir_ref.registry import register


def onnx_problems(path: Path, *, owner: str) -> list[str]:
    """Why an ONNX session for ``path`` cannot be made, found without making it: onnxruntime
    is not installed, or ``path`` is not a file. Messages name ``owner`` (the model)."""
    problems = []
    if importlib.util.find_spec("onnxruntime") is None:
        problems.append(f"model '{owner}' needs onnxruntime: pip install onnxruntime==1.32.0")
    if Path(path).is_dir():
        problems.append(f"model '{owner}': {path} is a folder; `path` must be a .onnx file")
    elif not Path(path).is_file():
        problems.append(f"model '{owner}': ONNX file {path} does not exist")
    return problems


def onnx_session(path: Path, *, owner: str) -> Any:
    """An onnxruntime CPU session for ``path``; errors name ``owner`` (the model)."""
    problems = onnx_problems(path, owner=owner)
    if problems:
        raise ConfigError("; ".join(problems))
    import onnxruntime  # deferred: a large native library most runs never load

    options = onnxruntime.SessionOptions()
    # One thread per session: extraction already runs one process per core.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime raises its own classes for a malformed file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(
            f"model '{owner}': {path} is not a readable ONNX model ({reason})"
        ) from None


def onnx_parameter_count(path: Path) -> int | None:
    """Weights stored in an ONNX file (needs the ``onnx`` package; ``None`` without it)."""
    try:
        # Deferred: loads onnx, which many runs never need.
        import onnx
    except ImportError:
        return None
    graph = onnx.load(str(path), load_external_data=False).graph
    return sum(math.prod(tensor.dims) for tensor in graph.initializer)


@register("models", "onnx")
@dataclass
class Onnx(LazyRuntime, EmbeddingModel):
    """Any ONNX model with a declared input (waveform, or log-mel with given parameters).

    Parameters
    ----------
    path : the ``.onnx`` file.
    sample_rate_hz : the rate the model expects, in Hz.
    input : ``waveform`` or ``log_mel`` (natural log of mel power plus ``log_offset``).
    input_name : the input to feed (default: the model's first input).
    outputs : outputs to return, each a layer (default: the model's first output); one size
        per model entry.
    output_hop_s : seconds between output frames; measured on one input when not given.
    input_samples : fixed input length in samples; longer windows are cut into pieces of it and
        the last piece zero-padded. Default: the model's declared length, else none.
    n_fft, hop_length, n_mels, log_offset : the log-mel front end (``input: log_mel``).
    mel_layout : ``frames_first`` (``[batch, frames, n_mels]``) or ``mels_first``.
    """

    path: Path | None = None
    sample_rate_hz: int = 16000
    input: Literal["waveform", "log_mel"] = "waveform"
    input_name: str | None = None
    outputs: list[str] | None = None
    output_hop_s: float | None = None
    input_samples: int | None = None
    n_fft: int = 512
    hop_length: int = 160
    n_mels: int = 64
    log_offset: float = 1e-6
    mel_layout: Literal["frames_first", "mels_first"] = "frames_first"

    version: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        if self.path is None:
            raise ValueError("path: required (the .onnx file)")
        session = self._session()
        inputs = {i.name: i for i in session.get_inputs()}
        outputs = [o.name for o in session.get_outputs()]
        self.input_name = self.input_name or next(iter(inputs))
        if self.input_name not in inputs:
            raise ValueError(
                f"input_name: {self.path} has no input '{self.input_name}'; inputs: {list(inputs)}"
            )
        self.outputs = list(self.outputs or outputs[:1])
        unknown = [name for name in self.outputs if name not in outputs]
        if unknown:
            raise ValueError(f"outputs: {self.path} has no output(s) {unknown}; outputs: {outputs}")
        shape = inputs[self.input_name].shape
        if self.input == "waveform" and self.input_samples is None:
            lengths = [d for d in shape[1:] if isinstance(d, int) and d > 1]
            self.input_samples = lengths[0] if lengths else None
        self._rank = len(shape)

    def availability_problems(self) -> list[str]:
        """onnxruntime or the ONNX file, when missing."""
        return onnx_problems(Path(self.path), owner=f"onnx ({self.path})")

    def _session(self) -> Any:
        if "session" not in self._runtime:
            self._runtime["session"] = onnx_session(Path(self.path), owner=f"onnx ({self.path})")
        return self._runtime["session"]

    @property
    def sample_rate(self) -> int:
        """The declared sample rate, in Hz."""
        return self.sample_rate_hz

    @property
    def layers(self) -> list[str]:
        """The requested output names."""
        return list(self.outputs or [])

    def parameter_count(self) -> int | None:
        """Weights stored in the ONNX file."""
        return onnx_parameter_count(Path(self.path))

    def provenance(self) -> dict[str, Any]:
        """The SHA-256 of the ONNX file."""
        return {"weights_sha256": file_checksum(Path(self.path))}

    def _feed(self, pieces: np.ndarray) -> np.ndarray:
        if self.input == "log_mel":
            power = librosa.feature.melspectrogram(
                y=pieces,
                sr=self.sample_rate_hz,
                n_fft=self.n_fft,
                hop_length=self.hop_length,
                n_mels=self.n_mels,
            )
            log_mel = np.log(power + self.log_offset).astype(np.float32)
            return log_mel if self.mel_layout == "mels_first" else log_mel.transpose(0, 2, 1)
        shape = self._session().get_inputs()[0].shape if self._rank == 3 else None
        if shape is None:
            return pieces
        return pieces[:, :, None] if shape[2] == 1 else pieces[:, None, :]

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on a batch of waveforms.

        Parameters
        ----------
        batch : ``[batch, samples]`` float32 at :attr:`sample_rate`.

        Returns
        -------
        ``[layers, batch, frames, dim]`` float32.
        """
        batch = np.asarray(batch, dtype=np.float32)
        count, samples = batch.shape
        length = self.input_samples or samples
        pieces = math.ceil(samples / length)
        padded = np.pad(batch, [(0, 0), (0, pieces * length - samples)])
        flat = padded.reshape(count * pieces, length)
        results = self._session().run(self.outputs, {self.input_name: self._feed(flat)})
        layers = []
        for name, result in zip(self.outputs, results, strict=True):
            result = np.asarray(result, dtype=np.float32)
            if result.ndim == 2:
                result = result[:, None]
            if result.ndim != 3 or result.shape[0] != count * pieces:
                raise ComponentError(
                    f"model 'onnx' ({self.path}): output '{name}' has shape {result.shape}; "
                    f"expected [{count * pieces}, frames, dim] or [{count * pieces}, dim]"
                )
            frames = result.reshape(count, pieces * result.shape[1], result.shape[2])
            # Frames of the zero padding beyond the window are dropped.
            keep = max(1, math.ceil(frames.shape[1] * samples / (pieces * length)))
            layers.append(frames[:, :keep])
        if len({layer.shape for layer in layers}) > 1:
            raise ComponentError(
                f"model 'onnx' ({self.path}): outputs {self.outputs} differ in shape "
                f"({[layer.shape for layer in layers]}); put them in separate model entries"
            )
        if self.output_hop_s is None and "hop_s" not in self._runtime:
            self._runtime["hop_s"] = samples / self.sample_rate_hz / layers[0].shape[1]
        return np.stack(layers)

    @property
    def frame_hop_s(self) -> float:
        """Seconds between output frames: ``output_hop_s``, or measured on one input."""
        if self.output_hop_s is not None:
            return self.output_hop_s
        if "hop_s" not in self._runtime:
            self.embed(np.zeros((1, self.input_samples or self.sample_rate_hz), np.float32))
        return self._runtime["hop_s"]
