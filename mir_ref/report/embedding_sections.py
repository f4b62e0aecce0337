"""The report's sections on the embeddings themselves: layer and model similarity (linear
CKA) and maps of the test embeddings, from ``similarity.csv`` and ``maps.csv``
(``mir_ref.embedding_views``). Drift and layer weights join the Robustness and Layers
sections (:mod:`mir_ref.report.sections`).
"""

from __future__ import annotations

from mir_ref.report import embedding_plots
from mir_ref.report.html import Section
from mir_ref.report.sections import Context


def similarity(context: Context) -> Section | None:
    """One linear-CKA heatmap per dataset, over every (model, layer)."""
    table = context.folder.table("similarity.csv")
    if table is None:
        return None
    section = Section(
        "similarity",
        "Layer and model similarity",
        "Which layers of a model are redundant and which models see the same thing: linear "
        "CKA (Kornblith et al., 2019) between the clean test embeddings of every two (model, "
        "layer) pairs, 1 for representations equal up to rotation and scale, near 0 for "
        "unrelated ones.",
    )
    for dataset, rows in table.groupby("dataset", sort=False):
        path = embedding_plots.similarity_heatmap(rows, context.plot_path(f"similarity_{dataset}"))
        section.figure(
            path,
            f"{dataset}: linear CKA over {int(rows['tracks'].iloc[0])} test tracks, models in "
            "config order, each model's layers from input to output.",
        )
    return section


def maps(context: Context) -> Section | None:
    """2-D maps of each task's clean test embeddings per model, with one deformation."""
    table = context.folder.table("maps.csv")
    if table is None:
        return None
    section = Section(
        "maps",
        "Embedding maps",
        "Each model's clean test embeddings (its best layer by validation) in two dimensions, "
        "coloured by label (multilabel tasks: each track's most frequent tag), and the same "
        "tracks under one deformation at the strength that moves them most, linked to their "
        "clean positions. PCA keeps the embedding's largest directions of variation and "
        "places deformed points with the clean map's projection; t-SNE, when asked for, keeps "
        "neighbourhoods.",
    )
    tasks = context.folder.tasks
    for (dataset, method), points in table.groupby(["dataset", "method"], sort=False):
        types = {task: info.type for (name, task), info in tasks.items() if name == dataset}
        path = embedding_plots.embedding_maps(
            points, context.plot_path(f"maps_{dataset}_{method}"), task_types=types
        )
        section.figure(
            path,
            f"{dataset}, {method.upper().replace('TSNE', 't-SNE')}: one row per task, one "
            "panel per model.",
        )
    return section
