"""What a robustness row measured: the labels it was scored against, the test items its
condition left out, and the noise level each model actually heard.

These go into ``robustness.csv`` beside each drop from clean audio:

- ``labels``: ``follow`` (labels moved with the audio: a transposed C is scored as a C#) or
  ``keep`` (scored against the clean labels; the ``deformation`` column then ends with
  ``(labels kept)``);
- ``items_left_out``: test items whose moved label fell outside the task's vocabulary;
- ``in_band_snr_db``: for a noise condition, the SNR in the model's own band (see
  :func:`mir_ref.deformations.noise.in_band_snr_db`), averaged (in dB) over the test tracks'
  sample rates; empty for other conditions.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from mir_ref import audio as audio_io
from mir_ref.datasets.base import Dataset, Track
from mir_ref.datasets.track import GENERATED_SAMPLE_RATE_HZ
from mir_ref.deformations.noise import in_band_snr_db, nominal_snr_db
from mir_ref.experiment import Experiment

CONDITION_KEYS = ["dataset", "task", "deformation", "strength"]
NOTE_COLUMNS = ["labels", "items_left_out", "in_band_snr_db"]
_HEADER_READERS = 8


def label_notes(dataset: str, task: str, conditions: list[dict[str, Any]]) -> list[dict]:
    """Rows of ``labels`` and ``items_left_out`` for the conditions a predictions file
    records (files from before labels followed the audio read as ``keep``, nothing left out)."""
    return [
        {
            "dataset": dataset,
            "task": task,
            "deformation": condition["deformation"],
            "strength": np.nan if condition["strength"] is None else condition["strength"],
            "labels": condition.get("labels", "keep"),
            "items_left_out": int(condition.get("left_out", 0)),
        }
        for condition in conditions
    ]


def file_sample_rates(dataset: Dataset) -> Counter[int]:
    """How many test tracks of ``dataset`` are decoded at each sample rate (before any model
    resamples them): the dataset's ``audio_sample_rate``, else each file's own."""
    tracks = dataset.tracks("test")
    if dataset.audio_sample_rate:
        return Counter({int(dataset.audio_sample_rate): len(tracks)})

    def rate(track: Track) -> int:
        if track.audio_path is None:
            return GENERATED_SAMPLE_RATE_HZ
        return audio_io.header(track.audio_path).sample_rate

    with ThreadPoolExecutor(_HEADER_READERS) as pool:
        return Counter(pool.map(rate, tracks))


def in_band_snr(experiment: Experiment) -> pd.DataFrame:
    """The SNR each model hears under each noise condition, per dataset.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, model, deformation, strength, in_band_snr_db``: one row per noise
        condition (one with a nominal ``snr_db``), dataset and model name.
    """
    columns = ["dataset", "model", "deformation", "strength", "in_band_snr_db"]
    noisy = [
        condition
        for condition in experiment.conditions
        if condition.deformation is not None and nominal_snr_db(condition.deformation) is not None
    ]
    if not noisy:
        return pd.DataFrame(columns=columns)
    seed = experiment.config.protocol.seed
    model_rates = {entry.name: int(entry.model.sample_rate) for entry in experiment.models}
    measured: dict[tuple[str, int, int], float] = {}
    rows = []
    for dataset in experiment.datasets:
        rates = file_sample_rates(dataset)
        for condition in noisy:
            for model, model_rate in model_rates.items():
                values, weights = [], []
                for file_rate, tracks in rates.items():
                    key = (condition.label, file_rate, model_rate)
                    if key not in measured:
                        measured[key] = in_band_snr_db(
                            condition.deformation,
                            sample_rate=file_rate,
                            model_sample_rate=model_rate,
                            seed=seed,
                        )
                    values.append(measured[key])
                    weights.append(tracks)
                strength = np.nan if condition.strength is None else condition.strength
                snr = round(float(np.average(values, weights=weights)), 2) if values else np.nan
                rows.append([dataset.name, model, condition.title, strength, snr])
    return pd.DataFrame(rows, columns=columns)


def annotate(robustness: pd.DataFrame, labels: list[dict], snr: pd.DataFrame) -> pd.DataFrame:
    """``robustness`` with the :data:`NOTE_COLUMNS` added (see the module notes)."""
    notes = pd.DataFrame(labels, columns=[*CONDITION_KEYS, "labels", "items_left_out"])
    notes = notes.drop_duplicates(CONDITION_KEYS, keep="last")
    out = robustness.merge(notes, on=CONDITION_KEYS, how="left")
    out = out.merge(snr, on=["dataset", "model", "deformation", "strength"], how="left")
    return out
