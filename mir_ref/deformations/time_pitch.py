"""Pitch and tempo changes through Rubber Band (``pedalboard.time_stretch``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pedalboard

from mir_ref.deformations.base import Deformation, as_channels, check_range, fit_length
from mir_ref.registry import register
from mir_ref.tasks import LabelChange

# Rubber Band returns nothing for very short buffers and pedalboard guesses the channel axis
# as the shorter one; padding short input to this length avoids both.
_MIN_SAMPLES = 4096


def stretched_length(samples: int, rate: float) -> int:
    """Output length of ``time_stretch`` at ``rate`` for an input of ``samples``."""
    return int(round(samples / rate))


@register("deformations", "pitch_shift")
@dataclass
class PitchShift(Deformation):
    """A transposition by a number of semitones at constant duration (a song in another key).

    Parameters
    ----------
    semitones : shift in semitones, within [-12, 12]; fractions detune.

    Notes
    -----
    Uses Rubber Band through ``pedalboard.time_stretch`` in high-quality mode, which lands
    on the nominal pitch (pedalboard's ``PitchShift`` plugin misses by tens of cents). Formants
    move with the pitch, as in a resampling-based shift (librosa, muda): formant estimation
    is unreliable on polyphonic mixtures. Duration and timing are unchanged.
    """

    semitones: float

    strength: ClassVar[str] = "semitones"
    version: ClassVar[str] = "1"
    strength_label: ClassVar[str] = "shift (semitones)"

    def __post_init__(self) -> None:
        check_range("semitones", self.semitones, -12.0, 12.0, "semitones")

    def label_change(self) -> LabelChange:
        """Pitch classes, MIDI pitches and key tonics move by :attr:`semitones`."""
        return LabelChange(semitones=float(self.semitones))

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        if audio.shape[-1] == 0 or self.semitones == 0:
            return audio.copy()
        channels = as_channels(audio)
        padded = fit_length(channels, max(audio.shape[-1], _MIN_SAMPLES))
        shifted = pedalboard.time_stretch(
            np.ascontiguousarray(padded),
            float(sample_rate),
            stretch_factor=1.0,
            pitch_shift_in_semitones=float(self.semitones),
            high_quality=True,
            preserve_formants=False,
        )
        return fit_length(shifted, audio.shape[-1]).reshape(audio.shape).astype(np.float32)


@register("deformations", "time_stretch")
@dataclass
class TimeStretch(Deformation):
    """A tempo change at constant pitch (a faster or slower performance).

    Parameters
    ----------
    rate : speed factor within [0.25, 4]; 2 plays twice as fast (half the duration).

    Notes
    -----
    The one deformation whose output length differs from its input's: the output has
    ``round(samples / rate)`` samples, so time-stamped labels scale by ``1 / rate``, tempo
    labels by ``rate`` (:meth:`label_change`), and the other track-level labels (genre, key)
    stay valid. Uses Rubber Band in high-quality mode; the pitch stays within a few cents.
    """

    rate: float

    strength: ClassVar[str] = "rate"
    version: ClassVar[str] = "1"
    strength_label: ClassVar[str] = "rate (x)"

    def __post_init__(self) -> None:
        check_range("rate", self.rate, 0.25, 4.0, "(speed factor)")

    def label_change(self) -> LabelChange:
        """Tempi are multiplied by :attr:`rate`; pitch stays."""
        return LabelChange(tempo_factor=float(self.rate))

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        length = stretched_length(audio.shape[-1], self.rate)
        if audio.shape[-1] == 0 or self.rate == 1:
            return audio.copy()
        channels = as_channels(audio)
        # Padding with silence is stretched into silence, which the crop then removes.
        padded = fit_length(channels, max(audio.shape[-1], _MIN_SAMPLES))
        stretched = pedalboard.time_stretch(
            padded,
            float(sample_rate),
            stretch_factor=float(self.rate),
            high_quality=True,
        )
        out = fit_length(stretched, length)
        return out.reshape(*audio.shape[:-1], length).astype(np.float32)
