"""Models compared on the same test items: paired tests (``comparisons.csv``) and rank
intervals (``ranks.csv``).

Every (model, layer) that shares a dataset, task, embedding density, train fraction and audio
condition is scored on the same bootstrap resamples of the shared test items, or of their
groups when the dataset declares groups (:func:`mir_ref.plan.groups_of_test_tracks`).
Each entry's seeds are drawn too, so that a difference reflects both test-set and training variance
(:mod:`mir_ref.stats`). A family of tests is Holm-corrected and gets enough resamples for its
p-values to reach its alpha (:func:`mir_ref.stats.family_resamples`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mir_ref import metrics, stats
from mir_ref.bootstrap import cluster_codes
from mir_ref.errors import ConfigError
from mir_ref.evaluate import item_groups, shared_items
from mir_ref.experiment import Experiment
from mir_ref.plan import current_predictions, groups_of_test_tracks
from mir_ref.predictions import read_predictions
from mir_ref.results import CLEAN, write_csv
from mir_ref.tasks import Task

log = logging.getLogger(__name__)

FAMILY_COLUMNS = [
    "dataset", "task", "window_s", "hop_s", "deformation", "strength", "train_fraction",
]  # fmt: skip
"""What the models of one comparison share, besides the probe and the metric."""

COMPARISON_COLUMNS = [
    *FAMILY_COLUMNS,
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
    "groups",
    "resamples",
]
"""Columns of ``comparisons.csv``. ``model_*`` read ``model/layer``; ``value_*`` are means over
each side's seeds and ``difference`` is ``value_a - value_b``; ``p_holm`` is the Holm-adjusted
p-value and ``significant`` is ``p_holm < alpha`` (both empty with ``n_bootstrap: 0``);
``seeds`` is the smaller of the two sides' seed counts; ``groups`` is the number of test groups
resampled (empty when the tracks declare none and items are resampled); ``resamples`` is the
family's bootstrap resamples."""

RANK_COLUMNS = [
    "dataset", "task", "window_s", "hop_s", "train_fraction", "metric", "model", "layer",
    "probe", "validation", "mean", "rank", "rank_low", "rank_high", "p_value", "p_holm",
    "tied_for_first", "items", "seeds", "groups", "resamples",
]  # fmt: skip
"""Columns of ``ranks.csv``: per task, density and train fraction, on clean audio, each (model,
layer) with the ``probe`` that has the highest ``validation`` main metric; ``mean`` is its test
main metric (mean over seeds), ``rank`` its place by ``mean`` (1 is best), ``rank_low`` /
``rank_high`` the 95 % bootstrap interval of its rank, ``p_value`` / ``p_holm`` its paired test
against rank 1 (Holm over the task's other entries) and ``tied_for_first`` whether that
difference is not significant (rank 1 itself is)."""


@dataclass
class _Entry:
    """One (model, layer, probe) of a family: its stored predictions per seed."""

    validation: float = float("nan")
    seeds: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)


_Family = dict[tuple[str, str, str], _Entry]
"""``{(model, layer, probe): entry}`` sharing the :data:`FAMILY_COLUMNS`."""


def compare_models(
    experiment: Experiment,
    *,
    metric: str | None = None,
    deformation: str = CLEAN,
    alpha: float = 0.05,
    files: list[Path] | None = None,
) -> pd.DataFrame:
    """Compare every pair of models from stored predictions; write ``comparisons.csv``.

    A family is every model pair on one dataset, task, density, condition, train fraction and
    probe: the question "which model is best here". Correcting across all tasks at once would
    ask a question nobody asks and cost power.

    Parameters
    ----------
    experiment : the resolved experiment; its predictions must exist (``mir_ref train``).
    metric : the metric compared; default each task's main metric. Tasks without it are
        skipped.
    deformation : the audio condition compared (``none`` = clean), or ``all``.
    alpha : the family-wise error rate of ``significant``.
    files : the predictions files to compare; default those the config asks for, each
        checked to be current (:func:`~mir_ref.plan.current_predictions`). A merged run
        gives the files its runs had checked.

    Returns
    -------
    pandas.DataFrame
        One row per comparison, columns :data:`COMPARISON_COLUMNS`.
    """
    protocol = experiment.config.protocol
    tasks = {(d.name, t.name): t for d in experiment.datasets for t in d.tasks.values()}
    known = {name for task in tasks.values() for name in task.metrics}
    if metric is not None and metric not in known:
        raise ConfigError(
            f"--metric: '{metric}' is not a metric of any task in the config (metrics: "
            f"{', '.join(sorted(known))})"
        )
    if protocol.n_bootstrap == 0:
        log.warning(stats.NO_BOOTSTRAP)
    groups = groups_of_test_tracks(experiment)
    tables = []
    for family, entries in _stored(experiment, deformation, files).items():
        task = tasks[family[:2]]
        name = metric or task.main_metric
        if name not in task.metrics:
            continue
        function = metrics.metrics_for(task)[name]
        for probe in dict.fromkeys(key[2] for key in entries):
            models = dict(
                sorted(
                    (f"{model}/{layer}", entry.seeds)
                    for (model, layer, entry_probe), entry in entries.items()
                    if entry_probe == probe
                )
            )
            if len(models) < 2:
                continue
            tested = _family_test(
                stats.paired_tests, function, task, models, family, groups, experiment, alpha
            )
            if tested is None:
                continue
            table, seeds = tested
            pairs = zip(table.model_a, table.model_b, strict=True)
            table = table.assign(
                probe=probe, metric=name, seeds=[min(seeds[a], seeds[b]) for a, b in pairs]
            )
            tables.append(table)
    table = _table(tables, COMPARISON_COLUMNS)
    write_csv(table, experiment.output_dir / "comparisons.csv")
    return table


def rank_models(
    experiment: Experiment, *, alpha: float = 0.05, files: list[Path] | None = None
) -> pd.DataFrame:
    """Rank every (model, layer) per task on clean audio with rank intervals; write
    ``ranks.csv``.

    Each (model, layer) is represented by the probe with the highest validation main metric
    (as recorded in its predictions: the protocol's selection, never the test score; the
    first probe of the config wins a tie). The entries of one dataset, task, density and train
    fraction are then ranked by their test main metric with :func:`mir_ref.stats.rank_entries`.

    Parameters
    ----------
    experiment : the resolved experiment; its predictions must exist.
    alpha : the family-wise error rate of ``tied_for_first``.
    files : the predictions files to rank, as for :func:`compare_models`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RANK_COLUMNS`, entries of each family in rank order.
    """
    tasks = {(d.name, t.name): t for d in experiment.datasets for t in d.tasks.values()}
    probe_order = {probe.label(): index for index, probe in enumerate(experiment.probes)}
    groups = groups_of_test_tracks(experiment)
    tables = []
    for family, entries in _stored(experiment, CLEAN, files).items():
        task = tasks[family[:2]]
        selected = _selected_on_validation(entries, probe_order)
        chosen = {f"{model}/{layer}": (model, layer, probe) for model, layer, probe in selected}
        tested = _family_test(
            stats.rank_entries,
            metrics.metrics_for(task)[task.main_metric],
            task,
            {name: entries[key].seeds for name, key in chosen.items()},
            family,
            groups,
            experiment,
            alpha,
        )
        if tested is None:
            continue
        table, seeds = tested
        names = table["model"]
        table = table.assign(
            metric=task.main_metric,
            layer=[chosen[name][1] for name in names],
            probe=[chosen[name][2] for name in names],
            validation=[entries[chosen[name]].validation for name in names],
            seeds=[seeds[name] for name in names],
            model=[chosen[name][0] for name in names],
        )
        tables.append(table)
    table = _table(tables, RANK_COLUMNS)
    write_csv(table, experiment.output_dir / "ranks.csv")
    return table


def _stored(
    experiment: Experiment, deformation: str, files: list[Path] | None
) -> dict[tuple, _Family]:
    """The stored predictions of the config's tasks under ``deformation`` (or ``all``), by
    family (:data:`FAMILY_COLUMNS`): ``files``, else the current ones the config asks for."""
    tasks = {(d.name, t.name) for d in experiment.datasets for t in d.tasks.values()}
    if files is None:
        files = current_predictions(experiment)  # none made from other labels or settings
    families: dict[tuple, _Family] = defaultdict(dict)
    for path in files:
        meta, per_condition = read_predictions(path)
        if (meta["dataset"], meta["task"]) not in tasks:
            continue
        for condition, arrays in zip(meta["conditions"], per_condition, strict=True):
            if deformation != "all" and condition["deformation"] != deformation:
                continue
            strength = condition["strength"]
            family = (
                meta["dataset"],
                meta["task"],
                meta.get("window_s"),
                meta.get("hop_s"),
                condition["deformation"],
                np.nan if strength is None else strength,
                meta.get("train_fraction", 1.0),
            )
            key = (str(meta["model"]), str(meta["layer"]), meta["probe"])
            entry = families[family].setdefault(key, _Entry(_validation(meta)))
            entry.seeds[meta["seed"]] = arrays
    return families


def _family_test(
    test: Callable[..., pd.DataFrame],
    function: metrics.Metric,
    task: Task,
    models: dict[str, dict[int, dict[str, np.ndarray]]],
    family: tuple,
    groups: dict[str, dict[str, str | None]],
    experiment: Experiment,
    alpha: float,
) -> tuple[pd.DataFrame, dict[str, int]] | None:
    """``test`` (:func:`~mir_ref.stats.paired_tests` or :func:`~mir_ref.stats.rank_entries`)
    of ``models`` on their shared test items, with the family's columns, ``items`` and
    ``groups``; and each model's seed count. None when the models share no items."""
    shared = _shared_items(models, family)
    if shared is None:
        return None
    track_ids, y_true, scores = shared
    item_group = item_groups(groups, family[0], track_ids)
    protocol = experiment.config.protocol
    table = test(
        function,
        y_true,
        scores,
        task,
        n_bootstrap=protocol.n_bootstrap,
        alpha=alpha,
        seed=protocol.seed,
        groups=item_group,
    )
    table = table.assign(
        **dict(zip(FAMILY_COLUMNS, family, strict=True)),
        items=len(track_ids),
        groups=_group_count(item_group),
    )
    return table, {model: len(per_seed) for model, per_seed in scores.items()}


def _validation(meta: dict[str, Any]) -> float:
    """The validation main metric of the setting a predictions file's probe selected."""
    selection = meta.get("selection")
    if not selection:
        return float("nan")
    for entry in selection["grid"]:
        if entry["setting"] == selection["selected"]:
            return float("nan") if entry["validation"] is None else float(entry["validation"])
    return float("nan")


def _selected_on_validation(
    entries: _Family, probe_order: dict[str, int]
) -> list[tuple[str, str, str]]:
    """``(model, layer, probe)`` for each (model, layer): the probe with the highest
    validation value (NaN lowest; the config's first probe wins a tie)."""
    best: dict[tuple[str, str], tuple[str, str, str]] = {}
    for key in sorted(entries, key=lambda k: (probe_order.get(k[2], len(probe_order)), k)):
        current = best.get(key[:2])
        value = entries[key].validation
        if current is None or (
            np.isfinite(value)
            and not entries[current].validation >= value  # also when the current is NaN
        ):
            best[key[:2]] = key
    return [best[key] for key in sorted(best)]


def _shared_items(
    models: dict[str, dict[int, dict[str, np.ndarray]]], family: tuple
) -> tuple[np.ndarray, np.ndarray, dict[str, list[np.ndarray]]] | None:
    """:func:`~mir_ref.evaluate.shared_items` of the models' seeds (in seed order), with a
    warning when some items are left out; None when they share none."""
    in_order = {name: [per_seed[s] for s in sorted(per_seed)] for name, per_seed in models.items()}
    track_ids, y_true, scores = shared_items(in_order)
    if len(track_ids) == 0:
        log.warning("%s: the models %s share no test items", family, sorted(models))
        return None
    if any(len(entry["track_ids"]) != len(track_ids) for e in in_order.values() for entry in e):
        log.warning("%s: comparing on the %d test items every model scored", family, len(track_ids))
    return track_ids, y_true, scores


def _group_count(item_group: list[str | None] | None) -> float:
    """The number of groups the bootstrap draws from, or NaN when it draws items."""
    codes = cluster_codes(item_group)
    return float("nan") if codes is None else float(codes.max() + 1)


def _table(tables: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """The families' tables as one, in ``columns``' order (empty with those columns)."""
    if not tables:
        return pd.DataFrame(columns=columns)
    return pd.concat(tables, ignore_index=True)[columns]
