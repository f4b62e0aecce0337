"""A hostile afternoon, tried as a new user would: no wrong number with exit code 0, no code run
without consent, no finished output lost (issue 18). Each test failed before its fix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from mir_ref import stages
from mir_ref.cli import app
from mir_ref.config import Experiment
from mir_ref.errors import CacheError, DataError
from tests.conftest import manifest_config


def _config(manifest: Path, **overrides) -> dict:
    return manifest_config(
        manifest,
        **{
            "name": "adversarial",
            "models": [{"type": "mfcc", "n_mels": 40}],
            "embedding": {"window_s": 1.0, "hop_s": 1.0},
            "probes": [{"type": "linear"}],
            "protocol": {"epochs": 20, "patience": 5, "learning_rate": 0.05, "n_bootstrap": 0},
            "execution": {"workers": 1},
            **overrides,
        },
    )


def _accuracy(results: pd.DataFrame) -> float:
    return float(results.loc[results["metric"] == "accuracy", "value"].mean())


def _swap_test_labels(manifest: Path) -> None:
    """Give every test track the other genre (its audio stays the same)."""
    lines = manifest.read_text().splitlines()
    swapped = {"low": "high", "high": "low"}
    for index, line in enumerate(lines[1:], start=1):
        cells = line.split(",")
        if cells[-1] == "test":
            cells[1] = swapped[cells[1]]
            lines[index] = ",".join(cells)
    manifest.write_text("\n".join(lines) + "\n")


# -- silent wrong results ---------------------------------------------------------------------


def _train_and_evaluate(config: dict) -> pd.DataFrame:
    experiment = Experiment.from_config(config)
    stages.extract(experiment)
    stages.train(experiment)
    return stages.evaluate(experiment)


def test_changed_labels_are_retrained_and_evaluate_refuses_the_stale_ones(manifest_corpus):
    config = _config(manifest_corpus)
    assert _accuracy(_train_and_evaluate(config)) == 1.0

    _swap_test_labels(manifest_corpus)
    # `evaluate` alone must not score the old labels stored with the predictions.
    with pytest.raises(DataError, match="other labels, splits"):
        stages.evaluate(Experiment.from_config(config))
    # The same audio, scored against the new labels.
    assert _accuracy(_train_and_evaluate(config)) == 0.0


def test_a_damaged_embedding_stops_training_naming_the_entry(manifest_corpus):
    experiment = Experiment.from_config(_config(manifest_corpus))
    stages.extract(experiment)
    entry = sorted((manifest_corpus.parent / "cache" / "embeddings").rglob("*.npy"))[0]
    data = bytearray(entry.read_bytes())
    data[-3] ^= 0x40  # one bit of one value: same size, still a valid array
    entry.write_bytes(bytes(data))
    with pytest.raises(CacheError, match=f"cache entry {entry} is damaged.*verify --repair"):
        stages.train(Experiment.from_config(_config(manifest_corpus)))


# -- config intent silently dropped ------------------------------------------------------------


def _validate(config_path: Path):
    """``mir_ref validate -c config_path`` in this process."""
    return CliRunner().invoke(app, ["validate", "-c", str(config_path)])


def _yaml_config(manifest: Path, text: str) -> Path:
    """A config file: the manifest corpus config as YAML, then ``text`` appended."""
    config = _config(manifest)
    del config["probes"], config["protocol"]
    path = manifest.parent / "config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False) + text)
    return path


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("probes: [{type: linear}]\nprobes: [{type: mlp}]\n", "probes: the key appears twice"),
        ("protocol:\n  epochs: 5\n  epochs: 50\n", "protocol.epochs: the key appears twice"),
        (
            "probes:\n  - {type: mlp, hidden: [8], hidden: [64]}\n",
            "probes[0].hidden: the key appears twice",
        ),
    ],
    ids=["top-level", "nested", "in-a-list"],
)
def test_a_duplicate_yaml_key_at_any_level_is_refused(manifest_corpus, text, where):
    result = _validate(_yaml_config(manifest_corpus, text))
    assert result.exit_code == 2
    assert where in " ".join(result.output.split())


def test_a_key_merged_from_an_anchor_may_be_overridden(manifest_corpus):
    text = "probes:\n  - &mlp {type: mlp, hidden: [8]}\n  - <<: *mlp\n    hidden: [16]\n"
    experiment = Experiment.from_config(_yaml_config(manifest_corpus, text))
    assert [p.label() for p in experiment.probes] == ["mlp-8", "mlp-16"]


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (
            "{learnig_rate: [0.5, 1.0e-4]}",
            "protocol.grid.learnig_rate: unknown key; did you mean 'learning_rate'?",
        ),
        ("{weight_decy: [0.1]}", "protocol.grid.weight_decy: unknown key; did you mean"),
        ("{learning_rate: [-1]}", "protocol.grid.learning_rate[0]: -1 is not a valid"),
        ("{hidden: [[64], [0]]}", "protocol.grid.hidden[1]: [0] is not a valid hidden"),
        ("{weight_decay: 0.1}", "protocol.grid.weight_decay: Input should be a valid list"),
        ("{hidden: [[64]]}", "protocol.grid.hidden: unknown key"),  # no mlp in this config
    ],
    ids=["misspelled", "misspelled-2", "negative-rate", "zero-hidden", "not-a-list", "no-taker"],
)
def test_validate_refuses_a_bad_grid_naming_the_key(manifest_corpus, grid, message):
    only_linear = grid == "{hidden: [[64]]}"
    probes = "[{type: linear}]" if only_linear else "[{type: linear}, {type: mlp, hidden: [8]}]"
    text = f"probes: {probes}\nprotocol: {{epochs: 5, grid: {grid}}}\n"
    result = _validate(_yaml_config(manifest_corpus, text))
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_a_grid_every_probe_understands_passes(manifest_corpus):
    text = (
        "probes: [{type: linear}, {type: mlp, hidden: [8]}]\n"
        "protocol: {epochs: 5, grid: {learning_rate: [0.1, 0.01], hidden: [[8], infer]}}\n"
    )
    assert _validate(_yaml_config(manifest_corpus, text)).exit_code == 0
