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
    """The rows of ``table`` (a ``robustness.csv``-like table) for each model's best clean
    probe (``best``, from :func:`~mir_ref.report.tables.best_clean_probes`) at the default
    sweep settings, with the report's ``column`` and ``model`` labels."""
    table = tables.default_slice(table).assign(layer=lambda t: t["layer"].astype(str))
    best = best[["dataset", "task", "column", "model", "base_model", "layer", "probe"]]
    best = best.rename(columns={"model": "label"}).assign(layer=lambda t: t["layer"].astype(str))
    merged = table.merge(
        best,
        left_on=["dataset", "task", "model", "layer", "probe"],
        right_on=["dataset", "task", "base_model", "layer", "probe"],
    )
    return merged.drop(columns=["model", "base_model"]).rename(columns={"label": "model"})


def robustness_notes(folder: RunFolder, best: pd.DataFrame, column: str) -> str:
    """Sentences for a task's robustness plot: which deformations scored kept labels, items
    left out, and the SNR each model heard under each noise condition."""
    table = folder.table("robustness.csv")
    if table is None or "labels" not in table.columns:
        return ""
    rows = best_rows(best, table)
    rows = rows[rows["column"] == column]
    notes = []
    kept = sorted(set(rows.loc[rows["labels"] == "keep", "deformation"]))
    if kept:
        notes.append(
            f"Scored against the clean labels (labels: keep): {', '.join(kept)}; every other "
            "deformation moves the labels with the audio (a transposed C is scored as a C#)."
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
    for deformation, listed in in_band_offsets(rows).items():
        notes.append(
            f"{deformation}: the SNR each model hears in its own band, {listed} (noise is "
            "added at the file's rate; a model that resamples lower never hears the noise "
            "above its band)."
        )
    return " ".join(notes)


def in_band_offsets(rows: pd.DataFrame) -> dict[str, str]:
    """Per noise deformation, each model's in-band SNR as text: an offset from the axis
    (``mfcc +0.0 dB, crepe-tiny +1.4 dB``) when the strength is the nominal SNR, else the
    values at each strength."""
    noisy = rows[rows["in_band_snr_db"].notna()].drop_duplicates(
        ["deformation", "strength", "model"]
    )
    out = {}
    for deformation, group in noisy.groupby("deformation", sort=False):
        offsets = (group["in_band_snr_db"] - group["strength"]).groupby(group["model"], sort=False)
        if (offsets.max() - offsets.min()).max() <= 0.05:
            listed = ", ".join(
                f"{model} {value:+.1f} dB" for model, value in offsets.mean().items()
            )
            out[deformation] = f"relative to the nominal SNR on the axis: {listed}"
            continue
        per_model = group.sort_values("strength").groupby("model", sort=False)["in_band_snr_db"]
        listed = "; ".join(
            f"{model} " + " / ".join(f"{value:.1f}" for value in values)
            for model, values in per_model
        )
        strengths = " / ".join(f"{value:g}" for value in sorted(group["strength"].unique()))
        out[deformation] = f"in dB at strengths {strengths}: {listed}"
    return out


def axis_notes(folder: RunFolder, best: pd.DataFrame, column: str) -> dict[str, str]:
    """Per noise deformation of a task, a short line for its plot's strength axis: each
    model's in-band SNR relative to the nominal one, models with the same offset together."""
    table = folder.table("robustness.csv")
    if table is None or "in_band_snr_db" not in table.columns:
        return {}
    rows = best_rows(best, table)
    rows = rows[(rows["column"] == column) & rows["in_band_snr_db"].notna()]
    out = {}
    for deformation, group in rows.groupby("deformation", sort=False):
        offsets = (group["in_band_snr_db"] - group["strength"]).groupby(group["model"], sort=False)
        if (offsets.max() - offsets.min()).max() > 0.05:
            continue
        by_offset: dict[str, list[str]] = {}
        for model, offset in offsets.mean().round(1).items():
            by_offset.setdefault(f"{offset + 0.0:+.1f} dB", []).append(str(model))
        text = "heard in band: " + "; ".join(
            f"{offset} {', '.join(models)}" for offset, models in by_offset.items()
        )
        out[deformation] = textwrap.fill(text, 48)
    return out
