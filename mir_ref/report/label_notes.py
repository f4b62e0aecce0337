"""Notes on what a robustness row measured, for the report: which deformations scored the
clean labels (``labels: keep``), test items left out because their shifted label is not a
class, and the SNR each model heard in its own band under each noise condition (all from
``robustness.csv``)."""

from __future__ import annotations

import textwrap

import pandas as pd

from mir_ref.report import tables
from mir_ref.report.run_folder import RunFolder


def best_rows(best: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``table`` (a ``robustness.csv``-like table) for each model's probe chosen
    on validation (``best``, from :func:`~mir_ref.report.tables.selected_probes`) at the
    default sweep settings, with the report's ``column``, ``model`` (``model/layer`` for
    models with several layers) and ``base_model`` labels."""
    table = tables.default_slice(table).assign(layer=lambda t: t["layer"].astype(str))
    best = best[["dataset", "task", "column", "model", "base_model", "layer", "probe"]]
    best = best.rename(columns={"model": "label"}).assign(layer=lambda t: t["layer"].astype(str))
    merged = table.merge(
        best,
        left_on=["dataset", "task", "model", "layer", "probe"],
        right_on=["dataset", "task", "base_model", "layer", "probe"],
    )
    return merged.drop(columns="model").rename(columns={"label": "model"})


def robustness_notes(folder: RunFolder, best: pd.DataFrame, column: str) -> str:
    """Sentences for a task's robustness plot: which deformations scored the clean labels,
    items left out, and the SNR each model heard under each noise condition."""
    rows = _task_rows(folder, best, column)
    if rows is None:
        return ""
    notes = []
    kept = sorted(set(rows.loc[rows["labels"] == "keep", "deformation"]))
    if kept:
        notes.append(
            f"Scored against the clean labels (labels: keep): {', '.join(kept)}; under every "
            "other deformation the labels follow the audio (a C shifted up a semitone is "
            "scored as a C#)."
        )
    left_out = rows[rows["items_left_out"].fillna(0) > 0].drop_duplicates(
        ["deformation", "strength"]
    )
    if not left_out.empty:
        listed = ", ".join(
            f"{row.deformation} at {row.strength:g}: {int(row.items_left_out)}"
            for row in left_out.itertuples(index=False)
        )
        notes.append(f"Test items left out because their shifted label is not a class: {listed}.")
    for deformation, heard in _in_band(rows).items():
        if isinstance(heard, pd.Series):
            listed = ", ".join(f"{model} {offset:+.1f} dB" for model, offset in heard.items())
            listed = f"relative to the nominal SNR on the axis: {listed}"
        else:
            listed = heard
        notes.append(
            f"{deformation}: the SNR each model hears in its own band, {listed} (noise is "
            "added at the file's rate; a model that resamples lower never hears the noise "
            "above its band)."
        )
    return " ".join(notes)


def axis_notes(folder: RunFolder, best: pd.DataFrame, column: str) -> dict[str, str]:
    """Per noise deformation of a task whose strength is the nominal SNR, a short line for
    its plot's axis: each model's in-band SNR relative to it, models with one offset together."""
    rows = _task_rows(folder, best, column)
    if rows is None:
        return {}
    out = {}
    for deformation, heard in _in_band(rows).items():
        if not isinstance(heard, pd.Series):
            continue
        by_offset: dict[str, list[str]] = {}
        for model, offset in heard.round(1).items():
            by_offset.setdefault(f"{offset + 0.0:+.1f} dB", []).append(str(model))
        text = "in band: " + "; ".join(
            f"{offset} {', '.join(models)}" for offset, models in by_offset.items()
        )
        out[deformation] = textwrap.fill(text, 34, break_on_hyphens=False)
    return out


def _task_rows(folder: RunFolder, best: pd.DataFrame, column: str) -> pd.DataFrame | None:
    """``robustness.csv``'s rows of one task for the best probes; None for a run from before
    the notes were recorded."""
    table = folder.table("robustness.csv")
    if table is None or not {"labels", "in_band_snr_db"} <= set(table.columns):
        return None
    rows = best_rows(best, table)
    return rows[rows["column"] == column]


def _in_band(rows: pd.DataFrame) -> dict[str, pd.Series | str]:
    """Per noise deformation, each (base) model's in-band SNR: its offset from the strength
    (a Series by model) when the strength is the nominal SNR, else the values per strength
    as text."""
    noisy = rows[rows["in_band_snr_db"].notna()].drop_duplicates(
        ["deformation", "strength", "base_model"]
    )
    out: dict[str, pd.Series | str] = {}
    for deformation, group in noisy.groupby("deformation", sort=False):
        offsets = (group["in_band_snr_db"] - group["strength"]).groupby(
            group["base_model"], sort=False
        )
        if (offsets.max() - offsets.min()).max() <= 0.05:
            out[deformation] = offsets.mean()
            continue
        per_model = group.sort_values("strength").groupby("base_model", sort=False)
        listed = "; ".join(
            f"{model} " + " / ".join(f"{value:.1f}" for value in part["in_band_snr_db"])
            for model, part in per_model
        )
        strengths = " / ".join(f"{value:g}" for value in sorted(group["strength"].unique()))
        out[deformation] = f"in dB at strengths {strengths}: {listed}"
    return out
