"""The evaluation stage: stored predictions → metrics → the tidy results table."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from mir_ref import metrics, progress, stats
from mir_ref.atomic import atomic_write
from mir_ref.config import Experiment
from mir_ref.errors import MirRefError
from mir_ref.results import COLUMNS, KEY_COLUMNS, write_results
from mir_ref.train import read_predictions

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
        }
        for dataset in experiment.datasets
        for task in dataset.tasks.values()
    }


def evaluate(experiment: Experiment) -> pd.DataFrame:
    """Score every predictions file of the run; write the results and their summaries.

    Writes ``results.csv`` / ``.parquet`` (with bootstrap intervals), ``summary.csv`` (mean
    and std over seeds), ``robustness.csv`` (drop from clean audio per deformation strength;
    only when there are deformed rows), ``selection.csv`` (the hyper-parameters each probe
    selected on validation), ``layer_weights.csv`` (the layer weights each probe of a
    weighted layer learned; only when there is one) and ``tasks.json``.
    """
    protocol = experiment.config.protocol
    tasks = {
        (dataset.name, task.name): task
        for dataset in experiment.datasets
        for task in dataset.tasks.values()
    }
    files = sorted((experiment.output_dir / "predictions").rglob("*.npz"))
    if not files:
        raise MirRefError(
            f"no predictions under {experiment.output_dir / 'predictions'}; run `mir_ref train` "
            f"first"
        )
    rows, selections, layer_weights = [], [], []
    with progress.bar("evaluate", len(files)) as advance:
        for path in files:
            meta, per_condition = read_predictions(path)
            task = tasks.get((meta["dataset"], meta["task"]))
            if task is None:
                log.warning("skipping %s: its task is not in the config", path)
                advance()
                continue
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
            layer_weights += [
                {
                    **{key: identity[key] for key in LAYER_WEIGHT_COLUMNS[:5]},
                    "train_fraction": fraction,
                    "probe": meta["probe"],
                    "seed": meta["seed"],
                    "layer": layer,
                    "weight": weight,
                }
                for layer, weight in meta.get("layer_weights", {}).items()
            ]
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
    stats.summarize_seeds(results).to_csv(output_dir / "summary.csv", index=False)
    robustness = stats.robustness(results)
    if not robustness.empty:
        robustness.to_csv(output_dir / "robustness.csv", index=False)
    if selections:
        pd.DataFrame(selections).to_csv(output_dir / "selection.csv", index=False)
    if layer_weights:
        table = pd.DataFrame(layer_weights, columns=LAYER_WEIGHT_COLUMNS)
        text = table.to_csv(index=False).encode()
        atomic_write(output_dir / "layer_weights.csv", lambda file: file.write(text))
    else:  # a weighted layer of an earlier run is not this run's
        (output_dir / "layer_weights.csv").unlink(missing_ok=True)
    (output_dir / "tasks.json").write_text(json.dumps(task_table(experiment), indent=2))
    return results


def _selected_value(selection: dict) -> float:
    """The winning setting's mean validation metric (NaN if it was not measured)."""
    for entry in selection["grid"]:
        if entry["setting"] == selection["selected"]:
            return np.nan if entry["validation"] is None else entry["validation"]
    return np.nan
