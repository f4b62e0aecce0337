"""Task types: what a label is, how it is encoded for a probe, and how it is scored."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mir_ref.errors import DataError

TASK_TYPES = {
    "multiclass": "one label out of a fixed set (genre, pitch class, instrument, singer)",
    "multilabel": "any subset of a tag vocabulary (auto-tagging, instruments present)",
    "regression": "a real value (tempo, arousal, valence)",
    "key": "a musical key, one of 24 (tonic + major/minor), scored with the MIREX weighting",
}

DEFAULT_METRICS = {
    "multiclass": ["accuracy", "balanced_accuracy", "f1_macro"],
    "multilabel": ["roc_auc", "pr_auc"],
    "regression": ["r2", "pearson"],
    "key": ["mirex_key", "accuracy"],
}

PITCH_CLASSES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
KEYS = [f"{tonic}:{mode}" for mode in ("major", "minor") for tonic in PITCH_CLASSES]
_FLAT_TO_SHARP = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B", "Fb": "E"}
_SHARP_ALIASES = {"E#": "F", "B#": "C"}
# The accidental is case-sensitive: 'Eb' is E flat, 'EB' is a mangled label, not a key.
_KEY_PATTERN = re.compile(r"^\s*([A-Ga-g])([#b]?)\s*[:\s]?\s*((?i:major|minor|maj|min))\s*$")


def normalize_key(label: str) -> str:
    """Spell a key label as ``'<tonic>:<mode>'`` with sharps, e.g. ``'Bb minor'`` → ``'A#:minor'``.

    Raises ``ValueError`` for labels that are not one of the 24 keys.
    """
    match = _KEY_PATTERN.match(str(label))
    if not match:
        raise ValueError(f"'{label}' is not a key; expected e.g. 'C:major', 'F#:minor', 'Bb minor'")
    letter, accidental, mode = match.groups()
    tonic = letter.upper() + accidental
    tonic = _FLAT_TO_SHARP.get(tonic, _SHARP_ALIASES.get(tonic, tonic))
    mode = "major" if mode.lower().startswith("maj") else "minor"
    return f"{tonic}:{mode}"


@dataclass
class Task:
    """A prediction task on a dataset.

    Parameters
    ----------
    name : the task's name in results (``genre``, ``key``, ...).
    type : one of :data:`TASK_TYPES`.
    classes : the label vocabulary (multiclass, multilabel, key); empty for regression.
    metrics : metric names; the type's defaults when empty.
    """

    name: str
    type: str
    classes: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.type not in TASK_TYPES:
            raise ValueError(f"task type '{self.type}' is not one of {list(TASK_TYPES)}")
        if self.type == "key" and not self.classes:
            self.classes = list(KEYS)
        if not self.metrics:
            self.metrics = list(DEFAULT_METRICS[self.type])

    @property
    def main_metric(self) -> str:
        """The metric shown in overview plots."""
        return self.metrics[0]

    @property
    def output_size(self) -> int:
        """Number of probe outputs."""
        return 1 if self.type == "regression" else len(self.classes)

    def encode(self, labels: list[Any], *, track_ids: list[str] | None = None) -> np.ndarray:
        """Encode labels for a probe.

        Returns ``[n]`` int64 class indices (multiclass, key), ``[n, classes]`` float32
        indicators (multilabel) or ``[n]`` float32 values (regression).
        """
        index = {name: i for i, name in enumerate(self.classes)}
        ids = track_ids or [str(i) for i in range(len(labels))]

        def lookup(label: Any, track_id: str) -> int:
            if label not in index:
                shown = ", ".join(self.classes[:20]) + (", ..." if len(self.classes) > 20 else "")
                raise DataError(
                    f"track '{track_id}', task '{self.name}': label '{label}' is not in the "
                    f"vocabulary ({shown})"
                )
            return index[label]

        if self.type in ("multiclass", "key"):
            return np.array(
                [lookup(lab, t) for lab, t in zip(labels, ids, strict=True)], dtype=np.int64
            )
        if self.type == "multilabel":
            out = np.zeros((len(labels), len(self.classes)), dtype=np.float32)
            for row, (tags, track_id) in enumerate(zip(labels, ids, strict=True)):
                for tag in tags:
                    out[row, lookup(tag, track_id)] = 1.0
            return out
        return np.asarray(labels, dtype=np.float32)
