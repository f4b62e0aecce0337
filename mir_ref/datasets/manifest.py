"""Manifest: your own dataset, described by one CSV or JSON Lines file with a row per track.

A row names an audio file (relative to ``audio_root``, by default the manifest's folder) and
holds one label column per task; an optional ``split`` column gives the splits, otherwise they
are drawn by a seeded rule, stratified by the first single-label task::

    path,genre,key,bpm,tags,split
    audio/a.wav,rock,Bb minor,120.5,guitar;drums,train

A file ending in ``.jsonl`` (or ``.ndjson``) holds one JSON object per line, with the same
keys; a multilabel cell may then be a list of tags::

    {"path": "audio/a.wav", "genre": "rock", "tags": ["guitar", "drums"], "split": "train"}

For k-fold evaluation, a ``fold`` column (integers 0..k-1) replaces the split column:
``split: k`` makes fold k the test split, fold k+1 (cyclically) the validation split and the
others the train split.

``group_column`` names a column of related tracks (artist, album, singer, song): the
seeded random split then keeps each group inside one split, and the bootstrap resamples
groups (``Track.group``); a split or fold column of the file that puts one group in two
splits is kept as written, with a warning.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict

from mir_ref.datasets.base import Dataset, Track, stratified_split
from mir_ref.datasets.corpus import apply_track_options, check_track_options
from mir_ref.datasets.splitting import (
    fold_splits,
    grouped_split,
    iterative_stratified_split,
    warn_of_groups_across_splits,
)
from mir_ref.errors import DataError, did_you_mean
from mir_ref.registry import register
from mir_ref.tasks import KEYS, TASK_TYPES, LabelKindName, Task, TaskType, normalize_key

SPLIT_ALIASES = {
    "train": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
}


@dataclass
class TaskSpec:
    """Where one task's labels are in the manifest, and how to read them.

    Parameters
    ----------
    type : the task type (see :data:`~mir_ref.tasks.TASK_TYPES`).
    column : the label column; the task's name when ``None``.
    separator : between the tags of a multilabel cell.
    metrics : metric names; the type's defaults when empty.
    label_kind : what the labels are (``pitch_class``, ``pitch`` as MIDI numbers, ``key``,
        ``tempo`` in BPM, or ``none``), so that pitch shifts and time stretches move them;
        ``key`` for key tasks, else ``none``, when not given.
    """

    __pydantic_config__ = ConfigDict(extra="forbid")

    type: Literal["multiclass", "multilabel", "regression", "key"]
    column: str | None = None
    separator: str = ";"
    metrics: list[str] = field(default_factory=list)
    label_kind: LabelKindName | None = None

    @property
    def task_type(self) -> TaskType:
        """The :class:`~mir_ref.tasks.TaskType` named by :attr:`type`."""
        return TASK_TYPES[self.type]


@register("datasets", "manifest")
@dataclass(kw_only=True)
class ManifestDataset(Dataset):
    """A dataset read from a CSV or JSON Lines manifest: a row per track, a column per task.

    Parameters
    ----------
    path : the CSV file (UTF-8, header row first).
    tasks : task name → :class:`TaskSpec`. After construction this holds the
        :class:`~mir_ref.tasks.Task` objects by name (vocabularies read from the file), as
        the :class:`~mir_ref.datasets.base.Dataset` contract asks.
    audio_root : audio paths are relative to it; the manifest's folder when ``None``.
    audio_column : the column of audio paths.
    id_column : the column of track ids; the audio path as written when ``None``.
    split_column : the column of splits (``train``, ``validation`` or its aliases ``valid``,
        ``val``, ``dev``, ``test``). When ``None``: the column ``split`` if there is one, else
        a 70/15/15 split drawn with ``seed``, stratified by the first multiclass or key task
        (else by the first multilabel task's tags, with iterative stratification).
    seed : draws the split when the manifest has none (and ``max_tracks``).
    fold_column : the column of k-fold fold numbers (0..k-1); ``fold`` when the file has
        one and ``split`` is set.
    split : with a fold column, the test fold (validation is the next fold, train the rest);
        ``all`` in a config runs every fold in turn, as datasets named ``<name>@split=<k>``.
    group_column : the column of each track's group (artist, album, singer, song): the
        random split keeps a group in one split, and the bootstrap resamples groups. An
        empty cell leaves its track ungrouped.
    max_tracks, offset_s, clip_s : track options, as for every corpus (see
        :mod:`mir_ref.datasets.corpus`).

    The whole file is read and checked on construction; missing audio files are reported by
    :meth:`~mir_ref.datasets.base.Dataset.check`, not here.
    """

    path: Path
    tasks: dict[str, TaskSpec]
    audio_root: Path | None = None
    audio_column: str = "path"
    id_column: str | None = None
    split_column: str | None = None
    seed: int = 0
    fold_column: str | None = None
    split: int | Literal["all"] | None = None
    group_column: str | None = None
    max_tracks: int | None = None
    offset_s: float = 0.0
    clip_s: float | None = None

    name = "manifest"
    split_count = None  # the number of folds, once a fold column is read
    citation = "A user's own dataset, read from a manifest file; cite the source of its data."

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if self.audio_root is not None:
            self.audio_root = Path(self.audio_root)
        if not self.tasks:
            raise ValueError("tasks: name at least one task, e.g. {genre: {type: multiclass}}")
        for task_name, spec in self.tasks.items():
            if spec.type == "multilabel" and not spec.separator:
                raise ValueError(f"tasks.{task_name}.separator must not be empty")
        check_track_options(max_tracks=self.max_tracks, offset_s=self.offset_s, clip_s=self.clip_s)
        if self.split == "all":
            raise ValueError(
                "split: 'all' is expanded by the config into one dataset per fold; in Python, "
                "build one ManifestDataset per fold with split=0, 1, ..."
            )
        self.group_kind = self.group_column or ""
        splits, vocabularies = self._read()
        self.tasks = {
            task_name: Task(
                task_name,
                spec.type,
                vocabularies[task_name],
                list(spec.metrics),
                label_kind=spec.label_kind or "",
            )
            for task_name, spec in self.tasks.items()
        }
        self._splits_read = apply_track_options(
            splits,
            self.tasks,
            max_tracks=self.max_tracks,
            offset_s=self.offset_s,
            clip_s=self.clip_s,
            seed=self.seed,
        )

    def _load(self) -> dict[str, list[Track]]:
        return self._splits_read

    def _read(self) -> tuple[dict[str, list[Track]], dict[str, list[str]]]:
        """Parse the manifest: tracks by split, and each task's vocabulary."""
        columns, rows = self._rows()
        label_columns = {
            task_name: self._column(spec.column or task_name, columns, f"task '{task_name}'")
            for task_name, spec in self.tasks.items()
        }
        audio_column = self._column(self.audio_column, columns, "audio_column")
        id_column = self.id_column and self._column(self.id_column, columns, "id_column")
        group_column = self.group_column and self._column(
            self.group_column, columns, "group_column"
        )
        split_column = self.split_column
        if split_column is None and "split" in columns:
            split_column = "split"
        elif split_column is not None:
            split_column = self._column(split_column, columns, "split_column")
        fold_column = self.fold_column
        if fold_column is not None:
            fold_column = self._column(fold_column, columns, "fold_column")
        elif "fold" in columns and self.split is not None:
            fold_column = "fold"
        if fold_column is not None and self.split is None:
            raise DataError(
                f"manifest {self.path}: the fold column '{fold_column}' needs `split: k`, the "
                f"test fold"
            )
        if self.split is not None and fold_column is None:
            raise DataError(
                f"manifest {self.path}: split: {self.split} chooses a fold, but the file has no "
                f"'fold' column (columns: {', '.join(columns)}); set fold_column"
            )
        if fold_column is not None:
            split_column = None
        folds: list[int] = []
        audio_root = self.audio_root if self.audio_root is not None else self.path.parent

        tracks: list[Track] = []
        splits: list[str] = []
        first_line: dict[str, int] = {}
        for line, row in rows:
            audio = self._cell(row, audio_column)
            if not audio:
                raise DataError(f"{self._where(line, audio_column)}: the audio path is empty")
            track_id = self._cell(row, id_column) if id_column else audio
            if not track_id:
                raise DataError(f"{self._where(line, id_column)}: the track id is empty")
            if track_id in first_line:
                raise DataError(
                    f"manifest {self.path}: track id '{track_id}' is on lines "
                    f"{first_line[track_id]} and {line}; ids must be unique"
                    + ("" if id_column else " (set id_column to a column of unique ids)")
                )
            first_line[track_id] = line
            labels = {}
            for task_name, column in label_columns.items():
                label = self._label(self.tasks[task_name], self._cell(row, column), line, column)
                if label is not None:
                    labels[task_name] = label
            if split_column is not None:
                splits.append(self._split(self._cell(row, split_column), line, split_column))
            if fold_column is not None:
                folds.append(self._fold(self._cell(row, fold_column), line, fold_column))
            audio_path = Path(audio)
            tracks.append(
                Track(
                    id=track_id,
                    labels=labels,
                    audio_path=audio_path if audio_path.is_absolute() else audio_root / audio_path,
                    group=self._group(row, group_column, line) if group_column else None,
                )
            )

        if fold_column is not None:
            self.split_count = max(folds) + 1
            splits = fold_splits(folds, int(self.split), self.split_count)
        elif split_column is None:
            splits = self._random_split(tracks)
        by_split: dict[str, list[Track]] = {"train": [], "validation": [], "test": []}
        for split, track in zip(splits, tracks, strict=True):
            by_split[split].append(track)
        where = f"manifest {self.path}, group_column '{group_column}'"
        warn_of_groups_across_splits(by_split, where=where)
        return by_split, {
            task_name: self._vocabulary(task_name, label_columns[task_name], tracks)
            for task_name in self.tasks
        }

    def _rows(self) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
        """The header, and each data row with the line it ends on."""
        if not self.path.is_file():
            raise DataError(f"manifest file not found: {self.path}")
        if self.path.suffix.lower() in (".jsonl", ".ndjson"):
            return self._json_rows()
        try:
            with open(self.path, newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                columns = list(reader.fieldnames or [])
                rows = [(reader.line_num, row) for row in reader]
        except (UnicodeDecodeError, csv.Error) as error:
            raise DataError(f"manifest {self.path} is not a readable UTF-8 CSV: {error}") from None
        if not columns:
            raise DataError(f"manifest {self.path} is empty; its first line must name the columns")
        repeated = sorted({column for column in columns if columns.count(column) > 1})
        if repeated:
            raise DataError(f"manifest {self.path}: columns named twice: {', '.join(repeated)}")
        if not rows:
            raise DataError(f"manifest {self.path} has a header but no rows")
        for line, row in rows:
            if None in row:
                raise DataError(
                    f"manifest {self.path}, line {line}: more cells than the header's "
                    f"{len(columns)} columns"
                )
        return columns, rows

    def _json_rows(self) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
        """JSON Lines: one object per non-blank line; the columns are every key seen."""
        try:
            lines = self.path.read_text(encoding="utf-8-sig").splitlines()
        except UnicodeDecodeError as error:
            raise DataError(f"manifest {self.path} is not UTF-8 JSON Lines: {error}") from None
        rows = []
        for line, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as error:
                raise DataError(
                    f"manifest {self.path}, line {line}: not valid JSON ({error.msg})"
                ) from None
            if not isinstance(row, dict):
                raise DataError(f"manifest {self.path}, line {line}: expected a JSON object")
            rows.append((line, row))
        if not rows:
            raise DataError(f"manifest {self.path} is empty; write one JSON object per line")
        columns = list(dict.fromkeys(key for _, row in rows for key in row))
        return columns, rows

    def _column(self, column: str, columns: list[str], role: str) -> str:
        if column not in columns:
            raise DataError(
                f"manifest {self.path}: {role} reads column '{column}', which is not in the "
                f"file (columns: {', '.join(columns)}){did_you_mean(column, columns)}"
            )
        return column

    @staticmethod
    def _cell(row: dict[str, Any], column: str) -> Any:
        """The stripped text of a cell ("" when empty); a JSON list stays a list of texts."""
        value = row.get(column)
        # A CSV row shorter than the header leaves its last cells as None: empty.
        if value is None:
            return ""
        if isinstance(value, list):
            return [str(item).strip() for item in value]
        return str(value).strip()

    def _where(self, line: int, column: str | None) -> str:
        return f"manifest {self.path}, line {line}, column '{column}'"

    def _label(self, spec: TaskSpec, cell: str, line: int, column: str) -> Any:
        """The label in ``cell``, or ``None`` when the cell is empty (no label)."""
        if not cell:
            return None
        if isinstance(cell, list):
            if spec.type != "multilabel":
                raise DataError(
                    f"{self._where(line, column)}: a list of labels is only valid for a "
                    f"multilabel task, not {spec.type}"
                )
            return list(dict.fromkeys(tag for tag in cell if tag))
        if spec.type == "multiclass":
            return cell
        if spec.type == "key":
            try:
                return normalize_key(cell)
            except ValueError as error:
                raise DataError(f"{self._where(line, column)}: {error}") from None
        if spec.type == "multilabel":
            tags = (tag.strip() for tag in cell.split(spec.separator))
            return list(dict.fromkeys(tag for tag in tags if tag))
        try:
            value = float(cell)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise DataError(f"{self._where(line, column)}: '{cell}' is not a finite number")
        return value

    def _split(self, cell: str, line: int, column: str) -> str:
        split = SPLIT_ALIASES.get(cell.lower())
        if split is None:
            raise DataError(
                f"{self._where(line, column)}: split '{cell}' is not one of train, validation, "
                f"test (or valid, val, dev for validation)"
            )
        return split

    def _group(self, row: dict[str, Any], column: str, line: int) -> str | None:
        cell = self._cell(row, column)
        if isinstance(cell, list):
            raise DataError(f"{self._where(line, column)}: a group is one name, not a list")
        return cell or None

    def _fold(self, cell: str, line: int, column: str) -> int:
        try:
            fold = int(cell)
        except ValueError:
            fold = -1
        if fold < 0:
            raise DataError(
                f"{self._where(line, column)}: fold '{cell}' is not a whole number 0, 1, 2, ..."
            )
        return fold

    def _random_split(self, tracks: list[Track]) -> list[str]:
        """A seeded 70/15/15 split, stratified by the first multiclass or key task, else by
        the first multilabel task's tags (iterative stratification), else plain random; with
        ``group_column``, whole groups are placed (:func:`grouped_split`)."""
        if self.group_column:
            return grouped_split(
                self._strata(tracks), [track.group for track in tracks], seed=self.seed
            )
        for task_name, spec in self.tasks.items():
            if spec.task_type.one_class:
                strata = [track.labels.get(task_name) for track in tracks]
                return stratified_split(strata, seed=self.seed)
        for task_name, spec in self.tasks.items():
            if spec.task_type.has_classes:  # several classes per track: its tags
                tag_sets = [track.labels.get(task_name, []) for track in tracks]
                return iterative_stratified_split(tag_sets, seed=self.seed)
        return stratified_split([None] * len(tracks), seed=self.seed)

    def _strata(self, tracks: list[Track]) -> list[list[Any]]:
        """Each track's labels of the first multiclass or key task, else of the first
        multilabel task, as lists (empty when a track has none)."""
        for one_class in (True, False):
            for task_name, spec in self.tasks.items():
                if spec.task_type.has_classes and spec.task_type.one_class == one_class:
                    labels = [track.labels.get(task_name) for track in tracks]
                    return [[] if x is None else x if isinstance(x, list) else [x] for x in labels]
        return [[] for _ in tracks]

    def _vocabulary(self, task_name: str, column: str, tracks: list[Track]) -> list[str]:
        labelled = [track.labels[task_name] for track in tracks if task_name in track.labels]
        if not labelled:
            raise DataError(
                f"manifest {self.path}: task '{task_name}' has no labels (column '{column}' is "
                f"empty on every row)"
            )
        spec = self.tasks[task_name]
        if spec.type == "key":
            return list(KEYS)
        if spec.type == "multiclass":
            return sorted(set(labelled))
        if spec.type == "multilabel":
            return sorted({tag for tags in labelled for tag in tags})
        return []
