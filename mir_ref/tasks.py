"""Task types: what a label is, how it is encoded for a probe, and how it is scored."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from mir_ref.errors import DataError

PITCH_CLASSES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
KEYS = [f"{tonic}:{mode}" for mode in ("major", "minor") for tonic in PITCH_CLASSES]
_FLAT_TO_SHARP = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B", "Fb": "E"}
_SHARP_ALIASES = {"E#": "F", "B#": "C"}
# The accidental is case-sensitive: 'Eb' is E flat, 'EB' is a mangled label, not a key.
_KEY_PATTERN = re.compile(r"^\s*([A-Ga-g])([#b]?)\s*[:\s]?\s*((?i:major|minor|maj|min))\s*$")


class TaskType:
    """What a task's labels look like to a probe, and how they are scored.

    The one place that knows the difference between task types: a label's encoding and shape,
    the probe's output activation and loss, whether splits can be stratified by it, its
    default metrics and the label kinds that fit it. Callers ask the type; they do not branch
    on its name.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    default_metrics: ClassVar[tuple[str, ...]]
    activation: ClassVar[Literal["softmax", "sigmoid", "identity"]]
    """What turns the probe's outputs into scores: a distribution over the classes, an
    independent probability per class, or the value itself."""
    loss: ClassVar[Literal["cross_entropy", "binary_cross_entropy", "squared_error"]]
    """What the probe minimises, the loss that matches :attr:`activation`."""
    one_class: ClassVar[bool] = False
    """Each item has exactly one class: encoded as a class index, stratifiable, with a
    confusion matrix."""
    has_classes: ClassVar[bool] = True
    """Labels come from a vocabulary (``classes``); False for real values."""
    fixed_classes: ClassVar[tuple[str, ...]] = ()
    """The vocabulary when the type fixes it (the 24 keys)."""
    label_kinds: ClassVar[tuple[str, ...]] = ("none",)
    """The :data:`LABEL_KINDS` its labels can be; the first is the default."""

    def output_size(self, classes: Sequence[str]) -> int:
        """Number of probe outputs."""
        return len(classes)

    def label_shape(self, items: int, classes: Sequence[str]) -> tuple[int, ...]:
        """Shape of :meth:`encode`'s result for ``items`` labels."""
        return (items,)

    def missing_label(self) -> float:
        """What stands for an item's missing label in an encoded array."""
        return -1

    def label_classes(self, label: Any) -> list[Any]:
        """The classes one item's label names (its tags, or the one class)."""
        return [label]

    def encode(
        self, labels: Sequence[Any], classes: Sequence[str], lookup: Callable[[Any, int], int]
    ) -> np.ndarray:
        """``labels`` as probe targets: ``[n]`` int64 class indices (one class per item),
        ``[n, classes]`` float32 indicators (several) or ``[n]`` float32 values (regression).
        ``lookup(label, row)`` gives a class's index, or raises for one not in ``classes``."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.name


class _OneClass(TaskType):
    activation = "softmax"
    loss = "cross_entropy"
    one_class = True

    def encode(
        self, labels: Sequence[Any], classes: Sequence[str], lookup: Callable[[Any, int], int]
    ) -> np.ndarray:
        return np.array([lookup(label, row) for row, label in enumerate(labels)], dtype=np.int64)


class Multiclass(_OneClass):
    """One label out of a fixed set."""

    name = "multiclass"
    description = "one label out of a fixed set (genre, pitch class, instrument, singer)"
    default_metrics = ("accuracy", "balanced_accuracy", "f1_macro")
    label_kinds = ("none", "pitch_class", "pitch", "key")


class Multilabel(TaskType):
    """Any subset of a vocabulary."""

    name = "multilabel"
    description = "any subset of a tag vocabulary (auto-tagging, instruments present)"
    default_metrics = ("roc_auc", "pr_auc")
    activation = "sigmoid"
    loss = "binary_cross_entropy"

    def label_shape(self, items: int, classes: Sequence[str]) -> tuple[int, ...]:
        return (items, len(classes))

    def label_classes(self, label: Any) -> list[Any]:
        return list(label)

    def encode(
        self, labels: Sequence[Any], classes: Sequence[str], lookup: Callable[[Any, int], int]
    ) -> np.ndarray:
        out = np.zeros((len(labels), len(classes)), dtype=np.float32)
        for row, tags in enumerate(labels):
            for tag in tags:
                out[row, lookup(tag, row)] = 1.0
        return out


class Regression(TaskType):
    """A real value."""

    name = "regression"
    description = "a real value (tempo, arousal, valence)"
    default_metrics = ("r2", "pearson")
    activation = "identity"
    loss = "squared_error"
    has_classes = False
    label_kinds = ("none", "tempo")

    def output_size(self, classes: Sequence[str]) -> int:
        return 1

    def missing_label(self) -> float:
        return math.nan

    def encode(
        self, labels: Sequence[Any], classes: Sequence[str], lookup: Callable[[Any, int], int]
    ) -> np.ndarray:
        return np.asarray(labels, dtype=np.float32)


class Key(_OneClass):
    """A musical key, one of 24."""

    name = "key"
    description = "a musical key, one of 24 (tonic + major/minor), scored with the MIREX weighting"
    default_metrics = ("mirex_key", "accuracy")
    fixed_classes = tuple(KEYS)
    label_kinds = ("key", "none")


TASK_TYPES: dict[str, TaskType] = {
    kind.name: kind for kind in (Multiclass(), Multilabel(), Regression(), Key())
}
"""Every task type by name: ``multiclass``, ``multilabel``, ``regression`` and ``key``."""


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
        if not self.classes:
            self.classes = list(self.task_type.fixed_classes)
        if not self.metrics:
            self.metrics = list(self.task_type.default_metrics)
        self.label_kind = self.label_kind or self.task_type.label_kinds[0]
        if self.label_kind not in LABEL_KINDS:
            raise ValueError(
                f"task '{self.name}': label_kind '{self.label_kind}' is not one of "
                f"{', '.join(LABEL_KINDS)}"
            )
        if self.label_kind not in self.task_type.label_kinds:
            fitting = [t.name for t in TASK_TYPES.values() if self.label_kind in t.label_kinds]
            raise ValueError(
                f"task '{self.name}': label_kind '{self.label_kind}' needs a "
                f"{' or '.join(fitting)} task, not {self.type}"
            )
        self._spelling()  # every class must read as a label of the kind

    @property
    def task_type(self) -> TaskType:
        """The :class:`TaskType` named by :attr:`type`."""
        return TASK_TYPES[self.type]

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
        if not self.task_type.has_classes:
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
        return self.task_type.output_size(self.classes)

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

        return self.task_type.encode(
            labels, self.classes, lambda label, row: lookup(label, ids[row])
        )
