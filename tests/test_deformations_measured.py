"""The newer deformations measured on synthetic signals: each does what its docstring says."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import soundfile

from mir_ref import api
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


def signals(rng: np.random.Generator, sample_rate: int) -> dict[str, np.ndarray]:
    """Tones, a silence-padded burst, a track padded with 2 s of silence, and stereo."""
    tone = harmonic_tone(110.0, sample_rate, 1.0)
    return {
        "sine": sine(440.0, sample_rate, 1.0),
        "harmonic": tone,
        "burst": noise_burst(rng, sample_rate, 1.0),
        "padded": np.concatenate([np.zeros(sample_rate, np.float32), tone, np.zeros(sample_rate)]),
        "stereo": np.stack([sine(440.0, sample_rate, 1.0), sine(3000.0, sample_rate, 1.0)]),
    }


@pytest.fixture(scope="module")
def noise_folder(tmp_path_factory):
    """A short (0.25 s) hum recording at 8 kHz and a longer hiss at 44.1 kHz."""
    folder = tmp_path_factory.mktemp("noises")
    rng = np.random.default_rng(3)
    hum = 0.3 * np.sin(2 * np.pi * 60 * np.arange(2000) / 8000) + 0.01 * rng.standard_normal(2000)
    soundfile.write(folder / "hum.wav", hum.astype(np.float32), 8000)
    soundfile.write(folder / "hiss.wav", 0.05 * rng.standard_normal(88200), 44100)
    return folder


# --- noise ------------------------------------------------------------------------------------


@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 20.0, 60.0])
@pytest.mark.parametrize("kind", ["pink_noise", "background_noise"])
def test_noise_has_the_requested_snr_silence_included(kind, snr_db, noise_folder, rng):
    # The SNR is global: silence padding counts in the signal's power (see deformations.noise).
    sample_rate = 16000
    params = {"folder": noise_folder} if kind == "background_noise" else {}
    deformation = api.deformation(kind, snr_db=snr_db, **params)
    for name, audio in signals(rng, sample_rate).items():
        noisy = deformation(audio, sample_rate, seed=11)
        noise = noisy.astype(np.float64) - audio
        measured = power_db(audio) - power_db(noise)
        assert measured == pytest.approx(snr_db, abs=0.2), name


def test_pink_noise_falls_by_3_db_per_octave(rng):
    audio = harmonic_tone(220.0, 32000, 4.0)
    noise = api.deformation("pink_noise", snr_db=0.0)(audio, 32000, seed=rng) - audio
    frequencies, density = scipy.signal.welch(noise, fs=32000, nperseg=4096)
    band = (frequencies > 50) & (frequencies < 12000)
    slope_db_per_octave = np.polyfit(np.log2(frequencies[band]), 10 * np.log10(density[band]), 1)[0]
    assert slope_db_per_octave == pytest.approx(-3.01, abs=0.1)


def test_background_noise_is_the_recording_looped_and_seeded(noise_folder):
    sample_rate = 8000
    audio = sine(440.0, sample_rate, 2.0)
    deformation = api.deformation("background_noise", snr_db=0.0, folder=noise_folder / "hum.wav")
    noise = deformation(audio, sample_rate, seed=1).astype(np.float64) - audio
    # The 2000-sample recording repeats through the 2 s input.
    assert np.allclose(noise[:2000], noise[2000:4000], atol=1e-6)
    _, density = scipy.signal.welch(noise, fs=sample_rate, nperseg=1024)
    assert np.argmax(density) == round(60 / (sample_rate / 1024))  # the 60 Hz hum
    other = deformation(audio, sample_rate, seed=2).astype(np.float64) - audio
    assert not np.allclose(noise, other)  # another offset


def test_background_noise_picks_recordings_from_the_folder(noise_folder):
    audio = sine(440.0, 16000, 0.5)
    deformation = api.deformation("background_noise", snr_db=0.0, folder=noise_folder)
    hum_share = []
    for seed in range(12):
        noise = deformation(audio, 16000, seed=seed) - audio
        _, density = scipy.signal.welch(noise, fs=16000, nperseg=1024)
        hum_share.append(density[:6].sum() / density.sum() > 0.5)
    assert 0 < sum(hum_share) < 12  # both recordings get picked


# --- codecs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("quality", [0, 5, 10])
@pytest.mark.parametrize("sample_rate", [8000, 16000, 22050, 44100, 48000])
def test_ogg_vorbis_keeps_length_and_alignment(sample_rate, quality, rng):
    audio = np.stack([lowpass_noise(rng, sample_rate, 0.5, cutoff_hz=2500.0) for _ in range(2)])
    coded = api.deformation("ogg_vorbis", quality=quality)(audio, sample_rate)
    assert coded.shape == audio.shape
    assert [abs(lag_samples(audio[c], coded[c])) for c in range(2)] in ([0, 0], [0, 1], [1, 0])


def test_ogg_vorbis_low_quality_removes_high_frequencies(rng):
    audio = (0.1 * rng.standard_normal(44100)).astype(np.float32)
    coarse = api.deformation("ogg_vorbis", quality=0)(audio, 44100)
    fine = api.deformation("ogg_vorbis", quality=10)(audio, 44100)
    # Vorbis low-passes quality 0 near 15 kHz at 44.1 kHz; quality 10 keeps the whole band.
    assert (
        band_power_db(audio, 44100, 17000, 20000) - band_power_db(coarse, 44100, 17000, 20000) > 30
    )
    for low_hz, high_hz in ((1000, 10000), (15000, 20000)):
        difference = band_power_db(audio, 44100, low_hz, high_hz) - band_power_db(
            fine, 44100, low_hz, high_hz
        )
        assert abs(difference) < 1


# --- time_stretch -----------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.5, 0.8, 1.25, 2.0, 3.0])
def test_time_stretch_changes_duration_not_pitch(rate):
    sample_rate = 22050
    f0 = 220.0
    audio = harmonic_tone(f0, sample_rate, 1.0)
    stretched = api.deformation("time_stretch", rate=rate)(audio, sample_rate)
    assert len(stretched) / len(audio) == pytest.approx(1 / rate, rel=0.01)
    measured = f0_hz(stretched, sample_rate, f0 / 1.1, f0 * 1.1)
    assert 1200 * np.log2(measured / f0) == pytest.approx(0.0, abs=10.0)


def test_time_stretch_scales_event_times():
    sample_rate = 16000
    time_s = np.arange(2 * sample_rate) / sample_rate
    audio = sine(440.0, sample_rate, 2.0) * ((time_s > 0.8) & (time_s < 1.0))
    stretched = api.deformation("time_stretch", rate=2.0)(audio, sample_rate)
    envelope = np.abs(scipy.signal.hilbert(stretched))
    onset_s = np.flatnonzero(envelope > 0.5 * envelope.max())[0] / sample_rate
    assert onset_s == pytest.approx(0.4, abs=0.02)


# --- filters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "sample_rate", "cutoff_hz"),
    [
        ("low_pass", 8000, 3400.0),  # a phone line's top
        ("low_pass", 22050, 1000.0),
        ("low_pass", 48000, 8000.0),
        ("high_pass", 8000, 300.0),  # a phone line's bottom
        ("high_pass", 22050, 1000.0),
        ("high_pass", 48000, 8000.0),
    ],
)
def test_filters_remove_at_least_30_db_beyond_the_cutoff(kind, sample_rate, cutoff_hz, rng):
    audio = (0.1 * rng.standard_normal(4 * sample_rate)).astype(np.float32)
    filtered = api.deformation(kind, cutoff_hz=cutoff_hz)(audio, sample_rate)
    frequencies, before = scipy.signal.welch(audio, fs=sample_rate, nperseg=8192)
    _, after = scipy.signal.welch(filtered, fs=sample_rate, nperseg=8192)
    stop = frequencies >= cutoff_hz if kind == "low_pass" else frequencies <= cutoff_hz
    passing = (
        frequencies <= cutoff_hz / 1.5 if kind == "low_pass" else frequencies >= cutoff_hz * 1.5
    )
    assert 10 * np.log10(before[stop].sum() / after[stop].sum()) >= 30
    assert 10 * np.log10(before[passing].sum() / after[passing].sum()) == pytest.approx(0, abs=0.5)
    assert lag_samples(audio, filtered) == 0  # zero phase


def test_low_pass_above_nyquist_is_identity_and_high_pass_there_is_silence(rng):
    audio = (0.1 * rng.standard_normal(8000)).astype(np.float32)
    assert np.array_equal(api.deformation("low_pass", cutoff_hz=5000)(audio, 8000), audio)
    assert not np.any(api.deformation("high_pass", cutoff_hz=3900)(audio, 8000))


@pytest.mark.parametrize(("sample_rate", "low_rate"), [(44100, 8000), (16000, 11025)])
def test_resample_removes_content_above_the_lower_nyquist(sample_rate, low_rate, rng):
    audio = (0.1 * rng.standard_normal(sample_rate)).astype(np.float32)
    out = api.deformation("resample", sample_rate_hz=low_rate)(audio, sample_rate)
    assert out.shape == audio.shape
    nyquist = low_rate / 2
    above = band_power_db(audio, sample_rate, nyquist * 1.05, sample_rate / 2)
    assert above - band_power_db(out, sample_rate, nyquist * 1.05, sample_rate / 2) > 40
    below = band_power_db(audio, sample_rate, 100, nyquist * 0.9)
    assert below - band_power_db(out, sample_rate, 100, nyquist * 0.9) == pytest.approx(0, abs=0.5)
    assert lag_samples(audio, out) == 0


# --- rooms ------------------------------------------------------------------------------------


def test_reverb_tail_grows_with_room_size_and_direct_sound_stays_aligned(rng):
    sample_rate = 22050
    audio = np.zeros(sample_rate, np.float32)
    audio[: sample_rate // 10] = 0.3 * rng.standard_normal(sample_rate // 10)
    tails = []
    for room_size in (0.1, 0.5, 0.9):
        out = api.deformation("reverb", room_size=room_size)(audio, sample_rate)
        assert out.shape == audio.shape
        assert lag_samples(audio, out, max_lag=2000) == 0
        tails.append(power_db(out[sample_rate // 2 :]))
    assert tails[0] < tails[1] - 3 < tails[2] - 6


@pytest.fixture
def room_response(tmp_path, rng):
    """An impulse response with a 40-sample pre-delay and a decaying tail, at 16 kHz."""
    response = np.zeros(4000)
    response[40] = 1.0
    response[41:] = 0.2 * rng.standard_normal(3959) * np.exp(-np.arange(3959) / 600)
    soundfile.write(tmp_path / "room.wav", response.astype(np.float32), 16000)
    return tmp_path / "room.wav"


def test_impulse_response_keeps_alignment_and_level(room_response, rng):
    audio = lowpass_noise(rng, 16000, 1.0, cutoff_hz=4000.0)
    wet = api.deformation("impulse_response", path=room_response)(audio, 16000)
    assert wet.shape == audio.shape
    assert lag_samples(audio, wet) == 0  # the pre-delay is removed
    assert power_db(wet) == pytest.approx(power_db(audio), abs=0.01)
    dry = api.deformation("impulse_response", path=room_response, wet_level=0.0)(audio, 16000)
    assert np.allclose(dry, audio)


def test_impulse_response_of_a_click_is_the_identity(tmp_path):
    click = np.zeros(100, np.float32)
    click[10] = 0.5
    soundfile.write(tmp_path / "click.wav", click, 16000)
    audio = sine(440.0, 16000, 0.2)
    out = api.deformation("impulse_response", path=tmp_path / "click.wav")(audio, 16000)
    assert np.allclose(out, audio, atol=1e-6)


# --- dynamics ---------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold_db", [0.0, -1.0, -6.0, -20.0])
def test_clipping_caps_the_peak_at_the_threshold_below_it(threshold_db, rng):
    audio = harmonic_tone(220.0, 16000, 0.5) * 2.5  # peaks beyond ±1 are clipped relative too
    out = api.deformation("clipping", threshold_db=threshold_db)(audio, 16000)
    peak_ratio_db = 20 * np.log10(np.max(np.abs(out)) / np.max(np.abs(audio)))
    assert peak_ratio_db == pytest.approx(threshold_db, abs=0.01)
    unclipped = np.abs(audio) < np.max(np.abs(out))
    assert np.array_equal(out[unclipped], audio[unclipped])


@pytest.mark.parametrize("percentile", [2.0, 10.0, 40.0])
def test_clipping_percentile_clips_that_share_of_samples(percentile, rng):
    audio = (0.2 * rng.standard_normal(20000)).astype(np.float32)
    out = api.deformation("clipping_percentile", percentile=percentile)(audio, 16000)
    assert 100 * np.mean(out != audio) == pytest.approx(percentile, abs=0.1)


@pytest.mark.parametrize("bits", [8, 12, 16])
def test_bit_depth_has_the_textbook_quantisation_snr(bits):
    audio = sine(997.0, 44100, 1.0) * 1.99  # a full-scale sine
    out = api.deformation("bit_depth", bits=bits)(audio, 44100)
    assert power_db(audio) - power_db(out - audio) == pytest.approx(6.02 * bits + 1.76, abs=0.5)
    assert len(np.unique(out)) <= 2**bits


@pytest.mark.parametrize(("threshold_db", "ratio"), [(-20.0, 4.0), (-30.0, 2.0), (-10.0, 10.0)])
def test_compressor_follows_its_static_curve(threshold_db, ratio):
    audio = sine(1000.0, 44100, 1.0)  # peak 0.5: -6 dBFS
    out = api.deformation("compressor", threshold_db=threshold_db, ratio=ratio)(audio, 44100)
    steady = slice(22050, None)
    reduction_db = power_db(audio[steady]) - power_db(out[steady])
    expected_db = (-6.02 - threshold_db) * (1 - 1 / ratio)
    assert reduction_db == pytest.approx(expected_db, abs=1.0)
    quiet = api.deformation("compressor", threshold_db=0.0, ratio=ratio)(audio, 44100)
    assert power_db(quiet) == pytest.approx(power_db(audio), abs=0.1)


# --- chain ------------------------------------------------------------------------------------


def test_chain_applies_its_steps_in_order_with_one_generator(rng):
    audio = harmonic_tone(220.0, 16000, 0.5)
    steps = [
        {"type": "time_stretch", "rate": 0.8},
        {"type": "white_noise", "snr_db": 10.0},
        {"type": "clipping", "threshold_db": -3.0},
    ]
    chained = api.deformation("chain", steps=steps)(audio, 16000, seed=3)
    generator = np.random.default_rng(3)
    expected = audio
    for step in steps:
        expected = api.deformation(**step)(expected, 16000, seed=generator)
    assert chained.tobytes() == expected.tobytes()
    assert len(chained) == round(len(audio) / 0.8)
