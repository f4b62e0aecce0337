"""A hostile afternoon, tried as a new user would: no wrong number with exit code 0, no code run
without consent, no finished output lost (issue 18). Each test failed before its fix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mir_ref import stages
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
