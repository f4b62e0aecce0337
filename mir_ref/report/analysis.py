"""Per-class analysis from stored predictions: confusion matrices, per-class and per-tag
scores, pitch-class orders, octave errors and MIREX key-error categories.

Everything here reads the clean-audio predictions of each model's probe chosen on validation
(the one the overview shows) and pools the seeds: a confusion matrix counts every seed's test items.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn.metrics

from mir_ref.metrics import KEY_ERROR_CATEGORIES, key_error_category
from mir_ref.predictions import read_predictions
from mir_ref.report.run_folder import RunFolder, TaskInfo
from mir_ref.results import CLEAN
from mir_ref.tasks import KEYS, LABEL_KINDS, PITCH_CLASSES, normalize_key

logger = logging.getLogger(__name__)

CIRCLE_OF_FIFTHS = ["C", "G", "D", "A", "E", "B", "F#", "C#", "G#", "D#", "A#", "F"]
PITCH_ERROR_CATEGORIES = ["correct", "octave", "other"]


@dataclass
class TaskPredictions:
    """The pooled clean-audio test predictions of one task, per model.

    Attributes
    ----------
    task : the task, from ``tasks.json``.
    y_true : ``{model: [items]}`` class indices or ``[items, classes]`` indicators.
    y_score : ``{model: [items, classes]}`` scores.
    """

    task: TaskInfo
    y_true: dict[str, np.ndarray] = field(default_factory=dict)
    y_score: dict[str, np.ndarray] = field(default_factory=dict)


def clean_predictions(folder: RunFolder, best: pd.DataFrame) -> dict[str, TaskPredictions]:
    """Read the clean-audio predictions of each (task, model)'s chosen probe.

    Parameters
    ----------
    folder : the run folder.
    best : the output of :func:`mir_ref.report.tables.selected_probes`.

    Returns
    -------
    dict[str, TaskPredictions]
        ``{dataset/task: predictions}`` for the tasks with classes (not regression) whose
        predictions are stored; seeds are concatenated.
    """
    wanted = {
        (row.dataset, row.task, str(row.base_model), str(row.layer), row.probe): row.model
        for row in best.itertuples(index=False)
    }
    found: dict[str, TaskPredictions] = {}
    pooled: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = {}
    for path in folder.prediction_files():
        meta, per_condition = _read(path)
        if meta is None:
            continue
        key = (meta["dataset"], meta["task"], str(meta["model"]), str(meta["layer"]))
        model = wanted.get((*key, meta["probe"]))
        task = folder.tasks.get(key[:2])
        if model is None or task is None or not task.task_type.has_classes:
            continue
        clean = [
            index
            for index, condition in enumerate(meta["conditions"])
            if condition.get("deformation") in (None, CLEAN)
        ]
        if not clean:
            continue
        arrays = per_condition[clean[0]]
        pooled.setdefault((task.column, model), []).append((arrays["y_true"], arrays["y_score"]))
        found.setdefault(task.column, TaskPredictions(task))
    for (column, model), parts in pooled.items():
        found[column].y_true[model] = np.concatenate([part[0] for part in parts])
        found[column].y_score[model] = np.concatenate([part[1] for part in parts])
    return found


def _read(path: Path) -> tuple[dict | None, list]:
    try:
        return read_predictions(path)
    except (OSError, ValueError, KeyError) as error:
        logger.warning("ignoring unreadable predictions %s: %s", path, error)
        return None, []


def confusion(y_true: np.ndarray, y_score: np.ndarray, n_classes: int) -> np.ndarray:
    """``[true, predicted]`` item counts, the prediction being the highest-scoring class."""
    predicted = np.asarray(y_score).argmax(axis=1)
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, dtype=np.int64), predicted), 1)
    return matrix


def per_class_scores(matrix: np.ndarray) -> pd.DataFrame:
    """Precision, recall, F1 and support per class from a ``[true, predicted]`` matrix.

    A class that is never predicted has precision NaN; never true, recall NaN.
    """
    true_positives = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, true_positives / predicted, np.nan)
        recall = np.where(support > 0, true_positives / support, np.nan)
        f1 = np.where((precision + recall) > 0, 2 * precision * recall / (precision + recall), 0.0)
    f1 = np.where(np.isnan(precision) | np.isnan(recall), np.nan, f1)
    return pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(int)}
    )


def tag_auc(y_true: np.ndarray, y_score: np.ndarray) -> np.ndarray:
    """``[tags]`` ROC AUC per tag; NaN for a tag whose test items are all positive or negative."""
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score)
    scores = np.full(y_true.shape[1], np.nan)
    for tag in range(y_true.shape[1]):
        if 0 < y_true[:, tag].sum() < len(y_true):
            scores[tag] = sklearn.metrics.roc_auc_score(y_true[:, tag], y_score[:, tag])
    return scores


def pitch_class_orders(classes: Sequence[str]) -> dict[str, list[int]] | None:
    """Class indices in chromatic and circle-of-fifths order, if ``classes`` are the 12
    pitch classes (any order, sharps or flats); else None."""
    spelled = [_pitch_class(name) for name in classes]
    if len(spelled) != 12 or sorted(spelled, key=str) != sorted(PITCH_CLASSES):
        return None
    index = {name: position for position, name in enumerate(spelled)}
    return {
        "chromatic": [index[name] for name in PITCH_CLASSES],
        "circle of fifths": [index[name] for name in CIRCLE_OF_FIFTHS],
    }


def _pitch_class(name: str) -> str | None:
    try:
        return PITCH_CLASSES[LABEL_KINDS["pitch_class"].position(name)]
    except ValueError:
        return None


def midi_numbers(classes: Sequence[str]) -> np.ndarray | None:
    """``[classes]`` MIDI note numbers, if every class is one (``60``, ``C4``, ``F#3``)."""
    numbers = []
    for name in classes:
        text = str(name).strip()
        if re.fullmatch(r"\d{1,3}", text) and int(text) <= 127:
            numbers.append(int(text))
            continue
        match = re.fullmatch(r"([A-Ga-g][#b]?)(-?\d)", text)
        pitch_class = _pitch_class(match.group(1)) if match else None
        if pitch_class is None:
            return None
        numbers.append(PITCH_CLASSES.index(pitch_class) + 12 * (int(match.group(2)) + 1))
    return np.array(numbers) if len(numbers) > 1 else None


def pitch_errors(matrix: np.ndarray, midi: np.ndarray) -> dict[str, float]:
    """Fractions of items predicted correctly, an octave (or octaves) off, or otherwise wrong.

    Parameters
    ----------
    matrix : ``[true, predicted]`` counts over classes whose MIDI numbers are ``midi``.
    midi : ``[classes]`` MIDI note numbers.
    """
    interval = midi[None, :] - midi[:, None]
    total = max(matrix.sum(), 1)
    correct = matrix[interval == 0].sum()
    octave = matrix[(interval != 0) & (interval % 12 == 0)].sum()
    return {
        "correct": correct / total,
        "octave": octave / total,
        "other": (matrix.sum() - correct - octave) / total,
    }


def is_key_task(task: TaskInfo) -> bool:
    """Whether every class of ``task`` is one of the 24 keys."""
    if task.task_type.fixed_classes == tuple(KEYS):
        return True
    try:
        return bool(task.classes) and all(normalize_key(name) in KEYS for name in task.classes)
    except ValueError:
        return False


def key_errors(matrix: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    """Fractions of items in each MIREX key-error category (:data:`KEY_ERROR_CATEGORIES`).

    Parameters
    ----------
    matrix : ``[true, predicted]`` counts over the key classes ``classes``.
    classes : key names (``C:major``, ``Bb minor``, ...).
    """
    counts = dict.fromkeys(KEY_ERROR_CATEGORIES, 0)
    for reference, estimate in zip(*np.nonzero(matrix), strict=True):
        counts[key_error_category(classes[reference], classes[estimate])] += matrix[
            reference, estimate
        ]
    total = max(matrix.sum(), 1)
    return {category: count / total for category, count in counts.items()}
