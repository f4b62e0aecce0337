"""Summaries of the results table that the report's plots and tables show.

Every summary shows one *main metric* per (dataset, task) and assumes that a higher value is
better, as for all the main metrics of the built-in task types. Results may carry optional
columns that newer runs add: ``ci_low``/``ci_high`` (a bootstrap interval per row) and the
sweep axes of :data:`SWEEP_AXES`; each is used when present and ignored when absent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from mir_ref.errors import MirRefError, did_you_mean
from mir_ref.results import CLEAN, COLUMNS, WEIGHTED_LAYER

SWEEP_AXES = ("train_fraction", "hop_s", "window_s")
"""Optional result columns along which a run may sweep. Views that do not plot an axis show
its default value: the largest train fraction, the most common hop or window."""

INTERVAL = ("ci_low", "ci_high")

REQUIRED_COLUMNS = [
    "dataset", "task", "model", "layer", "deformation", "strength", "probe", "seed", "metric",
    "value",
]  # fmt: skip
"""The results columns every run since the first has; the other :data:`COLUMNS` are optional."""


def summarize(
    results: pd.DataFrame,
    main_metrics: Mapping[tuple[str, str], str],
    *,
    by: Iterable[str] = (),
    intervals: pd.DataFrame | None = None,
    selection: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Mean and spread over seeds of each task's main metric.

    Parameters
    ----------
    results : the tidy results table, with columns :data:`COLUMNS` and optionally
        ``ci_low``, ``ci_high`` and the axes of :data:`SWEEP_AXES`.
    main_metrics : ``{(dataset, task): metric}``, one entry for every (dataset, task) in
        ``results``.
    by : sweep axes to keep as columns; the rows of every other sweep axis are narrowed to
        its default value.
    intervals : the run's ``summary.csv``: its ``ci_low``, ``ci_high`` bound the mean over
        seeds (items and seeds resampled). Without it, a row's interval is its one seed's, and
        none when it has several (their average would not bound the mean).
    selection : the run's ``selection.csv``: its ``validation_value`` becomes ``validation``,
        the probe's validation main metric, by which :func:`selected_probes` chooses.

    Returns
    -------
    pandas.DataFrame
        One row per (dataset, task, model, layer, deformation, strength, probe, *by*), in the
        order the results list them, with columns ``dataset, task, column, metric, model,
        base_model, layer, deformation, strength, probe, *by*, mean, std, seeds``,
        ``validation`` (NaN without ``selection``) and, when there are intervals, ``ci_low,
        ci_high``. ``model`` reads ``model/layer`` for models with more than one layer,
        ``column`` reads ``dataset/task``, ``std`` is NaN for one seed.
    """
    by = [axis for axis in by if axis in results.columns]
    rows = default_slice(_main_metric_rows(results, main_metrics), keep=by)
    if selection is not None and "validation_value" in selection.columns:
        rows = _attach(rows, selection.rename(columns={"validation_value": "validation"}),
                       ["validation"])  # fmt: skip
    else:
        rows = rows.assign(validation=np.nan)
    has_interval = intervals is not None and set(INTERVAL) <= set(intervals.columns)
    if has_interval:
        rows = _attach(rows.drop(columns=list(INTERVAL), errors="ignore"), intervals,
                       list(INTERVAL))  # fmt: skip
    column = rows["dataset"].astype(str) + "/" + rows["task"].astype(str)
    rows = rows.assign(model=_model_labels(rows), base_model=rows["model"], column=column)
    keys = ["dataset", "task", "column", "metric", "model", "base_model", "layer"]
    keys += ["deformation", "strength", "probe", *by]
    aggregations = {
        "mean": ("value", "mean"),
        "std": ("value", "std"),
        "seeds": ("seed", "nunique"),
        "validation": ("validation", "mean"),
    }
    has_interval = has_interval or all(name in rows.columns for name in INTERVAL)
    if has_interval:
        aggregations.update({name: (name, "first") for name in INTERVAL})
    summary = rows.groupby(keys, sort=False, dropna=False).agg(**aggregations).reset_index()
    if has_interval and intervals is None:
        several = summary["seeds"] > 1
        summary.loc[several, list(INTERVAL)] = np.nan
    return summary


_RUN_KEYS = [
    "dataset", "task", "model", "layer", "deformation", "strength", "probe", "metric",
    *SWEEP_AXES,
]  # fmt: skip


def _attach(rows: pd.DataFrame, table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``rows`` with ``columns`` of a run table (``summary.csv``, ``selection.csv``) joined on
    the keys both have (a table without ``deformation`` applies to every condition)."""
    keys = [key for key in _RUN_KEYS if key in rows.columns and key in table.columns]
    table = _normalized(table[[*keys, *columns]])
    table = table.groupby(keys, dropna=False, sort=False)[columns].mean().reset_index()
    return _normalized(rows).merge(table, on=keys, how="left")


def _normalized(table: pd.DataFrame) -> pd.DataFrame:
    """Key columns as the report compares them: text names, numbers, ``none`` for clean."""
    table = table.copy()
    for name in ("dataset", "task", "model", "layer", "probe", "metric"):
        if name in table.columns:
            table[name] = table[name].astype(str)
    for name in ("strength", *SWEEP_AXES):
        if name in table.columns:
            table[name] = pd.to_numeric(table[name], errors="coerce")
    if "deformation" in table.columns:
        table["deformation"] = table["deformation"].fillna(CLEAN)
    return table


def sweep_defaults(results: pd.DataFrame, *, keep: Iterable[str] = ()) -> dict[str, float]:
    """The default value of every sweep axis that ``results`` sweeps, except ``keep``: the
    largest train fraction, the most common hop or window (the largest on a tie)."""
    keep = set(keep)
    defaults = {}
    for axis in SWEEP_AXES:
        if axis in keep or axis not in results.columns:
            continue
        values = pd.to_numeric(results[axis], errors="coerce")
        if values.nunique() <= 1:
            continue
        if axis == "train_fraction":
            defaults[axis] = values.max()
        else:
            counts = values.value_counts()
            defaults[axis] = counts[counts == counts.max()].index.max()
    return defaults


def default_slice(
    results: pd.DataFrame, *, keep: Iterable[str] = (), defaults: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """The rows of ``results`` at the default value of every sweep axis not in ``keep``
    (:func:`sweep_defaults` of ``results``, unless ``defaults`` are given)."""
    defaults = sweep_defaults(results, keep=keep) if defaults is None else defaults
    for axis, default in defaults.items():
        if axis in results.columns:
            results = results[pd.to_numeric(results[axis], errors="coerce") == default]
    return results


def selected_probes(summary: pd.DataFrame, *, by: Iterable[str] = ()) -> pd.DataFrame:
    """Each (model, dataset/task)'s probe, chosen on validation, on clean audio.

    The probe with the highest ``validation`` main metric represents the model, as the
    protocol chose each probe's hyper-parameters; the test score never chooses, so that the
    ranking and the gaps built on the choice are not biased upwards. Results without
    validation scores (runs from before ``selection.csv``) fall back to the highest test mean,
    marked in ``selected_on``.

    Parameters
    ----------
    summary : the output of :func:`summarize`.
    by : sweep axes in ``summary`` to choose at each value of (as for :func:`sweep`).

    Returns
    -------
    pandas.DataFrame
        The clean rows of ``summary`` that hold each (column, model, *by*)'s probe, with
        ``selected_on`` (``validation`` or ``test``); the first listed probe wins a tie.
    """
    clean = summary[(summary["deformation"] == CLEAN) & summary["mean"].notna()]
    if clean.empty:
        raise MirRefError(
            "the results hold no clean-audio rows (deformation 'none') with a value for the "
            "main metrics; the probe of each model is chosen on clean audio"
        )
    keys = ["column", "model", *by]
    known = clean["validation"].notna().groupby([clean[key] for key in keys], sort=False)
    on_validation = known.transform("any")
    criterion = clean["validation"].where(on_validation, clean["mean"]).fillna(-np.inf)
    chosen = criterion.groupby([clean[key] for key in keys], sort=False).idxmax()
    selected = clean.loc[chosen.to_numpy()]
    selected = selected.assign(
        selected_on=np.where(on_validation.loc[chosen.to_numpy()], "validation", "test")
    )
    return selected.reset_index(drop=True)


def ranking(
    best: pd.DataFrame,
    comparisons: pd.DataFrame | None = None,
    ranks: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per task, models from best to worst, with the gap from the winner to the runner-up.

    Parameters
    ----------
    best : the output of :func:`selected_probes`, one row per (column, model).
    comparisons : the run's ``comparisons.csv`` (paired tests between models), if any.
    ranks : the run's ``ranks.csv`` narrowed to the default sweep values, if any: the rank
        intervals, the set tied for first, and the test of each model against the first.

    Returns
    -------
    pandas.DataFrame
        ``best`` sorted by task (in order) and mean (descending), with columns ``rank`` (1 is
        best), ``gap`` (winner minus runner-up, on the winner's row), ``p_value`` (the paired
        test of exactly the winner's and the runner-up's model and probe: from ``ranks``, else
        from ``comparisons`` when both use the same probe), and from ``ranks``:
        ``rank_low``, ``rank_high`` and ``tied_for_first`` (NaN / NA without it).
    """
    order = {column: index for index, column in enumerate(dict.fromkeys(best["column"]))}
    ranked = best.assign(task_order=best["column"].map(order))
    ranked = ranked.sort_values(["task_order", "mean"], ascending=[True, False], kind="stable")
    ranked = ranked.drop(columns="task_order").reset_index(drop=True)
    ranked["rank"] = ranked.groupby("column", sort=False).cumcount() + 1
    ranked = _with_ranks(ranked, ranks)
    ranked["gap"] = np.nan
    ranked["p_value"] = np.nan
    for _, group in ranked.groupby("column", sort=False):
        if len(group) < 2:
            continue
        winner, runner_up = group.index[0], group.index[1]
        ranked.loc[winner, "gap"] = ranked.loc[winner, "mean"] - ranked.loc[runner_up, "mean"]
        if ranks is not None:
            ranked.loc[winner, "p_value"] = ranked.loc[runner_up, "p_against_first"]
        elif comparisons is not None:
            ranked.loc[winner, "p_value"] = comparison_p_value(
                comparisons, ranked.loc[winner], ranked.loc[runner_up]
            )
    return ranked.drop(columns="p_against_first")


def _with_ranks(ranked: pd.DataFrame, ranks: pd.DataFrame | None) -> pd.DataFrame:
    """``ranked`` with the rank interval, tie and test against the first from ``ranks.csv``,
    matched on dataset, task, model, layer and probe (so only for the probe shown)."""
    names = ["rank_low", "rank_high", "tied_for_first", "p_against_first"]
    if ranks is None or not {"rank_low", "tied_for_first", "p_holm"} <= set(ranks.columns):
        return ranked.assign(**{name: np.nan for name in names}).astype(
            {"tied_for_first": "boolean"}
        )
    keys = ["dataset", "task", "model", "layer", "probe"]
    found = _normalized(ranks).rename(columns={"p_holm": "p_against_first"})
    found = found[[*keys, *names]].drop_duplicates(keys)
    match = _normalized(ranked[["dataset", "task", "base_model", "layer", "probe"]])
    match = match.rename(columns={"base_model": "model"}).astype({"model": str})
    found = match.merge(found, on=keys, how="left")
    ranked = ranked.assign(**{name: found[name].to_numpy() for name in names})
    return ranked.astype({"tied_for_first": "boolean"})


_PAIR_COLUMNS = [("model_a", "model_b"), ("a", "b"), ("model_1", "model_2"), ("model", "other")]
_P_COLUMNS = ["p_holm", "p_value_holm", "p_adjusted", "p_corrected", "p_value", "p"]


def comparison_p_value(comparisons: pd.DataFrame, winner: pd.Series, runner_up: pd.Series) -> float:
    """The p-value of the paired test of ``winner`` against ``runner_up``, or NaN.

    ``comparisons.csv`` is matched by column name, so that its schema may grow: a pair of model
    columns (``model_a``/``model_b`` or alike, in either order, naming ``model`` or
    ``model/layer``), a p-value column (Holm-corrected preferred) and, when present,
    ``dataset``, ``task``, ``metric``, ``deformation`` and ``train_fraction`` filters. When
    comparisons are per probe, only a test of the two rows' own probes counts: NaN when the
    winner and the runner-up use different probes (comparisons.csv pairs models with one
    probe; ``ranks.csv`` holds the cross-probe test).

    Parameters
    ----------
    comparisons : the run's ``comparisons.csv``.
    winner, runner_up : rows of :func:`selected_probes`.
    """
    pair = next((p for p in _PAIR_COLUMNS if set(p) <= set(comparisons.columns)), None)
    p_column = next((name for name in _P_COLUMNS if name in comparisons.columns), None)
    if pair is None or p_column is None:
        return float("nan")
    rows = comparisons
    for name in ("dataset", "task", "metric"):
        if name in rows.columns:
            rows = rows[rows[name].astype(str) == str(winner[name])]
    if "deformation" in rows.columns:
        rows = rows[rows["deformation"].fillna(CLEAN) == CLEAN]
    if "train_fraction" in rows.columns and rows["train_fraction"].notna().any():
        fraction = pd.to_numeric(rows["train_fraction"], errors="coerce")
        rows = rows[fraction == fraction.max()]

    def names(row: pd.Series) -> set[str]:
        return {str(row["model"]), f"{row['base_model']}/{row['layer']}"}

    first, second = rows[pair[0]].astype(str), rows[pair[1]].astype(str)
    a, b = names(winner), names(runner_up)
    matches = rows[(first.isin(a) & second.isin(b)) | (first.isin(b) & second.isin(a))]
    if "probe" in matches.columns:
        if winner["probe"] != runner_up["probe"]:
            return float("nan")
        matches = matches[matches["probe"].astype(str) == str(winner["probe"])]
    values = pd.to_numeric(matches[p_column], errors="coerce").dropna()
    return float(values.iloc[0]) if len(values) else float("nan")


def robustness_ranking(summary: pd.DataFrame) -> pd.DataFrame:
    """How much of its clean score each model keeps under each deformation.

    Parameters
    ----------
    summary : the output of :func:`summarize`.

    Returns
    -------
    pandas.DataFrame
        One row per (column, deformation, model), using the model's probe chosen on
        validation (:func:`selected_probes`),
        with columns ``column, metric, deformation, model, clean, worst, worst_strength,
        max_drop`` (the largest relative drop, ``1 - worst / clean``) and ``area`` (the mean
        height of ``value / clean`` over the strengths, trapezoidal as in ``robustness.csv``:
        1 is no loss; NaN when the clean score is not positive); sorted per (column,
        deformation) by ``area``, most robust first. Empty when nothing is deformed.
    """
    best = selected_probes(summary)
    deformed = summary[summary["deformation"] != CLEAN].merge(
        best[["column", "model", "probe", "mean"]].rename(columns={"mean": "clean"}),
        on=["column", "model", "probe"],
    )
    deformed = deformed[deformed["mean"].notna()]
    if deformed.empty:
        return pd.DataFrame(
            columns=["column", "metric", "deformation", "model", "clean", "worst"]
            + ["worst_strength", "max_drop", "area"]
        )
    # A share of a clean score at or below 0 (an R² under the mean's) means nothing.
    relative = (deformed["mean"] / deformed["clean"]).where(deformed["clean"] > 0)
    deformed = deformed.assign(relative=relative)
    rows = []
    for (column, deformation, model), curve in deformed.groupby(
        ["column", "deformation", "model"], sort=False
    ):
        worst = curve.loc[curve["mean"].idxmin()]
        rows.append(
            {
                "column": column,
                "metric": curve["metric"].iloc[0],
                "deformation": deformation,
                "model": model,
                "clean": curve["clean"].iloc[0],
                "worst": worst["mean"],
                "worst_strength": worst["strength"],
                "max_drop": 1 - worst["relative"] if worst["clean"] > 0 else np.nan,
                "area": _mean_height(curve["strength"], curve["relative"]),
            }
        )
    table = pd.DataFrame(rows)
    order = table[["column", "deformation"]].drop_duplicates().reset_index(drop=True)
    order["group"] = order.index
    table = table.merge(order, on=["column", "deformation"])
    table = table.sort_values(
        ["group", "area"], ascending=[True, False], kind="stable", na_position="last"
    )
    return table.drop(columns="group").reset_index(drop=True)


def _mean_height(strengths: pd.Series, values: pd.Series) -> float:
    """The mean height of a curve over its strengths (trapezoids), as ``robustness.csv``'s
    ``area``; the plain mean for a single strength."""
    order = np.argsort(strengths.to_numpy(dtype=float))
    x = strengths.to_numpy(dtype=float)[order]
    y = values.to_numpy(dtype=float)[order]
    span = x[-1] - x[0] if len(x) > 1 else 0.0
    if span > 0 and np.isfinite(y).all():
        return float(np.trapezoid(y, x) / span)
    return float(np.mean(y))


def pareto_front(
    cost: Iterable[float], score: Iterable[float], *, cheap_is_low: bool
) -> np.ndarray:
    """Which points no other point beats on both cost and score (higher score is better).

    Parameters
    ----------
    cost, score : one value per point.
    cheap_is_low : a lower cost is better (parameters); otherwise a higher one (speed).

    Returns
    -------
    ``[points]`` bool: True on the Pareto front. A point is off it when another is at least
    as good on both axes and better on one.
    """
    cost = np.asarray(list(cost), dtype=float) * (1 if cheap_is_low else -1)
    score = np.asarray(list(score), dtype=float)
    better_or_equal = (cost[None, :] <= cost[:, None]) & (score[None, :] >= score[:, None])
    strictly = (cost[None, :] < cost[:, None]) | (score[None, :] > score[:, None])
    return ~(better_or_equal & strictly).any(axis=1)


def probe_kind(probe: str) -> str:
    """``linear`` for linear probes (``linear``, ``logistic``...), else the name's first word."""
    name = str(probe).split("-")[0].split("(")[0].lower()
    return "linear" if name in ("linear", "logistic") else name


def probe_size(probe: str) -> int:
    """The hidden units a probe's label names (``mlp-512-256`` → 768); 0 for linear probes."""
    if probe_kind(probe) == "linear":
        return 0
    return sum(int(number) for number in re.findall(r"\d+", str(probe)))


def nonlinearity_gap(summary: pd.DataFrame) -> pd.DataFrame:
    """Non-linear probe minus linear probe, on clean audio, per task and model.

    Each kind is represented by its probe chosen on validation (:func:`selected_probes`
    within the kind).

    Parameters
    ----------
    summary : the output of :func:`summarize`.

    Returns
    -------
    pandas.DataFrame
        Columns ``column, metric, model, linear_probe, linear, nonlinear_probe, nonlinear,
        gap``; only (task, model) pairs with both kinds of probe. A gap near 0 says the
        information is linearly separable in the embedding.
    """
    columns = ["column", "metric", "model", "linear_probe", "linear", "nonlinear_probe"]
    columns += ["nonlinear", "gap"]
    clean = summary[(summary["deformation"] == CLEAN) & summary["mean"].notna()]
    is_linear = clean["probe"].map(probe_kind) == "linear"
    if is_linear.all() or not is_linear.any():
        return pd.DataFrame(columns=columns)
    kept = ["column", "metric", "model", "probe", "mean"]
    linear = selected_probes(clean[is_linear])[kept]
    nonlinear = selected_probes(clean[~is_linear])[kept]
    pairs = linear.merge(nonlinear, on=["column", "metric", "model"], suffixes=("_l", "_n"))
    pairs = pairs.rename(
        columns={
            "probe_l": "linear_probe",
            "mean_l": "linear",
            "probe_n": "nonlinear_probe",
            "mean_n": "nonlinear",
        }
    )
    return pairs.assign(gap=pairs["nonlinear"] - pairs["linear"])[columns]


def sweep(summary: pd.DataFrame, axis: str) -> pd.DataFrame:
    """The clean-audio score at each value of ``axis`` of each model's probe chosen on
    validation at that value, per task and model.

    Parameters
    ----------
    summary : the output of :func:`summarize` with ``by=[axis]``.
    axis : a column of ``summary`` (a sweep axis).

    Returns
    -------
    pandas.DataFrame
        One row per (column, model, axis value): the row of :func:`selected_probes`.
    """
    clean = summary[(summary["deformation"] == CLEAN) & summary["mean"].notna()].copy()
    clean[axis] = pd.to_numeric(clean[axis], errors="coerce")
    clean = clean[clean[axis].notna()]
    if clean.empty:
        return clean
    chosen = selected_probes(clean, by=[axis])
    return chosen.sort_values(axis, kind="stable").reset_index(drop=True)


def layer_order(layers: Iterable[str]) -> list[str]:
    """Layer names in natural order (``layer_2`` before ``layer_10``), duplicates dropped, the
    learned weighting of all layers (``weighted``) last."""

    def natural(name: str) -> tuple[bool, list[object]]:
        parts = [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
        return name == WEIGHTED_LAYER, parts

    return sorted(dict.fromkeys(str(layer) for layer in layers), key=natural)


def _main_metric_rows(
    results: pd.DataFrame, main_metrics: Mapping[tuple[str, str], str]
) -> pd.DataFrame:
    """The rows of ``results`` that hold their (dataset, task)'s main metric."""
    missing_columns = [name for name in REQUIRED_COLUMNS if name not in results.columns]
    if missing_columns:
        raise MirRefError(
            f"the results table lacks the columns {missing_columns}; expected {COLUMNS}"
        )
    if results.empty:
        raise MirRefError("the results table is empty; there is nothing to plot")
    tasks = list(dict.fromkeys(zip(results["dataset"], results["task"], strict=True)))
    unknown = [task for task in tasks if task not in main_metrics]
    if unknown:
        raise MirRefError(
            f"main_metrics has no entry for the (dataset, task) pairs {unknown}; "
            "give one metric for each, e.g. {('gtzan', 'genre'): 'accuracy'}"
        )
    wanted = pd.DataFrame(
        [(dataset, task, main_metrics[(dataset, task)]) for dataset, task in tasks],
        columns=["dataset", "task", "metric"],
    )
    rows = results.merge(wanted, on=["dataset", "task", "metric"])
    found = set(zip(rows["dataset"], rows["task"], strict=True))
    for dataset, task, metric in wanted.itertuples(index=False):
        if (dataset, task) not in found:
            present = results.loc[
                (results["dataset"] == dataset) & (results["task"] == task), "metric"
            ].unique()
            raise MirRefError(
                f"main_metrics[('{dataset}', '{task}')]: '{metric}' is not among the metrics "
                f"in the results, {sorted(present)}{did_you_mean(metric, present)}"
            )
    # Tables read back from CSV may hold NaN for "none" and text for numbers.
    return rows.assign(
        deformation=rows["deformation"].fillna(CLEAN),
        strength=pd.to_numeric(rows["strength"], errors="coerce"),
        layer=rows["layer"].astype(str),
    )


def _model_labels(rows: pd.DataFrame) -> pd.Series:
    """``model`` for single-layer models, ``model/layer`` for models with several layers."""
    layered = rows.groupby("model")["layer"].transform("nunique") > 1
    model = rows["model"].astype(str)
    return model.where(~layered, model + "/" + rows["layer"].astype(str))
