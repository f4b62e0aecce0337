"""Synthetic test signals with known answers, and the measurements the deformation tests use."""

from __future__ import annotations

import numpy as np
import scipy.signal

SAMPLE_RATES_HZ = (8000, 11025, 16000, 22050, 44100, 48000)


def sine(frequency_hz: float, sample_rate: int, duration_s: float) -> np.ndarray:
    time_s = np.arange(int(duration_s * sample_rate)) / sample_rate
    return (0.5 * np.sin(2 * np.pi * frequency_hz * time_s)).astype(np.float32)


def harmonic_tone(f0_hz: float, sample_rate: int, duration_s: float, harmonics: int = 6):
    time_s = np.arange(int(duration_s * sample_rate)) / sample_rate
    tone = sum(
        np.sin(2 * np.pi * k * f0_hz * time_s) / k
        for k in range(1, harmonics + 1)
        if k * f0_hz < sample_rate / 2
    )
    return (0.3 * tone).astype(np.float32)


def noise_burst(rng: np.random.Generator, sample_rate: int, duration_s: float) -> np.ndarray:
    """White noise in the middle third, silence around it."""
    audio = np.zeros(int(duration_s * sample_rate), dtype=np.float32)
    third = len(audio) // 3
    audio[third : 2 * third] = 0.2 * rng.standard_normal(third)
    return audio


def lowpass_noise(rng: np.random.Generator, sample_rate: int, duration_s: float, cutoff_hz: float):
    sos = scipy.signal.butter(8, cutoff_hz, fs=sample_rate, output="sos")
    noise = rng.standard_normal(int(duration_s * sample_rate))
    return (0.1 * scipy.signal.sosfiltfilt(sos, noise)).astype(np.float32)


def power_db(audio: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(audio, dtype=np.float64) ** 2)))


def lag_samples(reference: np.ndarray, other: np.ndarray, max_lag: int = 4000) -> int:
    """Lag of ``other`` behind ``reference`` that maximises their cross-correlation."""
    correlation = scipy.signal.correlate(other, reference, mode="full", method="fft")
    lags = scipy.signal.correlation_lags(len(other), len(reference), mode="full")
    window = np.abs(lags) <= max_lag
    return int(lags[window][np.argmax(correlation[window])])


def f0_hz(audio: np.ndarray, sample_rate: int, low_hz: float, high_hz: float) -> float:
    """Strongest spectral peak within [low_hz, high_hz], refined by parabolic interpolation."""
    middle = audio[len(audio) // 4 : 3 * len(audio) // 4].astype(np.float64)
    n_fft = 1 << 20
    magnitude = np.abs(np.fft.rfft(middle * np.hanning(len(middle)), n_fft))
    frequencies = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    band = np.flatnonzero((frequencies > low_hz) & (frequencies < high_hz))
    peak = band[np.argmax(magnitude[band])]
    left, centre, right = np.log(magnitude[peak - 1 : peak + 2])
    offset = 0.5 * (left - right) / (left - 2 * centre + right)
    return float((peak + offset) * sample_rate / n_fft)


def band_power_db(audio: np.ndarray, sample_rate: int, low_hz: float, high_hz: float) -> float:
    frequencies, spectrum = scipy.signal.welch(audio, fs=sample_rate, nperseg=2048)
    return float(10 * np.log10(spectrum[(frequencies >= low_hz) & (frequencies < high_hz)].sum()))
