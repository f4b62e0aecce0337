"""A self-contained ``index.html`` of a run: the plots, embedded, and the clean-audio table."""

from __future__ import annotations

import base64
import functools
import logging
import math
import mimetypes
from collections.abc import Mapping, Sequence
from pathlib import Path

import jinja2
import pandas as pd

from mir_ref import __version__
from mir_ref.report.plots import CLEAN, summarize

logger = logging.getLogger(__name__)

CAPTIONS = {
    "heatmap": "Main metric on clean audio: mean over seeds of each model's best probe; "
    "the best model of each task is boxed.",
    "robustness": "Main metric against deformation strength, from mild (left) to severe "
    "(right); dashed lines: the same model on clean audio.",
}
"""Captions of the plots that :func:`mir_ref.report.plots.write_plots` writes, by file stem."""

# Autoescape is on: model, dataset and probe names come from user configs and plugins.
_TEMPLATE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
  body { font-family: system-ui, sans-serif; color: #222; max-width: 75rem;
         margin: 2rem auto; padding: 0 1rem; line-height: 1.4; }
  figure { margin: 1.5rem 0; }
  img { max-width: 100%; height: auto; border: 1px solid #ddd; }
  figcaption { color: #555; font-size: 0.9rem; }
  table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
  th, td { padding: 0.3rem 0.8rem; border-bottom: 1px solid #e5e5e5; text-align: left; }
  th { border-bottom: 2px solid #999; }
  td.number { text-align: right; }
  tr.best td { font-weight: bold; }
  footer { margin-top: 2rem; color: #777; font-size: 0.85rem; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
{% for plot in plots %}
<figure>
  <img src="data:{{ plot.mime }};base64,{{ plot.data }}" alt="{{ plot.name }}">
  <figcaption>{{ plot.caption }}</figcaption>
</figure>
{% endfor %}
<h2>Clean audio</h2>
<p>The main metric of each task, mean ± standard deviation over seeds, for every model and
probe. Bold: the best model and probe of each task.</p>
<table>
  <thead>
    <tr><th>dataset</th><th>task</th><th>metric</th><th>model</th><th>probe</th>
        <th>value</th><th>seeds</th></tr>
  </thead>
  <tbody>
{% for row in rows %}
    <tr{% if row.best %} class="best"{% endif %}>
      <td>{{ row.dataset }}</td><td>{{ row.task }}</td><td>{{ row.metric }}</td>
      <td>{{ row.model }}</td><td>{{ row.probe }}</td>
      <td class="number">{{ row.value }}</td><td class="number">{{ row.seeds }}</td>
    </tr>
{% endfor %}
  </tbody>
</table>
<footer>Written by mir_ref {{ version }}.</footer>
</body>
</html>
"""


def write_index(
    results: pd.DataFrame,
    main_metrics: Mapping[tuple[str, str], str],
    out_dir: str | Path,
    *,
    title: str = "mir_ref results",
    plots: Sequence[str | Path] = (),
) -> Path:
    """Write ``index.html``, a single file with the plots embedded and the clean-audio table.

    Parameters
    ----------
    results : the tidy results table, with columns
        :data:`mir_ref.results.COLUMNS`.
    main_metrics : ``{(dataset, task): metric}``, the metric shown for each task.
    out_dir : the folder to write into; created if missing.
    title : the page's title.
    plots : image files to embed, in order (e.g. the output of
        :func:`mir_ref.report.plots.write_plots`).

    Returns
    -------
    Path
        The path of ``index.html``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    page = _template().render(
        title=title,
        plots=[_embed(Path(plot)) for plot in plots],
        rows=_clean_rows(results, main_metrics),
        version=__version__,
    )
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    logger.info("wrote %s", path)
    return path


@functools.cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined
    )
    return environment.from_string(_TEMPLATE)


def _embed(path: Path) -> dict[str, str]:
    """A plot as the fields of a data URI, with its caption."""
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return {
        "name": path.stem,
        "mime": mime,
        "data": base64.b64encode(path.read_bytes()).decode("ascii"),
        "caption": CAPTIONS.get(path.stem, path.stem),
    }


def _clean_rows(
    results: pd.DataFrame, main_metrics: Mapping[tuple[str, str], str]
) -> list[dict[str, object]]:
    """The table's rows: tasks in results order, then models and probes from best to worst."""
    summary = summarize(results, main_metrics)
    clean = summary[summary["deformation"] == CLEAN].copy()
    clean["task_order"] = pd.factorize(clean["column"])[0]
    clean["best"] = clean["mean"] == clean.groupby("column")["mean"].transform("max")
    clean = clean.sort_values(["task_order", "mean"], ascending=[True, False], kind="stable")
    return [
        {
            "dataset": row.dataset,
            "task": row.task,
            "metric": row.metric,
            "model": row.model,
            "probe": row.probe,
            "value": _format(row.mean, row.std),
            "seeds": row.seeds,
            "best": bool(row.best),
        }
        for row in clean.itertuples(index=False)
    ]


def _format(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "–"
    if math.isnan(std):
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {std:.3f}"
