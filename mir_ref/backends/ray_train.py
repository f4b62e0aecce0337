"""The training stage on Ray: one task per (dataset, task, model, layer) cell of the grid.

Each task trains its cell's probes × train fractions × seeds with the local trainer
(:func:`mir_ref.train.train` with ``cell=``), so it writes the very files a local run writes;
the driver only schedules, shows progress and gathers the paths in the local order. A task
whose worker dies is rerun; a predictions file is written atomically and skipped once done.
"""

from __future__ import annotations

import logging
from pathlib import Path

import ray

from mir_ref import progress
from mir_ref.backends.ray_session import RETRIES, connect, share, shared, unwrap
from mir_ref.experiment import Experiment
from mir_ref.plan import Cell, probes_of, training_cells
from mir_ref.train import train as train_locally

log = logging.getLogger(__name__)


@ray.remote
def _train_cell(box: list[ray.ObjectRef], cell: Cell) -> list[str]:
    """Train one cell on a worker; returns the predictions files it wrote or found done."""
    progress.set_enabled(False)  # the driver shows the stage's bar
    return [str(path) for path in train_locally(shared(box), cell=cell)]


def train(experiment: Experiment) -> list[Path]:
    """Train every probe × seed on every cell of the grid on Ray; write predictions.

    The same files as :func:`mir_ref.train.train`, with identical contents.
    """
    execution = experiment.config.execution
    connect(execution)
    protocol = experiment.config.protocol
    cells = training_cells(experiment)
    per_probe = len(protocol.train_fraction) * protocol.seeds
    per_cell = {cell: len(probes_of(experiment, cell[3])) * per_probe for cell in cells}
    box = share(experiment)
    options = {"num_cpus": execution.num_cpus_per_worker, "max_retries": RETRIES}
    futures = [_train_cell.options(**options).remote(box, cell) for cell in cells]
    cell_of = dict(zip(futures, cells, strict=True))
    log.info("training on Ray: %d task(s), one per (dataset, task, model, layer)", len(cells))
    written: dict[ray.ObjectRef, list[str]] = {}
    try:
        with progress.bar("train", sum(per_cell.values())) as advance:
            remaining = list(futures)
            while remaining:
                [done], remaining = ray.wait(remaining, num_returns=1)
                try:
                    written[done] = ray.get(done)
                except ray.exceptions.RayError as error:
                    raise unwrap(error, "training") from None
                advance(per_cell[cell_of[done]])
    finally:
        for future in futures:
            if future not in written:
                ray.cancel(future)
    paths = [Path(path) for future in futures for path in written[future]]
    log.info("training: %d predictions files", len(paths))
    return paths
