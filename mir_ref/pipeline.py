"""The streaming extraction pipeline: keep the models busy, hold little, never compute twice.

Work is handed out in small batches of units to ``workers`` processes (spawned; each holds the
experiment's models), never more than a few batches ahead, so memory stays flat however long
the catalogue. Inside a process three things overlap: a reader thread claims and decodes the
next unit (decode, deform), the models embed the current one, and a writer thread stores the
previous one's embeddings. Every model of a unit embeds the same decoded audio; each model's
windows are batched across successive units (:mod:`mir_ref.batches`).

A unit is claimed under non-blocking locks on the keys it computes (:meth:`Store.lock`), so two
runs on one cache split the work instead of repeating it: a unit another run holds is deferred,
and once everything else is done the deferred units are waited for (blocking locks), checked
again and computed only if still missing.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import math
import multiprocessing
import multiprocessing.context
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import threadpoolctl

from mir_ref import progress
from mir_ref.batches import WindowBatches
from mir_ref.experiment import Experiment, ModelEntry
from mir_ref.plan import ExtractionUnit
from mir_ref.skips import TrackSkipped
from mir_ref.store import Store
from mir_ref.units import LastTrack, add_speed, decode_unit, entry_meta, missing_models

log = logging.getLogger(__name__)

UNITS_PER_BATCH = 4
"""Units per task handed to a process: small, so processes finish together at the end."""
BATCHES_PER_WORKER = 2
"""Tasks in flight per process: one running, one queued, so a process never waits for work."""
PENDING_WRITES = 2
"""Units whose embeddings may wait for the writer thread before the models pause."""


@dataclass
class _Claim:
    """A unit ready for its models: locks held on the keys it computes, audio decoded."""

    unit: ExtractionUnit
    models: list[ModelEntry]
    locks: list[Any]
    audio: np.ndarray
    sample_rate: int

    def release(self) -> None:
        for lock in self.locks:
            lock.release()


@dataclass
class _Outcome:
    computed: int = 0
    speed: dict[str, list[float]] = field(default_factory=dict)
    deferred: list[int] = field(default_factory=list)
    """Positions (in the units given) of units another run held."""

    def add(self, other: _Outcome, positions: list[int]) -> None:
        """Merge a batch's outcome; ``positions`` maps its units to this outcome's."""
        self.computed += other.computed
        add_speed(self.speed, other.speed)
        self.deferred.extend(positions[i] for i in other.deferred)


_DEFERRED = object()


def _claim(
    experiment: Experiment, store: Store, unit: ExtractionUnit, *, blocking: bool, last: LastTrack
) -> _Claim | object | None:
    """Lock and decode ``unit``: a claim, ``None`` when nothing is missing, or ``_DEFERRED``."""
    missing = missing_models(experiment, store, unit)
    if not missing:
        return None
    # Sorted, so blocking waiters take locks in one global order and never deadlock; the
    # non-blocking claim takes all or none, so it never holds a lock while waiting.
    keys = sorted({unit.keys[m.id] for m in missing})
    locks = []
    for key in keys:
        lock = store.lock(key)
        if not lock.acquire(blocking=blocking):
            for held in locks:
                held.release()
            return _DEFERRED
        locks.append(lock)
    try:
        # Another run may have finished some of them between the check and the lock.
        missing = missing_models(experiment, store, unit)
        if not missing:
            for held in locks:
                held.release()
            return None
        audio, sample_rate = decode_unit(experiment, unit, last=last)
    except BaseException as error:
        for held in locks:
            held.release()
        if isinstance(error, TrackSkipped):  # bad audio, recorded; on_bad_audio: skip
            return None
        raise
    return _Claim(unit, missing, locks, audio, sample_rate)


def _store(store: Store, results: list[tuple[ModelEntry, np.ndarray]], claim: _Claim) -> None:
    try:
        for model, embeddings in results:
            store.put(claim.unit.keys[model.id], embeddings, meta=entry_meta(claim.unit, model))
    finally:
        claim.release()


def run_units(
    experiment: Experiment,
    store: Store,
    units: list[ExtractionUnit],
    *,
    blocking: bool = False,
    advance: Any = None,
    last: LastTrack | None = None,
) -> _Outcome:
    """Extract ``units`` in this process: read ahead, embed, write behind.

    Each model's windows are batched across successive units (:mod:`mir_ref.batches`), so
    its calls are full whatever the track lengths; a unit is written once all its windows
    are embedded.

    With ``blocking`` false a unit whose keys another run holds is skipped and reported in
    ``deferred``; with ``blocking`` true its locks are waited for. ``advance()`` is called
    once per unit handled. ``last`` keeps the last decoded track across calls.
    """
    outcome = _Outcome()
    if not units:
        return outcome
    last = LastTrack() if last is None else last
    batches = WindowBatches(outcome.speed)
    with (
        ThreadPoolExecutor(1, thread_name_prefix="mir_ref-read") as reader,
        ThreadPoolExecutor(1, thread_name_prefix="mir_ref-write") as writer,
    ):
        writes: collections.deque[Future] = collections.deque()

        def write(completed: list[tuple[_Claim, list[tuple[ModelEntry, np.ndarray]]]]) -> None:
            for index, (claim, results) in enumerate(completed):
                try:
                    while len(writes) >= PENDING_WRITES:
                        writes.popleft().result()
                except BaseException:
                    for unwritten, _ in completed[index:]:
                        unwritten.release()
                    raise
                writes.append(writer.submit(_store, store, results, claim))
                outcome.computed += len(results)

        upcoming: Future | None = reader.submit(
            _claim, experiment, store, units[0], blocking=blocking, last=last
        )
        try:
            for position in range(len(units)):
                claim = upcoming.result()
                upcoming = None
                if position + 1 < len(units):
                    upcoming = reader.submit(
                        _claim, experiment, store, units[position + 1], blocking=blocking, last=last
                    )
                if advance is not None:
                    advance()
                if claim is _DEFERRED:
                    outcome.deferred.append(position)
                    continue
                if claim is None:
                    continue
                try:
                    completed = batches.add(
                        claim.unit, claim.audio, claim.sample_rate, claim.models, tag=claim
                    )
                except BaseException:
                    if not any(pending is claim for pending in batches.pending()):
                        claim.release()
                    raise
                claim.audio = None  # the batches keep what they still need to cut
                write(completed)
            write(batches.flush())
            while writes:
                writes.popleft().result()
        except BaseException:
            if upcoming is not None:
                _release_quietly(upcoming)
            for pending in batches.pending():
                pending.release()
            raise
    return outcome


def _release_quietly(upcoming: Future) -> None:
    try:
        claim = upcoming.result()
    except BaseException:  # the error being raised already says what went wrong
        return
    if isinstance(claim, _Claim):
        claim.release()


@contextlib.contextmanager
def threads_limited(threads: int) -> Iterator[None]:
    """``threads`` BLAS, OpenMP and torch threads in this process, as in an extraction worker.

    A thread count decides the last bits of some results (a multi-threaded matrix product
    sums in another order), so an entry's bits depend on the count it was computed with
    (never on the number of processes). Hand-made features and small networks compute at one
    thread, in any number of processes; large networks may run on several
    (:meth:`~mir_ref.experiment.Experiment.extraction_parallelism`).
    """
    # Deferred: loads torch, which many runs never need.
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpoolctl.threadpool_limits(threads):
            yield
    finally:
        torch.set_num_threads(saved)


def single_threaded() -> contextlib.AbstractContextManager[None]:
    """One BLAS, OpenMP and torch thread in this process (:func:`threads_limited`)."""
    return threads_limited(1)


_WORKER: dict[str, Any] = {}

PARENT_CHECK_S = 0.5
"""How often a worker checks that the process that started it is alive."""


class _WorkerProcess(multiprocessing.context.SpawnProcess):
    """A spawned extraction worker that ignores Ctrl-C from its first instruction.

    Ctrl-C is the parent's to handle (it stops the workers). A worker still importing its
    modules when the terminal's SIGINT arrives would print a traceback; an ignored signal
    stays ignored across ``exec``, and Python does not install its handler over it.
    """

    def start(self) -> None:
        """Start the process with SIGINT ignored (its parent's handler is back at once)."""
        if threading.current_thread() is not threading.main_thread():
            super().start()
            return
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            super().start()
        finally:
            signal.signal(signal.SIGINT, previous)


class _WorkerContext(multiprocessing.context.SpawnContext):
    Process = _WorkerProcess


def _exit_with(parent_pid: int) -> None:
    """Exit this process once ``parent_pid`` is gone (killed, crashed), within
    :data:`PARENT_CHECK_S`: an orphan would hold its models' memory forever, waiting for work
    that never comes."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def _worker_init(experiment: Experiment, parent_pid: int, threads: int) -> None:
    threading.Thread(target=_exit_with, args=(parent_pid,), daemon=True).start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # also when started by another context
    # Read by torch when a model first imports it; set here, before any model runs.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    threadpoolctl.threadpool_limits(threads)
    _WORKER["experiment"] = experiment
    _WORKER["store"] = Store.of(experiment)
    _WORKER["last_track"] = LastTrack()


def _worker_run(batch: list[tuple[int, int, Any, dict[str, str]]]) -> _Outcome:
    experiment: Experiment = _WORKER["experiment"]
    units = [
        ExtractionUnit(experiment.datasets[d], experiment.conditions[c], track, keys)
        for d, c, track, keys in batch
    ]
    return run_units(experiment, _WORKER["store"], units, last=_WORKER["last_track"])


def _portable(experiment: Experiment, unit: ExtractionUnit) -> tuple[int, int, Any, dict]:
    """A unit as indices into the experiment the workers already hold (not its dataset)."""
    dataset = next(i for i, d in enumerate(experiment.datasets) if d is unit.dataset)
    condition = next(i for i, c in enumerate(experiment.conditions) if c is unit.condition)
    return dataset, condition, unit.track, unit.keys


def _batch_size(remaining: int, workers: int) -> int:
    # Guided scheduling: batches shrink as the work runs out, so that at the end no process
    # is still busy with several units while the others wait.
    return max(1, min(UNITS_PER_BATCH, remaining // (4 * workers)))


def _run_processes(
    experiment: Experiment, units: list[ExtractionUnit], workers: int, threads: int, advance: Any
) -> _Outcome:
    outcome = _Outcome()
    # Without the probes: unpickling them would import torch in every worker (seconds of
    # start-up) even when no model needs it.
    portable_experiment = dataclasses.replace(experiment, probes=[])
    with ProcessPoolExecutor(
        workers,
        mp_context=_WorkerContext(),
        initializer=_worker_init,
        initargs=(portable_experiment, os.getpid(), threads),
    ) as pool:
        running: dict[Future, list[int]] = {}
        handed_out = 0
        try:
            while True:
                # Only a few batches in flight: the units wait here, not pickled in a queue.
                while len(running) < BATCHES_PER_WORKER * workers and handed_out < len(units):
                    size = _batch_size(len(units) - handed_out, workers)
                    positions = list(range(handed_out, handed_out + size))
                    handed_out += size
                    portable = [_portable(experiment, units[i]) for i in positions]
                    running[pool.submit(_worker_run, portable)] = positions
                if not running:
                    break
                done, _ = wait_for(running, return_when=FIRST_COMPLETED)
                for future in done:
                    positions = running.pop(future)
                    outcome.add(future.result(), positions)
                    advance(len(positions))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return outcome


def run_pipeline(
    experiment: Experiment,
    store: Store,
    units: list[ExtractionUnit],
    speed: dict[str, list[float]],
    *,
    workers: int,
    threads: int = 1,
) -> int:
    """Extract every embedding of ``units`` the store lacks; return how many were computed.

    Parameters
    ----------
    workers : processes; 1 runs in this process (threads still overlap reading and writing).
    threads : intra-op threads of each process (torch, BLAS, OpenMP).
    speed : accumulates, per model name, :data:`~mir_ref.batches.MEASURES`.
    """
    if not units:
        return 0  # a warm rerun: start no process and load no library
    workers = max(1, min(workers, math.ceil(len(units) / (2 * UNITS_PER_BATCH))))
    with progress.bar("extract", len(units)) as advance:
        if workers == 1:
            with threads_limited(threads):
                outcome = run_units(experiment, store, units, advance=advance)
        else:
            outcome = _run_processes(experiment, units, workers, threads, advance)
    if outcome.deferred:
        log.info(
            "extraction: waiting for %d unit(s) another run is computing", len(outcome.deferred)
        )
        with threads_limited(threads):
            waited = run_units(
                experiment, store, [units[i] for i in sorted(outcome.deferred)], blocking=True
            )
        outcome.computed += waited.computed
        add_speed(outcome.speed, waited.speed)
    add_speed(speed, outcome.speed)
    return outcome.computed
