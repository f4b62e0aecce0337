"""Deformations in configs: audiomentations names, chains, paths, apply_to, and listening."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

from mir_ref.deformations.compat import translate
from mir_ref.errors import ConfigError
from mir_ref.experiment import Experiment
from mir_ref.plan import condition_tracks, extraction_units, track_rng
from mir_ref.stages import deform, run_all
from tests.conftest import REPO, tiny_tones

TONES = tiny_tones()


def config(folder: Path, deformations: list, **overrides) -> dict:
    return {
        "name": "deformations",
        "output_dir": str(folder / "run"),
        "cache_dir": str(folder / "cache"),
        "datasets": [TONES],
        "deformations": deformations,
        "models": [{"type": "mfcc", "n_mels": 40}],
        "embedding": {"window_s": 0.5, "hop_s": 0.5},
        "execution": {"workers": 1},
        **overrides,
    }


# --- audiomentations names --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            {
                "type": "AddGaussianSNR",
                "params": {"min_snr_in_db": 15, "max_snr_in_db": 15, "p": 1},
            },
            {"type": "white_noise", "snr_db": 15},
        ),
        (
            {"type": "AddGaussianSNR", "min_snr_db": [0, 10], "max_snr_db": [0, 10]},
            {"type": "white_noise", "snr_db": [0, 10]},
        ),
        (
            {"type": "Gain", "params": {"min_gain_in_db": -12, "max_gain_in_db": -12}},
            {"type": "gain", "gain_db": -12},
        ),
        ({"type": "Gain", "min_gain_db": 3, "max_gain_db": 3}, {"type": "gain", "gain_db": 3}),
        (
            {"type": "Mp3Compression", "params": {"min_bitrate": 32, "max_bitrate": 32, "p": 1.0}},
            {"type": "mp3", "bitrate_kbps": 32},
        ),
        (
            {"type": "PitchShift", "min_semitones": -2, "max_semitones": -2, "name": "down"},
            {"type": "pitch_shift", "name": "down", "semitones": -2},
        ),
        (
            {
                "type": "ClippingDistortion",
                "params": {"min_percentile_threshold": 20, "max_percentile_threshold": 20},
            },
            {"type": "clipping_percentile", "percentile": 20},
        ),
        (
            {"type": "ApplyImpulseResponse", "params": {"ir_path": "irs", "p": 1}},
            {"type": "impulse_response", "wet_level": 1.0, "path": "irs"},
        ),
        ({"type": "white_noise", "snr_db": 3}, {"type": "white_noise", "snr_db": 3}),
    ],
)
def test_audiomentations_names_map_onto_ours(old, new):
    assert translate(old, "deformations[0]") == new


def test_an_original_scenario_list_becomes_a_chain():
    scenario = [
        {"type": "AddGaussianSNR", "params": {"min_snr_in_db": 0, "max_snr_in_db": 0, "p": 1}},
        {"type": "Gain", "params": {"min_gain_in_db": -6, "max_gain_in_db": -6, "p": 1}},
    ]
    assert translate(scenario, "deformations[2]") == {
        "type": "chain",
        "steps": [{"type": "white_noise", "snr_db": 0}, {"type": "gain", "gain_db": -6}],
    }
    assert translate(scenario[:1], "deformations[2]") == {"type": "white_noise", "snr_db": 0}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"type": "AddGaussianSNR", "min_snr_in_db": 0, "max_snr_in_db": 20},
            "a random range is not a fixed condition",
        ),
        ({"type": "Gain", "min_gain_db": -6}, "a random range is not a fixed condition"),
        ({"type": "PitchShift", "min_semitones": 1, "max_semitones": 1, "p": 0.5}, "p must be 1"),
        (
            {"type": "Mp3Compression", "min_bitrate": 32, "max_bitrate": 32, "backend": "x"},
            "backend",
        ),
        ({"type": "ApplyImpulseResponse"}, "ir_path"),
    ],
)
def test_audiomentations_entries_that_are_not_fixed_conditions_fail_at_load(
    spec, message, tmp_path
):
    with pytest.raises(ConfigError, match=r"deformations\[0\]") as error:
        Experiment.from_config(config(tmp_path, [spec]))
    assert message in str(error.value)


# --- paths, chains, names, apply_to ----------------------------------------------------------


def test_recording_paths_resolve_against_the_config_folder(tmp_path):
    (tmp_path / "noises").mkdir()
    (tmp_path / "irs").mkdir()
    rng = np.random.default_rng(0)
    soundfile.write(tmp_path / "noises" / "cafe.wav", 0.1 * rng.standard_normal(4000), 8000)
    soundfile.write(tmp_path / "irs" / "hall.wav", np.r_[1.0, np.zeros(99)], 8000)
    deformations = [
        {"type": "background_noise", "snr_db": [10], "folder": "noises"},
        {"type": "ApplyImpulseResponse", "params": {"ir_path": "irs", "p": 1}},
        {"type": "chain", "steps": [{"type": "impulse_response", "path": "irs/hall.wav"}]},
    ]
    path = tmp_path / "cfg.yml"
    path.write_text(yaml.safe_dump(config(tmp_path, deformations)))
    experiment = Experiment.from_config(path)
    conditions = experiment.conditions
    assert conditions[1].deformation.folder == tmp_path / "noises"
    assert conditions[2].deformation.path == tmp_path / "irs"
    assert conditions[3].deformation.steps[0]["path"] == tmp_path / "irs" / "hall.wav"
    # The run folder's copy of the config holds absolute paths, so it reruns from anywhere.
    saved = experiment.resolved()["deformations"]
    assert saved[0]["folder"] == str(tmp_path / "noises")
    assert saved[1] == {"type": "impulse_response", "wet_level": 1.0, "path": str(tmp_path / "irs")}
    assert saved[2]["steps"][0]["path"] == str(tmp_path / "irs" / "hall.wav")


def test_a_chain_sweeps_one_step_and_is_labelled_by_it(tmp_path):
    deformations = [
        {
            "type": "chain",
            "name": "phone",
            "steps": [
                {"type": "resample", "sample_rate_hz": 8000},
                {"type": "AddGaussianSNR", "min_snr_db": [20, 5], "max_snr_db": [20, 5]},
            ],
        },
        {"type": "chain", "steps": [{"type": "gain", "gain_db": -6}]},
    ]
    conditions = Experiment.from_config(config(tmp_path, deformations)).conditions
    assert [(c.label, c.title, c.strength) for c in conditions[1:]] == [
        ("phone@snr_db=20", "phone", 20.0),
        ("phone@snr_db=5", "phone", 5.0),
        ("chain", "chain", None),
    ]


def test_only_the_strength_can_be_swept(tmp_path):
    deformations = [{"type": "compressor", "threshold_db": -20, "ratio": [2, 4]}]
    with pytest.raises(ConfigError, match=r"deformations\[0\]\.ratio: only 'threshold_db'"):
        Experiment.from_config(config(tmp_path, deformations))


def test_apply_to_is_checked_and_conditions_need_distinct_labels(tmp_path):
    typo = [{"type": "gain", "gain_db": [-6], "apply_to": "tain"}]
    with pytest.raises(ConfigError, match=r"deformations\[0\]\.apply_to.*did you mean 'train'"):
        Experiment.from_config(config(tmp_path, typo))
    twice = [
        {"type": "gain", "gain_db": [-6]},
        {"type": "gain", "gain_db": [-6], "apply_to": "both"},
    ]
    with pytest.raises(ConfigError, match="distinct `name`"):
        Experiment.from_config(config(tmp_path, twice))
    twice[1]["name"] = "gain_trained"
    conditions = Experiment.from_config(config(tmp_path, twice)).conditions
    assert [c.apply_to for c in conditions] == ["test", "test", "both"]


def test_apply_to_decides_which_splits_are_deformed(tmp_path):
    deformations = [
        {"type": "gain", "name": name, "gain_db": [-6], "apply_to": name}
        for name in ("test", "train", "both")
    ]
    experiment = Experiment.from_config(config(tmp_path, deformations))
    dataset = experiment.datasets[0]
    splits = {
        t.id: split for split in ("train", "validation", "test") for t in dataset.tracks(split)
    }
    deformed = {
        c.apply_to: {splits[t.id] for t in condition_tracks(dataset, c)}
        for c in experiment.conditions[1:]
    }
    assert deformed == {
        "test": {"test"},
        "train": {"train", "validation"},
        "both": {"train", "validation", "test"},
    }
    assert len(extraction_units(experiment)) == 3 * len(dataset.tracks())


# --- listening --------------------------------------------------------------------------------


def test_deform_writes_examples_of_every_deformation(tmp_path):
    rng = np.random.default_rng(0)
    soundfile.write(tmp_path / "noise.wav", 0.1 * rng.standard_normal(8000), 16000)
    soundfile.write(tmp_path / "room.wav", np.r_[1.0, 0.3 * rng.standard_normal(800)], 16000)
    entries = {
        "white_noise": {"snr_db": [10]},
        "pink_noise": {"snr_db": [10]},
        "background_noise": {"snr_db": [10], "folder": "noise.wav"},
        "gain": {"gain_db": [-6]},
        "mp3": {"bitrate_kbps": [32]},
        "ogg_vorbis": {"quality": [0]},
        "pitch_shift": {"semitones": [2]},
        "time_stretch": {"rate": [1.5]},
        "low_pass": {"cutoff_hz": [2000]},
        "high_pass": {"cutoff_hz": [500]},
        "reverb": {"room_size": [0.8]},
        "impulse_response": {"path": "room.wav", "wet_level": [0.5]},
        "clipping": {"threshold_db": [-6]},
        "clipping_percentile": {"percentile": [10]},
        "bit_depth": {"bits": [6]},
        "resample": {"sample_rate_hz": [4000]},
        "compressor": {"threshold_db": [-20]},
        "chain": {
            "steps": [{"type": "low_pass", "cutoff_hz": 3400}, {"type": "gain", "gain_db": 3}]
        },
    }
    deformations = [{"type": name, **params} for name, params in entries.items()]
    deformations.append({"type": "white_noise", "name": "trained", "snr_db": 0, "apply_to": "both"})
    path = tmp_path / "cfg.yml"
    path.write_text(yaml.safe_dump(config(tmp_path, deformations)))
    experiment = Experiment.from_config(path)
    written = deform(experiment, examples=1)
    assert len(written) == len(experiment.conditions)
    clean, _ = soundfile.read(written[0])
    for wav, condition in zip(written, experiment.conditions, strict=True):
        audio, _ = soundfile.read(wav)
        assert condition.label.split("@")[0] in str(wav)
        assert np.all(np.isfinite(audio)) and len(audio) > 0
        if condition.type != "none" and condition.type not in ("time_stretch",):
            assert len(audio) == len(clean)
            assert condition.type == "gain" or not np.array_equal(audio, clean), condition.label


# --- training with deformed audio ------------------------------------------------------------


def two_pitch_corpus(folder: Path, tracks_per_class: int = 24) -> Path:
    """Harmonic tones in two classes, low (150-250 Hz) and high (400-700 Hz), as a manifest."""
    rng = np.random.default_rng(0)
    rows = ["path,register,split"]
    splits = ["train"] * 4 + ["validation"] + ["test"]
    for index in range(2 * tracks_per_class):
        register = ("low", "high")[index % 2]
        f0_hz = rng.uniform(150, 250) if register == "low" else rng.uniform(400, 700)
        time_s = np.arange(8000) / 16000
        tone = sum(np.sin(2 * np.pi * k * f0_hz * time_s) / k for k in range(1, 6))
        name = f"audio/{index:03d}.wav"
        (folder / "audio").mkdir(parents=True, exist_ok=True)
        soundfile.write(folder / name, (rng.uniform(0.05, 0.5) * tone).astype(np.float32), 16000)
        rows.append(f"{name},{register},{splits[(index // 2) % len(splits)]}")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return folder / "manifest.csv"


@pytest.mark.slow
def test_training_with_noise_helps_at_0_db(tmp_path):
    corpus = {
        "name": "registers",
        "type": "manifest",
        "path": str(two_pitch_corpus(tmp_path)),
        "tasks": {"register": {"type": "multiclass", "column": "register"}},
    }
    deformations = [
        {"type": "white_noise", "name": "train_clean", "snr_db": [0]},
        {"type": "white_noise", "name": "train_noisy", "snr_db": [0], "apply_to": "both"},
        {"type": "white_noise", "name": "train_only", "snr_db": [0], "apply_to": "train"},
    ]
    experiment = Experiment.from_config(
        config(
            tmp_path,
            deformations,
            datasets=[corpus],
            models=[{"type": "melspectrogram", "n_mels": 32}],
            protocol={"epochs": 60, "patience": 10, "learning_rate": 0.01, "seeds": 3},
        )
    )
    results = run_all(experiment)
    accuracy = results[results.metric == "accuracy"].groupby("deformation").value.mean()
    assert set(accuracy.index) == {"none", "train_clean", "train_noisy", "train_only"}
    assert accuracy["train_noisy"] > accuracy["train_clean"] + 0.3  # measured: 1.0 vs 0.5
    assert accuracy["none"] > accuracy["train_clean"]
    # Same schema as ever: the condition's name and strength identify it.
    assert results[results.deformation == "train_noisy"].strength.unique().tolist() == [0.0]


def test_the_readme_deformation_example_loads(tmp_path):
    readme = (REPO / "README.md").read_text()
    block = readme.split("```yaml\ndeformations:\n  - type: chain", 1)[1].split("```", 1)[0]
    entries = yaml.safe_load("deformations:\n  - type: chain" + block)["deformations"]
    labels = [c.label for c in Experiment.from_config(config(tmp_path, entries)).conditions]
    assert labels == [
        "none",
        "phone@snr_db=30",
        "phone@snr_db=20",
        "phone@snr_db=10",
        "noise_trained@snr_db=10",
        "noise_trained@snr_db=0",
    ]


def test_entries_differing_only_in_name_share_noise_and_embeddings(tmp_path):
    deformations = [
        {"type": "white_noise", "name": "clean_trained", "snr_db": [0]},
        {"type": "white_noise", "name": "noise_trained", "snr_db": [0], "apply_to": "both"},
    ]
    experiment = Experiment.from_config(config(tmp_path, deformations))
    keys = {}
    for unit in extraction_units(experiment):
        keys.setdefault(unit.condition.title, {})[unit.track.id] = unit.keys
    shared = keys["clean_trained"].keys()
    assert {t: keys["noise_trained"][t] for t in shared} == keys["clean_trained"]
    track = experiment.datasets[0].tracks("test")[0]
    first, second = experiment.conditions[1:]
    dataset = experiment.datasets[0]
    assert (
        track_rng(0, dataset, track, first).random()
        == track_rng(0, dataset, track, second).random()
    )
