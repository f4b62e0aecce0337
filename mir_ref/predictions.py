"""Predictions files: where each lives, how it is written and read, and the key it carries.

One file per (dataset, task, model, layer, probe, [train fraction,] seed), an ``.npz`` of
plain arrays (never pickled): ``meta`` (JSON: the key and what produced the file) and, per
test condition ``i``, ``track_ids_i``, ``y_true_i`` (the labels scored), ``y_score_i`` and,
where the condition moved the labels, ``y_clean_i`` and ``y_moved_i``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from mir_ref.atomic import atomic_write
from mir_ref.paths import safe_name

CONDITION_ARRAYS = ("track_ids", "y_true", "y_score", "y_clean", "y_moved")
"""The arrays a file holds per test condition, in the order they are written."""


def predictions_path(output_dir: Path, *parts: str) -> Path:
    """``<output_dir>/predictions/<dataset>/<task>/<model>/<layer>/<probe>/seed<k>.npz``."""
    *folders, last = [safe_name(p) for p in parts]
    return output_dir.joinpath("predictions", *folders, f"{last}.npz")


def write_predictions(
    path: Path, meta: dict[str, Any], per_condition: list[dict[str, np.ndarray]]
) -> None:
    """Write one predictions file atomically.

    Parameters
    ----------
    meta : the key (``meta["key"]``) and what produced the file; ``meta["conditions"]``
        lists the test conditions in the order of ``per_condition``.
    per_condition : per condition, its arrays by name (:data:`CONDITION_ARRAYS`).
    """
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta))}
    for index, condition in enumerate(per_condition):
        for name in CONDITION_ARRAYS:
            if name in condition:
                arrays[f"{name}_{index}"] = condition[name]
    atomic_write(path, lambda file: np.savez(file, **arrays))


def read_predictions(path: Path) -> tuple[dict[str, Any], list[dict[str, np.ndarray]]]:
    """Metadata and, per condition, ``track_ids``, ``y_true`` (the labels scored) and
    ``y_score`` of one file; where the condition moved the labels, also ``y_clean`` (each
    item's clean label) and ``y_moved`` (moved with the audio; -1 outside the vocabulary)."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        per_condition = []
        for i in range(len(meta["conditions"])):
            per_condition.append(
                {
                    name: data[f"{name}_{i}"]
                    for name in CONDITION_ARRAYS
                    if f"{name}_{i}" in data.files
                }
            )
    return meta, per_condition


def stored_key(path: Path) -> str | None:
    """The key a predictions file carries, or None when it is absent or damaged (the CRC-32
    of every member is checked: a damaged file is redone, never trusted)."""
    if not path.is_file():
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            if archive.testzip() is not None:  # a member whose bytes changed
                return None
        with np.load(path, allow_pickle=False) as data:
            return json.loads(str(data["meta"]))["key"]
    except Exception:  # an unreadable file is redone, never trusted
        return None
