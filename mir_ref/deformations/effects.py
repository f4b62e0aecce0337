"""Built-in deformations: additive noise, gain, MP3 compression and pitch shift.

Each takes ``[samples]`` or ``[channels, samples]`` float32 audio and returns float32 audio of
the same shape, time-aligned with the input, so that labels with timestamps stay valid.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pedalboard
import scipy.signal
from pedalboard.io import AudioFile

from mir_ref.audio import resample
from mir_ref.deformations.base import Deformation
from mir_ref.registry import register

# Bitrates pedalboard's LAME encoder accepts (the MPEG-1 Layer III set; LAME's lower MPEG-2
# rates 8-24 kbps are refused by pedalboard).
MP3_BITRATES_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)

# Sample rates an MP3 stream can carry, with the highest bitrate each MPEG version allows:
# MPEG-2.5 (8-12 kHz) stops at 64 kbps and MPEG-2 (16-24 kHz) at 160 kbps. Above those, LAME
# silently encodes at the version's maximum, so a requested bitrate would be a lie.
_MP3_MAX_KBPS_BY_RATE = {
    8000: 64,
    11025: 64,
    12000: 64,
    16000: 160,
    22050: 160,
    24000: 160,
    32000: 320,
    44100: 320,
    48000: 320,
}

# Rubber Band returns nothing for very short buffers and pedalboard guesses the channel axis
# as the shorter one; padding short input to this length avoids both.
_PITCH_SHIFT_MIN_SAMPLES = 4096


def _check_range(name: str, value: float, low: float, high: float, unit: str) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name}: {value!r} is outside [{low:g}, {high:g}] {unit}")


def _fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """Crop or zero-pad the last axis of ``audio`` to ``length`` samples."""
    if audio.shape[-1] >= length:
        return audio[..., :length]
    padding = [(0, 0)] * (audio.ndim - 1) + [(0, length - audio.shape[-1])]
    return np.pad(audio, padding)


@register("deformations", "white_noise")
@dataclass
class WhiteNoise(Deformation):
    """Additive white Gaussian noise at a given signal-to-noise ratio (a noisy recording chain).

    Parameters
    ----------
    snr_db : ratio of the signal's power to the noise's power, in dB, within [-30, 100].

    Notes
    -----
    The signal's power is the mean square over the whole input, silences and all channels
    included (a global SNR, not a segmental one), so quiet passages get the same absolute
    noise floor as loud ones. The generated noise is rescaled so that its own mean square, not
    its expected one, gives exactly ``snr_db``. Each channel gets independent noise. An
    all-silent input has no level to refer to and is returned unchanged.
    """

    snr_db: float

    strength: ClassVar[str] = "snr_db"
    version: ClassVar[str] = "1"
    name: ClassVar[str] = "white_noise"

    def __post_init__(self) -> None:
        _check_range("snr_db", self.snr_db, -30.0, 100.0, "dB")

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        signal = audio.astype(np.float64)
        signal_power = float(np.mean(signal**2)) if signal.size else 0.0
        if signal_power == 0.0:
            return audio.copy()
        noise = rng.standard_normal(signal.shape)
        noise *= math.sqrt(signal_power / 10 ** (self.snr_db / 10) / np.mean(noise**2))
        return (signal + noise).astype(np.float32)


@register("deformations", "gain")
@dataclass
class Gain(Deformation):
    """A change of level by a fixed number of decibels (a louder or quieter recording).

    Parameters
    ----------
    gain_db : level change in dB, within [-120, 60]. Positive gains may push samples beyond
        ±1; they are not clipped, so the deformation changes level only.
    """

    gain_db: float

    strength: ClassVar[str] = "gain_db"
    version: ClassVar[str] = "1"
    name: ClassVar[str] = "gain"

    def __post_init__(self) -> None:
        _check_range("gain_db", self.gain_db, -120.0, 60.0, "dB")

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        return (audio.astype(np.float64) * 10 ** (self.gain_db / 20)).astype(np.float32)


@register("deformations", "mp3")
@dataclass
class Mp3(Deformation):
    """MP3 encoding and decoding at a constant bitrate (lossy compression of a distributed file).

    Parameters
    ----------
    bitrate_kbps : constant bitrate of the LAME encoder, in kbit/s; one of
        32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320.

    Notes
    -----
    The audio is encoded at the MP3 sample rate nearest to its own (resampled there and back
    when it has another one). Where that rate's MPEG version cannot reach ``bitrate_kbps``
    (above 64 kbps below 16 kHz, above 160 kbps below 32 kHz), the encoding rate is doubled
    until it can, so the stream really has the requested bitrate. The encoder and decoder
    delay is removed, so the output is sample-aligned with the input and has its length.
    Input peaking above ±1 is scaled down for the codec and back up after, so the deformation
    adds compression artefacts only, not clipping. More than two channels are encoded as
    separate mono streams.
    """

    bitrate_kbps: int

    strength: ClassVar[str] = "bitrate_kbps"
    version: ClassVar[str] = "1"
    name: ClassVar[str] = "mp3"

    def __post_init__(self) -> None:
        if self.bitrate_kbps not in MP3_BITRATES_KBPS:
            raise ValueError(
                f"bitrate_kbps: {self.bitrate_kbps!r} is not an MP3 bitrate; "
                f"one of {', '.join(map(str, MP3_BITRATES_KBPS))}"
            )

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        if audio.shape[-1] == 0:
            return audio.copy()
        channels = audio.reshape(-1, audio.shape[-1])
        encoding_rate = _mp3_encoding_rate(sample_rate, self.bitrate_kbps)
        peak = float(np.max(np.abs(channels)))
        scale = peak if peak > 1.0 else 1.0
        signal = resample(channels / scale, sample_rate, encoding_rate)
        groups = [signal] if len(signal) <= 2 else [row[None] for row in signal]
        coded = np.concatenate(
            [_mp3_round_trip(group, encoding_rate, self.bitrate_kbps) for group in groups]
        )
        coded = _fit_length(resample(coded, encoding_rate, sample_rate), audio.shape[-1])
        return (coded * scale).reshape(audio.shape).astype(np.float32)


def _mp3_encoding_rate(sample_rate: int, bitrate_kbps: int) -> int:
    """The MP3 sample rate nearest to ``sample_rate`` whose MPEG version has ``bitrate_kbps``."""
    rate = min(
        _MP3_MAX_KBPS_BY_RATE, key=lambda candidate: (abs(candidate - sample_rate), -candidate)
    )
    # Doubling keeps the rate within its family (8000 → 16000 → 32000, 11025 → 22050 → 44100).
    while _MP3_MAX_KBPS_BY_RATE[rate] < bitrate_kbps:
        rate *= 2
    return rate


def _mp3_encode_decode(audio: np.ndarray, sample_rate: int, bitrate_kbps: int) -> np.ndarray:
    """``[channels, samples]`` through the codec as is, codec delay and padding included."""
    encoded = AudioFile.encode(
        np.ascontiguousarray(audio, dtype=np.float32),
        samplerate=sample_rate,
        format="mp3",
        num_channels=audio.shape[0],
        quality=bitrate_kbps,
    )
    with AudioFile(io.BytesIO(encoded)) as decoder:
        return decoder.read(decoder.frames)


@functools.cache
def _mp3_delay_samples(sample_rate: int, bitrate_kbps: int) -> int:
    """Samples by which the codec delays its input, measured on a fixed noise burst.

    LAME's encoder delay plus the decoder's (1105 samples with pedalboard 0.9) is measured
    rather than hard-coded, so a pedalboard that starts trimming it cannot misalign outputs.
    """
    frame = 1152
    burst = 0.1 * np.random.default_rng(0).standard_normal((1, 8 * frame)).astype(np.float32)
    decoded = _fit_length(_mp3_encode_decode(burst, sample_rate, bitrate_kbps)[0], 12 * frame)
    correlation = scipy.signal.correlate(decoded, burst[0], mode="valid", method="fft")
    return int(np.argmax(correlation[: 4 * frame]))


def _mp3_round_trip(audio: np.ndarray, sample_rate: int, bitrate_kbps: int) -> np.ndarray:
    """``[channels, samples]`` encoded and decoded, trimmed to align with the input."""
    delay = _mp3_delay_samples(sample_rate, bitrate_kbps)
    decoded = _mp3_encode_decode(audio, sample_rate, bitrate_kbps)
    return _fit_length(decoded[:, delay:], audio.shape[-1])


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
    name: ClassVar[str] = "pitch_shift"

    def __post_init__(self) -> None:
        _check_range("semitones", self.semitones, -12.0, 12.0, "semitones")

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        if audio.shape[-1] == 0 or self.semitones == 0:
            return audio.copy()
        channels = audio.reshape(-1, audio.shape[-1])
        padded = _fit_length(channels, max(audio.shape[-1], _PITCH_SHIFT_MIN_SAMPLES))
        shifted = pedalboard.time_stretch(
            np.ascontiguousarray(padded),
            float(sample_rate),
            stretch_factor=1.0,
            pitch_shift_in_semitones=float(self.semitones),
            high_quality=True,
            preserve_formants=False,
        )
        return _fit_length(shifted, audio.shape[-1]).reshape(audio.shape).astype(np.float32)
