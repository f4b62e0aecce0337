"""Hand-made feature models measured on synthetic signals with known answers."""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import pytest

from mir_ref import registry
from mir_ref.errors import ConfigError
from mir_ref.models.base import EmbeddingModel
from mir_ref.models.handcrafted import Chroma, MelSpectrogram, Mfcc

MODELS = [Mfcc(), Chroma(), MelSpectrogram()]
IDS = [type(model).__name__ for model in MODELS]


def tone(frequency_hz: float, sample_rate: int, duration_s: float, *, harmonics: int = 1):
    """A tone with ``harmonics`` partials of amplitude 1/k (a sine when 1, sawtooth-like above)."""
    time_s = np.arange(int(duration_s * sample_rate)) / sample_rate
    partials = [
        np.sin(2 * np.pi * k * frequency_hz * time_s) / k
        for k in range(1, harmonics + 1)
        if k * frequency_hz < sample_rate / 2
    ]
    return (0.3 * np.sum(partials, axis=0)).astype(np.float32)


@pytest.mark.parametrize("sample_rate", [8000, 16000, 22050, 44100, 48000])
@pytest.mark.parametrize(
    ("cls", "dim_field"), [(Mfcc, "n_mfcc"), (Chroma, "n_chroma"), (MelSpectrogram, "n_mels")]
)
def test_shapes_dtype_and_frame_hop(cls, dim_field, sample_rate, rng):
    model = cls(sample_rate_hz=sample_rate, hop_length=256)
    batch = (0.1 * rng.standard_normal((3, sample_rate // 2))).astype(np.float32)
    embeddings = model.embed(batch)
    assert embeddings.shape == (1, 3, 1 + batch.shape[1] // 256, getattr(model, dim_field))
    assert embeddings.dtype == np.float32
    assert np.all(np.isfinite(embeddings))
    assert model.layers == ["output"]
    assert model.sample_rate == sample_rate
    assert model.frame_hop_s == pytest.approx(256 / sample_rate)


@pytest.mark.parametrize("samples", [0, 1, 100, 2205])
@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_short_input_works_without_warnings(model, samples, rng):
    batch = (0.1 * rng.standard_normal((2, samples))).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        embeddings = model.embed(batch)
    assert embeddings.shape[:3] == (1, 2, 1 + samples // model.hop_length)
    assert np.all(np.isfinite(embeddings))


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_an_item_does_not_depend_on_its_batch(model):
    # librosa's defaults would fail this: ``top_db`` clips at the batch maximum minus 80 dB and
    # chroma estimates one tuning for the batch, here pulled 40 cents sharp by the neighbour.
    item = 0.01 * tone(440.0, model.sample_rate, 1.0, harmonics=4)
    loud_sharp_neighbour = 3 * tone(440.0 * 2 ** (0.4 / 12), model.sample_rate, 1.0, harmonics=8)
    alone = model.embed(np.stack([item, np.zeros_like(item)]))[0, 0]
    batched = model.embed(np.stack([item, loud_sharp_neighbour]))[0, 0]
    np.testing.assert_allclose(alone, batched, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("note", ["E1", "A2", "C4", "F#4", "D5", "B6"])
def test_chroma_of_a_pure_tone_peaks_at_its_pitch_class(note):
    sample_rate = 22050
    audio = tone(float(librosa.note_to_hz(note)), sample_rate, 1.0)
    chroma = Chroma().embed(audio[None])[0, 0].mean(axis=0)
    pitch_class = int(librosa.note_to_midi(note)) % 12
    assert int(np.argmax(chroma)) == pitch_class
    assert np.sort(chroma)[-2] < 0.5 * chroma[pitch_class]


def test_chroma_with_24_classes_resolves_quarter_tones():
    # A4 is bin 18 of 24 (9 semitones above C); a quarter tone above it is bin 19.
    audio = tone(440.0 * 2 ** (1 / 24), 22050, 1.0)
    chroma = Chroma(n_chroma=24).embed(audio[None])[0, 0].mean(axis=0)
    assert int(np.argmax(chroma)) == 19


def test_mfcc_separates_timbres_at_the_same_pitch():
    model = Mfcc()
    pure = tone(220.0, model.sample_rate, 1.0)
    bright = tone(220.0, model.sample_rate, 1.0, harmonics=20)
    embeddings = model.embed(np.stack([pure, bright, 0.5 * bright]))[0].mean(axis=1)
    # Coefficient 0 is overall level; the shape of the spectrum is in the others.
    shape = embeddings[:, 1:]
    between_timbres = np.linalg.norm(shape[0] - shape[1])
    between_levels = np.linalg.norm(shape[1] - shape[2])
    assert between_timbres > 10 * between_levels


def test_melspectrogram_peaks_at_the_tone_band_and_is_in_decibels():
    model = MelSpectrogram()
    audio = tone(1000.0, model.sample_rate, 1.0)
    embeddings = model.embed(np.stack([audio, 0.1 * audio]))[0].mean(axis=1)
    centres_hz = librosa.mel_frequencies(n_mels=model.n_mels + 2, fmax=model.sample_rate / 2)
    peak = int(np.argmax(embeddings[0]))
    assert abs(centres_hz[peak + 1] - 1000.0) < centres_hz[peak + 2] - centres_hz[peak]
    assert embeddings[0, peak] - embeddings[1, peak] == pytest.approx(20.0, abs=0.1)


@pytest.mark.parametrize(
    ("cls", "params"),
    [
        (Mfcc, {"n_mfcc": 0}),
        (Mfcc, {"n_mfcc": 200, "n_mels": 128}),
        (MelSpectrogram, {"hop_length": 0}),
        (MelSpectrogram, {"n_fft": -1}),
        (Chroma, {"n_chroma": 0}),
        (Chroma, {"sample_rate_hz": 100}),
    ],
)
def test_bad_parameters_are_value_errors(cls, params):
    with pytest.raises(ValueError, match=next(iter(params))):
        cls(**params)


def test_bad_parameters_from_a_config_are_config_errors():
    with pytest.raises(ConfigError, match=r"models\[0\].*n_mfcc"):
        registry.build("models", {"type": "mfcc", "n_mfcc": 0}, where="models[0]")


@pytest.mark.parametrize("name", ["mfcc", "chroma", "melspectrogram"])
def test_registered_with_a_description(name):
    cls = registry.available("models")[name]
    assert issubclass(cls, EmbeddingModel)
    assert registry.describe(cls)
    assert isinstance(registry.build("models", {"type": name}, where="models[0]"), cls)
