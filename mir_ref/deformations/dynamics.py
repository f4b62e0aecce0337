"""Level and amplitude: gain, clipping, bit-depth reduction and dynamic range compression."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pedalboard

from mir_ref.deformations.base import (
    Deformation,
    check_range,
    process_with_plugin,
)
from mir_ref.registry import register


@register("deformations", "gain")
@dataclass
class Gain(Deformation):
    """A change of level by a fixed number of decibels (a louder or quieter recording).

    Parameters
    ----------
    gain_db : level change in dB, within [-120, 60]. Positive gains may push samples beyond
        ±1; they are not clipped, so the deformation changes level only (chain it with
        ``clipping`` to model an overload).
    """

    gain_db: float

    strength: ClassVar[str] = "gain_db"
    version: ClassVar[str] = "1"
    strength_label: ClassVar[str] = "gain (dB)"
    keeps_labels: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_range("gain_db", self.gain_db, -120.0, 60.0, "dB")

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        return (audio.astype(np.float64) * 10 ** (self.gain_db / 20)).astype(np.float32)


@register("deformations", "clipping")
@dataclass
class Clipping(Deformation):
    """Hard clipping at a level below the peak (an overdriven recording or a loudness war master).

    Parameters
    ----------
    threshold_db : clipping level relative to the input's peak (over all channels), in dB,
        within [-60, 0]; 0 leaves the audio unchanged, -6 clips everything above half the
        peak. Relative to the peak, so the effect does not depend on the input's level.
    """

    threshold_db: float

    strength: ClassVar[str] = "threshold_db"
    version: ClassVar[str] = "1"
    strength_label: ClassVar[str] = "threshold (dB re peak)"
    mild_is_high: ClassVar[bool] = True
    keeps_labels: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_range("threshold_db", self.threshold_db, -60.0, 0.0, "dB")

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        if audio.size == 0:
            return audio.copy()
        limit = float(np.max(np.abs(audio))) * 10 ** (self.threshold_db / 20)
        return np.clip(audio, -limit, limit).astype(np.float32)


@register("deformations", "clipping_percentile")
@dataclass
class ClippingPercentile(Deformation):
    """Hard clipping of a given percentage of the samples (audiomentations' ClippingDistortion).

    Parameters
    ----------
    percentile : percentage of samples clipped, within [0, 100): the lowest and the highest
        ``percentile / 2`` % of sample values (over all channels) are set to those
        percentiles, as audiomentations' ``ClippingDistortion`` does.
    """

    percentile: float

    strength: ClassVar[str] = "percentile"
    version: ClassVar[str] = "1"
    strength_label: ClassVar[str] = "clipped percentile"
    keeps_labels: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_range("percentile", self.percentile, 0.0, 99.999, "%")

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        if audio.size == 0:
            return audio.copy()
        low, high = np.percentile(audio, [self.percentile / 2, 100 - self.percentile / 2])
        return np.clip(audio, low, high).astype(np.float32)


@register("deformations", "bit_depth")
@dataclass
class BitDepth(Deformation):
    """Quantisation to fewer bits (old samplers, low-resolution converters, 8-bit game audio).

    Parameters
    ----------
    bits : word length of a signed fixed-point format, an integer within [2, 24]. Samples
        are rounded to the nearest of ``2**bits`` levels spanning [-1, 1) without dither, and
        samples beyond that range clip, as in a real fixed-point file.
    """

    bits: int

    strength: ClassVar[str] = "bits"
    version: ClassVar[str] = "1"
    strength_label: ClassVar[str] = "bits"
    mild_is_high: ClassVar[bool] = True
    keeps_labels: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_range("bits", self.bits, 2, 24, "bits")

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        steps = 2.0 ** (self.bits - 1)
        levels = np.clip(np.round(audio.astype(np.float64) * steps), -steps, steps - 1)
        return (levels / steps).astype(np.float32)


@register("deformations", "compressor")
@dataclass
class Compressor(Deformation):
    """Dynamic range compression (broadcast or streaming loudness processing).

    Parameters
    ----------
    threshold_db : level above which gain is reduced, in dBFS, within [-60, 0].
    ratio : compression ratio, within [1, 50]; 4 turns 4 dB above the threshold into 1 dB.
    attack_ms, release_ms : how fast the gain reduction reacts, within [0.01, 1000] and
        [1, 5000] ms.

    Notes
    -----
    pedalboard's ``Compressor`` (no look-ahead, so the output is aligned with the input), no
    make-up gain: loud passages get quieter. Channels are compressed in pairs at most.
    """

    threshold_db: float
    ratio: float = 4.0
    attack_ms: float = 1.0
    release_ms: float = 100.0

    strength: ClassVar[str] = "threshold_db"
    version: ClassVar[str] = "1"
    strength_label: ClassVar[str] = "threshold (dBFS)"
    mild_is_high: ClassVar[bool] = True
    keeps_labels: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_range("threshold_db", self.threshold_db, -60.0, 0.0, "dBFS")
        check_range("ratio", self.ratio, 1.0, 50.0, "")
        check_range("attack_ms", self.attack_ms, 0.01, 1000.0, "ms")
        check_range("release_ms", self.release_ms, 1.0, 5000.0, "ms")

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        return process_with_plugin(
            audio,
            sample_rate,
            lambda: pedalboard.Compressor(
                threshold_db=float(self.threshold_db),
                ratio=float(self.ratio),
                attack_ms=float(self.attack_ms),
                release_ms=float(self.release_ms),
            ),
        )
