"""The training stage: pooled embeddings → probes (grid × seeds) → stored predictions.

Probes train on clean train/validation audio and predict every test condition (train clean,
test deformed). Each (dataset, task, model, layer, probe, seed) writes one predictions file,
keyed by everything that produced it, so a rerun skips what is done.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mir_ref import progress
from mir_ref.config import Condition, Experiment, ModelEntry
from mir_ref.datasets.base import Dataset, Track
from mir_ref.errors import DataError, MirRefError
from mir_ref.plan import component_material, embedding_key
from mir_ref.store import Store, atomic_write, cache_key
from mir_ref.tasks import Task

log = logging.getLogger(__name__)


def pool(windows: np.ndarray, method: str) -> np.ndarray:
    """Pool ``[layers, windows, dim]`` to one track vector per layer, ``[layers, dim']``."""
    if method == "mean":
        return windows.mean(axis=1)
    if method == "max":
        return windows.max(axis=1)
    if method == "mean_std":
        return np.concatenate([windows.mean(axis=1), windows.std(axis=1)], axis=-1)
    raise ValueError(f"pooling '{method}' is not one of mean, max, mean_std")


def safe_name(name: str) -> str:
    """A file-system-safe version of a user-given name."""
    return re.sub(r"[^A-Za-z0-9._=@+-]+", "_", name) or "_"


def predictions_path(output_dir: Path, *parts: str) -> Path:
    """``<output_dir>/predictions/<dataset>/<task>/<model>/<layer>/<probe>/seed<k>.npz``."""
    *folders, last = [safe_name(p) for p in parts]
    return output_dir.joinpath("predictions", *folders, f"{last}.npz")


@dataclass
class _Split:
    tracks: list[Track]
    keys: list[str]


def _features(store: Store, split: _Split, pooling: str, where: str) -> np.ndarray:
    """``[layers, tracks, dim]`` pooled embeddings of a split."""
    vectors = []
    for track, key in zip(split.tracks, split.keys, strict=True):
        try:
            vectors.append(pool(np.asarray(store.get(key)), pooling))
        except KeyError:
            raise DataError(
                f"{where}: no embedding of track '{track.id}' in the cache; run "
                f"`mir_ref extract` first"
            ) from None
    return np.stack(vectors, axis=1).astype(np.float32)


def _task_splits(
    experiment: Experiment, dataset: Dataset, task: str, model: ModelEntry
) -> tuple[dict[str, _Split], dict[str, _Split]]:
    seed = experiment.config.protocol.seed
    embedding = experiment.config.embedding
    clean = experiment.conditions[0]

    def split_of(split: str, condition: Condition) -> _Split:
        tracks = dataset.task_tracks(task, split)
        if not tracks:
            raise DataError(
                f"dataset '{dataset.name}', task '{task}': the {split} split has no tracks"
            )
        keys = [embedding_key(model, t, condition, embedding, seed=seed) for t in tracks]
        return _Split(tracks, keys)

    fit = {split: split_of(split, clean) for split in ("train", "validation")}
    test = {c.label: split_of("test", c) for c in experiment.conditions}
    return fit, test


def _labels(task: Task, tracks: list[Track]) -> np.ndarray:
    return task.encode([t.labels[task.name] for t in tracks], track_ids=[t.id for t in tracks])


def train(experiment: Experiment) -> list[Path]:
    """Train every probe × seed on every (dataset, task, model, layer); write predictions."""
    store = Store(experiment.cache_dir)
    protocol = experiment.config.protocol
    pooling = experiment.config.embedding.pooling
    jobs = [
        (dataset, task, model)
        for dataset in experiment.datasets
        for task in dataset.tasks.values()
        for model in experiment.models
    ]
    per_job = len(experiment.probes) * protocol.seeds
    written: list[Path] = []
    trained = skipped = 0
    total = sum(len(m.model.layers) for _, _, m in jobs) * per_job
    with progress.bar("train", total) as advance:
        for dataset, task, model in jobs:
            where = f"dataset '{dataset.name}', task '{task.name}', model '{model.name}'"
            fit, test = _task_splits(experiment, dataset, task.name, model)
            x = {name: _features(store, split, pooling, where) for name, split in fit.items()}
            x_test = {
                label: _features(store, split, pooling, where) for label, split in test.items()
            }
            y = {name: _labels(task, split.tracks) for name, split in fit.items()}
            y_test = {label: _labels(task, split.tracks) for label, split in test.items()}
            for layer_index, layer in enumerate(model.model.layers):
                for probe in experiment.probes:
                    for seed in range(protocol.seed, protocol.seed + protocol.seeds):
                        material = {
                            "kind": "predictions",
                            "embeddings": cache_key(
                                {
                                    "fit": [s.keys for s in fit.values()],
                                    "test": [s.keys for s in test.values()],
                                }
                            ),
                            "layer": layer,
                            "pooling": pooling,
                            "task": {"type": task.type, "classes": task.classes},
                            "probe": component_material(probe, probe.label()),
                            "protocol": protocol.model_dump(exclude={"seeds", "seed"}),
                            "seed": seed,
                        }
                        key = cache_key(material)
                        path = predictions_path(
                            experiment.output_dir,
                            dataset.name,
                            task.name,
                            model.name,
                            layer,
                            probe.label(),
                            f"seed{seed}",
                        )
                        if _stored_key(path) == key:
                            skipped += 1
                            written.append(path)
                            advance()
                            continue
                        fitted = copy.deepcopy(probe)
                        try:
                            fitted.fit(
                                x["train"][layer_index],
                                y["train"],
                                x["validation"][layer_index],
                                y["validation"],
                                task=task,
                                seed=seed,
                                epochs=protocol.epochs,
                                patience=protocol.patience,
                                learning_rate=protocol.learning_rate,
                                weight_decay=protocol.weight_decay,
                            )
                        except MirRefError as error:
                            raise type(error)(
                                f"{where}, layer '{layer}', probe "
                                f"'{probe.label()}', seed {seed}: {error}"
                            ) from None
                        scores = {
                            label: fitted.predict(features[layer_index])
                            for label, features in x_test.items()
                        }
                        meta = {
                            "key": key,
                            "dataset": dataset.name,
                            "task": task.name,
                            "model": model.name,
                            "layer": layer,
                            "probe": probe.label(),
                            "seed": seed,
                            "conditions": [
                                {"label": c.label, "deformation": c.type, "strength": c.strength}
                                for c in experiment.conditions
                            ],
                            "epochs": int(getattr(fitted, "n_epochs_", 0)),
                        }
                        _write_predictions(path, meta, test, y_test, scores)
                        written.append(path)
                        trained += 1
                        advance()
    log.info("training: %d probes trained, %d found done", trained, skipped)
    return written


def _write_predictions(
    path: Path,
    meta: dict[str, Any],
    test: dict[str, _Split],
    y_test: dict[str, np.ndarray],
    scores: dict[str, np.ndarray],
) -> None:
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta))}
    for index, condition in enumerate(meta["conditions"]):
        label = condition["label"]
        arrays[f"track_ids_{index}"] = np.array([t.id for t in test[label].tracks])
        arrays[f"y_true_{index}"] = y_test[label]
        arrays[f"y_score_{index}"] = np.asarray(scores[label], dtype=np.float32)
    atomic_write(path, lambda file: np.savez(file, **arrays))


def read_predictions(path: Path) -> tuple[dict[str, Any], list[dict[str, np.ndarray]]]:
    """Metadata and, per condition, ``track_ids``, ``y_true`` and ``y_score`` of one file."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        per_condition = [
            {
                "track_ids": data[f"track_ids_{i}"],
                "y_true": data[f"y_true_{i}"],
                "y_score": data[f"y_score_{i}"],
            }
            for i in range(len(meta["conditions"]))
        ]
    return meta, per_condition


def _stored_key(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return json.loads(str(data["meta"]))["key"]
    except Exception:  # an unreadable file is redone, never trusted
        return None
