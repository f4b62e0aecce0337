"""The extraction stage: decode → deform → resample → window → model → pool frames → store.

Each track is decoded and deformed once per condition and fed to every model that still
lacks its embedding; what is in the store already is never recomputed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np
import threadpoolctl

from mir_ref import audio as audio_io
from mir_ref import progress
from mir_ref.config import Experiment
from mir_ref.errors import ComponentError, MirRefError
from mir_ref.models.base import EmbeddingModel
from mir_ref.models.info import write_models_json
from mir_ref.plan import ExtractionUnit, extraction_units, track_rng
from mir_ref.store import Store

log = logging.getLogger(__name__)


@dataclass
class ExtractionStats:
    """What an extraction stage did."""

    computed: int = 0
    cached: int = 0
    speed: dict[str, list[float]] = field(default_factory=dict)
    """Model name → [seconds of audio embedded, seconds spent embedding it] (summed over
    processes), for the speed in ``models.json``."""


def embed_track(
    model: EmbeddingModel,
    audio: np.ndarray,
    sample_rate: int,
    *,
    window_s: float,
    hop_s: float,
) -> np.ndarray:
    """Embed one track's audio window by window.

    Parameters
    ----------
    audio : ``[samples]`` float32 at ``sample_rate``.

    Returns
    -------
    ``[layers, windows, dim]`` float32: the model's frames averaged within each window.
    """
    audio = audio_io.resample(audio, sample_rate, model.sample_rate)
    batch = audio_io.windows(audio, model.sample_rate, window_s=window_s, hop_s=hop_s)
    output = np.asarray(model.embed(batch))
    if output.ndim != 4 or output.shape[1] != batch.shape[0]:
        raise ComponentError(
            f"model {type(model).__name__}.embed returned shape {output.shape}; expected "
            f"[layers, {batch.shape[0]}, frames, dim]"
        )
    return output.mean(axis=2).astype(np.float32)


def _extract_unit(
    experiment: Experiment, store: Store, unit: ExtractionUnit, speed: dict[str, list[float]]
) -> int:
    missing = [m for m in experiment.models if not store.has(unit.keys[m.id])]
    if not missing:
        return 0
    try:
        audio, sample_rate = unit.track.audio(unit.dataset.audio_sample_rate)
    except MirRefError as error:
        raise type(error)(
            f"dataset '{unit.dataset.name}', track '{unit.track.id}': {error}"
        ) from None
    if unit.condition.deformation is not None:
        rng = track_rng(experiment.config.protocol.seed, unit.track, unit.condition)
        audio = unit.condition.deformation(audio, sample_rate, rng)
    for model in missing:
        try:
            start = time.perf_counter()
            embeddings = embed_track(
                model.model, audio, sample_rate, window_s=model.window_s, hop_s=model.hop_s
            )
            totals = speed.setdefault(model.name, [0.0, 0.0])
            totals[0] += len(audio) / sample_rate
            totals[1] += time.perf_counter() - start
        except MirRefError:
            raise
        except Exception as error:
            raise ComponentError(
                f"model '{model.name}' failed on track '{unit.track.id}' of dataset "
                f"'{unit.dataset.name}' ({unit.condition.label}): {error}"
            ) from error
        if not np.all(np.isfinite(embeddings)):
            raise ComponentError(
                f"model '{model.name}' returned NaN or infinite values for track "
                f"'{unit.track.id}' ({unit.condition.label})"
            )
        store.put(unit.keys[model.id], embeddings)
    return len(missing)


def _worker_init(experiment: Experiment) -> None:
    # One BLAS/OpenMP thread per process: the processes already fill the cores, and nested
    # thread pools only contend with each other.
    threadpoolctl.threadpool_limits(1)
    _WORKER["experiment"] = experiment
    _WORKER["store"] = Store(experiment.cache_dir)


def _worker_run(units: list[ExtractionUnit]) -> tuple[int, dict[str, list[float]]]:
    speed: dict[str, list[float]] = {}
    count = sum(_extract_unit(_WORKER["experiment"], _WORKER["store"], u, speed) for u in units)
    return count, speed


_WORKER: dict[str, object] = {}
_CHUNK = 8


def worker_count(experiment: Experiment) -> int:
    """Extraction processes: the config's ``execution.workers``, else the machine's cores."""
    return experiment.config.execution.workers or os.cpu_count() or 1


def extract(experiment: Experiment) -> ExtractionStats:
    """Compute every embedding the experiment needs that the store lacks.

    Work is spread over ``execution.workers`` processes (each unit decodes and deforms a
    track once, then feeds every model that lacks it); results do not depend on the count.
    """
    store = Store(experiment.cache_dir)
    units = extraction_units(experiment)
    todo = [u for u in units if not all(store.has(key) for key in u.keys.values())]
    stats = ExtractionStats(cached=sum(len(u.keys) for u in units))
    workers = min(worker_count(experiment), max(1, len(todo) // _CHUNK))
    with progress.bar("extract", len(todo)) as advance:
        if workers == 1:
            for unit in todo:
                stats.computed += _extract_unit(experiment, store, unit, stats.speed)
                advance()
        else:
            chunks = [todo[i : i + _CHUNK] for i in range(0, len(todo), _CHUNK)]
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                workers, mp_context=context, initializer=_worker_init, initargs=(experiment,)
            ) as pool:
                futures = {pool.submit(_worker_run, chunk): len(chunk) for chunk in chunks}
                try:
                    for future in as_completed(futures):
                        computed, speed = future.result()
                        stats.computed += computed
                        for name, (audio_s, compute_s) in speed.items():
                            totals = stats.speed.setdefault(name, [0.0, 0.0])
                            totals[0] += audio_s
                            totals[1] += compute_s
                        advance(futures[future])
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    stats.cached -= stats.computed
    write_models_json(experiment, stats.speed)
    log.info(
        "extraction: %d embeddings computed, %d found in the cache (%s)",
        stats.computed,
        stats.cached,
        experiment.cache_dir,
    )
    if not units:
        log.warning("extraction: no tracks to embed")
    return stats
