"""Deformations measured on synthetic signals with known answers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from mir_ref import registry
from mir_ref.deformations.base import Deformation
from mir_ref.deformations.effects import MP3_BITRATES_KBPS, Gain, Mp3, PitchShift, WhiteNoise
from mir_ref.errors import ConfigError

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


DEFORMATIONS = [
    WhiteNoise(snr_db=10.0),
    Gain(gain_db=-6.0),
    Mp3(bitrate_kbps=64),
    PitchShift(semitones=2.0),
]
IDS = [type(deformation).__name__ for deformation in DEFORMATIONS]


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


def band_power_db(audio: np.ndarray, sample_rate: int, low_hz: float, high_hz: float) -> float:
    frequencies, spectrum = scipy.signal.welch(audio, fs=sample_rate, nperseg=2048)
    return float(10 * np.log10(spectrum[(frequencies >= low_hz) & (frequencies < high_hz)].sum()))


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


# --- every deformation ------------------------------------------------------------------------


@pytest.mark.parametrize("deformation", DEFORMATIONS, ids=IDS)
def test_same_seed_gives_identical_output(deformation, rng):
    audio = (0.1 * rng.standard_normal((2, 8000))).astype(np.float32)
    first = deformation(audio, 16000, seed=7)
    second = deformation(audio, 16000, seed=7)
    assert first.tobytes() == second.tobytes()


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES_HZ)
@pytest.mark.parametrize("deformation", DEFORMATIONS, ids=IDS)
def test_shapes_rates_and_short_input(deformation, sample_rate, rng):
    tenth = sample_rate // 10
    for shape in [(tenth,), (2, tenth), (3, tenth), (1, 1), (3,), (2, 0)]:
        audio = (0.1 * rng.standard_normal(shape)).astype(np.float32)
        out = deformation(audio, sample_rate, seed=0)
        assert out.shape == audio.shape
        assert out.dtype == np.float32
        assert np.all(np.isfinite(out))


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


@pytest.mark.parametrize("name", ["white_noise", "gain", "mp3", "pitch_shift"])
def test_registered_with_a_description_and_a_strength_field(name):
    cls = registry.available("deformations")[name]
    assert issubclass(cls, Deformation)
    assert registry.describe(cls)
    assert cls.strength in {field.name for field in dataclasses.fields(cls)}
    assert cls.version == "1"


def test_every_mp3_bitrate_is_accepted():
    audio = sine(440.0, 22050, 0.1)
    for bitrate_kbps in MP3_BITRATES_KBPS:
        assert Mp3(bitrate_kbps=bitrate_kbps)(audio, 22050).shape == audio.shape


@settings(max_examples=25, deadline=None)
@given(
    data=st.data(),
    sample_rate=st.sampled_from(SAMPLE_RATES_HZ),
    channels=st.integers(min_value=0, max_value=2),
    duration_s=st.floats(min_value=0.0, max_value=0.3),
    amplitude=st.floats(min_value=0.0, max_value=4.0),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_property_finite_float32_same_shape(
    data, sample_rate, channels, duration_s, amplitude, seed
):
    deformation = data.draw(
        st.one_of(
            st.builds(WhiteNoise, snr_db=st.floats(min_value=-30, max_value=100)),
            st.builds(Gain, gain_db=st.floats(min_value=-120, max_value=20)),
            st.builds(Mp3, bitrate_kbps=st.sampled_from(MP3_BITRATES_KBPS)),
            st.builds(PitchShift, semitones=st.floats(min_value=-12, max_value=12)),
        )
    )
    samples = int(duration_s * sample_rate)
    shape = (samples,) if channels == 0 else (channels, samples)
    audio = (amplitude * np.random.default_rng(seed).uniform(-1, 1, shape)).astype(np.float32)
    out = deformation(audio, sample_rate, seed=seed)
    assert out.shape == audio.shape
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out))
