"""Rooms: algorithmic reverb (pedalboard) and convolution with measured impulse responses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pedalboard

from mir_ref.deformations.base import (
    Deformation,
    as_channels,
    check_range,
    process_with_plugin,
)
from mir_ref.deformations.recordings import check_recordings, recording
from mir_ref.errors import ComponentError
from mir_ref.registry import register


@register("deformations", "reverb")
@dataclass
class Reverb(Deformation):
    """Algorithmic room reverb (a live room or hall recording).

    Parameters
    ----------
    room_size : size of the simulated room, within [0, 1]; larger rooms ring longer.
    wet_level, dry_level : levels of the reverberant and of the direct sound, within [0, 1].
    damping : high-frequency absorption of the walls, within [0, 1].

    Notes
    -----
    pedalboard's ``Reverb`` (Freeverb), which has no latency: the direct sound stays aligned
    with the input. The tail beyond the input's end is cut, so the length is unchanged.
    """

    room_size: float
    wet_level: float = 0.33
    dry_level: float = 0.4
    damping: float = 0.5

    strength: ClassVar[str] = "room_size"
    version: ClassVar[str] = "1"
    strength_label: ClassVar[str] = "room size"
    keeps_labels: ClassVar[bool] = True

    def __post_init__(self) -> None:
        for field in ("room_size", "wet_level", "dry_level", "damping"):
            check_range(field, getattr(self, field), 0.0, 1.0, "")

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        return process_with_plugin(
            audio,
            sample_rate,
            lambda: pedalboard.Reverb(
                room_size=float(self.room_size),
                damping=float(self.damping),
                wet_level=float(self.wet_level),
                dry_level=float(self.dry_level),
            ),
        )


@register("deformations", "impulse_response")
@dataclass
class ImpulseResponse(Deformation):
    """Convolution with a measured room impulse response (a real room, hall or speaker).

    Parameters
    ----------
    path : an impulse response file, or a folder of them (searched recursively); for each
        input the generator picks one. Relative paths resolve against the config's folder.
    wet_level : share of the convolved signal in the output, within [0, 1]; the rest is the
        dry input. 1 is the input as heard in the room.

    Notes
    -----
    The response is downmixed to mono, resampled to the input's rate and shifted so that its
    strongest sample (the direct sound) is at lag 0, so the output stays aligned with the
    input; the convolved signal is scaled to the input's RMS, so ``wet_level`` changes the
    balance, not the loudness, and the tail beyond the input's end is cut.
    """

    path: Path
    wet_level: float = 1.0

    strength: ClassVar[str] = "wet_level"
    version: ClassVar[str] = "1"
    strength_label: ClassVar[str] = "wet level"
    keeps_labels: ClassVar[bool] = True

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        check_recordings("path", self.path)
        check_range("wet_level", self.wet_level, 0.0, 1.0, "")

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        # Deferred: scipy.signal takes ~0.8 s to import, which every run would pay on reading
        # its config (the registry imports this module) and only runs with this deformation need.
        import scipy.signal

        samples = audio.shape[-1]
        files = check_recordings("path", self.path)
        chosen = files[int(rng.integers(len(files)))]
        if samples == 0:
            return audio.copy()
        response = recording(str(chosen), sample_rate)
        if not np.any(response):
            raise ComponentError(f"impulse_response: the response {chosen} is silent")
        response = response[int(np.argmax(np.abs(response))) :].astype(np.float64)
        dry = as_channels(audio).astype(np.float64)
        wet = scipy.signal.fftconvolve(dry, response[None], axes=-1)[:, :samples]
        dry_rms, wet_rms = np.sqrt(np.mean(dry**2)), np.sqrt(np.mean(wet**2))
        if wet_rms > 0:
            wet *= dry_rms / wet_rms
        out = (1 - self.wet_level) * dry + self.wet_level * wet
        return out.reshape(audio.shape).astype(np.float32)
