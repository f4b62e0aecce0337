"""The evaluation stage: stored predictions → metrics → the tidy results table."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mir_ref import condition_notes, equivariance, metrics, progress, stats
from mir_ref.atomic import atomic_write_text
from mir_ref.experiment import Experiment
from mir_ref.plan import current_predictions, groups_of_test_tracks
from mir_ref.predictions import read_predictions
from mir_ref.results import COLUMNS, KEY_COLUMNS, write_csv, write_results

log = logging.getLogger(__name__)


LAYER_WEIGHT_COLUMNS = [
    "dataset", "task", "model", "window_s", "hop_s", "train_fraction", "probe", "seed", "layer",
    "weight",
]  # fmt: skip
"""Columns of ``layer_weights.csv``: per probe of a weighted layer and seed, the softmax
weight it learned for each of the model's layers (they sum to 1)."""


def task_table(experiment: Experiment) -> dict[str, dict]:
    """``"<dataset>/<task>"`` → type, classes, metrics, main metric (saved as tasks.json)."""
    return {
        f"{dataset.name}/{task.name}": {
            "dataset": dataset.name,
            "task": task.name,
            "type": task.type,
            "classes": task.classes,
            "metrics": task.metrics,
            "main_metric": task.main_metric,
            "label_kind": task.label_kind,
        }
        for dataset in experiment.datasets
        for task in dataset.tasks.values()
    }


def item_groups(
    groups: dict[str, dict[str, str | None]], dataset: str, track_ids: np.ndarray
) -> list[str | None] | None:
    """Each test item's group (``None`` for a track without one), or None when the dataset
    declares no groups."""
    by_track = groups.get(dataset)
    if by_track is None:
        return None
    return [by_track.get(str(track)) for track in track_ids]


def evaluate(experiment: Experiment) -> pd.DataFrame:
    """Score every predictions file of the run; write the results and their summaries.

    Writes ``results.csv`` / ``.parquet`` (with each seed's bootstrap interval),
    ``summary.csv`` (mean and std over seeds, and the interval of the mean with items and
    seeds resampled), ``robustness.csv`` (drop from clean audio per deformation strength,
    with the labels scored, the items left out and each model's in-band SNR; only when there
    are deformed rows), ``equivariance.csv`` (where a pitch shift moved pitch, pitch-class or
    key labels: whether predictions moved with the audio), ``selection.csv`` (the
    hyper-parameters each probe selected on validation), ``layer_weights.csv`` (the layer
    weights each probe of a weighted layer learned; only when there is one) and
    ``tasks.json``. Intervals resample the test tracks' groups when the dataset declares them
    (:func:`groups_of_test_tracks`).
    """
    protocol = experiment.config.protocol
    if protocol.n_bootstrap == 0:
        log.warning(stats.NO_BOOTSTRAP)
    tasks = {
        (dataset.name, task.name): task
        for dataset in experiment.datasets
        for task in dataset.tasks.values()
    }
    files = current_predictions(experiment)  # none made from other labels or settings
    groups = groups_of_test_tracks(experiment)
    rows, selections, intervals, label_notes, moves = [], [], [], [], []
    layer_weights = []
    with progress.bar("evaluate", len(files)) as advance:
        for seeds in _seed_sets(files):
            meta = seeds[0][0]
            task = tasks[(meta["dataset"], meta["task"])]
            fraction = meta.get("train_fraction", 1.0)
            identity = {key: meta[key] for key in ("dataset", "task", "model", "layer")}
            # Runs from before density sweeps stored no window or hop.
            identity["window_s"] = meta.get("window_s", np.nan)
            identity["hop_s"] = meta.get("hop_s", np.nan)
            identity.update(train_fraction=fraction, probe=meta["probe"])
            selections += [
                _selection_row(identity, seed_meta) for seed_meta, _, _ in seeds
                if "selection" in seed_meta
            ]  # fmt: skip
            for seed_meta, _, _ in seeds:
                label_notes += condition_notes.label_notes(
                    meta["dataset"], meta["task"], seed_meta["conditions"]
                )
            layer_weights += [
                {
                    **{key: identity[key] for key in LAYER_WEIGHT_COLUMNS[:5]},
                    "train_fraction": fraction,
                    "probe": meta["probe"],
                    "seed": seed_meta["seed"],
                    "layer": layer,
                    "weight": weight,
                }
                for seed_meta, _, _ in seeds
                for layer, weight in seed_meta.get("layer_weights", {}).items()
            ]
            for index, condition in enumerate(meta["conditions"]):
                strength = condition["strength"]
                where = {
                    **identity,
                    "deformation": condition["deformation"],
                    "strength": np.nan if strength is None else strength,
                }
                track_ids, y_true, by_model = shared_items(
                    {"": [arrays[index] for _, arrays, _ in seeds]}
                )
                for _, arrays, _ in seeds:
                    if "y_moved" in arrays[index] and equivariance.applies(task, condition):
                        moves.append(
                            {
                                **where,
                                "strength": condition["strength"],
                                "semitones": condition["semitones"],
                                "labels": condition["labels"],
                                **equivariance.counts(
                                    task,
                                    arrays[index]["y_clean"],
                                    arrays[index]["y_moved"],
                                    arrays[index]["y_score"],
                                ),
                            }
                        )
                scores = by_model[""]
                values = [metrics.compute(task, y_true, y_score) for y_score in scores]
                for metric, function in metrics.metrics_for(task).items():
                    per_seed, mean = stats.seed_intervals(
                        function,
                        y_true,
                        scores,
                        task,
                        n_bootstrap=protocol.n_bootstrap,
                        seed=protocol.seed,
                        groups=item_groups(groups, meta["dataset"], track_ids),
                    )
                    for (seed_meta, _, _), value, (low, high) in zip(
                        seeds, values, per_seed, strict=True
                    ):
                        rows.append(
                            {
                                **where,
                                "seed": seed_meta["seed"],
                                "metric": metric,
                                "value": value[metric],
                                "ci_low": low,
                                "ci_high": high,
                            }
                        )
                    intervals.append(
                        {**where, "metric": metric, "ci_low": mean[0], "ci_high": mean[1]}
                    )
            advance(len(seeds))
    results = pd.DataFrame(rows, columns=COLUMNS)
    results = results.sort_values(KEY_COLUMNS, kind="stable", na_position="first")
    results = results.reset_index(drop=True)
    output_dir = experiment.output_dir
    write_results(results, output_dir)
    intervals = pd.DataFrame(intervals, columns=[*stats.SEED_KEYS, "ci_low", "ci_high"])
    write_csv(stats.summarize_seeds(results, intervals), output_dir / "summary.csv")
    robustness = stats.robustness(results)
    if not robustness.empty:
        snr = condition_notes.in_band_snr(experiment)
        robustness = condition_notes.annotate(robustness, label_notes, snr)
        write_csv(robustness, output_dir / "robustness.csv")
    if moves:
        write_csv(equivariance.shares(moves), output_dir / equivariance.EQUIVARIANCE_FILE)
    else:  # an earlier run's view would describe predictions that are gone
        (output_dir / equivariance.EQUIVARIANCE_FILE).unlink(missing_ok=True)
    if selections:
        write_csv(pd.DataFrame(selections), output_dir / "selection.csv")
    if layer_weights:
        write_csv(
            pd.DataFrame(layer_weights, columns=LAYER_WEIGHT_COLUMNS),
            output_dir / "layer_weights.csv",
        )
    else:  # a weighted layer of an earlier run is not this run's
        (output_dir / "layer_weights.csv").unlink(missing_ok=True)
    atomic_write_text(output_dir / "tasks.json", json.dumps(task_table(experiment), indent=2))
    return results


SeedSet = list[tuple[dict, list[dict[str, np.ndarray]], Path]]
"""The predictions files of one (dataset, task, model, layer, density, probe, fraction), one
per seed: ``(meta, per-condition arrays, path)``, in seed order."""


def _seed_sets(files: list[Path]) -> Iterator[SeedSet]:
    """The predictions files grouped by everything but the seed; one group in memory at once.

    The training stage writes a group's seeds into one folder, so the folders are read one by
    one (and split by their metadata, should a folder hold more than one group).
    """
    by_folder: dict[Path, list[Path]] = {}
    for path in files:
        by_folder.setdefault(path.parent, []).append(path)
    for paths in by_folder.values():
        found: dict[tuple, SeedSet] = {}
        for path in paths:
            meta, per_condition = read_predictions(path)
            key = json.dumps({k: v for k, v in meta.items() if k in _SET_KEYS}, sort_keys=True)
            found.setdefault(key, []).append((meta, per_condition, path))
        for seeds in found.values():
            yield sorted(seeds, key=lambda entry: entry[0]["seed"])


_SET_KEYS = ("dataset", "task", "model", "layer", "window_s", "hop_s", "probe", "train_fraction")


def shared_items(
    models: Mapping[str, Sequence[dict[str, np.ndarray]]],
) -> tuple[np.ndarray, np.ndarray, dict[str, list[np.ndarray]]]:
    """The test items every predictions array scored, in the first one's order.

    Parameters
    ----------
    models : ``{name: one predictions condition (track_ids, y_true, y_score) per seed}``.

    Returns
    -------
    ``(track_ids, y_true, {name: one y_score per seed})`` on those items; empty when they
    share none. Seeds and models of one task share its test split, so this is normally
    every item.
    """
    arrays = [entry for per_seed in models.values() for entry in per_seed]
    first = arrays[0]["track_ids"].tolist()
    shared = set(first)
    for other in arrays[1:]:
        shared &= set(other["track_ids"].tolist())
    rows = [row for row, track in enumerate(first) if track in shared]
    track_ids = [first[row] for row in rows]
    scores = {}
    for name, per_seed in models.items():
        scores[name] = []
        for entry in per_seed:
            position = {track: row for row, track in enumerate(entry["track_ids"].tolist())}
            scores[name].append(entry["y_score"][[position[track] for track in track_ids]])
    return np.asarray(arrays[0]["track_ids"])[rows], arrays[0]["y_true"][rows], scores


def _selection_row(identity: dict, meta: dict) -> dict:
    """One row of ``selection.csv``: what a predictions file's probe selected on validation."""
    return {
        **identity,
        "seed": meta["seed"],
        "selected": json.dumps(meta["selection"]["selected"], sort_keys=True),
        "validation_metric": meta["selection"]["metric"],
        "validation_value": _selected_value(meta["selection"]),
        "settings": len(meta["selection"]["grid"]),
        "train_items": meta["selection"]["train_items"],
    }


def _selected_value(selection: dict) -> float:
    """The winning setting's mean validation metric (NaN if it was not measured)."""
    for entry in selection["grid"]:
        if entry["setting"] == selection["selected"]:
            return np.nan if entry["validation"] is None else entry["validation"]
    return np.nan
