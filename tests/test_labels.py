"""Labels follow the audio: every label map, its refusals, and what gets left out and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import yaml

from mir_ref import registry
from mir_ref.datasets.base import Track
from mir_ref.deformations.base import Deformation
from mir_ref.deformations.noise import in_band_snr_db, nominal_snr_db
from mir_ref.equivariance import counts
from mir_ref.errors import ConfigError
from mir_ref.experiment import Condition, Experiment
from mir_ref.legacy import write_converted
from mir_ref.plan import condition_labels
from mir_ref.predictions import read_predictions
from mir_ref.preflight import check
from mir_ref.stages import evaluate, extract, train
from mir_ref.tasks import KEYS, LABEL_KINDS, PITCH_CLASSES, LabelChange, LabelKindName, Task
from tests.conftest import REPO, manifest_config, tiny_tones

FLATS = {"C#": "Db", "D#": "Eb", "F#": "Gb", "G#": "Ab", "A#": "Bb"}


def deformation(spec: dict) -> Deformation:
    return registry.build("deformations", spec, where="test")


def condition(spec: dict, labels: str = "follow") -> Condition:
    return Condition(deformation(spec), spec["type"], labels=labels)


def shift(n: float) -> LabelChange:
    return deformation({"type": "pitch_shift", "semitones": n}).label_change()


def test_label_kind_names_are_the_registered_kinds():
    assert set(LabelKindName.__args__) == set(LABEL_KINDS)


# --- the maps -----------------------------------------------------------------------------------


@pytest.mark.parametrize("semitones", [-12, -7, -1, 1, 2, 5, 11, 12])
def test_every_key_in_every_spelling_moves_its_tonic_and_keeps_its_mode(semitones):
    task = Task("key", "key")
    for key in KEYS:
        tonic, mode = key.split(":")
        expected_tonic = PITCH_CLASSES[(PITCH_CLASSES.index(tonic) + semitones) % 12]
        expected = f"{expected_tonic}:{mode}"
        spellings = [key, f"{tonic} {mode}", f"{tonic.lower()}:{mode[:3]}"]
        if tonic in FLATS:  # the enharmonic spelling: Db major is C# major
            spellings += [f"{FLATS[tonic]}:{mode}", f"{FLATS[tonic]} {mode[:3]}"]
        moved = task.moved_labels(spellings, shift(semitones))
        assert moved == [expected] * len(spellings), (key, semitones)


def test_a_key_vocabulary_spelled_with_flats_keeps_its_spelling():
    classes = [f"{FLATS.get(pc, pc)} {mode}" for mode in ("major", "minor") for pc in PITCH_CLASSES]
    task = Task("key", "multiclass", classes, label_kind="key")
    assert task.moved_labels(["C major", "Bb minor", "B major"], shift(1)) == [
        "Db major",
        "B minor",
        "C major",
    ]


def test_pitch_classes_wrap_around_in_either_spelling():
    sharps = Task("pc", "multiclass", list(PITCH_CLASSES), label_kind="pitch_class")
    assert sharps.moved_labels(["B", "C", "A#"], shift(1)) == ["C", "C#", "B"]
    assert sharps.moved_labels(["C", "C#"], shift(-1)) == ["B", "C"]
    assert sharps.moved_labels(PITCH_CLASSES, shift(12)) == PITCH_CLASSES
    assert sharps.moved_labels(PITCH_CLASSES, shift(-12)) == PITCH_CLASSES
    flats = Task(
        "pc", "multiclass", [FLATS.get(p, p) for p in PITCH_CLASSES], label_kind="pitch_class"
    )
    assert flats.moved_labels(["B", "C", "Gb"], shift(1)) == ["C", "Db", "G"]


def test_midi_pitches_move_and_those_leaving_the_vocabulary_are_left_out_and_counted():
    task = Task("pitch", "multiclass", [str(n) for n in range(21, 109)], label_kind="pitch")
    assert task.moved_labels(["60", "107", "108", "21"], shift(2)) == ["62", None, None, "23"]
    assert task.moved_labels(["21", "22", "108"], shift(-1)) == [None, "21", "107"]

    tracks = [Track(f"t{n}", {"pitch": str(n)}) for n in (21, 60, 107, 108)]
    up = condition_labels(task, tracks, condition({"type": "pitch_shift", "semitones": 2}))
    assert [t.id for t in up.tracks] == ["t21", "t60"]
    assert up.scored == ["23", "62"] and up.clean == ["21", "60"]
    assert up.left_out == 2
    down = condition_labels(task, tracks, condition({"type": "pitch_shift", "semitones": -1}))
    assert down.left_out == 1 and down.scored == ["59", "106", "107"]
    # Under `labels: keep` nothing is left out and every item is scored as it was.
    kept = condition_labels(
        task, tracks, condition({"type": "pitch_shift", "semitones": 2}, "keep")
    )
    assert kept.left_out == 0 and kept.scored == ["21", "60", "107", "108"]
    assert kept.moved == ["23", "62", None, None]


def test_time_stretch_multiplies_tempo_and_leaves_pitch_and_key():
    tempo = Task("tempo", "regression", label_kind="tempo")
    stretch = deformation({"type": "time_stretch", "rate": 1.25}).label_change()
    assert tempo.moved_labels([120.0, 80.0], stretch) == [150.0, 100.0]
    slower = deformation({"type": "time_stretch", "rate": 0.5}).label_change()
    assert tempo.moved_labels([120.0], slower) == [60.0]
    assert Task("key", "key").moved_labels(["C:major"], stretch) == ["C:major"]
    assert tempo.moved_labels([120.0], shift(3)) == [120.0]


def test_labels_of_kind_none_never_move():
    genre = Task("genre", "multiclass", ["rock", "jazz"])
    assert genre.label_kind == "none"
    assert genre.moved_labels(["rock"], LabelChange(semitones=3, tempo_factor=2)) == ["rock"]


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "white_noise", "snr_db": 0},
        {"type": "mp3", "bitrate_kbps": 32},
        {"type": "resample", "sample_rate_hz": 8000},
        {"type": "reverb", "room_size": 0.5},
        {"type": "gain", "gain_db": -20},
    ],
)
def test_deformations_that_move_neither_pitch_nor_tempo_declare_so(spec):
    assert deformation(spec).label_change() == LabelChange()


def test_a_chain_composes_its_steps_maps_in_order():
    chain = deformation(
        {
            "type": "chain",
            "steps": [
                {"type": "pitch_shift", "semitones": 2},
                {"type": "white_noise", "snr_db": 20},
                {"type": "time_stretch", "rate": 2.0},
                {"type": "pitch_shift", "semitones": -3},
                {"type": "time_stretch", "rate": 0.75},
            ],
        }
    )
    assert chain.label_change() == LabelChange(semitones=-1, tempo_factor=1.5)
    assert Task("key", "key").moved_labels(["C:minor"], chain.label_change()) == ["B:minor"]
    tempo = Task("tempo", "regression", label_kind="tempo")
    assert tempo.moved_labels([100.0], chain.label_change()) == [150.0]


# --- refusals -----------------------------------------------------------------------------------

TONES = tiny_tones(
    tasks=None, note_duration_s=None, phrase_duration_s=None, mixture_duration_s=None
)


def tones_config(deformations: list, tasks: list[str]) -> dict:
    return {
        "datasets": [{**TONES, "tasks": tasks}],
        "deformations": deformations,
        "models": [{"type": "chroma"}],
    }


@pytest.mark.parametrize("task", ["pitch_class", "key"])
def test_a_fractional_shift_is_refused_naming_deformation_strength_and_task(task):
    config = tones_config([{"type": "pitch_shift", "semitones": [1, 0.5]}], [task, "instrument"])
    with pytest.raises(ConfigError) as error:
        Experiment.from_config(config)
    message = str(error.value)
    assert "deformation 'pitch_shift' at semitones=0.5, dataset 'tones'" in message
    assert f"task '{task}'" in message and "labels: keep" in message
    assert "semitones=1," not in message and "instrument" not in message
    # Asking for the clean labels is a well-defined question.
    config["deformations"][0]["labels"] = "keep"
    Experiment.from_config(config)


def test_a_fractional_shift_inside_a_chain_is_refused_too():
    steps = [{"type": "mp3", "bitrate_kbps": 64}, {"type": "pitch_shift", "semitones": [0.25]}]
    with pytest.raises(ConfigError, match=r"'chain' at semitones=0\.25.*task 'pitch_class'"):
        Experiment.from_config(tones_config([{"type": "chain", "steps": steps}], ["pitch_class"]))


def test_a_fractional_shift_on_a_midi_pitch_task_is_refused(manifest_corpus):
    rows = manifest_corpus.read_text().splitlines()
    midi = [rows[0] + ",midi"] + [f"{row},{60 + i % 2}" for i, row in enumerate(rows[1:])]
    manifest_corpus.write_text("\n".join(midi) + "\n")
    task = {"pitch": {"type": "multiclass", "column": "midi", "label_kind": "pitch"}}
    config = manifest_config(
        manifest_corpus, deformations=[{"type": "pitch_shift", "semitones": [-1.5]}]
    )
    config["datasets"][0]["tasks"] = task
    with pytest.raises(ConfigError, match=r"semitones=-1\.5, dataset 'corpus', task 'pitch'"):
        Experiment.from_config(config)


@dataclass
class Octaver(Deformation):
    """A user's own pitch effect that declares nothing about labels (an octave pedal)."""

    mix: float = 0.5

    strength: ClassVar[str] = "mix"

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        return audio


@pytest.fixture
def octaver():
    """``octaver`` registered for one test (the registry's contract tests see only built-ins)."""
    registry.register("deformations", "octaver")(Octaver)
    yield
    registry._REGISTRY["deformations"].pop("octaver")


@pytest.mark.usefixtures("octaver")
def test_a_deformation_without_a_declared_map_is_refused_on_labelled_tasks():
    entry = {"type": "octaver", "mix": [0.5]}
    with pytest.raises(ConfigError) as error:
        Experiment.from_config(tones_config([entry], ["pitch_class", "tempo", "instrument"]))
    message = str(error.value)
    assert "deformation 'octaver' at mix=0.5, dataset 'tones', task 'pitch_class'" in message
    assert "task 'tempo'" in message and "instrument" not in message
    assert "label_change" in message
    Experiment.from_config(tones_config([{**entry, "labels": "keep"}], ["pitch_class"]))
    Experiment.from_config(tones_config([entry], ["instrument"]))  # its labels cannot move


def test_labels_and_label_kind_are_validated_with_their_key_paths(manifest_corpus):
    with pytest.raises(
        ConfigError, match=r"deformations\[0\]\.labels: 'kept'.*did you mean 'keep'"
    ):
        Experiment.from_config(
            tones_config([{"type": "gain", "gain_db": [-6], "labels": "kept"}], ["key"])
        )
    with pytest.raises(ConfigError, match=r"labels kept"):
        Experiment.from_config(
            tones_config([{"type": "gain", "gain_db": [-6], "name": "g (labels kept)"}], ["key"])
        )
    config = manifest_config(manifest_corpus)
    config["datasets"][0]["tasks"]["genre"]["label_kind"] = "pitch_clas"
    with pytest.raises(ConfigError, match=r"label_kind.*'pitch_clas'.*did you mean 'pitch_class'"):
        Experiment.from_config(config)
    config["datasets"][0]["tasks"]["genre"]["label_kind"] = "tempo"
    with pytest.raises(ConfigError, match=r"datasets\[0\].*label_kind 'tempo' needs a regression"):
        Experiment.from_config(config)
    config["datasets"][0]["tasks"]["genre"]["label_kind"] = "pitch_class"
    with pytest.raises(ConfigError, match=r"task 'genre'.*'high' is not a pitch class"):
        Experiment.from_config(config)


def test_a_key_task_defaults_to_key_labels_and_a_manifest_declares_others(manifest_corpus):
    config = manifest_config(manifest_corpus)
    config["datasets"][0]["tasks"] = {
        "key": {"type": "key"},
        "bpm": {"type": "regression", "label_kind": "tempo"},
        "genre": {"type": "multiclass"},
    }
    tasks = Experiment.from_config(config).datasets[0].tasks
    assert {name: task.label_kind for name, task in tasks.items()} == {
        "key": "key",
        "bpm": "tempo",
        "genre": "none",
    }


def test_built_in_loaders_declare_their_label_kinds():
    tones = registry.build("datasets", TONES, where="d", exclude=("name",))
    assert {name: task.label_kind for name, task in tones.tasks.items()} == {
        "pitch_class": "pitch_class",
        "instrument": "none",
        "key": "key",
        "tempo": "tempo",
        "tags": "none",
    }


def test_keep_and_follow_conditions_are_told_apart_in_results_and_share_noise():
    config = tones_config(
        [
            {"type": "pitch_shift", "semitones": [1]},
            {"type": "pitch_shift", "semitones": [1], "labels": "keep"},
        ],
        ["pitch_class"],
    )
    conditions = Experiment.from_config(config).conditions
    assert [c.title for c in conditions] == ["none", "pitch_shift", "pitch_shift (labels kept)"]


# --- what is left out, and reported -------------------------------------------------------------


def test_validate_warns_of_items_whose_shifted_label_leaves_the_vocabulary(manifest_corpus):
    rows = manifest_corpus.read_text().splitlines()
    midi = [rows[0] + ",midi"] + [f"{row},{100 + i % 8}" for i, row in enumerate(rows[1:])]
    manifest_corpus.write_text("\n".join(midi) + "\n")
    config = manifest_config(
        manifest_corpus, deformations=[{"type": "pitch_shift", "semitones": [3]}]
    )
    config["datasets"][0]["tasks"] = {
        "pitch": {"type": "multiclass", "column": "midi", "label_kind": "pitch"}
    }
    found = check(Experiment.from_config(config), audio=False)
    assert not found.problems
    # MIDI 100..107 present; +3 leaves 105, 106 and 107 (and only those) without a class.
    test_pitches = [100 + i % 8 for i in range(20, 24)]
    expected = sum(pitch + 3 > 107 for pitch in test_pitches)
    assert any(
        f"condition 'pitch_shift@semitones=3', test split: {expected} of 4 items" in warning
        for warning in found.warnings
    ), found.warnings


# --- noise as each model hears it ---------------------------------------------------------------


def test_white_noise_is_louder_in_a_narrower_band():
    noise = deformation({"type": "white_noise", "snr_db": 0})
    assert nominal_snr_db(noise) == 0
    measured = {
        rate: in_band_snr_db(noise, sample_rate=44100, model_sample_rate=rate)
        for rate in (16000, 24000, 44100)
    }
    assert measured[16000] == pytest.approx(4.6, abs=0.2)
    assert measured[24000] == pytest.approx(2.9, abs=0.2)
    assert measured[44100] == pytest.approx(0.0, abs=0.01)
    louder = deformation({"type": "white_noise", "snr_db": 20})
    assert in_band_snr_db(louder, sample_rate=44100, model_sample_rate=16000) == pytest.approx(
        measured[16000] + 20, abs=0.2
    )
    assert nominal_snr_db(deformation({"type": "gain", "gain_db": -6})) is None


# --- pitch equivariance -------------------------------------------------------------------------


def test_predictions_that_moved_stayed_or_went_elsewhere_are_counted():
    task = Task("pc", "multiclass", list(PITCH_CLASSES), label_kind="pitch_class")
    y_clean = np.array([0, 1, 2, 3, 11])
    y_moved = np.array([1, 2, 3, 4, -1])  # the last moved outside the vocabulary
    predicted = np.array([1, 1, 7, 4, 0])  # moved, stayed, elsewhere, moved, (not counted)
    scores = np.eye(12)[predicted]
    assert counts(task, y_clean, y_moved, scores) == {
        "items": 4,
        "moved": 2,
        "stayed": 1,
        "elsewhere": 1,
    }


def test_key_predictions_elsewhere_are_split_by_mirex_category():
    task = Task("key", "key")
    index = {key: i for i, key in enumerate(task.classes)}
    y_clean = np.array([index["C:major"]] * 5)
    y_moved = np.array([index["D:major"]] * 5)  # shifted by +2
    guesses = ["D:major", "C:major", "A:major", "B:minor", "D:minor"]
    scores = np.eye(24)[[index[key] for key in guesses]]
    found = counts(task, y_clean, y_moved, scores)
    assert found == {
        "items": 5,
        "moved": 1,
        "stayed": 1,
        "elsewhere": 3,
        "fifth": 1,  # A major is a fifth above D major
        "relative": 1,  # B minor
        "parallel": 1,  # D minor
    }


# --- end to end: both label modes, and training on shifted audio --------------------------------


@pytest.fixture(scope="module")
def shifted_run(tmp_path_factory):
    """Chroma on synthetic notes under ±1 semitone: labels followed, labels kept, and a probe
    trained on shifted audio (apply_to: train) tested on clean audio."""
    folder = tmp_path_factory.mktemp("shifted")
    shifts = [-1, 1]
    config = {
        "name": "shifted",
        "output_dir": str(folder / "run"),
        "cache_dir": str(folder / "cache"),
        "datasets": [{**TONES, "note_duration_s": 0.5, "tasks": ["pitch_class"]}],
        "deformations": [
            {"type": "pitch_shift", "semitones": shifts},
            {"type": "pitch_shift", "semitones": shifts, "labels": "keep"},
            {
                "type": "pitch_shift",
                "name": "shifted_training",
                "semitones": shifts,
                "apply_to": "train",
            },
        ],
        "models": [{"type": "chroma"}],
        "embedding": {"window_s": 0.5, "hop_s": 0.5},
        "protocol": {"learning_rate": 1.0e-2, "n_bootstrap": 0},
        "execution": {"workers": 1},
    }
    experiment = Experiment.from_config(config)
    extract(experiment)
    train(experiment)
    return experiment, evaluate(experiment)


@pytest.mark.slow
def test_labels_follow_by_default_and_keep_gives_the_old_numbers_back(shifted_run):
    experiment, results = shifted_run
    accuracy = results[results.metric == "accuracy"].set_index(["deformation", "strength"]).value
    assert accuracy["none", np.nan] >= 0.9
    [path] = (experiment.output_dir / "predictions").rglob("*.npz")
    meta, per_condition = read_predictions(path)
    stored = {
        c["label"]: arrays for c, arrays in zip(meta["conditions"], per_condition, strict=True)
    }
    clean_labels = stored["none"]["y_true"]
    for n in (-1, 1):
        follow = stored[f"pitch_shift@semitones={n}"]
        kept = stored[f"pitch_shift (labels kept)@semitones={n}"]
        # One probe, one deformed audio: the two modes differ only in the labels scored.
        np.testing.assert_array_equal(follow["y_score"], kept["y_score"])
        predicted = kept["y_score"].argmax(axis=1)
        # The old behaviour: deformed audio scored against the clean track's labels.
        np.testing.assert_array_equal(kept["y_true"], clean_labels)
        assert accuracy["pitch_shift (labels kept)", n] == np.mean(predicted == clean_labels)
        np.testing.assert_array_equal(follow["y_true"], (clean_labels + n) % 12)
        assert accuracy["pitch_shift", n] == np.mean(predicted == (clean_labels + n) % 12)
        # Chroma hears the transposition: right when labels follow, wrong when kept.
        assert accuracy["pitch_shift", n] >= 0.9
        assert accuracy["pitch_shift (labels kept)", n] <= 0.1
    robustness = pd.read_csv(experiment.output_dir / "robustness.csv")
    modes = robustness.groupby("deformation")["labels"].unique().map(list).to_dict()
    assert modes == {
        "pitch_shift": ["follow"],
        "pitch_shift (labels kept)": ["keep"],
        "shifted_training": ["follow"],
    }
    assert (robustness["items_left_out"] == 0).all()
    shares = pd.read_csv(experiment.output_dir / "equivariance.csv")
    assert set(shares["labels"]) == {"follow", "keep"}
    assert (shares["moved"] >= 0.9).all() and (shares["stayed"] <= 0.1).all()


@pytest.mark.slow
def test_a_probe_trained_on_shifted_audio_learns_shifted_labels(shifted_run):
    _, results = shifted_run
    accuracy = results[results.metric == "accuracy"].set_index(["deformation", "strength"]).value
    # Trained on audio shifted by ±1 with labels shifted alike, tested on clean audio: had the
    # labels stayed, this probe would call every C a B (or a C#).
    assert accuracy["shifted_training", -1] >= 0.9
    assert accuracy["shifted_training", 1] >= 0.9


def test_the_readme_example_of_both_label_modes_loads():
    readme = (REPO / "README.md").read_text().split("### Deformations and labels", 1)[1]
    block = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    entries = yaml.safe_load(block)["deformations"]
    conditions = Experiment.from_config(tones_config(entries, ["pitch_class", "key"])).conditions
    assert [c.label for c in conditions][1:3] == [
        "pitch_shift@semitones=-2",
        "pitch_shift@semitones=-1",
    ]
    assert conditions[-1].label == "pitch_shift (labels kept)@semitones=2"


def test_an_original_config_with_a_pitch_shift_says_its_labels_now_follow(tmp_path):
    original = yaml.safe_load((REPO / "tests/fixtures/legacy_configs/tinysol.yml").read_text())
    experiment = original["experiments"][0]
    experiment["task"]["name"] = "pitch_class_classification"
    shift_up = {"type": "PitchShift", "params": {"min_semitones": 1, "max_semitones": 1, "p": 1}}
    experiment["datasets"][0]["deformations"] = [[shift_up]]
    (tmp_path / "old.yml").write_text(yaml.safe_dump(original))
    [converted] = write_converted(tmp_path / "old.yml", tmp_path / "new.yml")
    text = " ".join(line.strip().lstrip("# ") for line in converted.read_text().splitlines())
    assert "changed meaning: under pitch_shift(semitones=1) the labels" in text
    assert "add `labels: keep` to an entry for its numbers" in text
