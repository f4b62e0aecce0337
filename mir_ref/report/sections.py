"""The report's sections from the results table, each built only when its data exists.

Each builder takes the shared :class:`Context` and returns a :class:`Section`, or None when the
run holds nothing for it (one probe only, one layer, no train-fraction sweep...). The sections
built from stored predictions live in :mod:`mir_ref.report.class_sections`; provenance,
efficiency and listening in :mod:`mir_ref.report.run_sections`.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mir_ref.paths import safe_name
from mir_ref.report import (
    analysis,
    curves,
    embedding_plots,
    embedding_tables,
    label_notes,
    plots,
    tables,
)
from mir_ref.report.html import Cell, Row, Section, number
from mir_ref.report.run_folder import RunFolder
from mir_ref.results import CLEAN

logger = logging.getLogger(__name__)


@dataclass
class Context:
    """What every section builder reads: the run folder and the shared summaries."""

    folder: RunFolder
    plots_dir: Path

    @functools.cached_property
    def summary(self) -> pd.DataFrame:
        """:func:`~mir_ref.report.tables.summarize` of the results at default settings."""
        return self.summarize()

    def summarize(self, *, by: list[str] | None = None) -> pd.DataFrame:
        """The results summarised with the run's intervals of seed means and validation
        scores (``summary.csv``, ``selection.csv``), keeping the sweep axes ``by``."""
        return tables.summarize(
            self.folder.results,
            self.folder.main_metrics,
            by=by or (),
            intervals=self.folder.table("summary.csv"),
            selection=self.folder.table("selection.csv"),
        )

    @functools.cached_property
    def best(self) -> pd.DataFrame:
        """Each (task, model)'s clean-audio probe, chosen on validation."""
        return tables.selected_probes(self.summary)

    @functools.cached_property
    def ranks(self) -> pd.DataFrame | None:
        """``ranks.csv`` at the default sweep values the summary shows, if the run has it."""
        ranks = self.folder.table("ranks.csv")
        if ranks is None:
            return None
        return tables.default_slice(ranks, defaults=tables.sweep_defaults(self.folder.results))

    @functools.cached_property
    def colors(self) -> dict[str, str]:
        """One colour per model label (and per multi-layer model's name), for every plot."""
        summary = self.summary
        layered = summary.loc[summary["model"] != summary["base_model"], "base_model"]
        return plots.model_colors([*summary["model"], *layered])

    @functools.cached_property
    def predictions(self) -> dict[str, analysis.TaskPredictions]:
        """The clean-audio predictions of each (task, model)'s chosen probe, per task."""
        return analysis.clean_predictions(self.folder, self.best)

    def plot_path(self, name: str) -> Path:
        """Where a plot named ``name`` is written (made file-system safe)."""
        return self.plots_dir / f"{safe_name(name)}.png"


def overview(context: Context) -> Section:
    """The model × task heatmap and the ranking per task, with CIs, rank intervals, the
    models tied for first and the paired test of the gap."""
    comparisons = context.folder.table("comparisons.csv")
    ranked = tables.ranking(context.best, comparisons, context.ranks)
    on_test = (ranked["selected_on"] == "test").any()
    chosen = (
        "the probe with the best test score (this run has no selection.csv to choose on validation)"
        if on_test
        else "the probe with the best validation score"
    )
    section = Section(
        "overview",
        "Overview",
        f"Each model on clean audio, per task, with {chosen}. The page below breaks this down "
        "by deformation, probe, layer and class.",
    )
    has_ties = ranked["tied_for_first"].notna().any()
    section.figure(
        plots.heatmap(ranked, context.plot_path("heatmap"), models=list(context.colors)),
        "Main metric on clean audio: mean over seeds; "
        + (
            "boxed: the models statistically tied for first (ranks.csv)."
            if has_ties
            else "the best model of each task is boxed."
        ),
    )
    has_interval = "ci_low" in ranked.columns and ranked["ci_low"].notna().any()
    has_rank_interval = ranked["rank_low"].notna().any()
    has_p = ranked["p_value"].notna().any()
    columns = ["task", "metric", "rank"] + (["rank 95% CI"] if has_rank_interval else [])
    columns += ["model", "probe", "mean", "± std", "seeds"]
    columns += ["95% CI"] if has_interval else []
    columns += ["gap to runner-up"] + (["p (vs runner-up)"] if has_p else [])
    rows = []
    for row in ranked.itertuples(index=False):
        cells = [Cell(row.column), Cell(row.metric), number(row.rank, 0)]
        if has_rank_interval:
            cells.append(Cell(_rank_interval(row.rank_low, row.rank_high), number=True))
        cells += [
            Cell(row.model),
            Cell(row.probe),
            number(row.mean),
            number(row.std),
            number(row.seeds, 0),
        ]
        if has_interval:
            cells.append(Cell(_interval(row.ci_low, row.ci_high), number=True))
        cells.append(number(row.gap))
        if has_p:
            cells.append(number(row.p_value, 4))
        unknown = pd.isna(row.tied_for_first)
        rows.append(Row(cells, highlight=row.rank == 1 if unknown else bool(row.tied_for_first)))
    caption = "Models per task from best to worst; highlighted: " + (
        "statistically tied for first (the first, and every model whose paired bootstrap "
        "test against it is not significant after Holm's correction; ranks.csv)."
        if has_ties
        else "best."
    )
    if has_rank_interval:
        caption += " Rank 95% CI: the ranks the model takes over the bootstrap resamples."
    if has_p:
        caption += (
            " p: paired bootstrap test of exactly the two models and probes named on the "
            "first two rows (Holm-corrected), from "
            + ("ranks.csv." if context.ranks is not None else "comparisons.csv.")
        )
    elif ranked["gap"].notna().any():
        caption += " No p-value: " + (
            "run `mir_ref compare` to test each gap (ranks.csv)."
            if context.ranks is None
            else "the run has no bootstrap (protocol.n_bootstrap: 0)."
        )
    section.table(caption, columns, rows)
    return section


def robustness(context: Context) -> Section | None:
    """Per task, the metric against deformation strength, and the robustness ranking."""
    summary = context.summary
    deformed = summary[(summary["deformation"] != CLEAN) & summary["mean"].notna()]
    if deformed.empty:
        return None
    section = Section(
        "robustness",
        "Robustness",
        "Probes are trained on clean audio and tested on deformed audio. Each model is drawn "
        "with its probe chosen on validation.",
    )
    drift = context.folder.table("drift.csv")
    drift = None if drift is None else embedding_tables.labelled_drift(drift)
    columns = list(dict.fromkeys(deformed["column"]))
    for position, column in enumerate(columns):
        path = plots.robustness(
            summary,
            column,
            context.colors,
            context.plot_path(f"robustness_{column}"),
            axis_notes=label_notes.axis_notes(context.folder, context.best, column),
        )
        notes = label_notes.robustness_notes(context.folder, context.best, column)
        section.figure(
            path,
            f"{column}: top, the main metric against deformation strength (dashed: clean "
            "audio); bottom, the same as a percentage of the clean score." + f" {notes}".rstrip(),
        )
        dataset = column.split("/")[0]
        last_of_dataset = (
            position + 1 == len(columns) or columns[position + 1].split("/")[0] != dataset
        )
        if drift is not None and last_of_dataset and (drift["dataset"] == dataset).any():
            _drift_figure(context, section, drift[drift["dataset"] == dataset], dataset)
    ranking = tables.robustness_ranking(summary)
    models = [model for model in context.colors if model in set(ranking["model"])]
    rows = []
    for (column, deformation), group in ranking.groupby(["column", "deformation"], sort=False):
        by_model = group.set_index("model")
        cells = [Cell(column), Cell(deformation), Cell(str(group["model"].iloc[0]))]
        for model in models:
            if model not in by_model.index:
                cells.append(Cell("–", number=True))
                continue
            entry = by_model.loc[model]
            text = "–" if pd.isna(entry["area"]) else f"{entry['area']:.2f}"
            if pd.notna(entry["max_drop"]):
                text += f" ({-100 * entry['max_drop']:+.0f}%)"
            cells.append(Cell(text, number=True))
        rows.append(Row(cells))
    section.table(
        "Robustness per task and deformation. Each cell: the area, the mean over strengths of "
        "score / clean score (1 = no loss), and in brackets the largest relative change from "
        "clean. 'most robust': the model with the largest area.",
        ["task", "deformation", "most robust", *models],
        rows,
    )
    contrast = None if drift is None else embedding_tables.drift_contrast(summary, drift)
    if contrast is not None and not contrast.empty:
        section.table(
            f"Probe robustness against embedding drift, one sentence per model: a drift of "
            f"{embedding_tables.LARGE_DRIFT:g} or more is large, and probes that keep "
            f"{embedding_tables.SCORE_HOLDS:.0%} of their clean score or more hold (score kept: "
            "mean over the dataset's tasks).",
            ["model", "finding"],
            [Row([Cell(row.model), Cell(row.finding)]) for row in contrast.itertuples()],
        )
    return section


def _drift_figure(context: Context, section: Section, drift: pd.DataFrame, dataset: str) -> None:
    """The dataset's embedding drift against deformation strength, after its tasks' curves."""
    path = embedding_plots.drift_curves(
        drift, context.colors, context.plot_path(f"drift_{dataset}")
    )
    section.figure(
        path,
        f"{dataset}: embedding drift, probe-free. Each test track's cosine distance from its "
        "clean embedding, divided by the median distance between two different clean tracks "
        "(0: unmoved; 1, dotted: as far as another track typically is); line: median over "
        "tracks, band: interquartile range (drift.csv).",
    )


def probe_size(context: Context) -> Section | None:
    """Linear against non-linear probes of growing size: the non-linearity gap."""
    clean = context.summary[context.summary["deformation"] == CLEAN]
    if clean["probe"].nunique() < 2:
        return None
    probes = sorted(
        dict.fromkeys(clean["probe"]),
        key=lambda probe: (tables.probe_kind(probe) != "linear", tables.probe_size(probe), probe),
    )
    section = Section(
        "probe-size",
        "Probe size",
        "How large should the downstream model be? Clean-audio score of each probe, from "
        "linear to the largest MLP. A small gap between linear and non-linear probes means the "
        "information is linearly separable in the embedding.",
    )
    path = curves.metric_curves(
        clean,
        "probe",
        context.colors,
        context.plot_path("probe_size"),
        title="Main metric by probe (clean audio)",
        xlabel="probe (hidden units)",
        categories=probes,
    )
    section.figure(path, "Main metric on clean audio for each probe, linear first.")
    gaps = tables.nonlinearity_gap(context.summary)
    if not gaps.empty:
        rows = [
            Row(
                [
                    Cell(row.column),
                    Cell(row.model),
                    Cell(row.linear_probe),
                    number(row.linear),
                    Cell(row.nonlinear_probe),
                    number(row.nonlinear),
                    number(row.gap),
                ]
            )
            for row in gaps.itertuples(index=False)
        ]
        section.table(
            "Non-linearity gap: best non-linear probe minus best linear probe.",
            ["task", "model", "linear probe", "score", "non-linear probe", "score", "gap"],
            rows,
        )
    return section


_DENSITY_AXES = {"hop_s": "hop between embeddings (s)", "window_s": "window length (s)"}


def density(context: Context) -> Section | None:
    """The metric against embedding hop and window, when the run sweeps them."""
    section = Section(
        "density",
        "Embedding density",
        "How densely to sample embeddings: the clean-audio score (probe chosen on validation) "
        "against the hop and window of the embedding windows.",
    )
    for axis, label in _DENSITY_AXES.items():
        table = _sweep(context, axis)
        if table is not None:
            path = curves.metric_curves(
                table,
                axis,
                context.colors,
                context.plot_path(f"density_{axis}"),
                title=f"Main metric against {label}",
                xlabel=label,
                log_x=True,
            )
            section.figure(path, f"Main metric on clean audio against {label}.")
    return section if section.blocks else None


def layers(context: Context) -> Section | None:
    """The metric against layer, for models with several layers."""
    clean = context.summary[
        (context.summary["deformation"] == CLEAN) & context.summary["mean"].notna()
    ]
    layered = clean[clean["model"] != clean["base_model"]]
    if layered.empty:
        return None
    best = tables.selected_probes(layered)
    section = Section(
        "layers",
        "Layers",
        "Which layer holds the information: the clean-audio score per layer, of the probe "
        "chosen on validation for that layer.",
    )
    path = curves.metric_curves(
        best,
        "layer",
        context.colors,
        context.plot_path("layers"),
        title="Main metric by layer (clean audio, probe chosen per layer)",
        xlabel="layer (input → output)",
        series="base_model",
        categories=tables.layer_order(best["layer"]),
    )
    section.figure(path, "Main metric on clean audio against layer, one line per model.")
    weights = context.folder.table("layer_weights.csv")
    if weights is not None:
        path = embedding_plots.layer_weight_bars(
            embedding_tables.default_layer_weights(weights), context.plot_path("layer_weights")
        )
        section.figure(
            path,
            "Which layers each task uses: the softmax weights over layers that each probe of a "
            "weighted layer learned (layer_weights.csv); dotted, equal weights. The 'weighted' "
            "layer above is the score of this weighted sum.",
        )
    return section


def data_efficiency(context: Context) -> Section | None:
    """The metric against the fraction of training data, when the run sweeps it."""
    table = _sweep(context, "train_fraction")
    if table is None:
        return None
    section = Section(
        "data-efficiency",
        "Data efficiency",
        "How much labelled data a representation needs: the clean-audio score (probe chosen "
        "on validation) when trained on a fraction of the training split.",
    )
    path = curves.metric_curves(
        table,
        "train_fraction",
        context.colors,
        context.plot_path("data_efficiency"),
        title="Main metric against the fraction of training data",
        xlabel="fraction of the training split (log scale)",
        log_x=True,
    )
    section.figure(path, "Main metric on clean audio against the training fraction.")
    return section


def _sweep(context: Context, axis: str) -> pd.DataFrame | None:
    """The per-model best scores along ``axis``, or None if the run does not sweep it."""
    results = context.folder.results
    if axis not in results.columns or pd.to_numeric(results[axis], errors="coerce").nunique() < 2:
        return None
    summary = context.summarize(by=[axis])
    table = tables.sweep(summary, axis)
    return None if table.empty else table


def _rank_interval(low: float, high: float) -> str:
    if pd.isna(low) or pd.isna(high):
        return "–"
    return f"{low:.0f}" if low == high else f"{low:.0f}–{high:.0f}"


def _interval(low: float, high: float) -> str:
    if pd.isna(low) or pd.isna(high):
        return "–"
    return f"[{low:.3f}, {high:.3f}]"
