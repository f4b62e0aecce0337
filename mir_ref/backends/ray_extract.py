"""The extraction stage on Ray: shards of units, models held by actors, the shared store.

Units (one track under one condition) are cut into shards. Each worker is a Ray actor that
deserializes the experiment once, so its models load once and stay loaded for every shard it
is given (on its GPU, with ``num_gpus_per_model``). A worker runs a shard's units through
:func:`mir_ref.pipeline.run_units`, as a local extraction process does — decode and deform
each once, each model's windows batched across the shard's tracks — so the entries are
exactly those of a local run, and each goes to the shared store as soon as its unit is done.

A worker that dies is restarted and its shards rerun; the store is content-addressed and
atomic, so a rerun skips what is already there and nothing is ever half written.
"""

from __future__ import annotations

import collections
import logging

import ray

from mir_ref import progress
from mir_ref.backends.ray_session import RETRIES, connect, share, shared, unwrap, worker_count
from mir_ref.errors import MirRefError
from mir_ref.experiment import Experiment
from mir_ref.extract import finish
from mir_ref.pipeline import run_units, single_threaded
from mir_ref.plan import ExtractionUnit, extraction_units
from mir_ref.store import Store
from mir_ref.units import ExtractionStats, add_speed

log = logging.getLogger(__name__)

SHARD_UNITS = 8
"""Units per shard: the unit of scheduling, retry and progress."""

_IN_FLIGHT = 2
"""Shards queued per worker, so that it never waits for the driver between two shards."""

Shard = list[tuple[int, str]]
"""Units as ``(index in extraction_units, cache key of its first model)``; the key checks
that the worker's plan is the driver's."""


_UNITS: dict[str, list[ExtractionUnit]] = {}


def _units(box: list[ray.ObjectRef], shard: Shard) -> list[ExtractionUnit]:
    """The shard's units, from this process's copy of the plan."""
    key = box[0].hex()
    if key not in _UNITS:
        _UNITS.clear()
        _UNITS[key] = extraction_units(shared(box))
    units = [_UNITS[key][index] for index, _ in shard]
    for unit, (index, expected) in zip(units, shard, strict=True):
        if next(iter(unit.keys.values())) != expected:
            raise MirRefError(
                f"a Ray worker's extraction plan differs from the driver's at unit {index} "
                f"(track '{unit.track.id}'); do all nodes see the same dataset files?"
            )
    return units


@ray.remote
class ExtractionWorker:
    """A Ray actor that holds the experiment's models, loaded once and kept across shards."""

    def process(self, box: list[ray.ObjectRef], shard: Shard) -> dict[str, list[float]]:
        """Decode, deform and embed each unit (what the store lacks); returns the speed."""
        # The experiment (with its loaded models) is cached in this process after the first
        # shard; so is the plan. The arguments are small: a reference and indices.
        experiment = shared(box)
        store = Store.of(experiment)
        # One thread, as in every local extraction process: the thread count decides the last
        # bits of some results, and an entry must not depend on where it was computed.
        # Blocking: a unit another attempt of this shard still holds is waited for.
        with single_threaded():
            return run_units(experiment, store, _units(box, shard), blocking=True).speed


def extract(experiment: Experiment) -> ExtractionStats:
    """Compute every embedding the experiment needs that the store lacks, on Ray.

    The same embeddings as :func:`mir_ref.extract.extract` (bit-identical: the same functions
    compute them), written to the same store, which every node must see.
    """
    execution = experiment.config.execution
    connect(execution)
    store = Store.of(experiment)
    units = extraction_units(experiment)
    keys = {key for unit in units for key in unit.keys.values()}
    missing = {key for key in keys if not store.has(key)}
    todo = [i for i, unit in enumerate(units) if not missing.isdisjoint(unit.keys.values())]
    stats = ExtractionStats(cached=len(keys) - len(missing))
    if todo:
        with progress.bar("extract", len(todo)) as advance:
            stats.speed = _run(experiment, units, todo, advance)
    # Counted from the store, not from the workers' reports: a rerun shard reports only what
    # its last attempt computed.
    stats.computed = sum(store.has(key) for key in missing)
    return finish(experiment, stats, any_units=bool(units))


def _run(
    experiment: Experiment, units: list[ExtractionUnit], todo: list[int], advance
) -> dict[str, list[float]]:
    """Run the shards of ``todo`` on the workers; returns the summed speed per model."""
    execution = experiment.config.execution
    shards = collections.deque(
        [(i, next(iter(units[i].keys.values()))) for i in todo[start : start + SHARD_UNITS]]
        for start in range(0, len(todo), SHARD_UNITS)
    )
    workers = min(worker_count(execution), len(shards))
    log.info("extraction on Ray: %d shard(s) on %d worker(s)", len(shards), workers)
    box = share(experiment)
    actors = [
        ExtractionWorker.options(
            num_cpus=execution.num_cpus_per_worker,
            num_gpus=execution.num_gpus_per_model,
            max_restarts=RETRIES,
            max_task_retries=RETRIES,
        ).remote()
        for _ in range(workers)
    ]
    pending: dict[ray.ObjectRef, tuple[ray.actor.ActorHandle, int]] = {}

    def submit(actor: ray.actor.ActorHandle) -> None:
        shard = shards.popleft()
        pending[actor.process.remote(box, shard)] = (actor, len(shard))

    speed: dict[str, list[float]] = {}
    try:
        for _ in range(_IN_FLIGHT):
            for actor in actors:
                if shards:
                    submit(actor)
        while pending:
            [done], _ = ray.wait(list(pending), num_returns=1)
            actor, size = pending.pop(done)
            try:
                shard_speed = ray.get(done)
            except ray.exceptions.RayError as error:
                raise unwrap(error, "extraction") from None
            add_speed(speed, shard_speed)
            advance(size)
            if shards:
                submit(actor)
    finally:
        for actor in actors:
            ray.kill(actor)
    return speed
