"""The stages a user runs, on a resolved :class:`~mir_ref.config.Experiment`.

Each stage reads what the previous one left on disk, so each also runs alone; ``run_all``
chains them. The CLI and the Python API both call these.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import platform
import time
from pathlib import Path
from typing import Any

import pandas as pd
import soundfile
import yaml

from mir_ref import progress
from mir_ref.config import Experiment
from mir_ref.errors import DataError
from mir_ref.evaluate import evaluate
from mir_ref.extract import ExtractionStats, extract
from mir_ref.plan import track_rng
from mir_ref.train import safe_name, train

log = logging.getLogger(__name__)

_PACKAGES = [
    "mir_ref", "numpy", "scipy", "torch", "librosa", "soundfile", "soxr", "pedalboard",
    "scikit-learn", "mir_eval", "pandas", "pydantic",
]  # fmt: skip


def validate(experiment: Experiment, *, audio: bool = True) -> list[str]:
    """Every problem that would stop a run (all of them at once), without heavy work."""
    problems = []
    for dataset in experiment.datasets:
        try:
            problems.extend(dataset.check(audio=audio))
        except DataError as error:
            problems.append(str(error))
    return problems


def ensure_valid(experiment: Experiment) -> None:
    """Raise one :class:`DataError` that lists every problem :func:`validate` finds."""
    problems = validate(experiment)
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise DataError(f"the config's data has {len(problems)} problem(s):\n{listing}{more}")


def write_provenance(experiment: Experiment) -> None:
    """Save the resolved config and package versions beside the results."""
    out = experiment.output_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yml").write_text(yaml.safe_dump(experiment.resolved(), sort_keys=False))
    versions: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    (out / "versions.json").write_text(json.dumps(versions, indent=2))


def deform(experiment: Experiment, *, examples: int = 2) -> list[Path]:
    """Write ``examples`` test tracks per dataset and condition as WAV files, to listen to."""
    written = []
    seed = experiment.config.protocol.seed
    jobs = [
        (dataset, condition, track)
        for dataset in experiment.datasets
        for condition in experiment.conditions
        for track in dataset.tracks("test")[:examples]
    ]
    with progress.bar("deform", len(jobs)) as advance:
        for dataset, condition, track in jobs:
            audio, sample_rate = track.audio(dataset.audio_sample_rate)
            if condition.deformation is not None:
                audio = condition.deformation(audio, sample_rate, track_rng(seed, track, condition))
            path = (
                experiment.output_dir
                / "deformed"
                / safe_name(dataset.name)
                / safe_name(condition.label)
                / f"{safe_name(track.id)}.wav"
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, audio, sample_rate, subtype="FLOAT")
            written.append(path)
            advance()
    log.info("deform: wrote %d example files under %s", len(written), experiment.output_dir)
    return written


def report(experiment: Experiment) -> list[Path]:
    """Plots and an HTML page from the stored results (nothing is recomputed)."""
    from mir_ref.report.build import write_report

    index = write_report(
        experiment.output_dir, title=experiment.name, keep_plots=experiment.config.report.plots
    )
    log.info("report: %s", index)
    return [index]


def run_all(experiment: Experiment) -> pd.DataFrame:
    """Validate, extract, train, evaluate, compare and report; returns the results table."""
    start = time.perf_counter()
    ensure_valid(experiment)
    write_provenance(experiment)
    stats: ExtractionStats = extract(experiment)
    train(experiment)
    results = evaluate(experiment)
    from mir_ref.compare import compare_models

    # Paired tests on clean audio, so the report can say which gaps are significant.
    compare_models(experiment)
    # One example track per condition, for the report's listening section.
    deform(experiment, examples=1)
    profile = {
        "seconds": round(time.perf_counter() - start, 2),
        "embeddings_computed": stats.computed,
        "embeddings_cached": stats.cached,
    }
    (experiment.output_dir / "profile.json").write_text(json.dumps(profile, indent=2))
    report(experiment)
    log.info("done in %.1f s; results in %s", profile["seconds"], experiment.output_dir)
    return results
