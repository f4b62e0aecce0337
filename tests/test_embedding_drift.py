"""Embedding drift: unmoved embeddings drift 0, gain leaves an L2-normalised feature where it
was, and white noise moves every hand-made feature further as the SNR falls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mir_ref import registry
from mir_ref.drift import cosine_distances, drift, median_and_iqr, typical_distance
from mir_ref.embedding_views import analyse
from mir_ref.experiment import Experiment
from mir_ref.stages import extract
from tests.conftest import tiny_tones

SNR_DB = [30, 20, 10, 0, -10]


class UnitSpectrum:
    """Magnitude spectra of 512-sample frames, each scaled to unit L2 norm: a feature that no
    gain can change."""

    version = "1"
    layers = ["unit_spectrum"]
    sample_rate = 16000
    frame_hop_s = 512 / 16000

    def embed(self, batch: np.ndarray) -> np.ndarray:
        frames = batch.shape[1] // 512
        x = batch[:, : frames * 512].reshape(len(batch), frames, 512)
        spectrum = np.abs(np.fft.rfft(x * np.hanning(512), axis=-1))
        norms = np.linalg.norm(spectrum, axis=-1, keepdims=True)
        return (spectrum / np.where(norms > 0, norms, 1.0))[None].astype(np.float32)


def test_identical_embeddings_drift_zero(rng):
    clean = rng.normal(size=(40, 16))
    scale = typical_distance(clean)
    assert 0.5 < scale < 1.5  # random directions are about orthogonal
    assert np.array_equal(drift(clean, clean.copy(), scale=scale), np.zeros(40))
    assert median_and_iqr(drift(clean, clean, scale=scale)) == (0.0, 0.0)
    # Scaling an embedding does not move its direction.
    np.testing.assert_allclose(drift(clean, 3.0 * clean, scale=scale), 0.0, atol=1e-12)


def test_drift_is_distance_in_units_of_the_typical_distance(rng):
    clean = rng.normal(size=(30, 8))
    other = rng.normal(size=(30, 8))
    scale = typical_distance(clean)
    np.testing.assert_allclose(
        drift(clean, other, scale=scale), cosine_distances(clean, other) / scale
    )
    # Zero vectors have no direction: two of them are 0 apart, one and a non-zero vector 1.
    zeros = np.zeros((2, 8))
    assert cosine_distances(zeros, zeros).tolist() == [0.0, 0.0]
    assert cosine_distances(zeros, clean[:2]).tolist() == [1.0, 1.0]
    # Every clean track alike: drift is undefined, not infinite.
    assert np.isnan(
        drift(np.ones((5, 3)), clean[:5, :3], scale=typical_distance(np.ones((5, 3))))
    ).all()


def test_the_typical_distance_samples_pairs_of_large_sets(rng, monkeypatch):
    from mir_ref import drift as drift_module

    clean = rng.normal(size=(300, 6))
    exact = typical_distance(clean)
    monkeypatch.setattr(drift_module, "MAX_PAIRS", 5000)
    sampled = typical_distance(clean, seed=1)
    assert sampled == pytest.approx(exact, rel=0.05)
    assert typical_distance(clean[:1]) != typical_distance(clean[:1])  # NaN: no pair


def hand_made_features() -> list[str]:
    """Every registered hand-made feature (the models of mir_ref.models.handcrafted)."""
    return [
        name
        for name, cls in registry.available("models").items()
        if cls.__module__ == "mir_ref.models.handcrafted"
    ]


TONES = tiny_tones(notes_per_class=2)


@pytest.fixture(scope="module")
def drift_table(tmp_path_factory) -> pd.DataFrame:
    """drift.csv of a run of the stage on synthetic notes (the cheaper hand-made features and
    an L2-normalised spectrum) under white noise and gain."""
    folder = tmp_path_factory.mktemp("drift")
    config = {
        "name": "drift",
        "output_dir": str(folder / "run"),
        "cache_dir": str(folder / "cache"),
        "datasets": [TONES],
        "deformations": [
            {"type": "white_noise", "snr_db": SNR_DB},
            {"type": "gain", "gain_db": [-20, -40]},
        ],
        "models": [
            {"type": "mfcc"},
            {"type": "melspectrogram"},
            {"type": "python", "class": "tests.test_embedding_drift:UnitSpectrum", "name": "unit"},
        ],
        "embedding": {"window_s": 1.0, "hop_s": 1.0},
        "report": {"similarity": False, "maps": []},
        "execution": {"workers": 1},
    }
    experiment = Experiment.from_config(config)
    extract(experiment)
    [path] = analyse(experiment)
    assert path.name == "drift.csv"
    return pd.read_csv(path)


def test_gain_does_not_move_an_l2_normalised_feature(drift_table):
    gain = drift_table[(drift_table.model == "unit") & (drift_table.deformation == "gain")]
    assert len(gain) == 2
    assert (gain.drift_median.abs() < 1e-6).all() and (gain.drift_iqr.abs() < 1e-6).all()
    noise = drift_table[(drift_table.model == "unit") & (drift_table.deformation == "white_noise")]
    assert (noise.drift_median > 1e-3).all()  # the feature does move when the audio changes


def test_the_stage_measures_drift_growing_as_the_snr_falls(drift_table):
    noise = drift_table[drift_table.deformation == "white_noise"]
    assert set(noise.model) == {"mfcc", "melspectrogram", "unit"}
    assert (noise.tracks > 5).all() and (noise.drift_iqr >= 0).all()
    for model, curve in noise.groupby("model"):
        curve = curve.sort_values("strength", ascending=False)
        assert curve.strength.tolist() == SNR_DB
        assert (np.diff(curve.drift_median.to_numpy()) > 0).all(), model


def test_white_noise_drift_grows_as_the_snr_falls_for_every_hand_made_feature():
    """Each hand-made feature embeds the synthetic test notes, clean and at falling SNRs (the
    white_noise deformation, one seeded generator per note); each track's frames are
    averaged, as the pipeline pools a window."""
    features = hand_made_features()
    assert {"mfcc", "chroma", "melspectrogram"} <= set(features)
    dataset = registry.build("datasets", TONES, where="test", exclude=("name",))
    tracks = dataset.tracks("test")
    assert len(tracks) >= 8
    for feature in features:
        model = registry.build("models", {"type": feature}, where=feature)
        rate = model.sample_rate
        clean = np.stack([track.audio(rate)[0] for track in tracks])

        def pooled(audio: np.ndarray, model=model) -> np.ndarray:
            return model.embed(audio.astype(np.float32))[0].mean(axis=1)

        reference = pooled(clean)
        scale = typical_distance(reference)
        medians = []
        for snr_db in SNR_DB:
            noise = registry.build(
                "deformations", {"type": "white_noise", "snr_db": snr_db}, where="noise"
            )
            noisy = np.stack([noise(audio, rate, seed=index) for index, audio in enumerate(clean)])
            medians.append(median_and_iqr(drift(reference, pooled(noisy), scale=scale))[0])
        assert (np.diff(medians) > 0).all(), (feature, medians)
        assert medians[-1] > 10 * medians[0], (feature, medians)
