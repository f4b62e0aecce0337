"""The report's sections built from stored predictions: pitch and key analysis, pitch
equivariance, and per-class scores with confusion matrices.

Pitch-and-key and per-class read the clean-audio predictions of each model's probe chosen on
validation; a run folder without predictions (or with none readable) simply has neither
section. Pitch equivariance reads ``equivariance.csv``, which the evaluation stage wrote from
them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mir_ref.equivariance import EQUIVARIANCE_FILE, KEY_SHARES
from mir_ref.report import analysis, class_plots, label_notes
from mir_ref.report.html import Cell, Row, Section, number
from mir_ref.report.sections import Context

_KEY_PALETTE = {
    "correct": "#2e8b57",
    "fifth": "#9acd32",
    "relative": "#ffd700",
    "parallel": "#ff8c00",
    "other": "#c0392b",
}
_PITCH_PALETTE = {"correct": "#2e8b57", "octave": "#ffd700", "other": "#c0392b"}
_MOVED_PALETTE = {
    "moved": "#2e8b57",
    "fifth": "#9acd32",
    "relative": "#ffd700",
    "parallel": "#ff8c00",
    "stayed": "#4169e1",
    "elsewhere": "#c0392b",
}


def _models(context: Context, predictions: analysis.TaskPredictions) -> list[str]:
    """The task's models in the page's model order (as in the results)."""
    return [model for model in context.colors if model in predictions.y_true]


def _matrices(context: Context, predictions: analysis.TaskPredictions) -> dict[str, np.ndarray]:
    classes = len(predictions.task.classes)
    return {
        model: analysis.confusion(predictions.y_true[model], predictions.y_score[model], classes)
        for model in _models(context, predictions)
    }


def pitch_and_key(context: Context) -> Section | None:
    """Pitch-class confusions in two orders, octave errors and MIREX key-error categories."""
    section = Section(
        "pitch-key",
        "Pitch and key analysis",
        "Can the representation tell pitch classes apart, and what kinds of mistakes does it "
        "make? Clean-audio test predictions of each model's probe chosen on validation, seeds "
        "pooled.",
    )
    for column, predictions in context.predictions.items():
        if not predictions.task.task_type.one_class:
            continue
        classes = list(predictions.task.classes)
        matrices = _matrices(context, predictions)
        orders = analysis.pitch_class_orders(classes)
        if orders is not None:
            path = class_plots.confusion_matrices(
                matrices,
                classes,
                context.plot_path(f"pitch_classes_{column}"),
                title=f"{column}: pitch-class confusions",
                orders=orders,
            )
            section.figure(
                path,
                f"{column}: confusion matrices (rows: true class, normalised), chromatic order "
                "(left; errors by a semitone sit next to the diagonal) and along the circle of "
                "fifths (right; errors by a fifth sit next to the diagonal).",
            )
        midi = analysis.midi_numbers(classes)
        if midi is not None:
            fractions = pd.DataFrame(
                {model: analysis.pitch_errors(matrix, midi) for model, matrix in matrices.items()}
            ).T[analysis.PITCH_ERROR_CATEGORIES]
            path = class_plots.error_breakdown(
                fractions,
                context.plot_path(f"octave_errors_{column}"),
                title=f"{column}: pitch errors",
                palette=_PITCH_PALETTE,
            )
            section.figure(path, f"{column}: correct pitches, octave errors and other errors.")
        if analysis.is_key_task(predictions.task):
            fractions = pd.DataFrame(
                {model: analysis.key_errors(matrix, classes) for model, matrix in matrices.items()}
            ).T[analysis.KEY_ERROR_CATEGORIES]
            path = class_plots.error_breakdown(
                fractions,
                context.plot_path(f"key_errors_{column}"),
                title=f"{column}: key errors (MIREX categories)",
                palette=_KEY_PALETTE,
            )
            section.figure(
                path,
                f"{column}: share of test items per MIREX category: correct, a fifth above "
                "(same mode), relative major/minor, parallel major/minor, other.",
            )
            section.table(
                f"{column}: key errors per model (fractions of test items).",
                ["model", *analysis.KEY_ERROR_CATEGORIES],
                [
                    Row([Cell(model), *(number(value) for value in values)])
                    for model, values in fractions.iterrows()
                ],
            )
    return section if section.blocks else None


def pitch_equivariance(context: Context) -> Section | None:
    """Per pitch, pitch-class and key task under a pitch shift: did predictions move with the
    audio, stay on the clean label, or go elsewhere (from ``equivariance.csv``)?"""
    table = context.folder.table(EQUIVARIANCE_FILE)
    if table is None:
        return None
    rows = label_notes.best_rows(context.best, table)
    if rows.empty:
        return None
    # Both label modes see the same predictions: show each shift once.
    rows = rows.sort_values("labels", key=lambda s: s != "follow", kind="stable")
    rows = rows.drop_duplicates(["column", "model", "semitones"]).sort_values(
        ["column", "semitones"], kind="stable"
    )
    section = Section(
        "pitch-equivariance",
        "Pitch equivariance",
        "Under a pitch shift, does a model hear the transposition? For each test item: its "
        "prediction moved with the audio (equals the shifted label), stayed (equals the "
        "clean label), or went elsewhere. A pitch-aware model moves; a pitch-blind one stays "
        "or scatters. Each model's best probe on clean audio, seeds pooled.",
    )
    models = [model for model in context.colors if model in set(rows["model"])]
    for column, group in rows.groupby("column", sort=False):
        is_key = group[KEY_SHARES].notna().all(axis=None)
        categories = ["moved", *KEY_SHARES, "stayed", "elsewhere"] if is_key else None
        frames = {}
        for model in models:
            curve = group[group["model"] == model]
            if curve.empty:
                continue
            frame = curve.set_index(curve["semitones"].map(lambda n: f"{n:+g}"))
            if is_key:  # elsewhere, less what a MIREX category explains
                frame = frame.assign(elsewhere=frame["elsewhere"] - frame[KEY_SHARES].sum(axis=1))
            frames[model] = frame[categories or ["moved", "stayed", "elsewhere"]]
        path = class_plots.shares_by_shift(
            frames,
            context.plot_path(f"equivariance_{column}"),
            title=f"{column}: where predictions go under a pitch shift",
            palette=_MOVED_PALETTE,
        )
        caption = f"{column}: share of test items whose prediction moved with the audio, stayed "
        caption += "on the clean label or went elsewhere, per shift."
        if is_key:
            caption += (
                " Key predictions that did not move are split by their MIREX category against "
                "the shifted key: a fifth above it, its relative or parallel key, or elsewhere."
            )
        section.figure(path, caption)
        shown = ["moved", "stayed", "elsewhere", *(KEY_SHARES if is_key else [])]
        section.table(
            f"{column}: shares of test items (items: those whose shifted label is a class of "
            "the task)"
            + ("; fifth, relative and parallel are parts of elsewhere." if is_key else "."),
            ["model", "shift", "items", *shown],
            [
                Row(
                    [
                        Cell(row.model),
                        Cell(f"{row.semitones:+g}", number=True),
                        number(row.items, 0),
                        *(number(getattr(row, name)) for name in shown),
                    ]
                )
                for row in group.itertuples(index=False)
            ],
        )
    return section


def per_class(context: Context) -> Section | None:
    """Per-class F1 and confusion matrices for multiclass tasks, per-tag AUC for tagging."""
    section = Section(
        "per-class",
        "Per-class results",
        "Which classes each model gets right: clean-audio test predictions of each model's "
        "probe chosen on validation, seeds pooled.",
    )
    for column, predictions in context.predictions.items():
        classes = list(predictions.task.classes)
        task_type = predictions.task.task_type
        if task_type.one_class and not task_type.fixed_classes:  # keys: their own section
            matrices = _matrices(context, predictions)
            f1 = pd.DataFrame(
                {
                    model: analysis.per_class_scores(m)["f1"].to_numpy()
                    for model, m in matrices.items()
                },
                index=classes,
            ).T
            path = class_plots.class_scores(
                f1,
                context.plot_path(f"class_f1_{column}"),
                title=f"{column}: F1 per class",
                value_label="F1",
            )
            section.figure(path, f"{column}: F1 per class and model ('–': never predicted).")
            path = class_plots.confusion_matrices(
                matrices,
                classes,
                context.plot_path(f"confusion_{column}"),
                title=f"{column}: confusion matrices",
            )
            section.figure(
                path, f"{column}: confusion matrices (rows: true class; colour: row fraction)."
            )
        elif task_type.has_classes and not task_type.one_class:
            auc = pd.DataFrame(
                {
                    model: analysis.tag_auc(predictions.y_true[model], predictions.y_score[model])
                    for model in _models(context, predictions)
                },
                index=classes,
            ).T
            path = class_plots.class_scores(
                auc,
                context.plot_path(f"tag_auc_{column}"),
                title=f"{column}: ROC AUC per tag",
                value_label="ROC AUC",
            )
            section.figure(
                path,
                f"{column}: ROC AUC per tag ('–': the tag has only one class in the test set).",
            )
    return section if section.blocks else None
