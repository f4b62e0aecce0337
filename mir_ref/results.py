"""The tidy results table: its columns, and reading and writing it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mir_ref.atomic import atomic_write, atomic_write_text
from mir_ref.errors import MirRefError

COLUMNS = [
    "dataset",
    "task",
    "model",
    "layer",
    "window_s",
    "hop_s",
    "deformation",
    "strength",
    "train_fraction",
    "probe",
    "seed",
    "metric",
    "value",
    "ci_low",
    "ci_high",
]
"""Columns of ``results.csv``: one row per measurement. ``window_s`` / ``hop_s`` are the
embedding density (``embedding.window_s`` / ``hop_s``), ``strength`` is NaN on clean audio,
``train_fraction`` is 1.0 unless ``protocol.train_fraction`` sweeps it, and ``ci_low`` /
``ci_high`` bound the 95 % percentile bootstrap interval of ``value`` over test items."""
KEY_COLUMNS = COLUMNS[: COLUMNS.index("value")]
"""The columns that identify a row (everything before ``value``)."""
CLEAN = "none"
"""The ``deformation`` of rows measured on undeformed audio."""
WEIGHTED_LAYER = "weighted"
"""The ``layer`` of rows measured on a learned weighted sum of a model's layers (a model
entry's ``weighted: true``)."""


def write_results(results: pd.DataFrame, output_dir: Path) -> None:
    """Write the table as ``results.csv`` and ``results.parquet`` (each atomically)."""
    write_csv(results, output_dir / "results.csv")
    atomic_write(output_dir / "results.parquet", lambda file: results.to_parquet(file, index=False))


def write_csv(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` (without its index) as a CSV file, atomically: complete or absent."""
    atomic_write_text(path, table.to_csv(index=False))


def read_results(output_dir: Path) -> pd.DataFrame:
    """Read a run's results table."""
    path = Path(output_dir) / "results.csv"
    if not path.is_file():
        raise MirRefError(f"no results at {path}; run `mir_ref evaluate` first")
    return pd.read_csv(path)
