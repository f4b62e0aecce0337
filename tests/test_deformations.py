"""Deformations measured on synthetic signals with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from mir_ref import registry
from mir_ref.deformations.codecs import MP3_BITRATES_KBPS, Mp3
from mir_ref.deformations.dynamics import Gain
from mir_ref.deformations.noise import WhiteNoise
from mir_ref.deformations.time_pitch import PitchShift
from mir_ref.errors import ConfigError
from tests.signals import (
    band_power_db,
    f0_hz,
    harmonic_tone,
    lag_samples,
    lowpass_noise,
    noise_burst,
    power_db,
    sine,
)

# --- white_noise ------------------------------------------------------------------------------


@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 10.0, 30.0, 60.0])
@pytest.mark.parametrize("kind", ["sine", "harmonic", "burst", "stereo"])
def test_white_noise_has_the_requested_snr(kind, snr_db, rng):
    sample_rate = 22050
    audio = {
        "sine": lambda: sine(440.0, sample_rate, 1.0),
        "harmonic": lambda: harmonic_tone(110.0, sample_rate, 1.0),
        "burst": lambda: noise_burst(rng, sample_rate, 1.0),
        "stereo": lambda: np.stack([sine(440.0, sample_rate, 1.0), sine(3000.0, sample_rate, 1.0)]),
    }[kind]()
    noisy = WhiteNoise(snr_db=snr_db)(audio, sample_rate, seed=3)
    noise = noisy.astype(np.float64) - audio
    assert power_db(audio) - power_db(noise) == pytest.approx(snr_db, abs=0.2)


def test_white_noise_is_white_and_zero_mean(rng):
    audio = harmonic_tone(220.0, 16000, 2.0)
    noise = WhiteNoise(snr_db=0.0)(audio, 16000, seed=rng) - audio
    assert abs(noise.mean()) < 0.05 * noise.std()
    _, spectrum = scipy.signal.welch(noise, fs=16000, nperseg=512)
    low, high = spectrum[5:100].mean(), spectrum[156:251].mean()
    assert abs(10 * np.log10(high / low)) < 1.0


def test_white_noise_leaves_silence_unchanged():
    silence = np.zeros((2, 4000), dtype=np.float32)
    assert np.array_equal(WhiteNoise(snr_db=0.0)(silence, 16000), silence)


def test_white_noise_differs_between_seeds():
    audio = sine(440.0, 8000, 0.5)
    first = WhiteNoise(snr_db=10.0)(audio, 8000, seed=0)
    second = WhiteNoise(snr_db=10.0)(audio, 8000, seed=1)
    assert not np.array_equal(first, second)


# --- gain -------------------------------------------------------------------------------------


@pytest.mark.parametrize("gain_db", [-120.0, -40.0, -6.0, 0.0, 3.5, 20.0, 60.0])
def test_gain_changes_rms_by_the_requested_decibels(gain_db, rng):
    audio = harmonic_tone(330.0, 22050, 0.5) + 0.01 * rng.standard_normal(11025).astype(np.float32)
    louder = Gain(gain_db=gain_db)(audio, 22050)
    assert power_db(louder) - power_db(audio) == pytest.approx(gain_db, abs=0.1)


def test_gain_does_not_clip():
    audio = sine(440.0, 8000, 0.2)
    assert np.max(np.abs(Gain(gain_db=20.0)(audio, 8000))) == pytest.approx(5.0, rel=1e-3)


# --- mp3 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bitrate_kbps", [32, 128, 320])
@pytest.mark.parametrize("sample_rate", [8000, 11025, 16000, 22050, 44100, 48000, 96000])
def test_mp3_keeps_length_and_alignment(sample_rate, bitrate_kbps, rng):
    # Below 3 kHz the signal survives even the 32 kbps low-pass, so the correlation is sharp.
    audio = lowpass_noise(rng, sample_rate, 0.5, cutoff_hz=3000.0)
    coded = Mp3(bitrate_kbps=bitrate_kbps)(audio, sample_rate)
    assert coded.shape == audio.shape
    assert abs(lag_samples(audio, coded)) <= 1


def test_mp3_stereo_channels_stay_aligned(rng):
    audio = np.stack([lowpass_noise(rng, 44100, 0.5, 4000.0) for _ in range(2)])
    coded = Mp3(bitrate_kbps=128)(audio, 44100)
    assert coded.shape == audio.shape
    assert [lag_samples(audio[c], coded[c]) for c in range(2)] == [0, 0]


def test_mp3_low_bitrate_removes_high_frequencies(rng):
    audio = (0.1 * rng.standard_normal(44100)).astype(np.float32)
    coarse = Mp3(bitrate_kbps=32)(audio, 44100)
    fine = Mp3(bitrate_kbps=320)(audio, 44100)
    # LAME low-passes 32 kbps streams near 9 kHz and 320 kbps ones near 20 kHz.
    assert (
        band_power_db(audio, 44100, 11000, 20000) - band_power_db(coarse, 44100, 11000, 20000) > 30
    )
    assert (
        abs(band_power_db(audio, 44100, 1000, 15000) - band_power_db(fine, 44100, 1000, 15000)) < 1
    )


def test_mp3_bitrate_is_honoured_at_low_sample_rates(rng):
    # 8 kHz MP3 streams stop at 64 kbps; 320 kbps must still mean a better encoding.
    audio = lowpass_noise(rng, 8000, 1.0, cutoff_hz=2800.0)

    def error_db(bitrate_kbps: int) -> float:
        return power_db(Mp3(bitrate_kbps=bitrate_kbps)(audio, 8000) - audio) - power_db(audio)

    assert error_db(320) < error_db(64) - 10


def test_mp3_does_not_clip_loud_input(rng):
    audio = lowpass_noise(rng, 22050, 0.5, cutoff_hz=4000.0)
    audio *= 3.0 / np.max(np.abs(audio))
    coded = Mp3(bitrate_kbps=192)(audio, 22050)
    assert power_db(coded - audio) - power_db(audio) < -20


# --- pitch_shift ------------------------------------------------------------------------------


@pytest.mark.parametrize("semitones", [-12.0, -7.0, -0.5, 1.0, 3.3, 12.0])
@pytest.mark.parametrize("sample_rate", [16000, 44100])
def test_pitch_shift_moves_the_fundamental_by_the_requested_semitones(sample_rate, semitones):
    f0 = 220.0
    audio = harmonic_tone(f0, sample_rate, 1.0)
    shifted = PitchShift(semitones=semitones)(audio, sample_rate)
    expected = f0 * 2 ** (semitones / 12)
    measured = f0_hz(shifted, sample_rate, expected / 1.1, expected * 1.1)
    assert shifted.shape == audio.shape
    assert 1200 * np.log2(measured / expected) == pytest.approx(0.0, abs=10.0)


@pytest.mark.parametrize("semitones", [-12.0, 5.0])
def test_pitch_shift_keeps_timing(semitones):
    sample_rate = 22050
    time_s = np.arange(sample_rate) / sample_rate
    audio = sine(440.0, sample_rate, 1.0) * ((time_s > 0.3) & (time_s < 0.6))
    shifted = PitchShift(semitones=semitones)(audio, sample_rate)

    def energy_centre_s(signal: np.ndarray) -> float:
        return float(np.sum(time_s * signal**2) / np.sum(signal**2))

    assert energy_centre_s(shifted) == pytest.approx(energy_centre_s(audio), abs=0.01)


@pytest.mark.parametrize(
    ("cls", "params"),
    [
        (WhiteNoise, {"snr_db": float("nan")}),
        (WhiteNoise, {"snr_db": 500.0}),
        (Gain, {"gain_db": 61.0}),
        (Gain, {"gain_db": float("-inf")}),
        (Mp3, {"bitrate_kbps": 100}),
        (Mp3, {"bitrate_kbps": 8}),
        (PitchShift, {"semitones": 12.5}),
    ],
)
def test_bad_parameters_are_value_errors(cls, params):
    with pytest.raises(ValueError, match=next(iter(params))):
        cls(**params)


def test_bad_mp3_bitrate_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="32, 40, 48.*320"):
        Mp3(bitrate_kbps=129)


def test_bad_parameters_from_a_config_are_config_errors():
    with pytest.raises(ConfigError, match=r"deformations\[0\].*bitrate_kbps"):
        registry.build(
            "deformations", {"type": "mp3", "bitrate_kbps": 100}, where="deformations[0]"
        )


def test_every_mp3_bitrate_is_accepted():
    audio = sine(440.0, 22050, 0.1)
    for bitrate_kbps in MP3_BITRATES_KBPS:
        assert Mp3(bitrate_kbps=bitrate_kbps)(audio, 22050).shape == audio.shape
