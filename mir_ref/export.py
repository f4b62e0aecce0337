"""Paper-ready tables of a run, written as LaTeX (booktabs), Markdown or CSV by
:mod:`mir_ref.table_formats`.

The *main* table is model × task: each cell is the mean over seeds of one metric (default each
task's main metric) with its 95 % interval (or ± the std over seeds), for the probe chosen on
validation as the report chooses it. Per task the best mean is bold and the entries
statistically tied with it are marked: from ``ranks.csv`` (rank intervals, clean audio, main
metric) when the table shows that, else from the paired tests of ``comparisons.csv`` when they
cover the table's metric and condition. The *robustness* table is model × deformation strength
per task, each cell the score and its change from clean. A footnote states the protocol.
Everything is read from the run folder; nothing is recomputed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml

from mir_ref.errors import MirRefError, did_you_mean
from mir_ref.report import plots, tables
from mir_ref.report.run_folder import RunFolder
from mir_ref.results import CLEAN
from mir_ref.table_formats import PaperTable

TABLES = ("main", "robustness")
Spread = Literal["ci", "std"]

DAGGER = "†"


def export_table(
    run: str | Path,
    *,
    table: str = "main",
    metric: str | None = None,
    deformation: str = CLEAN,
    strength: float | None = None,
    spread: Spread = "ci",
    digits: int = 3,
) -> PaperTable:
    """Build the main or robustness table of a run folder.

    Parameters
    ----------
    run : the run's output folder (a merged one too, :mod:`mir_ref.merge`).
    table : ``main`` (model × task) or ``robustness`` (model × deformation strength per task).
    metric : the metric shown (default each task's main metric); tasks without it are left
        out. The probe is chosen on the validation main metric whatever is shown.
    deformation : ``main`` only: the audio condition, ``none`` (clean) or a deformation's
        name as in ``results.csv``; ``strength`` picks its strength when it has several.
    spread : ``ci`` (the 95 % interval of the mean over seeds) or ``std`` (± std over seeds).
    digits : decimals of every value.
    """
    folder = RunFolder(run)
    if table not in TABLES:
        raise MirRefError(f"--table: {table!r} is not one of {', '.join(TABLES)}")
    if spread not in ("ci", "std"):
        raise MirRefError(f"--spread: {spread!r} is not one of ci, std")
    chosen, cells = _cells(folder, metric)
    if table == "robustness":
        return _robustness(folder, chosen, cells, digits=digits)
    return _main(folder, chosen, cells, deformation, strength, spread=spread, digits=digits)


def _summary(folder: RunFolder, metrics: dict[tuple[str, str], str]) -> pd.DataFrame:
    return tables.summarize(
        folder.results,
        metrics,
        intervals=folder.table("summary.csv"),
        selection=folder.table("selection.csv"),
    )


def _cells(folder: RunFolder, metric: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The probe chosen per (task, model) on the validation main metric, and the summary
    rows of the metric shown for those probes (every condition)."""
    chosen = tables.selected_probes(_summary(folder, folder.main_metrics))
    if metric is None:
        shown = folder.main_metrics
    else:
        results = folder.results
        shown = {
            key: metric
            for key in folder.main_metrics
            if ((results["dataset"] == key[0]) & (results["task"] == key[1])
                & (results["metric"] == metric)).any()
        }  # fmt: skip
        if not shown:
            known = sorted(set(folder.results["metric"]))
            raise MirRefError(
                f"--metric: '{metric}' is in no task's results{did_you_mean(metric, known)} "
                f"(metrics: {', '.join(known)})"
            )
    summary = _summary(folder, shown)
    keys = ["column", "model", "probe"]
    cells = summary.merge(chosen[keys], on=keys)
    return chosen[chosen["column"].isin(set(cells["column"]))], cells


def _main(
    folder: RunFolder,
    chosen: pd.DataFrame,
    cells: pd.DataFrame,
    deformation: str,
    strength: float | None,
    *,
    spread: Spread,
    digits: int,
) -> PaperTable:
    condition = cells[cells["deformation"] == deformation]
    if condition.empty:
        known = sorted(set(cells["deformation"]))
        raise MirRefError(
            f"--deformation: '{deformation}' is not a condition of the results"
            f"{did_you_mean(deformation, known)} (conditions: {', '.join(known)})"
        )
    strengths = sorted(condition["strength"].dropna().unique())
    if strength is None and len(strengths) > 1:
        raise MirRefError(
            f"--strength: '{deformation}' has several strengths, "
            f"{', '.join(f'{s:g}' for s in strengths)}; pick one"
        )
    if strength is not None:
        if not np.isclose(strengths, strength).any():
            raise MirRefError(
                f"--strength: {strength:g} is not a strength of '{deformation}' "
                f"({', '.join(f'{s:g}' for s in strengths) or 'it has none'})"
            )
        condition = condition[np.isclose(condition["strength"], strength)]
    columns = list(dict.fromkeys(chosen["column"]))
    models = list(dict.fromkeys(chosen["model"]))
    metrics = condition.groupby("column", sort=False)["metric"].first()
    columns = [column for column in columns if column in metrics.index]
    ties, tie_source = _ties(folder, condition, deformation)
    rows, bold, tidy = [], [], []
    for model in models:
        row, row_bold = [model], [False]
        for column in columns:
            found = condition[(condition["column"] == column) & (condition["model"] == model)]
            if found.empty:
                row.append("–")
                row_bold.append(False)
                continue
            entry = found.iloc[0]
            best = entry["mean"] == condition.loc[condition["column"] == column, "mean"].max()
            tied = ties.get((column, model))
            text = _value(entry, spread=spread, digits=digits)
            if tied and not best:
                text = text.replace(" ", f"{DAGGER} ", 1) if " " in text else text + DAGGER
            row.append(text)
            row_bold.append(bool(best))
            tidy.append(
                {
                    "task": column,
                    "metric": entry["metric"],
                    "model": model,
                    "probe": entry["probe"],
                    "deformation": deformation,
                    "strength": entry["strength"],
                    "mean": entry["mean"],
                    "ci_low": entry.get("ci_low", np.nan),
                    "ci_high": entry.get("ci_high", np.nan),
                    "std": entry["std"],
                    "seeds": entry["seeds"],
                    "best": bool(best),
                    "tied_with_best": tied,
                }
            )
        rows.append(row)
        bold.append(row_bold)
    where = "clean audio" if deformation == CLEAN else f"{deformation}"
    if strength is not None or strengths:
        where += f" at {(strength if strength is not None else strengths[0]):g}"
    caption = f"Per model and task, {_metric_phrase(metrics)} on {where}."
    notes = [_protocol(folder, columns), _spread_note(folder, condition, spread)]
    notes.append(
        f"Bold: the best mean per task; {DAGGER}: statistically tied with it ({tie_source})."
        if tie_source
        else "Bold: the best mean per task; ties with it were not tested for this metric "
        "and condition (`mir_ref compare --metric ... --deformation ...` tests them)."
    )
    return PaperTable(
        caption=caption,
        header=[["model", *columns], ["", *(str(metrics[c]) for c in columns)]],
        rows=rows,
        bold=bold,
        footnote=" ".join(notes),
        tidy=pd.DataFrame(tidy),
    )


def _metric_phrase(metrics: pd.Series) -> str:
    names = sorted(set(metrics))
    if len(names) == 1:
        return f"{names[0]} (mean over seeds)"
    return "each task's metric (below its name; mean over seeds)"


def _value(entry: pd.Series, *, spread: Spread, digits: int) -> str:
    """``mean [low, high]``, ``mean ± std`` or the mean alone (what the run has)."""
    mean = f"{entry['mean']:.{digits}f}"
    low, high = entry.get("ci_low", np.nan), entry.get("ci_high", np.nan)
    if spread == "ci" and pd.notna(low) and pd.notna(high):
        return f"{mean} [{low:.{digits}f}, {high:.{digits}f}]"
    if spread == "std" and pd.notna(entry["std"]):
        return f"{mean} ± {entry['std']:.{digits}f}"
    return mean


def _ties(
    folder: RunFolder, condition: pd.DataFrame, deformation: str
) -> tuple[dict[tuple[str, str], bool], str]:
    """``{(column, model): tied with the task's best}`` and where that comes from; empty
    when the run holds no test of the table's metric and condition."""
    ranks = folder.table("ranks.csv")
    main = all(
        condition.loc[condition["column"] == c.column, "metric"].iloc[0] == c.main_metric
        for c in folder.tasks.values()
        if c.column in set(condition["column"])
    )
    if deformation == CLEAN and main and ranks is not None and "tied_for_first" in ranks:
        defaults = tables.sweep_defaults(folder.results)
        ranked = tables.ranking(condition, None, tables.default_slice(ranks, defaults=defaults))
        found = {
            (row.column, row.model): bool(row.tied_for_first)
            for row in ranked.itertuples(index=False)
            if pd.notna(row.tied_for_first)
        }
        if found:
            return found, (
                "paired bootstrap test against the best, Holm-corrected per task at α = 0.05; "
                "ranks.csv"
            )
    comparisons = folder.table("comparisons.csv")
    if comparisons is None or "significant" not in comparisons:
        return {}, ""
    found = {}
    for column, group in condition.groupby("column", sort=False):
        best = group.loc[group["mean"].idxmax()]
        for entry in group.itertuples(index=False):
            if entry.model == best["model"]:
                continue
            match = _comparison(comparisons, best, entry._asdict())
            if match is not None:
                found[(column, entry.model)] = not bool(match)
    if not found:
        return {}, ""
    return found, "paired bootstrap test, Holm-corrected per task at α = 0.05; comparisons.csv"


def _comparison(comparisons: pd.DataFrame, best: pd.Series, other: dict[str, Any]) -> Any:
    """The ``significant`` of the paired test of ``best`` and ``other`` (same probe, metric
    and condition), or None when ``comparisons.csv`` lacks it."""
    if best["probe"] != other["probe"]:
        return None

    def label(entry: Any) -> str:
        model, layer = str(entry["base_model"]), str(entry["layer"])
        return f"{model}/{layer}"

    rows = comparisons[
        (comparisons["dataset"].astype(str) == str(best["dataset"]))
        & (comparisons["task"].astype(str) == str(best["task"]))
        & (comparisons["probe"].astype(str) == str(best["probe"]))
        & (comparisons["metric"].astype(str) == str(best["metric"]))
        & (comparisons["deformation"].fillna(CLEAN).astype(str) == str(best["deformation"]))
    ]
    strength = pd.to_numeric(rows["strength"], errors="coerce")
    rows = rows[
        (strength.isna() & pd.isna(best["strength"])) | np.isclose(strength, best["strength"])
    ]
    pair = {label(best), label(other)}
    for row in rows.itertuples(index=False):
        if {row.model_a, row.model_b} == pair and pd.notna(row.significant):
            return bool(row.significant)
    return None


def _protocol(folder: RunFolder, columns: list[str]) -> str:
    """Probe, grid, seeds and test items, from the run's config and ``ranks.csv``."""
    config = yaml.safe_load(folder.text("config.yml") or "") or {}
    protocol = config.get("protocol") or {}
    probes = sorted(set(folder.results["probe"].astype(str)))
    text = (
        f"Probe{'s' if len(probes) > 1 else ''}: {', '.join(probes)}"
        + (", the one with the best validation score per model and task" if len(probes) > 1 else "")
        + "; "
    )
    grid = protocol.get("grid") or {}
    if grid:
        text += "hyper-parameters chosen on validation from " + "; ".join(
            f"{name} ∈ {{{', '.join(_plain(v) for v in values)}}}" for name, values in grid.items()
        )
    elif protocol:
        text += (
            f"learning rate {_plain(protocol.get('learning_rate'))}, weight decay "
            f"{_plain(protocol.get('weight_decay'))}"
        )
    if protocol:
        text += (
            f", up to {protocol.get('epochs')} epochs with early stopping (patience "
            f"{protocol.get('patience')}); {protocol.get('seeds')} seed(s) each."
        )
    else:
        text += "protocol not recorded (no config.yml)."
    items = _test_items(folder, columns)
    if items:
        text += " Test items: " + ", ".join(f"{column} {count}" for column, count in items.items())
        text += "."
    return text


def _test_items(folder: RunFolder, columns: list[str]) -> dict[str, int]:
    ranks = folder.table("ranks.csv")
    found: dict[str, int] = {}
    if ranks is not None and "items" in ranks:
        for row in ranks.itertuples(index=False):
            column = f"{row.dataset}/{row.task}"
            if column in columns and pd.notna(row.items):
                found.setdefault(column, int(row.items))
    record = folder.json("provenance.json") or {}
    for column in columns:
        dataset = column.split("/", 1)[0]
        tests = (record.get("datasets", {}).get(dataset) or {}).get("tracks", {}).get("test")
        if column not in found and tests is not None:
            found[column] = int(tests)
    return {column: found[column] for column in columns if column in found}


def _spread_note(folder: RunFolder, cells: pd.DataFrame, spread: Spread) -> str:
    config = yaml.safe_load(folder.text("config.yml") or "") or {}
    resamples = (config.get("protocol") or {}).get("n_bootstrap")
    has_ci = "ci_low" in cells and cells["ci_low"].notna().any()
    if spread == "ci" and has_ci:
        several = (cells["seeds"] > 1).any()
        return (
            "Brackets: the 95 % interval of the mean, "
            + (
                "a two-level bootstrap over test items (or their groups) and seeds"
                if several
                else "a percentile bootstrap over test items (or their groups)"
            )
            + (f", {resamples} resamples." if resamples else ".")
        )
    if (cells["seeds"] > 1).any():
        return "± the standard deviation over seeds."
    return "One seed and no bootstrap: no spread shown."


def _robustness(
    folder: RunFolder, chosen: pd.DataFrame, cells: pd.DataFrame, *, digits: int
) -> PaperTable:
    deformed = cells[cells["deformation"] != CLEAN]
    if deformed.empty:
        raise MirRefError("--table robustness: the run has no deformed conditions")
    conditions = list(
        dict.fromkeys(zip(deformed["deformation"], deformed["strength"], strict=True))
    )
    conditions.sort(key=lambda c: (list(dict.fromkeys(deformed["deformation"])).index(c[0]),
                                   -math.inf if pd.isna(c[1]) else c[1]))  # fmt: skip
    clean = cells[cells["deformation"] == CLEAN].set_index(["column", "model"])["mean"]
    rows, bold, tidy, groups = [], [], [], []
    for column in dict.fromkeys(chosen["column"]):
        groups.append(len(rows))
        for index, model in enumerate(
            dict.fromkeys(chosen.loc[chosen["column"] == column, "model"])
        ):
            base = clean.get((column, model), np.nan)
            row = [column if index == 0 else "", model, _number(base, digits)]
            for deformation, strength in conditions:
                found = deformed[
                    (deformed["column"] == column) & (deformed["model"] == model)
                    & (deformed["deformation"] == deformation)
                    & ((deformed["strength"] == strength)
                       | (deformed["strength"].isna() & pd.isna(strength)))
                ]  # fmt: skip
                if found.empty:
                    row.append("–")
                    continue
                value = float(found["mean"].iloc[0])
                drop = (base - value) / abs(base) if base and np.isfinite(base) else np.nan
                text = _number(value, digits)
                if np.isfinite(drop):
                    change = round(-100 * drop) + 0  # + 0: no "-0"
                    text += f" ({'+' if change >= 0 else '−'}{abs(change)}%)"
                row.append(text)
                tidy.append(
                    {
                        "task": column,
                        "metric": found["metric"].iloc[0],
                        "model": model,
                        "probe": found["probe"].iloc[0],
                        "deformation": deformation,
                        "strength": strength,
                        "value": value,
                        "clean": base,
                        "relative_drop": drop,
                    }
                )
            rows.append(row)
            bold.append([False] * len(row))
    header = [
        ["task", "model", "clean", *(deformation for deformation, _ in conditions)],
        ["", "", "", *("" if pd.isna(s) else f"{s:g}" for _, s in conditions)],
    ]
    units = {
        deformation: plots.deformation_class(deformation).strength_label
        for deformation, _ in conditions
    }
    footnote = (
        "Each cell: the mean over seeds under the deformation at the strength below its name ("
        + "; ".join(f"{name}: {unit}" for name, unit in units.items())
        + "), and in brackets its change from the clean score, (value − clean) / |clean|. "
        + _protocol(folder, list(dict.fromkeys(chosen["column"])))
        + " Probes are trained on clean audio."
    )
    metrics = cells.groupby("column", sort=False)["metric"].first()
    return PaperTable(
        caption=f"Robustness: {_metric_phrase(metrics)} per deformation strength.",
        header=header,
        rows=rows,
        bold=bold,
        footnote=footnote,
        tidy=pd.DataFrame(tidy),
        label_columns=2,
        groups=groups[1:],
    )


def _number(value: float, digits: int) -> str:
    return "–" if not np.isfinite(value) else f"{value:.{digits}f}"


def _plain(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
