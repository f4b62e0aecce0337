"""The synthetic_tones dataset: deterministic, well-formed, and musically meaningful."""

from __future__ import annotations

import pickle

import librosa
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mir_ref import registry
from mir_ref.audio import resample
from mir_ref.datasets.base import SPLITS
from mir_ref.datasets.synthetic import (
    GENERATOR_VERSION,
    TASK_NAMES,
    TEMPO_RANGE_BPM,
    TIMBRES,
    SyntheticTones,
)
from mir_ref.errors import ConfigError
from mir_ref.tasks import KEYS, PITCH_CLASSES

SAMPLE_RATE = 22050
# Small and short: every family, every split, in well under a second of generation.
SMALL = {
    "notes_per_class": 1,
    "instruments": 3,
    "phrases_per_key": 3,
    "mixtures": 9,
    "note_duration_s": 0.5,
    "phrase_duration_s": 2.0,
    "mixture_duration_s": 0.5,
}


@pytest.fixture(scope="module")
def small() -> SyntheticTones:
    return SyntheticTones(**SMALL)


def test_registered_and_built_from_config() -> None:
    assert registry.available("datasets")["synthetic_tones"] is SyntheticTones
    dataset = registry.build(
        "datasets", {"type": "synthetic_tones", **SMALL, "seed": 3}, where="datasets[0]"
    )
    assert isinstance(dataset, SyntheticTones) and dataset.seed == 3
    assert dataset.citation


def test_tasks_declared_and_labels_in_vocabulary(small: SyntheticTones) -> None:
    tasks = small.tasks
    assert list(tasks) == list(TASK_NAMES)
    assert {name: task.type for name, task in tasks.items()} == {
        "pitch_class": "multiclass",
        "instrument": "multiclass",
        "key": "key",
        "tempo": "regression",
        "tags": "multilabel",
    }
    assert tasks["pitch_class"].classes == PITCH_CLASSES
    assert tasks["key"].classes == KEYS
    assert tasks["instrument"].classes == tasks["tags"].classes == list(TIMBRES[:3])
    for track in small.tracks():
        family = track.id.split("-")[0]
        expected = {"note": {"pitch_class", "instrument"}, "phrase": {"key", "tempo"}}
        assert set(track.labels) == expected.get(family, {"tags"})
        for name, label in track.labels.items():
            task = tasks[name]
            if task.type == "regression":
                assert TEMPO_RANGE_BPM[0] <= label <= TEMPO_RANGE_BPM[1]
            elif task.type == "multilabel":
                assert 1 <= len(label) <= 3 and len(set(label)) == len(label)
                assert set(label) <= set(task.classes)
            else:
                assert label in task.classes
    for name, task in tasks.items():
        labelled = small.task_tracks(name, "train")
        task.encode([t.labels[name] for t in labelled], track_ids=[t.id for t in labelled])


@pytest.mark.parametrize("sizes", [SMALL, {}], ids=["small", "default"])
def test_every_task_in_every_split_and_splits_disjoint(sizes: dict) -> None:
    dataset = SyntheticTones(**sizes)
    assert dataset.check() == []
    ids = {split: {track.id for track in dataset.tracks(split)} for split in SPLITS}
    assert not ids["train"] & ids["validation"]
    assert not ids["train"] & ids["test"]
    assert not ids["validation"] & ids["test"]
    assert sum(len(v) for v in ids.values()) == len({t.id for t in dataset.tracks()})
    if not sizes:
        # The default sizes the demo is timed with.
        assert len(dataset.tracks()) == 12 * 5 * 3 + 24 * 6 + 120
        for task in dataset.tasks:
            assert len(dataset.task_tracks(task, "test")) >= 18


def _audio(dataset: SyntheticTones, sample_rate: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
    return {track.id: track.audio(sample_rate)[0] for track in dataset.tracks()}


def test_same_seed_same_dataset_other_seed_other_dataset(small: SyntheticTones) -> None:
    again = SyntheticTones(**SMALL)
    other = SyntheticTones(**SMALL, seed=1)
    assert [(t.id, t.labels, t.identity) for t in again.tracks()] == [
        (t.id, t.labels, t.identity) for t in small.tracks()
    ]
    audio, audio_again, audio_other = _audio(small), _audio(again), _audio(other)
    assert all(np.array_equal(audio[i], audio_again[i]) for i in audio)
    assert not any(np.array_equal(audio[i], audio_other[i]) for i in audio)
    assert {t.identity for t in small.tracks()}.isdisjoint(t.identity for t in other.tracks())
    tempos = [t.labels["tempo"] for t in small.tracks() if "tempo" in t.labels]
    assert tempos != [t.labels["tempo"] for t in other.tracks() if "tempo" in t.labels]


def test_identity_names_the_generator_and_changes_with_the_audio(small: SyntheticTones) -> None:
    identities = {t.id: t.identity for t in small.tracks()}
    assert all(f"v{GENERATOR_VERSION}" in identity for identity in identities.values())
    longer = SyntheticTones(**{**SMALL, "note_duration_s": 0.6})
    assert identities["note-0000"] != {t.id: t.identity for t in longer.tracks()}["note-0000"]
    # A track does not depend on how many others there are: caches stay valid.
    larger = SyntheticTones(**{**SMALL, "mixtures": 12})
    track = {t.id: t for t in larger.tracks()}["mixture-0004"]
    assert track.identity == identities["mixture-0004"]
    original = {t.id: t for t in small.tracks()}["mixture-0004"]
    assert np.array_equal(track.audio(SAMPLE_RATE)[0], original.audio(SAMPLE_RATE)[0])


@pytest.mark.parametrize("sample_rate", [16000, 22050, 44100])
def test_durations_and_levels(small: SyntheticTones, sample_rate: int) -> None:
    durations_s = {"note": 0.5, "phrase": 2.0, "mixture": 0.5}
    for track in small.tracks()[::5]:
        audio, rate = track.audio(sample_rate)
        assert rate == sample_rate and audio.dtype == np.float32 and audio.ndim == 1
        assert len(audio) == round(durations_s[track.id.split("-")[0]] * sample_rate)
        assert np.all(np.isfinite(audio))
        assert 0.3 - 1e-6 <= np.max(np.abs(audio)) <= 0.9 + 1e-6


def test_sample_rate_changes_only_the_sampling(small: SyntheticTones) -> None:
    for track in small.tracks()[::7]:
        low, _ = track.audio(22050)
        high, _ = track.audio(44100)
        down = resample(high, 44100, 22050)[: len(low)]
        similarity = np.dot(low, down) / (np.linalg.norm(low) * np.linalg.norm(down))
        assert similarity > 0.99, track.id


def test_generator_pickles_for_worker_processes(small: SyntheticTones) -> None:
    track = small.tracks()[0]
    restored = pickle.loads(pickle.dumps(track))
    assert np.array_equal(restored.audio(8000)[0], track.audio(8000)[0])


def test_note_sounds_at_its_pitch_class() -> None:
    dataset = SyntheticTones(**SMALL, tasks=["pitch_class", "instrument"])
    flutes = [t for t in dataset.tracks() if t.labels["instrument"] == "flute"]
    assert len(flutes) == 12
    for track in flutes:
        audio, _ = track.audio(SAMPLE_RATE)
        spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
        peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(audio)
        midi = 69 + 12 * np.log2(peak_hz / 440.0)
        assert PITCH_CLASSES[int(round(midi)) % 12] == track.labels["pitch_class"]


def test_phrase_onsets_fall_on_the_beat() -> None:
    dataset = SyntheticTones(**SMALL, tasks=["tempo"])
    for track in dataset.tracks()[::6]:
        score = track.generate.args[0]
        beats = np.array([note.onset_s for note in score.notes]) * track.labels["tempo"] / 60.0
        assert np.allclose(beats, np.round(beats), atol=1e-9)


def test_task_subset() -> None:
    dataset = SyntheticTones(**SMALL, tasks=["tempo", "key"])
    assert list(dataset.tasks) == ["key", "tempo"]
    assert all(track.id.startswith("phrase-") for track in dataset.tracks())
    assert all(set(track.labels) == {"key", "tempo"} for track in dataset.tracks())
    tags = SyntheticTones(**SMALL, tasks=["tags"])
    assert all(set(track.labels) == {"tags"} for track in tags.tracks())
    with pytest.raises(ValueError, match="pitch_class, instrument, key, tempo, tags"):
        SyntheticTones(tasks=["genre"])
    with pytest.raises(ConfigError, match=r"datasets\[0\]\.tasks\[0\].*did you mean 'pitch_class'"):
        registry.build(
            "datasets", {"type": "synthetic_tones", "tasks": ["pitch_clas"]}, where="datasets[0]"
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed": -1}, "seed"),
        ({"instruments": 6}, "instruments must be in 2..5"),
        ({"notes_per_class": 0}, "notes_per_class"),
        ({"phrases_per_key": 2}, "phrases_per_key must be at least 3"),
        ({"mixtures": 8}, "mixtures must be at least 9"),
        ({"note_duration_s": 0.0}, "note_duration_s"),
        ({"phrase_duration_s": 1.0}, "phrase_duration_s"),
        ({"tasks": []}, "tasks"),
        ({"tasks": ["key", "key"]}, "tasks"),
    ],
)
def test_bad_parameters_are_named(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SyntheticTones(**{**SMALL, **change})


def _features(dataset: SyntheticTones, task: str, split: str) -> tuple[dict, list]:
    tracks = dataset.task_tracks(task, split)
    chroma, mfcc = [], []
    for track in tracks:
        audio, rate = track.audio(SAMPLE_RATE)
        chroma.append(librosa.feature.chroma_stft(y=audio, sr=rate, tuning=0.0).mean(axis=1))
        mfcc.append(librosa.feature.mfcc(y=audio, sr=rate, n_mfcc=20).mean(axis=1))
    labels = [track.labels[task] for track in tracks]
    return {"chroma": np.stack(chroma), "mfcc": np.stack(mfcc)}, labels


def test_chroma_hears_pitch_and_key_mfcc_hears_timbre() -> None:
    """The designed science: the right hand-made feature wins each task, by a clear margin."""
    dataset = SyntheticTones(
        notes_per_class=3,
        note_duration_s=0.5,
        phrases_per_key=4,
        phrase_duration_s=2.5,
        tasks=["pitch_class", "instrument", "key"],
    )
    scores = {}
    for task in dataset.tasks:
        train, train_labels = _features(dataset, task, "train")
        test, test_labels = _features(dataset, task, "test")
        for name in train:
            probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
            probe.fit(train[name], train_labels)
            scores[task, name] = probe.score(test[name], test_labels)
    assert scores["pitch_class", "chroma"] >= scores["pitch_class", "mfcc"] + 0.1, scores
    assert scores["key", "chroma"] >= scores["key", "mfcc"] + 0.1, scores
    assert scores["instrument", "mfcc"] >= scores["instrument", "chroma"] + 0.1, scores
