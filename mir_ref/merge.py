"""Many runs, one comparison: runs that evaluated different models on the same data under the
same protocol, merged into one run folder that the report and the exports read as any other.

Runs merge only when their ``provenance.json`` show the same datasets (tracks, splits and
labels: the fingerprints) and their configs the same protocol (``protocol``, ``embedding``,
``deformations``, ``probes`` and the datasets' settings); otherwise the merge is refused with
the keys that differ. Everything per model (results, summaries, robustness, selections,
predictions) is gathered as it is; what compares the models with each other (``ranks.csv``,
``comparisons.csv``) is computed again over all of them from the stored predictions, exactly
as one run with every model computes it. This is how a leaderboard grows as models arrive.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mir_ref import provenance
from mir_ref.atomic import atomic_write_bytes, atomic_write_text
from mir_ref.compare import compare_models, rank_models
from mir_ref.errors import MirRefError
from mir_ref.experiment import Experiment
from mir_ref.results import KEY_COLUMNS, read_results, write_csv, write_results

log = logging.getLogger(__name__)

PROTOCOL_KEYS = ("protocol", "embedding", "deformations", "probes")
"""Config sections that must agree between merged runs (with the datasets' settings)."""
STACKED_TABLES = (
    "summary.csv",
    "selection.csv",
    "robustness.csv",
    "equivariance.csv",
    "skipped.csv",
)
"""Per-model tables of a run, gathered row by row."""


def default_output(runs: list[Path]) -> Path:
    """``<parent of the first run>/<run>+<run>+...``."""
    return runs[0].parent / "+".join(run.name for run in runs)


def protocol_differences(configs: dict[str, dict[str, Any]]) -> list[str]:
    """Every key of :data:`PROTOCOL_KEYS` and of the dataset settings whose value differs
    between the configs (``{run: resolved config}``), as ``key: value in run, value in run``.

    Where a dataset lives (an absolute path) may differ between machines: what it holds is
    the fingerprints' business, not this one's.
    """
    flat = {run: _flatten(_protocol_part(config)) for run, config in configs.items()}
    keys = sorted(set().union(*flat.values()))
    found = []
    for key in keys:
        values = {run: entries.get(key, "(absent)") for run, entries in flat.items()}
        if len({json.dumps(value, sort_keys=True) for value in values.values()}) > 1:
            listing = ", ".join(f"{_short(value)} in {run}" for run, value in values.items())
            found.append(f"{key}: {listing}")
    return found


def _protocol_part(config: dict[str, Any]) -> dict[str, Any]:
    part = {key: config.get(key) for key in PROTOCOL_KEYS}
    part["datasets"] = {
        str(spec.get("name") or spec.get("type")): {
            key: value
            for key, value in spec.items()
            if not (isinstance(value, str) and os.path.isabs(value))
        }
        for spec in config.get("datasets") or []
    }
    return part


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        flat = {f"{prefix}": f"{len(value)} entries"}
        for index, inner in enumerate(value):
            flat.update(_flatten(inner, f"{prefix}[{index}]"))
        return flat
    return {prefix: value}


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def merge_runs(runs: list[Path], output_dir: Path) -> Path:
    """Merge ``runs`` into ``output_dir`` (created, or replaced if an earlier merge made it).

    Raises
    ------
    MirRefError
        A run lacks ``provenance.json``; the datasets' fingerprints or the protocols differ
        (naming the keys); two runs hold the same model; ``output_dir`` is one of the runs
        or a folder this function did not write.
    """
    runs = [Path(run).resolve() for run in runs]
    output_dir = Path(output_dir).resolve()
    if len(runs) < 2:
        raise MirRefError("--run: give at least two runs to merge")
    if output_dir in runs:
        raise MirRefError(f"the merged run's folder {output_dir} is one of the runs merged")
    records, configs = {}, {}
    for run in runs:
        record = provenance.read(run)
        if record is None:
            raise MirRefError(
                f"{run} has no {provenance.PROVENANCE_FILE}; runs merge only when their "
                "datasets' fingerprints can be compared (rerun it with this version)"
            )
        records[str(run)], configs[str(run)] = record, record["config"]
    problems = protocol_differences(configs)
    problems += _dataset_differences(records)
    problems += _shared_models(records)
    tasks = {run: (Path(run) / "tasks.json").read_text() for run in records}
    if len(set(tasks.values())) > 1:
        problems.append("tasks.json: the runs' tasks (types, classes or metrics) differ")
    if problems:
        raise MirRefError(
            "these runs cannot be merged into one comparison:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
        )
    _prepare_folder(output_dir)
    config = _merged_config(configs, output_dir)
    _gather(runs, output_dir)
    atomic_write_text(output_dir / "tasks.json", next(iter(tasks.values())))
    atomic_write_text(output_dir / "config.yml", yaml.safe_dump(config, sort_keys=False))
    first = records[str(runs[0])]
    merged = {
        **first,
        "config": config,
        "models": {name: m for record in records.values() for name, m in record["models"].items()},
        "stages_s": {},
        "merged_from": {
            run: {"written": record.get("written"), "models": list(record["models"])}
            for run, record in records.items()
        },
    }
    atomic_write_text(output_dir / provenance.PROVENANCE_FILE, json.dumps(merged, indent=2) + "\n")
    experiment = Experiment.from_config(config, build_models=False)
    # What compares models with each other is computed over all of them, as one run would.
    # The runs' own predictions, each checked current when its run evaluated them: the merged
    # config has no models to plan them from.
    files = sorted((output_dir / "predictions").rglob("*.npz"))
    compare_models(experiment, files=files)
    rank_models(experiment, files=files)
    log.info("merged %d runs into %s", len(runs), output_dir)
    return output_dir


def _dataset_differences(records: dict[str, dict[str, Any]]) -> list[str]:
    found = []
    first_run, first = next(iter(records.items()))
    for run, record in list(records.items())[1:]:
        for difference in provenance.differences(first, record, environment=False):
            if difference.startswith("dataset") and "audio files" not in difference:
                found.append(f"{difference} ({first_run} against {run})")
    return found


def _shared_models(records: dict[str, dict[str, Any]]) -> list[str]:
    seen: dict[str, str] = {}
    found = []
    for run, record in records.items():
        for model in record["models"]:
            if model in seen:
                found.append(f"model '{model}' is in both {seen[model]} and {run}")
            seen.setdefault(model, run)
    return found


def _merged_config(configs: dict[str, dict[str, Any]], output_dir: Path) -> dict[str, Any]:
    config = dict(next(iter(configs.values())))
    config["models"] = [spec for each in configs.values() for spec in each["models"]]
    config["output_dir"] = str(output_dir)
    config["name"] = output_dir.name
    return config


def _prepare_folder(output_dir: Path) -> None:
    """Empty an earlier merge's folder; refuse any other folder that holds files."""
    if output_dir.exists() and any(output_dir.iterdir()):
        record = provenance.read(output_dir) if output_dir.is_dir() else None
        if not record or "merged_from" not in record:
            raise MirRefError(
                f"{output_dir} exists and is not a merged run; give another --output folder"
            )
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)


def _gather(runs: list[Path], output_dir: Path) -> None:
    """Results, per-model tables, ``models.json``, predictions and example audio."""
    results = pd.concat([read_results(run) for run in runs], ignore_index=True)
    results = results.sort_values(KEY_COLUMNS, kind="stable", na_position="first")
    write_results(results.reset_index(drop=True), output_dir)
    for name in STACKED_TABLES:
        parts = [pd.read_csv(run / name) for run in runs if (run / name).is_file()]
        if parts:
            write_csv(pd.concat(parts, ignore_index=True), output_dir / name)
    models: dict[str, Any] = {}
    for run in runs:
        path = run / "models.json"
        if path.is_file():
            models.update(json.loads(path.read_text()))
    if models:
        atomic_write_text(output_dir / "models.json", json.dumps(models, indent=2) + "\n")
    for name in ("versions.json",):
        if (runs[0] / name).is_file():
            atomic_write_bytes(output_dir / name, (runs[0] / name).read_bytes())
    for run in runs:
        for path in sorted((run / "predictions").rglob("*.npz")):
            _link_or_copy(path, output_dir / path.relative_to(run))
    examples = next((run / "deformed" for run in runs if (run / "deformed").is_dir()), None)
    if examples is not None:
        shutil.copytree(examples, output_dir / "deformed")


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the file system allows (predictions can be large), else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
