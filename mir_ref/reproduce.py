"""From a published run back to a run: re-run a run folder from its config and provenance
alone, say what differs in its inputs, and diff the two results tables.

``reproduce`` reads the run's resolved ``config.yml`` (absolute paths) and ``provenance.json``,
pins every Hugging Face model to the commit the run loaded, runs every stage into a new folder
(with a fresh embedding cache unless told otherwise), warns about every dataset fingerprint,
model revision or weights hash and package version that differs from the record (with the
track rows whose labels or audio changed), and compares the two ``results.csv``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mir_ref import provenance, stages
from mir_ref.config import parse_config
from mir_ref.errors import MirRefError
from mir_ref.experiment import Experiment
from mir_ref.results import KEY_COLUMNS, read_results

log = logging.getLogger(__name__)

COMPARED = ["value", "ci_low", "ci_high"]
"""The columns of ``results.csv`` compared for each row (the rest identify it)."""


@dataclass
class ResultsDiff:
    """How two results tables differ.

    ``changed`` holds the rows present in both whose :data:`COMPARED` values differ, side by
    side (``value_a``, ``value_b``, ``difference`` = b − a, and the intervals); ``only_a`` and
    ``only_b`` the rows of one table only (their key columns and value).
    """

    a: Path
    b: Path
    rows: int
    changed: pd.DataFrame
    only_a: pd.DataFrame
    only_b: pd.DataFrame

    @property
    def identical(self) -> bool:
        """Whether every row matches exactly (NaN matching NaN)."""
        return self.changed.empty and self.only_a.empty and self.only_b.empty

    def summary(self) -> str:
        """One line: identical, or how many rows differ and by how much at most."""
        if self.identical:
            return f"identical: the {self.rows} result rows of {self.a} and {self.b} match exactly"
        parts = []
        if not self.changed.empty:
            largest = np.nanmax(np.abs(self.changed["difference"].to_numpy(dtype=float)))
            largest_text = f"{largest:.3g}" if np.isfinite(largest) else "–"
            parts.append(
                f"{len(self.changed)} of {self.rows} rows differ (largest |value difference| "
                f"{largest_text})"
            )
        if not self.only_a.empty:
            parts.append(f"{len(self.only_a)} rows only in {self.a}")
        if not self.only_b.empty:
            parts.append(f"{len(self.only_b)} rows only in {self.b}")
        return "results differ: " + "; ".join(parts)


def diff_results(a: str | Path, b: str | Path) -> ResultsDiff:
    """Compare the ``results.csv`` of two run folders row by row (matched on every column
    before ``value``)."""
    a, b = Path(a), Path(b)
    left, right = _keyed(read_results(a)), _keyed(read_results(b))
    merged = left.merge(right, on=KEY_COLUMNS, how="outer", suffixes=("_a", "_b"), indicator=True)
    both = merged[merged["_merge"] == "both"]
    differs = np.zeros(len(both), dtype=bool)
    for column in COMPARED:
        x = both[f"{column}_a"].to_numpy(dtype=float)
        y = both[f"{column}_b"].to_numpy(dtype=float)
        differs |= ~((x == y) | (np.isnan(x) & np.isnan(y)))
    changed = both.assign(difference=both["value_b"] - both["value_a"])[differs]
    columns = [*KEY_COLUMNS, "value_a", "value_b", "difference", "ci_low_a", "ci_low_b"]
    columns += ["ci_high_a", "ci_high_b"]
    only = {
        side: merged.loc[merged["_merge"] == which, [*KEY_COLUMNS, f"value_{side}"]]
        .rename(columns={f"value_{side}": "value"})
        .reset_index(drop=True)
        for side, which in (("a", "left_only"), ("b", "right_only"))
    }
    return ResultsDiff(
        a,
        b,
        rows=len(merged),
        changed=changed[columns].reset_index(drop=True),
        only_a=only["a"],
        only_b=only["b"],
    )


def _keyed(results: pd.DataFrame) -> pd.DataFrame:
    """Key columns as comparable values: text names, numbers, ``none`` for clean."""
    results = results.copy()
    for column in ("dataset", "task", "model", "layer", "deformation", "probe", "metric"):
        results[column] = results[column].astype("string").fillna("none").astype(str)
    for column in ("window_s", "hop_s", "strength", "train_fraction", "seed"):
        results[column] = pd.to_numeric(results[column], errors="coerce")
    return results


@dataclass
class Reproduction:
    """What ``reproduce`` found: the new run's folder, the input differences it warned
    about, the changed track rows per dataset, and the results diff."""

    output_dir: Path
    warnings: list[str] = field(default_factory=list)
    changed_tracks: dict[str, pd.DataFrame] = field(default_factory=dict)
    diff: ResultsDiff | None = None


def default_output(run: Path) -> Path:
    """``<run>-again`` beside the run."""
    return run.parent / f"{run.name}-again"


def reproduce(
    run: str | Path, *, output_dir: str | Path | None = None, cache_dir: str | Path | None = None
) -> Reproduction:
    """Re-run the run folder ``run`` from its ``config.yml`` and ``provenance.json``.

    Parameters
    ----------
    run : a run's output folder (it may have been copied elsewhere; the datasets must be at
        the paths its config names).
    output_dir : the new run's folder (default :func:`default_output`); must not be ``run``.
    cache_dir : the embedding cache; default a new one inside ``output_dir``, so that every
        embedding is computed again.

    Returns
    -------
    Reproduction
        Its ``warnings`` are logged as they are found, before the heavy work.
    """
    run = Path(run).resolve()
    output = Path(output_dir).resolve() if output_dir is not None else default_output(run)
    if output == run:
        raise MirRefError(f"-o: the reproduction's folder must differ from the run's ({run})")
    config_path = run / "config.yml"
    if not config_path.is_file():
        raise MirRefError(f"{run} has no config.yml: it is not a run folder")
    recorded = provenance.read(run)
    if recorded is None:
        log.warning(
            "%s has no %s: nothing to check the inputs against", run, provenance.PROVENANCE_FILE
        )
    config = yaml.safe_load(config_path.read_text())
    config["output_dir"] = str(output)
    config["cache_dir"] = str(Path(cache_dir).resolve() if cache_dir else output / "cache")
    if recorded is not None:
        _pin_revisions(config, recorded)
    experiment = Experiment.from_config(parse_config(config, base_dir=run, source=str(config_path)))
    stages.prepare(experiment)
    found = Reproduction(output)
    if recorded is not None:
        current = provenance.read(output) or {}
        found.warnings = provenance.differences(recorded, current)
        for warning in found.warnings:
            log.warning("differs from the recorded run: %s", warning)
        found.changed_tracks = _changed_tracks(run, output, recorded, current)
    stages.run_all(experiment, prepared=True)
    found.diff = diff_results(run, output)
    return found


def _pin_revisions(config: dict, recorded: dict) -> None:
    """Give every hub model the commit the recorded run loaded, unless its entry pins one."""
    for spec in config.get("models", []):
        name = str(spec.get("name") or spec.get("type"))
        revision = (recorded.get("models", {}).get(name) or {}).get("revision")
        if revision and not spec.get("revision"):
            spec["revision"] = revision


def _changed_tracks(
    run: Path, output: Path, recorded: dict, current: dict
) -> dict[str, pd.DataFrame]:
    """Per dataset whose fingerprint differs, the track rows that changed."""
    before, after = provenance.read_tracks(run), provenance.read_tracks(output)
    if before is None or after is None:
        return {}
    found = {}
    for name, fingerprint in recorded.get("datasets", {}).items():
        now = current.get("datasets", {}).get(name, {})
        for key, columns in (
            ("labels_sha256", provenance.LABEL_COLUMNS),
            ("audio_sha256", provenance.AUDIO_COLUMNS),
        ):
            if fingerprint.get(key) != now.get(key):
                rows = provenance.changed_tracks(before, after, dataset=name, columns=columns)
                if not rows.empty:
                    found[f"{name} ({'labels' if key == 'labels_sha256' else 'audio'})"] = rows
    return found
