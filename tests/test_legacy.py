"""Configs of the original mir_ref: detected, converted with comments, and run unchanged.

The fixture configs in tests/fixtures/legacy_configs/ name datasets under ``data/``; each test
copies them beside fixture trees built by tests/fixtures/corpora.py. They use our ``mfcc`` and
``chroma`` models where the original's features need weights (an extension the original format
accepts here).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from mir_ref import stages
from mir_ref.config import parse_config
from mir_ref.errors import ConfigError
from mir_ref.experiment import Experiment, load_config
from mir_ref.legacy import experiment_configs, is_original, write_converted
from mir_ref.legacy.features import WEIGHTS
from tests.fixtures.corpora import BUILDERS

CONFIGS = Path(__file__).parent / "fixtures" / "legacy_configs"
DATA = {
    "tinysol": "tinysol",
    "magnatagatune": "magnatagatune",
    "mtg_jamendo": "mtg_jamendo",
    "beatport_key": "beatport_key",
    "vocalset": "vocalset",
}


def place(name: str, folder: Path, *, data: tuple[str, ...] = ()) -> Path:
    """Copy fixture config ``name`` into ``folder`` and build the datasets it reads."""
    folder.mkdir(parents=True, exist_ok=True)
    for dataset in data:
        BUILDERS[dataset](folder / "data" / DATA[dataset])
    return Path(shutil.copy(CONFIGS / name, folder / name))


def quick(config):
    """The same run, cheaper: one extraction process and no plots (set alike on both sides)."""
    config.execution.workers = 1
    config.report.plots = False
    return config


def comments(text: str) -> str:
    """The comments of a YAML text as one line (wrapped comments joined)."""
    lines = [line.strip() for line in text.splitlines()]
    return " ".join(line.lstrip("# ") for line in lines if line.startswith("#"))


def test_detection_tells_the_formats_apart() -> None:
    original = yaml.safe_load((CONFIGS / "every_key.yml").read_text())
    assert is_original(original)
    assert not is_original({"datasets": [], "models": []})
    assert not is_original({"experiments": [], "models": []})  # one of our keys: ours
    assert not is_original(["experiments"])


def test_every_key_is_converted(tmp_path: Path) -> None:
    source = place("every_key.yml", tmp_path)
    written = write_converted(source, tmp_path / "converted")
    assert [p.name for p in written] == [f"every_key-{k}.yml" for k in range(1, 8)]
    configs = [yaml.safe_load(p.read_text()) for p in written]
    for path, config in zip(written, configs, strict=True):
        parse_config(config, base_dir=path.parent)  # valid in our format
    tagging, instrument_a, instrument_b, pitch, key, singer, technique = configs

    assert tagging["datasets"] == [
        {"name": "magnatagatune", "type": "magnatagatune",
         "path": str(tmp_path / "data" / "magnatagatune"), "tasks": ["tags"]},
        {"name": "mtg-jamendo-moodtheme", "type": "mtg_jamendo",
         "path": str(tmp_path / "data" / "mtg_jamendo"), "subset": "moodtheme",
         "tasks": ["tags"], "split": "all"},
    ]  # fmt: skip
    # Old and new audiomentations spellings; a two-transform scenario is a chain.
    assert tagging["deformations"] == [
        {"name": "white_noise(snr_db=15)", "type": "white_noise", "snr_db": 15},
        {"name": "gain(gain_db=-12) + white_noise(snr_db=20)", "type": "chain",
         "steps": [{"type": "gain", "gain_db": -12}, {"type": "white_noise", "snr_db": 20}]},
    ]  # fmt: skip
    assert tagging["models"] == [
        {"type": "mfcc"},
        {"name": "mert-v1-95m-6", "type": "mert-v1-95m", "layers": [6]},
    ]
    assert tagging["embedding"] == {"pooling": "mean"}
    assert tagging["probes"] == [
        {"type": "linear", "batch_size": 1024},
        {"type": "mlp", "hidden": [16, 8], "batch_size": 64},
    ]
    assert tagging["protocol"] == {
        "epochs": 100, "patience": 10, "learning_rate": 1e-3, "weight_decay": 2e-5,
    }  # fmt: skip
    # Probes with different training options: one config each.
    assert instrument_a["datasets"][0]["split"] == "all"
    assert instrument_a["embedding"] == {"pooling": "max"}
    assert [p["hidden"] for p in instrument_a["probes"]] == [
        ["infer"],
        ["power_infer", "power_infer"],
    ]
    assert instrument_a["protocol"]["learning_rate"] == 0.01
    assert instrument_b["probes"] == [{"type": "mlp", "hidden": ["power_infer"], "batch_size": 32}]
    assert instrument_b["protocol"]["learning_rate"] == 0.001
    assert pitch["datasets"][0]["tasks"] == ["pitch_class"]
    # TinySOL's rounds as the original numbered them: validation fold k, test fold k+1.
    assert instrument_a["datasets"][0]["fold_convention"] == "validation_k"
    assert pitch["datasets"][0]["fold_convention"] == "validation_k"
    assert pitch["probes"] == [{"type": "linear", "batch_size": 1024}]  # the original defaults
    assert "split" not in key["datasets"][0]  # beatport_key has one split
    assert key["datasets"][0]["tasks"] == ["key"] and key["models"] == [{"type": "chroma"}]
    assert singer["datasets"][0]["tasks"] == ["singer"]
    assert technique["datasets"][0]["tasks"] == ["technique"]


def test_comments_say_what_changed(tmp_path: Path) -> None:
    source = place("every_key.yml", tmp_path)
    tagging, instrument_a, instrument_b, _, key, *_ = (
        p.read_text() for p in write_converted(source, tmp_path / "converted")
    )
    for text in (
        "emb_dim_reduction: false: ignored; it had no effect in the original",
        'train_sampling: "random": ignored; it had no effect in the original',
        "optimizer: 'sgd': ours trains with Adam only",
        "output_activation: 'softmax': ours follows the task type",
        "type: mirdata: read from the same folder by our own loader",
        "a chain when it has several transforms",
        "split_type: all: every official split",
        "feature_aggregation → pooling",
    ):
        assert text in comments(tagging), text
    assert "fold_convention: validation_k: as the original, split k validates on fold k" in (
        comments(instrument_a)
    )
    assert "emb_shape: 40: ignored" in instrument_b
    assert "its probes in training options, so it is split" in instrument_a
    assert "'beatport_key' has one official split" in key


def test_datasets_with_different_deformations_are_split(tmp_path: Path) -> None:
    config = yaml.safe_load((CONFIGS / "every_key.yml").read_text())
    experiment = config["experiments"][0]
    experiment["datasets"][1]["deformations"] = []
    experiment["probes"] = experiment["probes"][:1]
    config["experiments"] = [experiment]
    (tmp_path / "old.yml").write_text(yaml.safe_dump(config))
    first, second = (
        yaml.safe_load(p.read_text()) for p in write_converted(tmp_path / "old.yml", tmp_path / "n")
    )
    assert [d["name"] for d in first["datasets"]] == ["magnatagatune"]
    assert len(first["deformations"]) == 2
    assert [d["name"] for d in second["datasets"]] == ["mtg-jamendo-moodtheme"]
    assert "deformations" not in second


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"deformations": [[{"type": "Gain", "params": {
                "min_gain_in_db": -6, "max_gain_in_db": -6, "p": 0.5}}]]},
            "experiments[0].datasets[0].deformations[0][0] (Gain).p: 0.5",
        ),
        ({"name": "magnatagatun"}, "did you mean 'magnatagatune'"),
        ({"split_type": "some"}, "split_type: 'some' is not one of single, all"),
        ({"dir": None}, "datasets[0].dir: the dataset's folder is required"),
    ],
)  # fmt: skip
def test_bad_dataset_entries_name_the_key(tmp_path: Path, change: dict, message: str) -> None:
    config = yaml.safe_load((CONFIGS / "weights.yml").read_text())
    config["experiments"][0]["features"] = ["mfcc"]
    config["experiments"][0]["datasets"][0].update(change)
    with pytest.raises(ConfigError) as error:
        load_config(config)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("where", "change", "message"),
    [
        ("task", {"name": "autotaging"}, "did you mean 'autotagging'"),
        ("task", {"name": "key_estimation"}, "dataset 'magnatagatune' has no task"),
        ("task", {"feature_aggregation": "median"}, "'median' is not one of mean, max"),
        ("probe", {"hidden_units": [8, "infer"]}, "expected positive sizes, infer or"),
        ("probe", {"emb_shape": "power_infer"}, "the original accepted only infer or a size"),
        ("probe", {"type": "regressor"}, "the original had only classifier"),
        ("probe", {"learning_rat": 0.1}, "unknown key(s) ['learning_rat']"),
    ],
)
def test_bad_task_and_probe_entries_name_the_key(where: str, change: dict, message: str) -> None:
    config = yaml.safe_load((CONFIGS / "weights.yml").read_text())
    experiment = config["experiments"][0]
    experiment["features"] = ["mfcc"]
    (experiment["task"] if where == "task" else experiment["probes"][0]).update(change)
    with pytest.raises(ConfigError) as error:
        load_config(config)
    assert message in str(error.value)


@pytest.mark.parametrize("feature", sorted(WEIGHTS))
def test_missing_weights_fail_before_any_work(tmp_path: Path, feature: str) -> None:
    config = yaml.safe_load((CONFIGS / "weights.yml").read_text())
    config["experiments"][0]["features"] = ["mfcc", feature]
    (tmp_path / "old.yml").write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path / "old.yml")
    message = str(error.value)
    assert "experiments[0].datasets[0].dir: the folder" in message  # every problem at once
    assert f"experiments[0].features[1]: feature '{feature}' needs its weights" in message
    assert WEIGHTS[feature].file in message and WEIGHTS[feature].source in message
    # Converting does not fail: the entry gets a placeholder path and a TODO comment.
    [written] = write_converted(tmp_path / "old.yml", tmp_path / "new.yml")
    model = yaml.safe_load(written.read_text())["models"][1]
    assert model["type"] == "onnx" and model["path"] == f"weights/{WEIGHTS[feature].file}"
    assert f"TODO: put {WEIGHTS[feature].file} here" in written.read_text()


def test_weights_are_found_beside_the_config(tmp_path: Path, monkeypatch) -> None:
    config = yaml.safe_load((CONFIGS / "weights.yml").read_text())
    maest = {"name": "maest", "path": "elsewhere/maest.onnx"}
    config["experiments"][0]["features"] = ["effnet-discogs", "clmr-v2", maest]
    (tmp_path / "old.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / WEIGHTS["effnet-discogs"].file).write_bytes(b"onnx")
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / WEIGHTS["clmr-v2"].file).write_bytes(b"onnx")
    monkeypatch.setenv("MIR_REF_WEIGHTS", str(shelf))
    [written] = write_converted(tmp_path / "old.yml", tmp_path / "new.yml")
    models = yaml.safe_load(written.read_text())["models"]
    assert [m["path"] for m in models] == [
        f"weights/{WEIGHTS['effnet-discogs'].file}",
        f"shelf/{WEIGHTS['clmr-v2'].file}",
        "elsewhere/maest.onnx",
    ]
    assert models[1]["sample_rate_hz"] == 22050 and models[1]["input_samples"] == 59049


def results_of(experiment: Experiment) -> tuple[int, bytes]:
    """Extract, train and evaluate; the embeddings computed and the bytes of results.csv."""
    stages.ensure_valid(experiment)
    computed = stages.extract(experiment).computed
    stages.train(experiment)
    stages.evaluate(experiment)
    return computed, (experiment.output_dir / "results.csv").read_bytes()


def test_original_and_converted_give_identical_results(tmp_path: Path, monkeypatch) -> None:
    """Same jobs (every embedding of the original's run is a cache hit) and same results."""
    monkeypatch.setenv("MIR_REF_CACHE", str(tmp_path / "cache"))
    source = place("tinysol.yml", tmp_path / "old", data=("tinysol",))
    [converted] = write_converted(source, tmp_path / "new" / "tinysol.yml")

    original = Experiment.from_config(quick(load_config(source)))
    ours = Experiment.from_config(quick(load_config(converted)))
    differs = {"output_dir", "cache_dir"}
    assert {k: v for k, v in original.resolved().items() if k not in differs} == {
        k: v for k, v in ours.resolved().items() if k not in differs
    }
    # Both, the original run unchanged and its conversion, keep the original's TinySOL fold
    # convention: split_type single validated on fold 0 and tested on fold 1.
    metadata = pd.read_csv(
        tmp_path / "old" / "data" / "tinysol" / "annotation" / "TinySOL_metadata.csv"
    )
    fold = {Path(p).stem: f for p, f in zip(metadata["Path"], metadata["Fold"], strict=True)}
    for experiment in (original, ours):
        dataset = experiment.datasets[0]
        assert {fold[t.id] for t in dataset.tracks("validation")} == {0}
        assert {fold[t.id] for t in dataset.tracks("test")} == {1}
    computed, original_csv = results_of(original)
    assert computed == 16 + 4 * 3  # train and validation clean, test under 3 conditions
    assert results_of(ours) == (0, original_csv)

    results = pd.read_csv(original.output_dir / "results.csv")
    assert set(results.deformation) == {
        "none", "white_noise(snr_db=15)", "gain(gain_db=-12) + white_noise(snr_db=20)",
    }  # fmt: skip
    assert set(results.probe) == {"linear", "mlp-8"} and results.value.notna().all()


def test_cli_convert_and_validate(tmp_path: Path) -> None:
    from mir_ref.cli import app

    source = place("weights.yml", tmp_path, data=("magnatagatune",))
    result = CliRunner().invoke(app, ["convert", str(source), "-o", str(tmp_path / "new.yml")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "new.yml").is_file()
    result = CliRunner().invoke(app, ["validate", "-c", str(source)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "feature 'effnet-discogs' needs its weights" in text
    result = CliRunner().invoke(app, ["convert", str(tmp_path / "new.yml"), "-o", "x.yml"])
    assert result.exit_code == 2 and "not an original mir_ref config" in result.output


def test_several_experiments(tmp_path: Path) -> None:
    source = place("every_key.yml", tmp_path, data=tuple(DATA))
    with pytest.raises(ConfigError, match="holds 7 experiments"):
        load_config(source)  # one config from Python: say how to get them all
    assert [c.name for c in experiment_configs(source)] == [f"every_key-{k}" for k in range(1, 8)]
    written = write_converted(source, tmp_path / "out" / "new.yml")
    assert [p.name for p in written] == [f"new-{k}.yml" for k in range(1, 8)]


def test_relative_dir_falls_back_to_the_working_folder(tmp_path: Path, monkeypatch) -> None:
    """The original read `dir` from the working folder; ours from the config's folder."""
    source = place("tinysol.yml", tmp_path / "configs")
    BUILDERS["tinysol"](tmp_path / "data" / "tinysol")
    monkeypatch.chdir(tmp_path)
    [config] = experiment_configs(source)
    assert config.datasets[0]["path"] == str(tmp_path / "data" / "tinysol")
    BUILDERS["tinysol"](tmp_path / "configs" / "data" / "tinysol")
    [config] = experiment_configs(source)
    assert config.datasets[0]["path"] == str(tmp_path / "configs" / "data" / "tinysol")


@pytest.mark.slow
def test_cli_run_of_an_original_and_of_its_conversion_match(tmp_path: Path, monkeypatch) -> None:
    """`mir_ref run -c` on an original with two experiments, and on the two converted configs
    (separate caches): the same results.csv, byte for byte."""
    from mir_ref.cli import app

    source = place("tinysol.yml", tmp_path / "old", data=("tinysol", "beatport_key"))
    config = yaml.safe_load(source.read_text())
    config["experiments"].append(
        {
            "task": {"name": "key_estimation", "type": "multiclass_classification"},
            "datasets": [{"name": "beatport_key", "type": "custom", "dir": "data/beatport_key"}],
            "features": ["chroma"],
            "probes": [{"type": "classifier", "hidden_units": [], "epochs": 10, "patience": 3}],
        }
    )
    source.write_text(yaml.safe_dump(config))
    # One extraction process (the default is one per core), as `quick` sets for the API runs.
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    monkeypatch.setenv("MIR_REF_CACHE", str(tmp_path / "cache-old"))
    result = CliRunner().invoke(app, ["run", "-c", str(source)])
    assert result.exit_code == 0, result.output
    assert "original mir_ref config detected" in " ".join(result.output.split())

    result = CliRunner().invoke(app, ["convert", str(source), "-o", str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("MIR_REF_CACHE", str(tmp_path / "cache-new"))
    for k in (1, 2):
        result = CliRunner().invoke(
            app, ["run", "-q", "-c", str(tmp_path / "new" / f"tinysol-{k}.yml")]
        )
        assert result.exit_code == 0, result.output
        original = (tmp_path / "old" / "runs" / f"tinysol-{k}" / "results.csv").read_bytes()
        assert (tmp_path / "new" / "runs" / f"tinysol-{k}" / "results.csv").read_bytes() == original


@pytest.mark.slow
def test_every_dataset_and_task_of_the_original_runs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MIR_REF_CACHE", str(tmp_path / "cache"))
    config = yaml.safe_load((CONFIGS / "every_key.yml").read_text())
    for experiment in config["experiments"]:  # cheap: short training, one split, no MERT
        for probe in experiment["probes"]:
            probe.update(epochs=5, patience=2)
        for dataset in experiment["datasets"]:
            dataset.pop("split_type", None)
        experiment["features"] = [f for f in experiment["features"] if "mert" not in f]
    (tmp_path / "old.yml").write_text(yaml.safe_dump(config))
    for name in DATA:
        BUILDERS[name](tmp_path / "data" / name)
    pairs = set()
    for config in experiment_configs(tmp_path / "old.yml"):
        experiment = Experiment.from_config(quick(config))
        results_of(experiment)
        results = pd.read_csv(experiment.output_dir / "results.csv")
        assert results.value.notna().all()
        pairs |= set(zip(results.dataset, results.task, strict=True))
    assert pairs == {
        ("magnatagatune", "tags"), ("mtg-jamendo-moodtheme", "tags"), ("tinysol", "instrument"),
        ("tinysol", "pitch_class"), ("beatport_key", "key"), ("vocalset", "singer"),
        ("vocalset", "technique"),
    }  # fmt: skip
