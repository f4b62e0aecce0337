"""``write_report``: a run folder's stored outputs → plots and one self-contained HTML page."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

from mir_ref.report import class_sections, embedding_sections, run_sections, sections
from mir_ref.report.html import Section, write_page
from mir_ref.report.run_folder import RunFolder

logger = logging.getLogger(__name__)

SECTIONS: list[Callable[[sections.Context], Section | None]] = [
    sections.overview,
    run_sections.skipped,
    sections.robustness,
    sections.probe_size,
    sections.density,
    sections.layers,
    embedding_sections.similarity,
    embedding_sections.maps,
    sections.data_efficiency,
    class_sections.pitch_and_key,
    class_sections.pitch_equivariance,
    class_sections.per_class,
    run_sections.efficiency,
    run_sections.listening,
    run_sections.provenance,
]
"""The page's sections, in order; each builder returns None when the run has no data for it."""


def write_report(
    output_dir: str | Path, *, title: str | None = None, keep_plots: bool = True
) -> Path:
    """Write ``<output_dir>/report/index.html`` from a run folder, recomputing nothing.

    Reads ``results.csv`` and ``tasks.json`` (required) and, when present, the stored
    predictions, ``comparisons.csv``, ``models.json``, ``profile.json``, ``versions.json``,
    ``config.yml``, the embedding views (``drift.csv``, ``similarity.csv``, ``maps.csv``),
    ``layer_weights.csv`` and the ``deformed/`` examples. The embedding cache is not needed.

    Parameters
    ----------
    output_dir : the run's output folder.
    title : the page's title; by default the folder's name.
    keep_plots : also keep every plot as a PNG under ``<output_dir>/plots`` (replacing the
        PNGs of an earlier report).

    Returns
    -------
    Path
        The path of ``index.html``.
    """
    output_dir = Path(output_dir)
    plots_dir = output_dir / "plots" if keep_plots else Path(tempfile.mkdtemp(prefix="mir_ref_"))
    # plots/ is the report's own: a plot of an earlier report (a task since removed) would mislead.
    for stale in plots_dir.glob("*.png"):
        stale.unlink()
    try:
        context = sections.Context(RunFolder(output_dir), plots_dir)
        built = [section for builder in SECTIONS if (section := builder(context)) is not None]
        return write_page(built, output_dir / "report", title=title or _run_name(output_dir))
    finally:
        if not keep_plots:
            shutil.rmtree(plots_dir, ignore_errors=True)


def _run_name(output_dir: Path) -> str:
    """The run's name from its saved config, else the folder's name."""
    config = RunFolder(output_dir).text("config.yml")
    try:
        name = (yaml.safe_load(config) or {}).get("name") if config else None
    except yaml.YAMLError:
        name = None
    return str(name) if name else output_dir.name
