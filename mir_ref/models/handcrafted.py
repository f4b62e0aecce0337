"""Hand-made features as embedding models: MFCC, chroma and log-mel spectrogram.

MFCC and log-mel come from :mod:`mir_ref.models.spectral` (librosa's values, 4-5× faster;
``implementation: librosa`` computes them with librosa itself); chroma from librosa's CQT.

They are the baselines every learned representation is compared with, and they need no
weights, so the demo and the tests run offline. Each is one layer, ``output``.

Every feature is computed per item: nothing is normalised over the batch (no ``ref=np.max``,
no ``top_db`` clipping, no tuning estimated from the batch), so an item's embedding does not
depend on what it is batched with.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.fft

from mir_ref.models import spectral
from mir_ref.models.base import EmbeddingModel
from mir_ref.registry import register

IMPLEMENTATIONS = ("fast", "librosa")
"""``fast``: :mod:`mir_ref.models.spectral` (the default); ``librosa``: the reference."""

# Floor of the power spectrum before taking logs: -100 dB, below 16-bit quantisation noise.
_POWER_FLOOR = 1e-10


@dataclass
class _FrameFeatures(EmbeddingModel):
    """Shared plumbing: sample rate, hop, centred frames and very short input."""

    sample_rate_hz: int = 22050
    hop_length: int = 512

    version: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        for name in ("sample_rate_hz", "hop_length"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: {getattr(self, name)!r} must be positive")

    @property
    def sample_rate(self) -> int:
        """The sample rate the features are computed at, in Hz."""
        return self.sample_rate_hz

    @property
    def frame_hop_s(self) -> float:
        """Seconds between frames (``hop_length / sample_rate``)."""
        return self.hop_length / self.sample_rate_hz

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """Compute the features of a batch of waveforms.

        Parameters
        ----------
        batch : ``[batch, samples]`` float32 at :attr:`sample_rate`.

        Returns
        -------
        ``[1, batch, frames, dim]`` float32, with ``frames = 1 + samples // hop_length``
        (frames are centred on multiples of the hop).
        """
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 2:
            raise ValueError(f"batch: expected [batch, samples], got shape {batch.shape}")
        frames = 1 + batch.shape[-1] // self.hop_length
        # librosa warns (and pads with zeros itself) when the input is shorter than its
        # analysis window; padding with zeros first gives the same frames without the warning.
        minimum = self._min_samples()
        if batch.shape[-1] < minimum:
            batch = np.pad(batch, [(0, 0), (0, minimum - batch.shape[-1])])
        features = self._features(batch)[:, :frames]
        return np.ascontiguousarray(features[None], dtype=np.float32)

    def _min_samples(self) -> int:
        raise NotImplementedError

    def _features(self, batch: np.ndarray) -> np.ndarray:
        """``[batch, samples]`` → ``[batch, frames, dim]``."""
        raise NotImplementedError


@functools.lru_cache(maxsize=16)
def _mel_projection(sample_rate_hz: int, n_fft: int, n_mels: int) -> spectral.MelProjection:
    filters = spectral.mel_filters(sample_rate_hz=sample_rate_hz, n_fft=n_fft, n_mels=n_mels)
    return spectral.MelProjection(filters)


@dataclass
class _MelFeatures(_FrameFeatures):
    n_fft: int = 2048
    n_mels: int = 128
    implementation: str = "fast"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("n_fft", "n_mels"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: {getattr(self, name)!r} must be positive")
        if self.implementation not in IMPLEMENTATIONS:
            raise ValueError(
                f"implementation: {self.implementation!r} is not one of {list(IMPLEMENTATIONS)}"
            )

    def _min_samples(self) -> int:
        return self.n_fft

    def _log_mel(self, batch: np.ndarray) -> np.ndarray:
        """Mel power spectrogram in dB re full scale, ``[batch, frames, n_mels]``."""
        if self.implementation == "librosa":
            return self._log_mel_librosa(batch).transpose(0, 2, 1)
        power = spectral.power_spectrogram(batch, n_fft=self.n_fft, hop_length=self.hop_length)
        mel = _mel_projection(self.sample_rate_hz, self.n_fft, self.n_mels)(power)
        np.maximum(mel, _POWER_FLOOR, out=mel)
        np.log10(mel, out=mel)
        mel *= 10.0
        return mel

    def _log_mel_librosa(self, batch: np.ndarray) -> np.ndarray:
        """The reference: librosa's mel power spectrogram in dB, ``[batch, n_mels, frames]``."""
        # Deferred: loads librosa, which many runs never need.
        import librosa

        power = librosa.feature.melspectrogram(
            y=batch,
            sr=self.sample_rate_hz,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            n_mels=self.n_mels,
        )
        return librosa.power_to_db(power, ref=1.0, amin=_POWER_FLOOR, top_db=None)


@register("models", "mfcc")
@dataclass
class Mfcc(_MelFeatures):
    """Mel-frequency cepstral coefficients per frame (timbre, the classic genre baseline).

    Parameters
    ----------
    sample_rate_hz : rate the audio is resampled to, in Hz.
    n_mfcc : coefficients per frame (the embedding ``dim``).
    n_mels : mel bands the cepstrum is taken over.
    hop_length, n_fft : STFT hop and window, in samples.
    implementation : ``fast`` (:mod:`mir_ref.models.spectral`) or ``librosa`` (the
        reference, 4-5× slower); they agree to within 1e-4.
    """

    n_mfcc: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.n_mfcc <= self.n_mels:
            raise ValueError(f"n_mfcc: {self.n_mfcc!r} must be within [1, n_mels={self.n_mels}]")

    def _features(self, batch: np.ndarray) -> np.ndarray:
        # librosa.feature.mfcc's defaults: an orthonormal DCT-II over the bands, no liftering.
        cepstrum = scipy.fft.dct(self._log_mel(batch), type=2, axis=-1, norm="ortho")
        return cepstrum[..., : self.n_mfcc]


@register("models", "melspectrogram")
@dataclass
class MelSpectrogram(_MelFeatures):
    """Log-mel spectrogram in dB per frame (the input most audio networks start from).

    Parameters
    ----------
    sample_rate_hz : rate the audio is resampled to, in Hz.
    n_mels : mel bands (the embedding ``dim``).
    hop_length, n_fft : STFT hop and window, in samples.
    implementation : ``fast`` (:mod:`mir_ref.models.spectral`) or ``librosa`` (the
        reference, 4-5× slower); they agree to within 1e-4.

    Notes
    -----
    Power in dB relative to a full-scale sine's bin power of 1, floored at -100 dB.
    """

    n_mels: int = 96

    def _features(self, batch: np.ndarray) -> np.ndarray:
        return self._log_mel(batch)


@register("models", "chroma")
@dataclass
class Chroma(_FrameFeatures):
    """Constant-Q chromagram per frame (energy per pitch class: harmony and key).

    Parameters
    ----------
    sample_rate_hz : rate the audio is resampled to, in Hz.
    n_chroma : pitch classes per octave (the embedding ``dim``); class 0 is C.
    hop_length : hop in samples; a multiple of 64 is fastest (the CQT halves the rate once
        per octave).

    Notes
    -----
    Constant-Q rather than STFT chroma: its log-spaced bins resolve semitones down to C1,
    where a 2048-point STFT at 22.05 kHz confuses neighbouring pitch classes, and librosa's
    multirate CQT is also faster. Tuning is fixed at A4 = 440 Hz; librosa would otherwise
    estimate one tuning for the whole batch. Up to seven octaves from C1, fewer when the
    sample rate's Nyquist frequency is lower. Each frame is scaled to a maximum of 1.
    """

    n_chroma: int = 12

    # 2: a window's chroma no longer depends on what it is batched with (in version 1 its
    # last bits did, so cached entries depended on the schedule).
    version: ClassVar[str] = "2"

    _FMIN_HZ: ClassVar[float] = 32.703  # C1
    _MAX_OCTAVES: ClassVar[int] = 7
    # Bins per pitch class; three lets the CQT place a bin on each tuning offset.
    _BINS_PER_CLASS: ClassVar[int] = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_chroma <= 0:
            raise ValueError(f"n_chroma: {self.n_chroma!r} must be positive")
        if self._n_octaves() < 1:
            raise ValueError(
                f"sample_rate_hz: {self.sample_rate_hz!r} is too low for a chromagram "
                f"(at least {math.ceil(4 * self._FMIN_HZ)} Hz)"
            )

    def _n_octaves(self) -> int:
        return min(self._MAX_OCTAVES, int(math.log2(self.sample_rate_hz / 2 / self._FMIN_HZ)))

    def _min_samples(self) -> int:
        # Deferred: loads librosa, which many runs never need.
        import librosa

        # The longest (lowest) CQT filter; a power of two so every downsampled octave fits.
        longest = librosa.filters.wavelet_lengths(
            freqs=np.array([self._FMIN_HZ]),
            sr=self.sample_rate_hz,
            alpha=2 ** (1 / (self._BINS_PER_CLASS * self.n_chroma)) - 1,
        )[0][0]
        return 2 ** math.ceil(math.log2(longest))

    def _features(self, batch: np.ndarray) -> np.ndarray:
        # Deferred: loads librosa, which many runs never need.
        import librosa

        bins_per_octave = self._BINS_PER_CLASS * self.n_chroma
        # The CQT of the whole batch at once (its filter bank, most of the cost, is built once
        # per call) gives each window what it alone would; the map to pitch classes is a
        # matrix product, whose last bits depend on its shape, so it runs window by window
        # (librosa's chroma_cqt maps the whole batch in one product, and its threshold 0 does
        # nothing to magnitudes).
        magnitudes = np.abs(
            librosa.cqt(
                batch,
                sr=self.sample_rate_hz,
                hop_length=self.hop_length,
                fmin=self._FMIN_HZ,
                n_bins=self._n_octaves() * bins_per_octave,
                bins_per_octave=bins_per_octave,
                tuning=0.0,
            )
        )
        to_chroma = librosa.filters.cq_to_chroma(
            magnitudes.shape[-2],
            bins_per_octave=bins_per_octave,
            n_chroma=self.n_chroma,
            fmin=self._FMIN_HZ,
        )
        return np.stack(
            [
                librosa.util.normalize(
                    np.einsum("cf,ft->ct", to_chroma, window, optimize=True), norm=np.inf, axis=0
                ).T
                for window in magnitudes
            ]
        )
