"""Band limiting: steep zero-phase low- and high-pass filters, and resampling down and back up.

The filters are Butterworth designs run forward and backward (``scipy.signal.sosfiltfilt``):
zero phase, so the output stays sample-aligned with the input, and the attenuation of each
pass adds up. ``cutoff_hz`` is where the stop band begins: from there on, content is at least
60 dB down; the pass band (within 3 dB) ends a sixth of an octave before it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mir_ref.audio import resample
from mir_ref.deformations.base import Deformation, check_range, fit_length
from mir_ref.registry import register

CUTOFF_RANGE_HZ = (20.0, 24000.0)
# Transition band and per-pass attenuations; forward-backward filtering doubles them (dB).
_TRANSITION_OCTAVES = 1 / 6
_PASS_RIPPLE_DB = 1.5
_STOP_ATTENUATION_DB = 30.0


@functools.cache
def _design(cutoff_hz: float, sample_rate: int, kind: str) -> np.ndarray:
    """Second-order sections of the steep Butterworth filter of ``kind`` (lowpass|highpass)."""
    # Deferred: scipy.signal takes ~0.8 s to import, which every run would pay on reading its
    # config (the registry imports this module) and only runs with this deformation need.
    import scipy.signal

    edge_hz = cutoff_hz * 2 ** (_TRANSITION_OCTAVES if kind == "highpass" else -_TRANSITION_OCTAVES)
    order, natural_hz = scipy.signal.buttord(
        edge_hz, cutoff_hz, _PASS_RIPPLE_DB, _STOP_ATTENUATION_DB, fs=sample_rate
    )
    return scipy.signal.butter(order, natural_hz, btype=kind, fs=sample_rate, output="sos")


def _filter(audio: np.ndarray, sos: np.ndarray) -> np.ndarray:
    # Deferred: scipy.signal takes ~0.8 s to import, which every run would pay on reading its
    # config (the registry imports this module) and only runs with this deformation need.
    import scipy.signal

    samples = audio.shape[-1]
    # sosfiltfilt pads by reflection; short inputs get as much padding as they allow.
    padlen = min(3 * (2 * len(sos) + 1), samples - 1)
    out = scipy.signal.sosfiltfilt(sos, audio.astype(np.float64), axis=-1, padlen=padlen)
    return out.astype(np.float32)


@register("deformations", "low_pass")
@dataclass
class LowPass(Deformation):
    """A steep low-pass filter (a muffled recording, a band-limited phone or radio channel).

    Parameters
    ----------
    cutoff_hz : start of the stop band, within [20, 24000] Hz; content above it is at least
        60 dB down. A cutoff at or above the input's Nyquist frequency leaves it unchanged.
    """

    cutoff_hz: float

    strength: ClassVar[str] = "cutoff_hz"
    version: ClassVar[str] = "1"
    strength_label: ClassVar[str] = "cutoff (Hz)"
    mild_is_high: ClassVar[bool] = True
    log_strength: ClassVar[bool] = True
    keeps_labels: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_range("cutoff_hz", self.cutoff_hz, *CUTOFF_RANGE_HZ, "Hz")

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        if self.cutoff_hz >= sample_rate / 2 or audio.shape[-1] < 2:
            return audio.copy()
        return _filter(audio, _design(float(self.cutoff_hz), sample_rate, "lowpass"))


@register("deformations", "high_pass")
@dataclass
class HighPass(Deformation):
    """A steep high-pass filter (a thin small speaker, a phone line without its bass).

    Parameters
    ----------
    cutoff_hz : end of the stop band, within [20, 24000] Hz; content below it is at least
        60 dB down. When the pass band would start at or above the input's Nyquist frequency,
        nothing passes and the output is silence.
    """

    cutoff_hz: float

    strength: ClassVar[str] = "cutoff_hz"
    version: ClassVar[str] = "1"
    strength_label: ClassVar[str] = "cutoff (Hz)"
    log_strength: ClassVar[bool] = True
    keeps_labels: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_range("cutoff_hz", self.cutoff_hz, *CUTOFF_RANGE_HZ, "Hz")

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        if self.cutoff_hz * 2**_TRANSITION_OCTAVES >= 0.99 * sample_rate / 2:
            return np.zeros_like(audio)
        if audio.shape[-1] < 2:
            return audio.copy()
        return _filter(audio, _design(float(self.cutoff_hz), sample_rate, "highpass"))


@register("deformations", "resample")
@dataclass
class Resample(Deformation):
    """Resampling down to a lower rate and back up (a low-rate file, telephone or VoIP audio).

    Parameters
    ----------
    sample_rate_hz : the intermediate rate, within [1000, 192000] Hz. Everything above its
        Nyquist frequency is removed (soxr's high-quality anti-aliasing filter); at or above
        the input's own rate the audio is returned unchanged.

    Notes
    -----
    soxr's filters are linear phase with their delay compensated, so the output is aligned
    with the input and cropped or padded by at most a sample to its length.
    """

    sample_rate_hz: int

    strength: ClassVar[str] = "sample_rate_hz"
    version: ClassVar[str] = "1"
    strength_label: ClassVar[str] = "sample rate (Hz)"
    mild_is_high: ClassVar[bool] = True
    log_strength: ClassVar[bool] = True
    keeps_labels: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_range("sample_rate_hz", self.sample_rate_hz, 1000, 192000, "Hz")

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        if self.sample_rate_hz >= sample_rate or audio.shape[-1] == 0:
            return audio.copy()
        low = resample(audio, sample_rate, self.sample_rate_hz)
        return fit_length(resample(low, self.sample_rate_hz, sample_rate), audio.shape[-1])
