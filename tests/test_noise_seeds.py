"""Deformation noise is drawn from the dataset's name and the track's id, not the file's place.

A dataset moved or copied elsewhere deforms into the same audio, so a rerun on the copy gives
the same results; the embeddings' cache keys still follow the audio files themselves.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from mir_ref import stages
from mir_ref.experiment import Experiment
from mir_ref.plan import extraction_units, track_rng
from tests.fixtures.corpora import manifest


def config(folder: Path, run: Path) -> dict:
    """The fixture manifest in ``folder`` under white noise; runs and cache in ``run``."""
    return {
        "name": "moved",
        "output_dir": str(run / "run"),
        "cache_dir": str(run / "cache"),
        "datasets": [{**manifest(folder), "name": "corpus"}],
        "deformations": [{"type": "white_noise", "snr_db": [0]}],
        "models": [{"type": "mfcc", "n_mels": 40}],
        "embedding": {"window_s": 0.25, "hop_s": 0.25},
        "probes": [{"type": "linear"}],
        "protocol": {"epochs": 5, "patience": 2},
        "report": {"plots": False},
        "execution": {"workers": 1},
    }


def results_of(experiment: Experiment) -> pd.DataFrame:
    """Extract, train and evaluate; the results' scores."""
    stages.ensure_valid(experiment)
    stages.extract(experiment)
    stages.train(experiment)
    stages.evaluate(experiment)
    columns = ["dataset", "task", "deformation", "model", "probe", "seed", "metric", "value"]
    return pd.read_csv(experiment.output_dir / "results.csv")[columns]


def deformed(experiment: Experiment) -> dict[str, np.ndarray]:
    """Each test track's audio under the noise condition, by track id."""
    dataset, condition = experiment.datasets[0], experiment.conditions[1]
    out = {}
    for track in dataset.tracks("test"):
        audio, rate = track.audio()
        out[track.id] = condition.deformation(audio, rate, track_rng(0, dataset, track, condition))
    return out


def test_a_moved_dataset_deforms_alike_and_gives_the_same_results(tmp_path: Path) -> None:
    first = config(tmp_path / "data", tmp_path / "first")
    shutil.copytree(tmp_path / "data", tmp_path / "elsewhere" / "data")
    second = config(tmp_path / "elsewhere" / "data", tmp_path / "second")

    here, there = Experiment.from_config(first), Experiment.from_config(second)
    audio_here, audio_there = deformed(here), deformed(there)
    assert audio_here.keys() == audio_there.keys()
    for track_id, audio in audio_here.items():
        np.testing.assert_array_equal(audio, audio_there[track_id])
    # The cache identity of the audio stays the file's: the copy is embedded anew.
    keys_here = {u.track.id: u.keys for u in extraction_units(here)}
    keys_there = {u.track.id: u.keys for u in extraction_units(there)}
    assert keys_here.keys() == keys_there.keys()
    assert all(keys_here[t] != keys_there[t] for t in keys_here)

    results = [results_of(experiment) for experiment in (here, there)]
    assert results[0].deformation.nunique() == 2
    pd.testing.assert_frame_equal(results[0], results[1])


def test_the_noise_differs_between_tracks_datasets_and_seeds(tmp_path: Path) -> None:
    experiment = Experiment.from_config(config(tmp_path, tmp_path))
    dataset, condition = experiment.datasets[0], experiment.conditions[1]
    first, second = dataset.tracks("test")[:2]

    def draw(seed: int, track) -> float:
        return track_rng(seed, dataset, track, condition).random()

    before = draw(0, first)
    assert draw(0, first) == before
    assert len({before, draw(0, second), draw(1, first)}) == 3
    # The folds of `split: all` share their dataset's noise; another dataset has its own.
    dataset.name = f"{dataset.name}@split=3"
    assert draw(0, first) == before
    dataset.name = "another"
    assert draw(0, first) != before
