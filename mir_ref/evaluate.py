"""The evaluation stage: stored predictions → metrics → the tidy results table."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from mir_ref import metrics, progress
from mir_ref.config import Experiment
from mir_ref.errors import MirRefError
from mir_ref.results import COLUMNS, write_results
from mir_ref.train import read_predictions

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
    """Score every predictions file of the run and write ``results.csv`` / ``.parquet``."""
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
    rows = []
    with progress.bar("evaluate", len(files)) as advance:
        for path in files:
            meta, per_condition = read_predictions(path)
            task = tasks.get((meta["dataset"], meta["task"]))
            if task is None:
                log.warning("skipping %s: its task is not in the config", path)
                advance()
                continue
            for condition, arrays in zip(meta["conditions"], per_condition, strict=True):
                scores = metrics.compute(task, arrays["y_true"], arrays["y_score"])
                for metric, value in scores.items():
                    rows.append(
                        {
                            "dataset": meta["dataset"],
                            "task": meta["task"],
                            "model": meta["model"],
                            "layer": meta["layer"],
                            "deformation": condition["deformation"],
                            "strength": np.nan
                            if condition["strength"] is None
                            else condition["strength"],
                            "probe": meta["probe"],
                            "seed": meta["seed"],
                            "metric": metric,
                            "value": value,
                        }
                    )
            advance()
    results = pd.DataFrame(rows, columns=COLUMNS)
    results = results.sort_values(COLUMNS[:-1], kind="stable", na_position="first")
    results = results.reset_index(drop=True)
    write_results(results, experiment.output_dir)
    (experiment.output_dir / "tasks.json").write_text(json.dumps(task_table(experiment), indent=2))
    return results
