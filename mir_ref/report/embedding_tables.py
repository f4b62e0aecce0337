"""The embedding views' tables as the report shows them: drift labelled like the robustness
curves, the contrast between what the probes keep and how far the embeddings move, and the
learned layer weights at the default settings.
"""

from __future__ import annotations

import pandas as pd

from mir_ref.report.tables import default_slice, selected_probes
from mir_ref.results import CLEAN

LARGE_DRIFT = 0.5
"""A drift this large or larger (half the typical distance between two clean tracks) is a
large move of the embedding."""
SCORE_HOLDS = 0.9
"""Probes that keep this share of their clean score or more hold their accuracy."""


def labelled_drift(drift: pd.DataFrame) -> pd.DataFrame:
    """``drift.csv`` at the default embedding density, with ``label``: the model's name, or
    ``model/layer`` for models with several layers (the robustness curves' labels)."""
    drift = default_slice(drift)
    several = drift.groupby("model")["layer"].transform("nunique") > 1
    model = drift["model"].astype(str)
    label = model.where(~several, model + "/" + drift["layer"].astype(str))
    return drift.assign(label=label, strength=pd.to_numeric(drift["strength"], errors="coerce"))


def drift_contrast(summary: pd.DataFrame, drift: pd.DataFrame) -> pd.DataFrame:
    """Per model (and layer), one sentence on probe robustness against embedding drift.

    For every deformed condition, the share of the clean score the model's probes (chosen on
    validation) keep (per task with a positive clean score, at least 0, then the mean over the
    dataset's tasks) is set against the median drift there. The sentence states the contrast
    the model shows: where the scores hold (≥ :data:`SCORE_HOLDS`) although the drift is
    large (≥ :data:`LARGE_DRIFT`), the largest such drift: robust only through the probe.
    Else, where the scores drop although the drift is small, the largest drop: the probes
    read what moves. Else the largest drift, which either shows in the scores or leaves them
    whole.

    Parameters
    ----------
    summary : :func:`~mir_ref.report.tables.summarize` of the results.
    drift : :func:`labelled_drift` of ``drift.csv``.

    Returns
    -------
    pandas.DataFrame
        Columns ``model, deformation, strength, drift, kept, finding``; one row per model
        label with both scores and drift.
    """
    best = selected_probes(summary)  # each model's probe, chosen on validation
    deformed = summary[(summary["deformation"] != CLEAN) & summary["mean"].notna()].merge(
        best[["column", "model", "probe", "mean"]].rename(columns={"mean": "clean"}),
        on=["column", "model", "probe"],
    )
    deformed = deformed[deformed["clean"] > 0]
    columns = ["model", "deformation", "strength", "drift", "kept", "finding"]
    if deformed.empty:
        return pd.DataFrame(columns=columns)
    # A score below zero (an R² under the mean's) keeps nothing of the clean score.
    kept = (
        deformed.assign(kept=(deformed["mean"] / deformed["clean"]).clip(lower=0.0))
        .groupby(["dataset", "model", "deformation", "strength"], sort=False, dropna=False)["kept"]
        .mean()
        .reset_index()
    )
    moved = drift[["dataset", "label", "deformation", "strength", "drift_median"]].rename(
        columns={"label": "model", "drift_median": "drift"}
    )
    joined = kept.merge(moved, on=["dataset", "model", "deformation", "strength"])
    joined = joined[joined["drift"].notna()]
    several_datasets = joined["dataset"].nunique() > 1
    rows = []
    for model, points in joined.groupby("model", sort=False):
        holds, large = points["kept"] >= SCORE_HOLDS, points["drift"] >= LARGE_DRIFT
        if (holds & large).any():
            case, point = "probe", points[holds & large].sort_values("drift").iloc[-1]
        elif (~holds & ~large).any():
            case, point = "sensitive", points[~holds & ~large].sort_values("kept").iloc[0]
        else:
            point = points.sort_values("drift").iloc[-1]
            case = "shows" if point["drift"] >= LARGE_DRIFT else "robust"
        condition = str(point["deformation"])
        if pd.notna(point["strength"]):
            condition += f" at {point['strength']:g}"
        if several_datasets:
            condition += f" ({point['dataset']})"
        moves = f"{point['drift']:.2f} of the typical distance between two clean tracks"
        keeps = f"{point['kept']:.0%} of their clean score"
        finding = {
            "probe": f"{model}: under {condition} its test embeddings move {moves}, yet its "
            f"probes keep {keeps}: robust through the probe, not in the embedding.",
            "sensitive": f"{model}: no deformation moves its embeddings far while its probes "
            f"hold; under {condition} they move only {moves}, yet its probes keep just {keeps}: "
            "small moves along what the probes read.",
            "shows": f"{model}: its probes hold nowhere its embeddings move far; under "
            f"{condition} they move {moves} and its probes keep {keeps}: the movement shows in "
            "the scores.",
            "robust": f"{model}: its test embeddings move at most {moves} (under {condition}) "
            f"and its probes keep {keeps} there: robust in the embedding itself.",
        }[case]
        rows.append(
            {
                "model": model,
                "deformation": point["deformation"],
                "strength": point["strength"],
                "drift": point["drift"],
                "kept": point["kept"],
                "finding": finding,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def default_layer_weights(weights: pd.DataFrame) -> pd.DataFrame:
    """``layer_weights.csv`` at the default density and the largest train fraction, with
    ``column`` (``dataset/task``) and ``layer`` as text."""
    weights = default_slice(weights)
    column = weights["dataset"].astype(str) + "/" + weights["task"].astype(str)
    return weights.assign(column=column, layer=weights["layer"].astype(str))
