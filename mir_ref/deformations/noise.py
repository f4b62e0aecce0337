"""Additive noise at an exact signal-to-noise ratio: white, pink, and recorded backgrounds.

The signal's power is the mean square over the whole input, silences and all channels
included (a global SNR, not a segmental one), so quiet passages and silence padding get the
same absolute noise floor as loud ones, and padding a track with silence lowers its power and
hence the noise level. The noise is rescaled so that its own mean square, not its expected
one, gives exactly ``snr_db``. An all-silent input has no level to refer to and is returned
unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from mir_ref import audio as audio_io
from mir_ref.deformations.base import Deformation, check_range
from mir_ref.deformations.recordings import check_recordings, recording
from mir_ref.errors import ComponentError
from mir_ref.registry import register

SNR_RANGE_DB = (-30.0, 100.0)


def add_at_snr(audio: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``audio + noise``, the noise scaled so the global SNR is exactly ``snr_db``.

    Parameters
    ----------
    audio, noise : same shape, ``[samples]`` or ``[channels, samples]``; ``noise`` must not
        be all zeros unless ``audio`` is.
    """
    # In float64 throughout, without a float64 copy of the signal (a 3rd of the cost).
    signal_power = float(np.mean(np.square(audio, dtype=np.float64))) if audio.size else 0.0
    if signal_power == 0.0:
        return audio.copy()
    noise_power = np.mean(np.square(noise, dtype=np.float64))
    scale = math.sqrt(signal_power / 10 ** (snr_db / 10) / noise_power)
    mixed = np.multiply(noise, scale, dtype=np.float64)
    mixed += audio
    return mixed.astype(np.float32)


def nominal_snr_db(deformation: Deformation) -> float | None:
    """The SNR a deformation's noise is added at (that of a chain's noise step); None when it
    adds no noise at a stated SNR."""
    levels = [part.snr_db for part in deformation.parts if hasattr(part, "snr_db")]
    return float(levels[-1]) if levels else None


def in_band_snr_db(
    deformation: Deformation, *, sample_rate: int, model_sample_rate: int, seed: int = 0
) -> float:
    """The SNR a model hears: signal over everything the deformation added, after resampling.

    Noise is added at the file's own rate, over its whole band, and each model then resamples
    to its own rate: a model below the file's rate never hears the noise above its Nyquist
    frequency (white noise at a nominal 0 dB on a 44.1 kHz file is about +4.6 dB for a 16 kHz
    model). Measured on a 2 s harmonic tone (220 Hz, four partials: all in every model's band)
    deformed at ``sample_rate`` and resampled to ``model_sample_rate`` with the extraction's
    own resampler; NaN when the deformation changes the length (``time_stretch``).
    """
    time_s = np.arange(2 * sample_rate) / sample_rate
    tone = sum(np.sin(2 * np.pi * 220 * k * time_s) / k for k in range(1, 5))
    tone = (0.3 * tone).astype(np.float32)
    deformed = deformation(tone, sample_rate, seed)
    if deformed.shape != tone.shape:
        return math.nan
    heard = audio_io.resample(tone, sample_rate, model_sample_rate).astype(np.float64)
    added = audio_io.resample(deformed, sample_rate, model_sample_rate) - heard
    return float(10 * np.log10(np.mean(heard**2) / np.mean(added**2)))


@register("deformations", "white_noise")
@dataclass
class WhiteNoise(Deformation):
    """Additive white Gaussian noise at a given signal-to-noise ratio (a noisy recording chain).

    Parameters
    ----------
    snr_db : ratio of the signal's power to the noise's power, in dB, within [-30, 100].
        Silence is part of the signal's power (see the module notes). Each channel gets
        independent noise.
    """

    snr_db: float

    strength: ClassVar[str] = "snr_db"
    version: ClassVar[str] = "1"
    strength_label: ClassVar[str] = "SNR (dB)"
    mild_is_high: ClassVar[bool] = True
    keeps_labels: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_range("snr_db", self.snr_db, *SNR_RANGE_DB, "dB")

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        return add_at_snr(audio, rng.standard_normal(audio.shape), self.snr_db)


@register("deformations", "pink_noise")
@dataclass
class PinkNoise(Deformation):
    """Additive pink (1/f) Gaussian noise at a given SNR (hiss and rumble of analogue gear).

    Parameters
    ----------
    snr_db : ratio of the signal's power to the noise's power, in dB, within [-30, 100].

    Notes
    -----
    White Gaussian noise shaped in the frequency domain so its power density falls by
    3 dB per octave down to the lowest bin of the input's length; each channel gets
    independent noise. The SNR is global, as for ``white_noise``.
    """

    snr_db: float

    strength: ClassVar[str] = "snr_db"
    version: ClassVar[str] = "1"
    strength_label: ClassVar[str] = "SNR (dB)"
    mild_is_high: ClassVar[bool] = True
    keeps_labels: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_range("snr_db", self.snr_db, *SNR_RANGE_DB, "dB")

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        samples = audio.shape[-1]
        if samples == 0:
            return audio.copy()
        spectrum = np.fft.rfft(rng.standard_normal(audio.shape), axis=-1)
        # Amplitude ∝ 1/sqrt(f) gives power ∝ 1/f; the DC bin gets the first bin's weight so
        # the noise is never all zeros, even for a one-sample input.
        bins = np.maximum(np.arange(spectrum.shape[-1]), 1)
        noise = np.fft.irfft(spectrum / np.sqrt(bins), n=samples, axis=-1)
        return add_at_snr(audio, noise, self.snr_db)


@register("deformations", "background_noise")
@dataclass
class BackgroundNoise(Deformation):
    """Recorded background noise mixed in at a given SNR (a crowd, a street, a café).

    Parameters
    ----------
    snr_db : ratio of the signal's power to the noise's power, in dB, within [-30, 100].
    folder : a folder of noise recordings (searched recursively for WAV, FLAC, OGG, MP3 and
        AIFF files) or a single recording; relative paths resolve against the config's folder.

    Notes
    -----
    For each input the generator picks one recording and, per channel, a start offset within
    it; the recording is read from there, looped when shorter than the input, downmixed to
    mono and resampled to the input's rate. The SNR is global, as for ``white_noise``. The
    cache key holds the folder's path, not its contents: after changing the recordings, use
    a fresh ``cache_dir``.
    """

    snr_db: float
    folder: Path

    strength: ClassVar[str] = "snr_db"
    version: ClassVar[str] = "1"
    strength_label: ClassVar[str] = "SNR (dB)"
    mild_is_high: ClassVar[bool] = True
    keeps_labels: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_range("snr_db", self.snr_db, *SNR_RANGE_DB, "dB")
        self.folder = Path(self.folder)
        check_recordings("folder", self.folder)

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        samples = audio.shape[-1]
        if samples == 0:
            return audio.copy()
        files = check_recordings("folder", self.folder)
        path = files[int(rng.integers(len(files)))]
        noise_recording = recording(str(path), sample_rate)
        if not np.any(noise_recording):
            raise ComponentError(f"background_noise: the recording {path} is silent")
        channels = audio.reshape(-1, samples)
        offsets = rng.integers(len(noise_recording), size=len(channels))
        # np.resize repeats the rolled recording, which loops a short one seamlessly.
        noise = np.stack(
            [np.resize(np.roll(noise_recording, -offset), samples) for offset in offsets]
        )
        return add_at_snr(audio, noise.reshape(audio.shape), self.snr_db)
