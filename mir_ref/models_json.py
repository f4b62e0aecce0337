"""``models.json``: what each configured model is and how fast it ran.

Written by the extraction stage beside the results: per model its sample rate, native frame
hop and rate, embedding size per layer (read from a stored embedding, so it is what the probes
saw), parameter count, measured extraction speed and peak memory. A rerun that computes
nothing keeps the measures taken before.
"""

from __future__ import annotations

import json
import math
from typing import Any

from mir_ref.atomic import atomic_write_text
from mir_ref.batches import fresh_measures
from mir_ref.experiment import Experiment, ModelEntry
from mir_ref.models.base import parameter_count_of
from mir_ref.plan import component_material, condition_tracks, embedding_key
from mir_ref.store import Store, cache_key

_COUNTS_FILE = ".parameter_counts.json"
"""Beside ``models.json``: parameter counts by component key, so a rerun does not recount."""


def _finite(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _stored_size(experiment: Experiment, entry: ModelEntry, store: Store) -> int | None:
    """Embedding size of the first stored embedding of ``entry``."""
    # Key by key, stopping at the first found: the grid's every key is not needed for one.
    seed = experiment.config.protocol.seed
    for dataset in experiment.datasets:
        for condition in experiment.conditions:
            for track in condition_tracks(dataset, condition):
                key = embedding_key(entry, track, condition, seed=seed, dataset=dataset)
                if store.has(key):
                    return int(store.get(key).shape[-1])
    return None


def model_info(
    experiment: Experiment,
    entry: ModelEntry,
    store: Store,
    *,
    counts: dict[str, int | None],
    measured_parameters: float = math.nan,
) -> dict[str, Any]:
    """The ``models.json`` record of one configured model (without the speed).

    ``counts``: parameter counts by component key, filled in as they are computed; counting
    may build the network (CREPE's imports torch), which a warm rerun should not pay for, and
    the parent need not pay for either when the extraction processes counted them
    (``measured_parameters``, NaN when they did not).
    """
    model = entry.model
    try:
        hop_s = _finite(model.frame_hop_s)
    except Exception:  # e.g. a user model without a fixed hop
        hop_s = None
    size = _stored_size(experiment, entry, store)
    declared = getattr(model, "layer_sizes", None)
    sizes = (
        declared() if size is None and declared is not None else dict.fromkeys(model.layers, size)
    )
    return {
        "type": entry.type,
        "sample_rate_hz": int(model.sample_rate),
        "frame_hop_s": hop_s,
        "frame_rate_hz": None if not hop_s else round(1 / hop_s, 4),
        "layers": sizes,
        "parameters": _parameter_count(entry, counts, measured_parameters),
    }


def _megabytes(value: float | None) -> float | None:
    value = _finite(value)
    return None if value is None else round(value / 2**20, 1)


def _parameter_count(
    entry: ModelEntry, counts: dict[str, int | None], measured: float
) -> int | None:
    key = cache_key(component_material(entry.model, entry.type))
    if math.isfinite(measured):
        counts[key] = int(measured)
    elif key not in counts:
        counts[key] = parameter_count_of(entry.model)
    return counts[key]


def write_models_json(experiment: Experiment, speed: dict[str, list[float]]) -> None:
    """Write ``<output_dir>/models.json``.

    Parameters
    ----------
    speed : model name → :data:`~mir_ref.batches.MEASURES` (seconds of audio embedded,
        seconds spent, peak memory one call added, peak GPU memory, parameter count) over the
        extraction processes; models absent here keep the measures of an earlier run.
    """
    path = experiment.output_dir / "models.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    counts_path = experiment.output_dir / _COUNTS_FILE
    counts = json.loads(counts_path.read_text()) if counts_path.is_file() else {}
    store = Store.of(experiment)
    records = {}
    for entry in experiment.models:
        audio_s, compute_s, added_bytes, gpu_bytes, parameters = speed.get(
            entry.name, fresh_measures()
        )
        record = model_info(experiment, entry, store, counts=counts, measured_parameters=parameters)
        if compute_s > 0:
            record["extraction"] = {
                "audio_s": round(audio_s, 3),
                "compute_s": round(compute_s, 3),
                # Per extraction process: with N workers the wall-clock rate is up to N times.
                "audio_s_per_s": round(audio_s / compute_s, 3),
                "device": getattr(entry.model, "device_name", "cpu"),
                "workers": experiment.extraction_parallelism()[0],
                "threads": experiment.extraction_parallelism()[1],
                # The most resident memory one embedding call (its weight loading included)
                # added to its extraction process; None off Linux.
                "peak_memory_mb": _megabytes(added_bytes),
                "peak_gpu_memory_mb": _megabytes(gpu_bytes),
            }
        else:
            record["extraction"] = previous.get(entry.name, {}).get("extraction")
        records[entry.name] = record
    atomic_write_text(path, json.dumps(records, indent=2) + "\n")
    atomic_write_text(counts_path, json.dumps(counts, indent=2, sort_keys=True) + "\n")
