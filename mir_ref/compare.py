"""Paired comparisons of models on the same test items, Holm-corrected over the family.

Every pair of (model, layer) that shares a dataset, task, probe, train fraction and audio
condition is one comparison; the family is every comparison of one call, and
:func:`mir_ref.stats.holm` controls its family-wise error rate. Each comparison resamples the
shared test items jointly (:func:`mir_ref.stats.paired_bootstrap`), averaging the difference
over the seeds both sides have.
"""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

from mir_ref import metrics, stats
from mir_ref.config import Experiment
from mir_ref.errors import ConfigError
from mir_ref.results import CLEAN, write_csv
from mir_ref.train import current_predictions, read_predictions

log = logging.getLogger(__name__)

COMPARISON_COLUMNS = [
    "dataset",
    "task",
    "window_s",
    "hop_s",
    "deformation",
    "strength",
    "train_fraction",
    "probe",
    "metric",
    "model_a",
    "model_b",
    "value_a",
    "value_b",
    "difference",
    "p_value",
    "p_holm",
    "significant",
    "items",
    "seeds",
]
"""Columns of ``comparisons.csv``. ``model_*`` read ``model/layer``; ``difference`` is
``value_a - value_b`` (means over the shared seeds); ``p_holm`` is the Holm-adjusted p-value
and ``significant`` is ``p_holm < alpha``."""


def compare_models(
    experiment: Experiment,
    *,
    metric: str | None = None,
    deformation: str = CLEAN,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Compare every pair of models from stored predictions; write ``comparisons.csv``.

    Parameters
    ----------
    experiment : the resolved experiment; its predictions must exist (``mir_ref train``).
    metric : the metric compared; default each task's main metric. Tasks without it are
        skipped.
    deformation : the audio condition compared (``none`` = clean), or ``all``.
    alpha : the family-wise error rate of ``significant``.

    Returns
    -------
    pandas.DataFrame
        One row per comparison, columns :data:`COMPARISON_COLUMNS`.
    """
    protocol = experiment.config.protocol
    tasks = {(d.name, t.name): t for d in experiment.datasets for t in d.tasks.values()}
    files = current_predictions(experiment)  # none made from other labels or settings
    # (dataset, task, deformation, strength, fraction, probe) → model/layer → seed → arrays
    groups: dict[tuple, dict[str, dict[int, dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for path in files:
        meta, per_condition = read_predictions(path)
        if (meta["dataset"], meta["task"]) not in tasks:
            continue
        for condition, arrays in zip(meta["conditions"], per_condition, strict=True):
            if deformation != "all" and condition["deformation"] != deformation:
                continue
            group = (
                meta["dataset"],
                meta["task"],
                meta.get("window_s"),
                meta.get("hop_s"),
                condition["deformation"],
                condition["strength"],
                meta.get("train_fraction", 1.0),
                meta["probe"],
            )
            groups[group][f"{meta['model']}/{meta['layer']}"][meta["seed"]] = arrays
    known = {name for task in tasks.values() for name in task.metrics}
    if metric is not None and metric not in known:
        raise ConfigError(
            f"--metric: '{metric}' is not a metric of any task in the config (metrics: "
            f"{', '.join(sorted(known))})"
        )
    rows = []
    for group, models in groups.items():
        task = tasks[group[:2]]
        name = metric or task.main_metric
        if name not in task.metrics:
            continue
        function = metrics.metrics_for(task)[name]
        for model_a, model_b in itertools.combinations(sorted(models), 2):
            row = _compare_pair(
                function,
                task,
                models[model_a],
                models[model_b],
                protocol.n_bootstrap,
                protocol.seed,
            )
            if row is None:
                log.warning("%s: %s and %s share no test items or seeds", group, model_a, model_b)
                continue
            dataset, task_name, window_s, hop_s, condition, strength, fraction, probe = group
            rows.append(
                {
                    "dataset": dataset,
                    "task": task_name,
                    "window_s": window_s,
                    "hop_s": hop_s,
                    "deformation": condition,
                    "strength": np.nan if strength is None else strength,
                    "train_fraction": fraction,
                    "probe": probe,
                    "metric": name,
                    "model_a": model_a,
                    "model_b": model_b,
                    **row,
                }
            )
    table = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    # A family is every model pair on one task, condition and probe: the question "which
    # model is best here". Correcting across all tasks at once would leave nothing
    # significant at the resolution of a bootstrap p-value.
    family = [
        "dataset", "task", "window_s", "hop_s", "deformation", "strength", "train_fraction",
        "probe", "metric",
    ]  # fmt: skip
    table["p_holm"] = table.groupby(family, dropna=False)["p_value"].transform(
        lambda p: stats.holm(p.to_numpy(dtype=float))
    )
    table["significant"] = table["p_holm"] < alpha
    write_csv(table, experiment.output_dir / "comparisons.csv")
    return table


def _compare_pair(
    function: metrics.Metric,
    task: Any,
    seeds_a: dict[int, dict[str, Any]],
    seeds_b: dict[int, dict[str, Any]],
    n_bootstrap: int,
    seed: int,
) -> dict[str, Any] | None:
    """Values, difference and p-value of two models on their shared items and seeds."""
    shared_seeds = sorted(set(seeds_a) & set(seeds_b))
    if not shared_seeds:
        return None
    first_a, first_b = seeds_a[shared_seeds[0]], seeds_b[shared_seeds[0]]
    ids_b = {track: row for row, track in enumerate(first_b["track_ids"])}
    rows_a = [row for row, track in enumerate(first_a["track_ids"]) if track in ids_b]
    if not rows_a:
        return None
    rows_b = [ids_b[first_a["track_ids"][row]] for row in rows_a]
    y_true = first_a["y_true"][rows_a]
    scores_a = [seeds_a[s]["y_score"][rows_a] for s in shared_seeds]
    scores_b = [seeds_b[s]["y_score"][rows_b] for s in shared_seeds]
    difference, p_value = stats.paired_bootstrap(
        function, y_true, scores_a, scores_b, task, n_bootstrap=max(n_bootstrap, 1), seed=seed
    )
    return {
        "value_a": float(np.mean([function(y_true, s, task) for s in scores_a])),
        "value_b": float(np.mean([function(y_true, s, task) for s in scores_b])),
        "difference": difference,
        "p_value": p_value,
        "items": len(rows_a),
        "seeds": len(shared_seeds),
    }
