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
from mir_ref.extract import ExtractionStats
from mir_ref.extract import extract as extract_locally
from mir_ref.plan import track_rng
from mir_ref.train import safe_name
from mir_ref.train import train as train_locally

log = logging.getLogger(__name__)

_PACKAGES = [
    "mir_ref", "numpy", "scipy", "torch", "librosa", "soundfile", "soxr", "pedalboard",
    "scikit-learn", "mir_eval", "pandas", "pydantic", "ray",
]  # fmt: skip


def validate(experiment: Experiment, *, audio: bool = True) -> list[str]:
    """Every problem that would stop a run (all of them at once), without heavy work."""
    from mir_ref import preflight

    return preflight.check(experiment, audio=audio).problems


def ensure_valid(experiment: Experiment) -> None:
    """Raise one :class:`DataError` that lists every problem the preflight finds; with
    ``on_bad_audio: skip``, record the bad tracks in ``skipped.csv`` and leave them out."""
    from mir_ref import preflight

    found = preflight.check(experiment)
    problems = found.problems
    if not problems:
        preflight.skip_tracks(experiment, found.skips, fresh=True)
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise DataError(f"the config's data has {len(problems)} problem(s):\n{listing}{more}")


def extract(experiment: Experiment) -> ExtractionStats:
    """The extraction stage, on this machine or on Ray (``execution.backend``)."""
    if experiment.config.execution.backend == "ray":
        from mir_ref.backends import ray_extract

        return ray_extract.extract(experiment)
    return extract_locally(experiment)


def train(experiment: Experiment) -> list[Path]:
    """The training stage, on this machine or on Ray (``execution.backend``)."""
    if experiment.config.execution.backend == "ray":
        from mir_ref.backends import ray_train

        return ray_train.train(experiment)
    return train_locally(experiment)


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
    from mir_ref import preflight

    preflight.apply_recorded(experiment)  # not a track skipped for bad audio
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
                audio = condition.deformation(
                    audio, sample_rate, track_rng(seed, dataset, track, condition)
                )
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
    """The views of the embeddings the config's report section asks for (drift, similarity,
    maps: from the cache), then plots and an HTML page from the stored outputs."""
    from mir_ref.embedding_views import analyse
    from mir_ref.report.build import write_report

    analyse(experiment)
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
    inputs_key = _outputs_inputs_key(experiment)
    if _outputs_up_to_date(experiment, inputs_key):
        log.info("results, comparisons and report are up to date in %s", experiment.output_dir)
        return pd.read_parquet(experiment.output_dir / "results.parquet")
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
    # Last: a run killed before this point evaluates and reports again next time.
    (experiment.output_dir / _OUTPUTS_KEY).write_text(inputs_key)
    log.info("done in %.1f s; results in %s", profile["seconds"], experiment.output_dir)
    return results


_OUTPUTS_KEY = ".outputs_key"
"""Beside the results: the key of what the last complete run evaluated and reported."""


def _outputs_inputs_key(experiment: Experiment) -> str:
    """A key of everything evaluation, comparison and report read: the resolved config, the
    predictions and run files as they are on disk, and the mir_ref code itself."""
    import mir_ref
    from mir_ref.store import cache_key

    def state(paths: list[Path], root: Path) -> list[tuple[str, int, int]]:
        stats = [(path, path.stat()) for path in paths if path.is_file()]
        return sorted((str(p.relative_to(root)), s.st_size, s.st_mtime_ns) for p, s in stats)

    out = experiment.output_dir
    code = Path(mir_ref.__file__).parent
    # Rewritten by every run, so by content rather than by modification time.
    run_files = {
        name: (out / name).read_text() if (out / name).is_file() else None
        for name in ("models.json", "skipped.csv")
    }
    return cache_key(
        {
            "kind": "outputs",
            "config": experiment.resolved(),
            "predictions": state(list((out / "predictions").rglob("*.npz")), out),
            "run_files": run_files,
            "code": state(list(code.rglob("*.py")) + list(code.rglob("*.j2")), code),
        }
    )


def _outputs_up_to_date(experiment: Experiment, inputs_key: str) -> bool:
    out = experiment.output_dir
    marker = out / _OUTPUTS_KEY
    needed = [out / "results.parquet", out / "report" / "index.html"]
    return (
        marker.is_file()
        and marker.read_text() == inputs_key
        and all(path.is_file() for path in needed)
    )
