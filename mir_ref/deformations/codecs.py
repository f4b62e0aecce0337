"""Lossy codecs: MP3 and Ogg Vorbis, encoded and decoded in memory with pedalboard.

Both return audio of the input's length, sample-aligned with it: the codec's delay is
measured once per (format, rate, quality) on a noise burst and removed, so labels with
timestamps stay valid. Input peaking above ±1 is scaled down for the codec and back up after,
so the deformations add coding artefacts only, not clipping. More than two channels are
encoded as separate mono streams.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from pedalboard.io import AudioFile

from mir_ref.audio import resample
from mir_ref.deformations.base import Deformation, as_channels, fit_length
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
    until it can, so the stream really has the requested bitrate. LAME low-passes low
    bitrates (near 9 kHz at 32 kbps and 44.1 kHz).
    """

    bitrate_kbps: int

    strength: ClassVar[str] = "bitrate_kbps"
    version: ClassVar[str] = "1"
    strength_label: ClassVar[str] = "bitrate (kbps)"
    mild_is_high: ClassVar[bool] = True
    log_strength: ClassVar[bool] = True
    keeps_labels: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.bitrate_kbps not in MP3_BITRATES_KBPS:
            raise ValueError(
                f"bitrate_kbps: {self.bitrate_kbps!r} is not an MP3 bitrate; "
                f"one of {', '.join(map(str, MP3_BITRATES_KBPS))}"
            )

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        if audio.shape[-1] == 0:
            return audio.copy()
        channels = as_channels(audio)
        encoding_rate = _mp3_encoding_rate(sample_rate, self.bitrate_kbps)
        peak = float(np.max(np.abs(channels)))
        scale = peak if peak > 1.0 else 1.0
        signal = resample(channels / scale, sample_rate, encoding_rate)
        coded = _round_trip(signal, encoding_rate, "mp3", self.bitrate_kbps)
        coded = fit_length(resample(coded, encoding_rate, sample_rate), audio.shape[-1])
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


def _encode_decode(
    audio: np.ndarray, sample_rate: int, codec: str, quality: int | str
) -> np.ndarray:
    """``[channels, samples]`` through the codec as is, codec delay and padding included."""
    encoded = AudioFile.encode(
        np.ascontiguousarray(audio, dtype=np.float32),
        samplerate=sample_rate,
        format=codec,
        num_channels=audio.shape[0],
        quality=quality,
    )
    with AudioFile(io.BytesIO(encoded)) as decoder:
        return decoder.read(decoder.frames)


@functools.cache
def _delay_samples(sample_rate: int, codec: str, quality: int | str) -> int:
    """Samples by which the codec delays its input, measured on a fixed noise burst.

    LAME's encoder delay plus the decoder's (1105 samples with pedalboard 0.9) is measured
    rather than hard-coded, so a pedalboard that starts trimming it cannot misalign outputs;
    Vorbis streams carry their own pre-skip and measure 0.
    """
    # Deferred: scipy.signal takes ~0.8 s to import, which every run would pay on reading its
    # config (the registry imports this module) and only runs with this deformation need.
    import scipy.signal

    frame = 1152
    burst = 0.1 * np.random.default_rng(0).standard_normal((1, 8 * frame)).astype(np.float32)
    decoded = fit_length(_encode_decode(burst, sample_rate, codec, quality)[0], 12 * frame)
    correlation = scipy.signal.correlate(decoded, burst[0], mode="valid", method="fft")
    return int(np.argmax(correlation[: 4 * frame]))


def _round_trip(audio: np.ndarray, sample_rate: int, codec: str, quality: int | str) -> np.ndarray:
    """``[channels, samples]`` encoded and decoded, trimmed to align with the input."""
    delay = _delay_samples(sample_rate, codec, quality)
    groups = [audio] if len(audio) <= 2 else [row[None] for row in audio]
    decoded = [_encode_decode(group, sample_rate, codec, quality) for group in groups]
    return np.concatenate([fit_length(group[:, delay:], audio.shape[-1]) for group in decoded])


# Vorbis quality levels 0-10 as pedalboard names them: the nominal bitrate of each level.
VORBIS_QUALITY_KBPS = (64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 500)


@register("deformations", "ogg_vorbis")
@dataclass
class OggVorbis(Deformation):
    """Ogg Vorbis encoding and decoding at a VBR quality level (lossy streaming).

    Parameters
    ----------
    quality : Vorbis quality level, an integer within [0, 10]; 0 is the coarsest (about
        64 kbit/s for stereo 44.1 kHz music), 10 the finest (about 500 kbit/s).

    Notes
    -----
    Vorbis encodes any sample rate, so the audio is never resampled. Low levels low-pass
    the signal (near 14 kHz at level 0 and 44.1 kHz) and quantise the spectrum coarsely.
    """

    quality: int

    strength: ClassVar[str] = "quality"
    version: ClassVar[str] = "1"
    strength_label: ClassVar[str] = "Vorbis quality (0-10)"
    mild_is_high: ClassVar[bool] = True
    keeps_labels: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.quality not in range(len(VORBIS_QUALITY_KBPS)):
            raise ValueError(f"quality: {self.quality!r} is not a Vorbis quality level; 0 to 10")

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        if audio.shape[-1] == 0:
            return audio.copy()
        channels = as_channels(audio)
        peak = float(np.max(np.abs(channels)))
        scale = peak if peak > 1.0 else 1.0
        quality = f"{VORBIS_QUALITY_KBPS[self.quality]} kbps"
        coded = _round_trip(channels / scale, sample_rate, "ogg", quality)
        return (coded * scale).reshape(audio.shape).astype(np.float32)
