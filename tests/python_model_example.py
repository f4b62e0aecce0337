"""A user model for the ``python`` adapter, as a user would write it (see the README)."""

from __future__ import annotations

import numpy as np


class FrameEnergy:
    """Log energy and zero-crossing rate of frames: ``[2, batch, frames, 1]``, two layers."""

    version = "1"
    layers = ["log_energy", "zero_crossings"]

    def __init__(self, frame_length: int = 400, sample_rate: int = 16000):
        self.frame_length = frame_length
        self.sample_rate = sample_rate

    @property
    def frame_hop_s(self) -> float:
        return self.frame_length / self.sample_rate

    def embed(self, batch: np.ndarray) -> np.ndarray:
        frames = batch.shape[1] // self.frame_length
        x = batch[:, : frames * self.frame_length].reshape(len(batch), frames, -1)
        energy = np.log(np.mean(x**2, axis=-1) + 1e-8)
        crossings = np.mean(np.abs(np.diff(np.sign(x), axis=-1)) > 0, axis=-1)
        return np.stack([energy, crossings])[..., None].astype(np.float32)


class NotAModel:
    """Lacks the interface: the adapter must refuse it by name."""

    def __init__(self, size: int = 3):
        self.size = size
