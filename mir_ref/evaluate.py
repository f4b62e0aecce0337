"""The evaluation stage: stored predictions → metrics → the tidy results table."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mir_ref import metrics, progress, stats
from mir_ref.atomic import atomic_write_text
from mir_ref.config import Experiment
from mir_ref.errors import DataError, MirRefError
from mir_ref.results import COLUMNS, KEY_COLUMNS, write_csv, write_results
from mir_ref.train import planned_predictions, read_predictions, stored_key

log = logging.getLogger(__name__)


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
        }
        for dataset in experiment.datasets
        for task in dataset.tasks.values()
    }


def evaluate(experiment: Experiment) -> pd.DataFrame:
    """Score every predictions file of the run; write the results and their summaries.

    Writes ``results.csv`` / ``.parquet`` (with bootstrap intervals), ``summary.csv`` (mean
    and std over seeds), ``robustness.csv`` (drop from clean audio per deformation strength;
    only when there are deformed rows), ``selection.csv`` (the hyper-parameters each probe
    selected on validation) and ``tasks.json``.
    """
    protocol = experiment.config.protocol
    tasks = {
        (dataset.name, task.name): task
        for dataset in experiment.datasets
        for task in dataset.tasks.values()
    }
    files = _current_predictions(experiment)
    rows, selections = [], []
    with progress.bar("evaluate", len(files)) as advance:
        for path in files:
            meta, per_condition = read_predictions(path)
            task = tasks[(meta["dataset"], meta["task"])]
            fraction = meta.get("train_fraction", 1.0)
            identity = {key: meta[key] for key in ("dataset", "task", "model", "layer")}
            # Runs from before density sweeps stored no window or hop.
            identity["window_s"] = meta.get("window_s", np.nan)
            identity["hop_s"] = meta.get("hop_s", np.nan)
            if "selection" in meta:
                selections.append(
                    {
                        **identity,
                        "train_fraction": fraction,
                        "probe": meta["probe"],
                        "seed": meta["seed"],
                        "selected": json.dumps(meta["selection"]["selected"], sort_keys=True),
                        "validation_metric": meta["selection"]["metric"],
                        "validation_value": _selected_value(meta["selection"]),
                        "settings": len(meta["selection"]["grid"]),
                        "train_items": meta["selection"]["train_items"],
                    }
                )
            for condition, arrays in zip(meta["conditions"], per_condition, strict=True):
                y_true, y_score = arrays["y_true"], arrays["y_score"]
                scores = metrics.compute(task, y_true, y_score)
                for metric, function in metrics.metrics_for(task).items():
                    low, high = stats.bootstrap_ci(
                        function,
                        y_true,
                        y_score,
                        task,
                        n_bootstrap=protocol.n_bootstrap,
                        seed=protocol.seed,
                    )
                    strength = condition["strength"]
                    rows.append(
                        {
                            **identity,
                            "deformation": condition["deformation"],
                            "strength": np.nan if strength is None else strength,
                            "train_fraction": fraction,
                            "probe": meta["probe"],
                            "seed": meta["seed"],
                            "metric": metric,
                            "value": scores[metric],
                            "ci_low": low,
                            "ci_high": high,
                        }
                    )
            advance()
    results = pd.DataFrame(rows, columns=COLUMNS)
    results = results.sort_values(KEY_COLUMNS, kind="stable", na_position="first")
    results = results.reset_index(drop=True)
    output_dir = experiment.output_dir
    write_results(results, output_dir)
    write_csv(stats.summarize_seeds(results), output_dir / "summary.csv")
    robustness = stats.robustness(results)
    if not robustness.empty:
        write_csv(robustness, output_dir / "robustness.csv")
    if selections:
        write_csv(pd.DataFrame(selections), output_dir / "selection.csv")
    atomic_write_text(output_dir / "tasks.json", json.dumps(task_table(experiment), indent=2))
    return results


def _current_predictions(experiment: Experiment) -> list[Path]:
    """The predictions files the config asks for, each checked to be made from what the
    config now gives (its labels, splits, embeddings, probes and protocol).

    Raises
    ------
    MirRefError
        None is there yet, or some are missing.
    DataError
        Some were made from something else (e.g. labels changed since): they would be scored
        against the labels they were trained with, not the config's.
    """
    folder = experiment.output_dir / "predictions"
    planned = planned_predictions(experiment)
    present = {path for path in planned if path.is_file()}
    if not present:
        raise MirRefError(f"no predictions under {folder}; run `mir_ref train` first")
    missing = sorted(set(planned) - present)
    if missing:
        raise MirRefError(
            f"{len(missing)} of the {len(planned)} predictions files the config asks for are "
            f"missing, e.g. {missing[0]}; run `mir_ref train` first"
        )
    stale = sorted(path for path, key in planned.items() if stored_key(path) != key)
    if stale:
        raise DataError(
            f"{len(stale)} predictions file(s) were made from other labels, splits, embeddings "
            f"or settings than the config now gives, e.g. {stale[0]} (or they are damaged); "
            "run `mir_ref train` (or `mir_ref run`) to retrain them"
        )
    others = sorted(set(folder.rglob("*.npz")) - set(planned))
    if others:
        log.warning(
            "leaving out %d predictions file(s) this config does not ask for, e.g. %s",
            len(others),
            others[0],
        )
    return sorted(planned)


def _selected_value(selection: dict) -> float:
    """The winning setting's mean validation metric (NaN if it was not measured)."""
    for entry in selection["grid"]:
        if entry["setting"] == selection["selected"]:
            return np.nan if entry["validation"] is None else entry["validation"]
    return np.nan
