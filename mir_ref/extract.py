"""The extraction stage: every embedding the experiment needs that the cache lacks.

The units of work come from the plan (:func:`~mir_ref.plan.extraction_units`); the local
backend streams them through :mod:`mir_ref.pipeline` (the Ray backend, through
:mod:`mir_ref.backends.ray_extract`); each unit's steps are in :mod:`mir_ref.units`.
"""

from __future__ import annotations

import logging

from mir_ref.experiment import Experiment
from mir_ref.models_json import write_models_json
from mir_ref.pipeline import run_pipeline
from mir_ref.plan import extraction_units
from mir_ref.store import Store
from mir_ref.units import ExtractionStats

log = logging.getLogger(__name__)


def extract(experiment: Experiment) -> ExtractionStats:
    """Compute every embedding the experiment needs that the store lacks.

    Work streams through ``execution.workers`` processes of ``execution.threads`` threads each
    (:meth:`~mir_ref.experiment.Experiment.extraction_parallelism`); each unit decodes and deforms
    a track once, then feeds every model that lacks it. Results do not depend on the number
    of processes; network models' last bits depend on the number of threads.
    Entries another run is computing on the same cache are waited for, not recomputed.
    """
    store = Store.of(experiment)
    units = extraction_units(experiment)
    keys = {key for unit in units for key in unit.keys.values()}
    todo = [u for u in units if not all(store.has(key) for key in u.keys.values())]
    stats = ExtractionStats(cached=len(keys))
    workers, threads = experiment.extraction_parallelism()
    stats.computed = run_pipeline(
        experiment, store, todo, stats.speed, workers=workers, threads=threads
    )
    stats.cached -= stats.computed
    return finish(experiment, stats, any_units=bool(units))


def finish(experiment: Experiment, stats: ExtractionStats, *, any_units: bool) -> ExtractionStats:
    """Close an extraction stage (any backend): write ``models.json`` and log the counts."""
    write_models_json(experiment, stats.speed)
    log.info(
        "extraction: %d embeddings computed, %d found in the cache (%s)",
        stats.computed,
        stats.cached,
        experiment.cache_dir,
    )
    if not any_units:
        log.warning("extraction: no tracks to embed")
    return stats
