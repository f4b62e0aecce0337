"""The stored outputs of a run, read for the report: required and optional, nothing recomputed.

A run folder always holds ``results.csv`` and ``tasks.json``. Everything else is optional and
read defensively, because runs from older versions (or stages that did not run) lack it: a
missing or unreadable optional file reads as ``None`` (or an empty list), and the report leaves
out the section that would show it.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mir_ref.errors import MirRefError
from mir_ref.results import read_results
from mir_ref.tasks import TASK_TYPES, TaskType

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskInfo:
    """What ``tasks.json`` says about one (dataset, task)."""

    dataset: str
    task: str
    type: str
    classes: tuple[str, ...]
    main_metric: str

    @property
    def task_type(self) -> TaskType:
        """The :class:`~mir_ref.tasks.TaskType` named by :attr:`type`."""
        return TASK_TYPES[self.type]

    @property
    def column(self) -> str:
        """``dataset/task``, the name the report gives the task."""
        return f"{self.dataset}/{self.task}"


class RunFolder:
    """One run's output folder, as the report reads it.

    Parameters
    ----------
    path : the run's ``output_dir``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @functools.cached_property
    def results(self) -> pd.DataFrame:
        """The tidy results table (``results.csv``), with ``deformation`` NaN read as clean."""
        return read_results(self.path)

    @functools.cached_property
    def tasks(self) -> dict[tuple[str, str], TaskInfo]:
        """``{(dataset, task): TaskInfo}`` from ``tasks.json``."""
        path = self.path / "tasks.json"
        if not path.is_file():
            raise MirRefError(f"no task table at {path}; run `mir_ref evaluate` first")
        entries = json.loads(path.read_text(encoding="utf-8"))
        return {
            (entry["dataset"], entry["task"]): TaskInfo(
                dataset=entry["dataset"],
                task=entry["task"],
                type=entry.get("type", "multiclass"),
                classes=tuple(str(name) for name in entry.get("classes", [])),
                main_metric=entry["main_metric"],
            )
            for entry in entries.values()
        }

    @property
    def main_metrics(self) -> dict[tuple[str, str], str]:
        """``{(dataset, task): main metric}``."""
        return {key: info.main_metric for key, info in self.tasks.items()}

    def table(self, name: str) -> pd.DataFrame | None:
        """An optional CSV table of the run (``comparisons.csv``, ...), or None."""
        path = self.path / name
        if not path.is_file():
            return None
        try:
            table = pd.read_csv(path)
        except (OSError, ValueError) as error:
            logger.warning("ignoring %s: %s", path, error)
            return None
        return None if table.empty else table

    def json(self, name: str) -> Any:
        """An optional JSON file of the run (``profile.json``, ``models.json``, ...), or None."""
        path = self.path / name
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            logger.warning("ignoring %s: %s", path, error)
            return None

    def text(self, name: str) -> str | None:
        """An optional text file of the run (``config.yml``), or None."""
        path = self.path / name
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None

    def prediction_files(self) -> list[Path]:
        """Every stored predictions file, sorted."""
        return sorted((self.path / "predictions").rglob("*.npz"))

    def deformed_examples(self) -> dict[tuple[str, str], dict[str, Path]]:
        """The WAV files ``mir_ref deform`` wrote: ``{(dataset, track): {condition: path}}``.

        Conditions keep the folder names (the file-system-safe condition labels), with the
        clean condition, ``none``, first.
        """
        root = self.path / "deformed"
        examples: dict[tuple[str, str], dict[str, Path]] = {}
        for path in sorted(root.glob("*/*/*.wav")):
            dataset, condition = path.parent.parent.name, path.parent.name
            examples.setdefault((dataset, path.stem), {})[condition] = path
        return {
            key: dict(sorted(by_condition.items(), key=lambda item: item[0] != "none"))
            for key, by_condition in examples.items()
        }
