"""The deformation contract: a small dataclass, registered by name, part of the cache key."""

from __future__ import annotations

from typing import ClassVar

import numpy as np


class Deformation:
    """Base class of deformations.

    Subclasses are dataclasses whose fields are the parameters (units in the names:
    ``snr_db``, ``bitrate_kbps``), set :attr:`strength` to the field that a config sweeps,
    and implement :meth:`apply`. Bump :attr:`version` when the output for the same
    parameters changes, so caches recompute.
    """

    strength: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    name: ClassVar[str] = ""

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        """Deform ``[samples]`` or ``[channels, samples]`` float32 audio; same shape out."""
        raise NotImplementedError

    def __call__(
        self, audio: np.ndarray, sample_rate: int, seed: int | np.random.Generator = 0
    ) -> np.ndarray:
        """Deform ``audio``; the same ``seed`` gives bit-identical output."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        out = self.apply(np.asarray(audio, dtype=np.float32), sample_rate, rng)
        return np.asarray(out, dtype=np.float32)

    @property
    def strength_value(self) -> float:
        """The value of the swept parameter (the ``strength`` column of results)."""
        return float(getattr(self, self.strength))
