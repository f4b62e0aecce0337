"""Randomly initialised networks on a log-mel front end: what an architecture gives untrained.

A probe on a random network's features measures what the architecture and the input
representation alone provide; the gap to the same architecture trained is what training adds.
Weights are drawn from PyTorch's default initialisation under a fixed ``seed``, so every
process (and every run) builds the same network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import librosa
import numpy as np

from mir_ref.models.base import EmbeddingModel, LazyRuntime
from mir_ref.registry import register

# Floor of the mel power before the log: -60 dB below a full-scale sine's bin power.
_POWER_FLOOR = 1e-6


@dataclass
class _RandomNetwork(LazyRuntime, EmbeddingModel):
    """Shared plumbing: log-mel front end, seeded lazy construction, chunked inference."""

    seed: int = 0
    sample_rate_hz: int = 16000
    n_fft: int = 512
    hop_length: int = 320
    n_mels: int = 64
    width: int = 64
    depth: int = 4
    batch_size: int = 16

    version: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        for name in ("sample_rate_hz", "n_fft", "hop_length", "n_mels", "width", "depth"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: {getattr(self, name)!r} must be positive")

    @property
    def sample_rate(self) -> int:
        """The front end's sample rate, in Hz."""
        return self.sample_rate_hz

    @property
    def frame_hop_s(self) -> float:
        """``hop_length / sample_rate_hz`` (20 ms by default): one frame per spectrogram frame."""
        return self.hop_length / self.sample_rate_hz

    def windows_per_batch(self, window_samples: int) -> int:
        """``batch_size``: one forward pass per call."""
        return max(1, self.batch_size)

    def layer_sizes(self) -> dict[str, int]:
        """Every layer is ``width`` wide."""
        return dict.fromkeys(self.layers, self.width)

    def _log_mel(self, batch: np.ndarray) -> Any:
        """``[batch, samples]`` → ``[batch, frames, n_mels]`` natural-log mel power."""
        # Deferred: loads torch, which many runs never need.
        import torch

        if "mel" not in self._runtime:
            basis = librosa.filters.mel(
                sr=self.sample_rate_hz, n_fft=self.n_fft, n_mels=self.n_mels
            )
            self._runtime["mel"] = torch.from_numpy(basis.astype(np.float32))
            self._runtime["window"] = torch.hann_window(self.n_fft)
        audio = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        spectrum = torch.stft(
            audio,
            self.n_fft,
            self.hop_length,
            window=self._runtime["window"],
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        power = spectrum.abs() ** 2
        mel = torch.einsum("mf,bft->btm", self._runtime["mel"], power)
        return torch.log(mel + _POWER_FLOOR)

    def _network(self) -> Any:
        if "network" not in self._runtime:
            # Deferred: loads torch, which many runs never need.
            import torch

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                self._runtime["network"] = self._build().eval()
        return self._runtime["network"]

    def _build(self) -> Any:
        raise NotImplementedError

    def parameter_count(self) -> int:
        """Number of weights in the network."""
        return sum(p.numel() for p in self._network().parameters())

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """Embed a batch of waveforms with every layer of the network.

        Parameters
        ----------
        batch : ``[batch, samples]`` float32 at :attr:`sample_rate`.

        Returns
        -------
        ``[layers, batch, frames, width]`` float32 with ``frames = 1 + samples // hop_length``.
        """
        # Deferred: loads torch, which many runs never need.
        import torch

        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 2:
            raise ValueError(f"batch: expected [batch, samples], got shape {batch.shape}")
        network = self._network()
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(batch), self.batch_size):
                features = self._log_mel(batch[start : start + self.batch_size])
                outputs.append(torch.stack(network(features)).numpy())
        return np.concatenate(outputs, axis=1).astype(np.float32)


def _cnn(n_mels: int, width: int, depth: int) -> Any:
    # Deferred: loads torch, which many runs never need.
    import torch

    class RandomCnn(torch.nn.Module):
        """3×3 conv → ReLU → 2× frequency pooling blocks; each block averaged over frequency."""

        def __init__(self) -> None:
            super().__init__()
            channels = [1] + [width] * depth
            self.blocks = torch.nn.ModuleList(
                torch.nn.Conv2d(channels[i], channels[i + 1], 3, padding=1) for i in range(depth)
            )
            # He initialisation keeps the activations' scale through the ReLU blocks; PyTorch's
            # default shrinks it by about half per block.
            for block in self.blocks:
                torch.nn.init.kaiming_normal_(block.weight, nonlinearity="relu")
                torch.nn.init.zeros_(block.bias)

        def forward(self, log_mel: torch.Tensor) -> list[torch.Tensor]:
            # [batch, 1, n_mels, frames]; standardised per item so the random weights see
            # inputs of unit scale, whatever the recording level.
            x = log_mel.transpose(1, 2)[:, None]
            mean = x.mean(dim=(2, 3), keepdim=True)
            x = (x - mean) / x.std(dim=(2, 3), keepdim=True).clamp_min(1e-5)
            layers = []
            for block in self.blocks:
                x = torch.relu(block(x))
                if x.shape[2] > 1:
                    x = torch.nn.functional.max_pool2d(x, (2, 1))
                layers.append(x.mean(dim=2).transpose(1, 2))
            return layers

    return RandomCnn()


@register("models", "random_cnn")
@dataclass
class RandomCnn(_RandomNetwork):
    """Untrained CNN on log-mel (seeded): the baseline for what training a CNN adds.

    Parameters
    ----------
    seed : draws the weights; change it to measure the spread over initialisations.
    width : channels of every block (each layer's embedding size).
    depth : convolution blocks; layers ``block1`` .. ``block<depth>``.
    sample_rate_hz, n_fft, hop_length, n_mels : the log-mel front end (samples, bands).
    batch_size : waveforms per forward pass.
    """

    @property
    def layers(self) -> list[str]:
        """``block1`` .. ``block<depth>``."""
        return [f"block{index}" for index in range(1, self.depth + 1)]

    def _build(self) -> Any:
        return _cnn(self.n_mels, self.width, self.depth)


def _transformer(n_mels: int, width: int, depth: int, heads: int, max_frames: int) -> Any:
    # Deferred: loads torch, which many runs never need.
    import torch

    class RandomTransformer(torch.nn.Module):
        """Linear frame projection, sinusoidal positions, pre-norm encoder blocks."""

        def __init__(self) -> None:
            super().__init__()
            self.project = torch.nn.Linear(n_mels, width)
            self.blocks = torch.nn.ModuleList(
                torch.nn.TransformerEncoderLayer(
                    width, heads, 2 * width, dropout=0.0, batch_first=True, norm_first=True
                )
                for _ in range(depth)
            )
            position = torch.arange(max_frames)[:, None]
            rate = torch.exp(torch.arange(0, width, 2) * (-math.log(10000.0) / width))
            table = torch.zeros(max_frames, width)
            table[:, 0::2] = torch.sin(position * rate)
            table[:, 1::2] = torch.cos(position * rate)
            self.register_buffer("positions", table, persistent=False)

        def forward(self, log_mel: torch.Tensor) -> list[torch.Tensor]:
            batch, frames, _ = log_mel.shape
            mean = log_mel.mean(dim=(1, 2), keepdim=True)
            x = (log_mel - mean) / log_mel.std(dim=(1, 2), keepdim=True).clamp_min(1e-5)
            # Attention spans at most max_frames: longer inputs are cut into segments.
            segments = math.ceil(frames / max_frames)
            padded = segments * max_frames
            x = torch.nn.functional.pad(x, (0, 0, 0, padded - frames))
            x = x.reshape(batch * segments, max_frames, -1)
            x = self.project(x) + self.positions
            valid = (torch.arange(padded) < frames).reshape(segments, max_frames)
            padding = ~valid.repeat(batch, 1)
            layers = [x]
            for block in self.blocks:
                x = block(x, src_key_padding_mask=padding)
                layers.append(x)
            return [layer.reshape(batch, padded, -1)[:, :frames] for layer in layers]

    return RandomTransformer()


@register("models", "random_transformer")
@dataclass
class RandomTransformer(_RandomNetwork):
    """Untrained transformer on log-mel frames (seeded): the baseline for what training adds.

    Parameters
    ----------
    seed : draws the weights.
    width : model dimension (each layer's embedding size).
    depth : encoder blocks; layers ``0`` (the projected input) .. ``<depth>``.
    heads : attention heads (must divide ``width``).
    max_frames : longest span attention covers (500 frames = 10 s at the default hop);
        longer inputs are cut into segments.
    sample_rate_hz, n_fft, hop_length, n_mels : the log-mel front end (samples, bands).
    batch_size : waveforms per forward pass.
    """

    heads: int = 4
    max_frames: int = 500

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.heads <= 0 or self.width % self.heads:
            raise ValueError(f"heads: {self.heads!r} must divide width ({self.width})")
        if self.max_frames <= 0:
            raise ValueError(f"max_frames: {self.max_frames!r} must be positive")

    @property
    def layers(self) -> list[str]:
        """``0`` (the projected input) .. ``<depth>``."""
        return [str(index) for index in range(self.depth + 1)]

    def _build(self) -> Any:
        return _transformer(self.n_mels, self.width, self.depth, self.heads, self.max_frames)
