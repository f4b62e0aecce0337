"""The fast STFT / mel front end against librosa, the reference it replaces."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.signal

from mir_ref.models import spectral
from mir_ref.models.handcrafted import MelSpectrogram, Mfcc
from tests.conftest import imports_in_fresh_interpreter


def signals(sample_rate: int, samples: int, rng) -> np.ndarray:
    """Tones, noise, a chirp, a very quiet item and silence: ``[6, samples]`` float32."""
    time_s = np.arange(samples) / sample_rate
    tones = sum(np.sin(2 * np.pi * f * time_s) / k for k, f in enumerate([220, 660, 1760], 1))
    chirp = scipy.signal.chirp(time_s, 50, time_s[-1] if samples > 1 else 1, sample_rate / 3)
    noise = rng.standard_normal(samples)
    items = [0.3 * tones, 0.5 * noise, 0.4 * chirp, 1e-4 * (tones + noise), 0 * noise, tones]
    items[-1][samples // 2 :] = 0  # a sound that stops: frames of silence after sound
    return np.stack(items).astype(np.float32)


@pytest.mark.parametrize(
    ("sample_rate", "n_fft", "n_mels", "fmin_hz", "fmax_hz"),
    [(22050, 2048, 128, 0.0, None), (16000, 512, 64, 30.0, 7000.0), (44100, 1023, 40, 0, None)],
)
def test_mel_filters_equal_librosa(sample_rate, n_fft, n_mels, fmin_hz, fmax_hz):
    ours = spectral.mel_filters(
        sample_rate_hz=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin_hz=fmin_hz, fmax_hz=fmax_hz
    )
    reference = librosa.filters.mel(
        sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin_hz, fmax=fmax_hz
    )
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("n_fft", [512, 1023, 2048])
def test_hann_window_is_scipys_periodic_hann(n_fft):
    expected = scipy.signal.get_window("hann", n_fft, fftbins=True)
    np.testing.assert_allclose(spectral.hann_window(n_fft), expected, atol=1e-7)


@pytest.mark.parametrize(("n_fft", "hop_length", "samples"), [(2048, 512, 22050), (512, 160, 4000)])
def test_power_spectrogram_equals_librosa_stft(n_fft, hop_length, samples, rng):
    batch = signals(22050, samples, rng)
    ours = spectral.power_spectrogram(batch, n_fft=n_fft, hop_length=hop_length)
    reference = np.abs(librosa.stft(batch, n_fft=n_fft, hop_length=hop_length)) ** 2
    assert ours.shape == reference.transpose(0, 2, 1).shape
    # Single-precision FFT: errors relative to each item's loudest bin.
    scale = reference.max(axis=(1, 2), keepdims=True) + 1e-30
    assert np.max(np.abs(ours - reference.transpose(0, 2, 1)) / scale) < 1e-5


def test_mel_projection_equals_the_dense_product(rng):
    filters = spectral.mel_filters(sample_rate_hz=22050, n_fft=2048, n_mels=96)
    power = rng.random((3, 7, 1025), dtype=np.float32)
    np.testing.assert_allclose(
        spectral.MelProjection(filters)(power), power @ filters.T, rtol=1e-5, atol=1e-7
    )


@pytest.mark.parametrize("cls", [Mfcc, MelSpectrogram])
@pytest.mark.parametrize(
    ("sample_rate", "params", "samples"),
    [
        (22050, {}, 66150),
        (16000, {"n_fft": 512, "hop_length": 160, "n_mels": 64}, 16000),
        (44100, {"n_fft": 1023, "hop_length": 256, "n_mels": 40}, 1000),
    ],
)
def test_fast_features_agree_with_librosa_to_1e4(cls, sample_rate, params, samples, rng):
    batch = signals(sample_rate, samples, rng)
    fast = cls(sample_rate_hz=sample_rate, **params).embed(batch)
    reference = cls(sample_rate_hz=sample_rate, implementation="librosa", **params).embed(batch)
    assert fast.shape == reference.shape and fast.dtype == np.float32
    # What the store keeps: each window's frames averaged.
    np.testing.assert_allclose(fast.mean(axis=2), reference.mean(axis=2), rtol=0, atol=1e-4)
    # Frame by frame, a few float32 steps of values up to ~10^3 dB.
    np.testing.assert_allclose(fast, reference, rtol=1e-5, atol=1e-3)


def test_features_sharing_a_spectrogram_equal_features_alone(rng):
    first, second = signals(22050, 30000, rng), signals(22050, 30000, rng)[::-1].copy()
    alone = [Mfcc().embed(second), MelSpectrogram().embed(first)]
    spectral._memo.__dict__.clear()
    MelSpectrogram().embed(first)
    shared = Mfcc().embed(first)  # the spectrogram of ``first`` is reused
    np.testing.assert_array_equal(shared, Mfcc().embed(first.copy()))
    np.testing.assert_array_equal(Mfcc().embed(second), alone[0])  # same shape, new content
    np.testing.assert_array_equal(MelSpectrogram().embed(first), alone[1])


def test_the_input_is_left_alone_and_the_shared_output_is_read_only(rng):
    batch = signals(22050, 8000, rng)
    before = batch.copy()
    power = spectral.power_spectrogram(batch, n_fft=2048, hop_length=512)
    np.testing.assert_array_equal(batch, before)
    with pytest.raises(ValueError, match="read-only"):
        power[0, 0, 0] = 1.0


def test_unknown_implementation_is_refused():
    with pytest.raises(ValueError, match="implementation"):
        Mfcc(implementation="torch")


def test_embedding_does_not_import_librosa():
    # librosa's first feature call costs ~1.5 s per fresh process (numba, scipy.signal),
    # which every extraction worker would pay.
    code = (
        "import numpy as np\n"
        "from mir_ref.models.handcrafted import Mfcc, MelSpectrogram\n"
        "batch = np.ones((2, 4000), np.float32)\n"
        "Mfcc().embed(batch); MelSpectrogram().embed(batch)\n"
    )
    assert not imports_in_fresh_interpreter(code, "librosa")
