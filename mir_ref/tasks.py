"""Task types: what a label is, how it is encoded for a probe, and how it is scored."""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

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


@dataclass(frozen=True)
class LabelChange:
    """What a deformation does to the music that labels describe.

    Parameters
    ----------
    semitones : transposition; pitch classes, MIDI pitches and key tonics move by it.
    tempo_factor : tempo is multiplied by it (a time stretch at rate 2 doubles the tempo).
    """

    semitones: float = 0.0
    tempo_factor: float = 1.0

    def then(self, later: LabelChange) -> LabelChange:
        """This change followed by ``later`` (a chain's steps in order)."""
        return LabelChange(self.semitones + later.semitones, self.tempo_factor * later.tempo_factor)


class LabelKind:
    """What a task's labels are, and how a :class:`LabelChange` moves them.

    A kind reads a label as a *position* (a pitch-class number, a MIDI note, a tonic and mode,
    a tempo) and moves positions; :meth:`Task.moved_labels` maps positions back to the task's
    own spelling of its classes.
    """

    name: ClassVar[str] = "none"
    description: ClassVar[str] = "labels that no deformation moves"
    task_types: ClassVar[tuple[str, ...]] = tuple(TASK_TYPES)

    def moved_by(self, change: LabelChange) -> bool:
        """Whether ``change`` moves labels of this kind."""
        return False

    def undefined(self, change: LabelChange) -> str | None:
        """Why ``change`` has no mapping for this kind (None when it has one)."""
        return None

    def position(self, label: Any) -> Hashable:
        """The label as a position; ``ValueError`` when it is not a label of this kind."""
        return label if isinstance(label, Hashable) else tuple(label)

    def move(self, position: Hashable, change: LabelChange) -> Hashable:
        """Where ``change`` takes ``position``."""
        return position


class _Transposed(LabelKind):
    """A kind that a transposition moves, by whole semitones only."""

    def moved_by(self, change: LabelChange) -> bool:
        return change.semitones != 0

    def undefined(self, change: LabelChange) -> str | None:
        if float(change.semitones).is_integer():
            return None
        return (
            f"a shift of {change.semitones:g} semitones lands between two {self.description}: "
            f"only whole semitones have a label to move to"
        )


class PitchClassKind(_Transposed):
    """Pitch classes C … B (sharps or flats): a shift by n semitones adds n, modulo 12."""

    name = "pitch_class"
    description = "pitch classes"
    task_types = ("multiclass",)

    def position(self, label: Any) -> int:
        tonic = normalize_key(f"{label}:major").split(":")[0] if _is_note_name(label) else None
        if tonic is None:
            raise ValueError(f"{label!r} is not a pitch class (C, C#, Db, ... B)")
        return PITCH_CLASSES.index(tonic)

    def move(self, position: Hashable, change: LabelChange) -> int:
        return (int(position) + int(change.semitones)) % 12


class PitchKind(_Transposed):
    """MIDI note numbers (0 … 127): a shift by n semitones adds n."""

    name = "pitch"
    description = "MIDI note numbers"
    task_types = ("multiclass",)

    def position(self, label: Any) -> int:
        try:
            number = float(label)
        except (TypeError, ValueError):
            number = math.nan
        if not (number.is_integer() and 0 <= number <= 127):
            raise ValueError(f"{label!r} is not a MIDI note number (0 … 127)")
        return int(number)

    def move(self, position: Hashable, change: LabelChange) -> int:
        return int(position) + int(change.semitones)


class KeyKind(_Transposed):
    """The 24 keys, in any spelling :func:`normalize_key` reads: the tonic moves, the mode stays."""

    name = "key"
    description = "keys"
    task_types = ("key", "multiclass")

    def position(self, label: Any) -> tuple[int, str]:
        tonic, mode = normalize_key(label).split(":")
        return PITCH_CLASSES.index(tonic), mode

    def move(self, position: Hashable, change: LabelChange) -> tuple[int, str]:
        tonic, mode = position  # type: ignore[misc]
        return (tonic + int(change.semitones)) % 12, mode


class TempoKind(LabelKind):
    """Tempo in beats per minute: a time stretch at rate r multiplies it by r."""

    name = "tempo"
    description = "tempi"
    task_types = ("regression",)

    def moved_by(self, change: LabelChange) -> bool:
        return change.tempo_factor != 1

    def position(self, label: Any) -> float:
        return float(label)

    def move(self, position: Hashable, change: LabelChange) -> float:
        return float(position) * change.tempo_factor  # type: ignore[arg-type]


LABEL_KINDS: dict[str, LabelKind] = {
    kind.name: kind for kind in (PitchClassKind(), PitchKind(), KeyKind(), TempoKind(), LabelKind())
}
"""Every label kind by name: ``pitch_class``, ``pitch``, ``key``, ``tempo`` and ``none``."""
LabelKindName = Literal["pitch_class", "pitch", "key", "tempo", "none"]
"""The names of :data:`LABEL_KINDS`, for config schemas."""


def _is_note_name(label: Any) -> bool:
    return isinstance(label, str) and re.fullmatch(r"\s*[A-Ga-g][#b]?\s*", label) is not None


@dataclass
class Task:
    """A prediction task on a dataset.

    Parameters
    ----------
    name : the task's name in results (``genre``, ``key``, ...).
    type : one of :data:`TASK_TYPES`.
    classes : the label vocabulary (multiclass, multilabel, key); empty for regression.
    metrics : metric names; the type's defaults when empty.
    label_kind : what the labels are, one of :data:`LABEL_KINDS` (``pitch_class``, ``pitch``,
        ``key``, ``tempo``, ``none``): it says how pitch shifts and time stretches move them.
        ``key`` for key tasks when empty, else ``none``.
    """

    name: str
    type: str
    classes: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    label_kind: str = ""

    def __post_init__(self) -> None:
        if self.type not in TASK_TYPES:
            raise ValueError(f"task type '{self.type}' is not one of {list(TASK_TYPES)}")
        if self.type == "key" and not self.classes:
            self.classes = list(KEYS)
        if not self.metrics:
            self.metrics = list(DEFAULT_METRICS[self.type])
        self.label_kind = self.label_kind or ("key" if self.type == "key" else "none")
        if self.label_kind not in LABEL_KINDS:
            raise ValueError(
                f"task '{self.name}': label_kind '{self.label_kind}' is not one of "
                f"{', '.join(LABEL_KINDS)}"
            )
        if self.type not in self.kind.task_types:
            raise ValueError(
                f"task '{self.name}': label_kind '{self.label_kind}' needs a "
                f"{' or '.join(self.kind.task_types)} task, not {self.type}"
            )
        self._spelling()  # every class must read as a label of the kind

    @property
    def kind(self) -> LabelKind:
        """The :class:`LabelKind` of the task's labels."""
        return LABEL_KINDS[self.label_kind]

    def _spelling(self) -> dict[Hashable, str]:
        """Position → the class that spells it; ``ValueError`` for an unreadable class or two
        classes at one position (``C#`` and ``Db``)."""
        if self.label_kind == "none":
            return {}
        spelling: dict[Hashable, str] = {}
        for name in self.classes:
            try:
                position = self.kind.position(name)
            except ValueError as error:
                raise ValueError(
                    f"task '{self.name}' (label_kind {self.label_kind}): {error}"
                ) from None
            if position in spelling:
                raise ValueError(
                    f"task '{self.name}': the classes '{spelling[position]}' and '{name}' are "
                    f"the same {self.label_kind}; keep one spelling"
                )
            spelling[position] = name
        return spelling

    def label_map_problem(self, change: LabelChange) -> str | None:
        """Why ``change`` cannot move this task's labels (None when it can, or need not)."""
        if not self.kind.moved_by(change):
            return None
        return self.kind.undefined(change)

    def moved_labels(self, labels: Sequence[Any], change: LabelChange) -> list[Any]:
        """``labels`` as they are after a deformation that makes ``change`` to the audio.

        A pitch shift by n semitones adds n to pitch classes (modulo 12), MIDI pitches and key
        tonics (the mode stays); a time stretch at rate r multiplies tempi by r; labels of kind
        ``none`` never move. A moved label is spelled as the task spells its class (``Db``
        stays a flat); one outside the vocabulary (MIDI 109 where the classes stop at 108) is
        None. ``ValueError`` when the change has no mapping (:meth:`label_map_problem`).
        """
        if not self.kind.moved_by(change):
            return list(labels)
        problem = self.label_map_problem(change)
        if problem is not None:
            raise ValueError(f"task '{self.name}': {problem}")
        moved = [self.kind.move(self.kind.position(label), change) for label in labels]
        if self.type == "regression":
            return moved
        spelling = self._spelling()
        return [spelling.get(position) for position in moved]

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
