"""The stages a user runs, on a resolved :class:`~mir_ref.experiment.Experiment`.

Each stage reads what the previous one left on disk, so each also runs alone; ``run_all``
chains them. The CLI and the Python API both call these.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import soundfile
import yaml

from mir_ref import preflight, progress, provenance, skips
from mir_ref.atomic import atomic_write_bytes, atomic_write_text
from mir_ref.compare import compare_models, rank_models
from mir_ref.embedding_views import analyse
from mir_ref.errors import DataError
from mir_ref.evaluate import evaluate as evaluate_predictions
from mir_ref.experiment import Experiment
from mir_ref.extract import extract as extract_locally
from mir_ref.paths import safe_name
from mir_ref.plan import outputs_key, track_rng
from mir_ref.store import fast_checksum
from mir_ref.train import train as train_locally
from mir_ref.units import ExtractionStats

log = logging.getLogger(__name__)


def validate(experiment: Experiment, *, audio: bool = True, deep: bool = False) -> list[str]:
    """Every problem that would stop a run (all of them at once), without heavy work; ``deep``
    also decodes every audio file in full (NaN or infinite samples, undecodable audio)."""
    return preflight.check(experiment, audio=audio, deep=deep).problems


def ensure_valid(experiment: Experiment) -> None:
    """Raise one :class:`DataError` that lists every problem the preflight finds; with
    ``on_bad_audio: skip``, record the bad tracks in ``skipped.csv`` and leave them out."""
    found = preflight.check(experiment)
    problems = found.problems
    if not problems:
        skips.skip_tracks(experiment, found.skips, fresh=True)
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise DataError(f"the config's data has {len(problems)} problem(s):\n{listing}{more}")


@contextlib.contextmanager
def timed(experiment: Experiment, stage: str) -> Iterator[None]:
    """Record the seconds the block takes as ``stage`` in ``provenance.json``."""
    start = time.perf_counter()
    yield
    provenance.record_stage(experiment.output_dir, stage, time.perf_counter() - start)


def extract(experiment: Experiment) -> ExtractionStats:
    """The extraction stage, on this machine or on Ray (``execution.backend``)."""
    with timed(experiment, "extract"):
        if experiment.config.execution.backend == "ray":
            # Deferred: loads ray, which many runs never need.
            from mir_ref.backends import ray_extract

            return ray_extract.extract(experiment)
        return extract_locally(experiment)


def train(experiment: Experiment) -> list[Path]:
    """The training stage, on this machine or on Ray (``execution.backend``)."""
    with timed(experiment, "train"):
        if experiment.config.execution.backend == "ray":
            # Deferred: loads ray, which many runs never need.
            from mir_ref.backends import ray_train

            return ray_train.train(experiment)
        return train_locally(experiment)


def evaluate(experiment: Experiment) -> pd.DataFrame:
    """The evaluation stage (:func:`mir_ref.evaluate.evaluate`)."""
    with timed(experiment, "evaluate"):
        return evaluate_predictions(experiment)


def prepare(experiment: Experiment) -> None:
    """The first steps of every run: check the data (:func:`ensure_valid`) and record the
    config and provenance (:func:`write_provenance`)."""
    start = time.perf_counter()
    ensure_valid(experiment)
    write_provenance(experiment)
    provenance.record_stage(experiment.output_dir, "validate", time.perf_counter() - start)


def write_provenance(experiment: Experiment) -> None:
    """Save the resolved config, package versions and ``provenance.json`` beside the results
    (:mod:`mir_ref.provenance`)."""
    out = experiment.output_dir
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yml", yaml.safe_dump(experiment.resolved(), sort_keys=False))
    atomic_write_text(out / "versions.json", json.dumps(provenance.package_versions(), indent=2))
    provenance.write(experiment)


def deform(experiment: Experiment, *, examples: int = 2) -> list[Path]:
    """Write ``examples`` test tracks per dataset and condition as WAV files, to listen to."""
    skips.apply_recorded(experiment)  # not a track skipped for bad audio
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
            wav = io.BytesIO()
            soundfile.write(wav, audio, sample_rate, subtype="FLOAT", format="WAV")
            atomic_write_bytes(path, wav.getbuffer())
            written.append(path)
            advance()
    log.info("deform: wrote %d example files under %s", len(written), experiment.output_dir)
    return written


def report(experiment: Experiment) -> list[Path]:
    """The views of the embeddings the config's report section asks for (drift, similarity,
    maps: from the cache), then plots and an HTML page from the stored outputs."""
    # Deferred: loads sklearn and matplotlib, which many runs never need.
    from mir_ref.report.build import write_report

    with timed(experiment, "report"):
        analyse(experiment)
        index = write_report(
            experiment.output_dir, title=experiment.name, keep_plots=experiment.config.report.plots
        )
    log.info("report: %s", index)
    return [index]


def run_all(experiment: Experiment, *, prepared: bool = False) -> pd.DataFrame:
    """Validate, extract, train, evaluate, compare and report; returns the results table.

    ``prepared``: :func:`prepare` has run already (``mir_ref reproduce`` checks the
    provenance it writes before the heavy work).
    """
    start = time.perf_counter()
    if not prepared:
        prepare(experiment)
    stats: ExtractionStats = extract(experiment)
    train(experiment)
    inputs_key = outputs_key(experiment)
    if _outputs_up_to_date(experiment, inputs_key):
        log.info("results, comparisons and report are up to date in %s", experiment.output_dir)
        return pd.read_parquet(experiment.output_dir / "results.parquet")
    results = evaluate(experiment)

    # Paired tests and rank intervals on clean audio, so the report can say which gaps are
    # significant and which models are tied for first.
    with timed(experiment, "compare"):
        compare_models(experiment)
        rank_models(experiment)
    # One example track per condition, for the report's listening section.
    with timed(experiment, "deform"):
        deform(experiment, examples=1)
    profile = {
        "seconds": round(time.perf_counter() - start, 2),
        "embeddings_computed": stats.computed,
        "embeddings_cached": stats.cached,
    }
    atomic_write_text(experiment.output_dir / "profile.json", json.dumps(profile, indent=2))
    report(experiment)
    # Last: a run killed before this point evaluates and reports again next time.
    _record_outputs(experiment.output_dir, inputs_key)
    log.info("done in %.1f s; results in %s", profile["seconds"], experiment.output_dir)
    return results


_OUTPUTS_RECORD = ".outputs.json"
"""Beside the results: the key of what the last complete run evaluated and reported, and the
size and CRC-32 of every file it left, so that a rerun rebuilds a missing or damaged one."""
_RUN_INPUTS = (
    "config.yml",
    "versions.json",
    "models.json",
    "skipped.csv",
    provenance.PROVENANCE_FILE,
)
"""Files of the output folder that earlier stages rewrite on every run: inputs, not outputs."""


def _output_files(output_dir: Path) -> list[Path]:
    """What evaluation, comparison and report leave in the output folder: every file but the
    predictions (which carry their own keys), the run's inputs and hidden files."""
    return sorted(
        path
        for path in output_dir.rglob("*")
        if path.is_file()
        and path.parts[len(output_dir.parts)] != "predictions"
        and str(path.relative_to(output_dir)) not in _RUN_INPUTS
        and not path.name.startswith(".")
    )


def _file_checksum(path: Path) -> list[int]:
    """``[size, CRC-32]`` of a file."""
    data = path.read_bytes()
    return [len(data), fast_checksum(data)]


def _record_outputs(output_dir: Path, inputs_key: str) -> None:
    files = {
        str(path.relative_to(output_dir)): _file_checksum(path)
        for path in _output_files(output_dir)
    }
    record = {"inputs": inputs_key, "files": files}
    atomic_write_text(output_dir / _OUTPUTS_RECORD, json.dumps(record, indent=1))


def _outputs_up_to_date(experiment: Experiment, inputs_key: str) -> bool:
    """Whether the last complete run evaluated these very inputs and every file it left is
    still there, unchanged."""
    out = experiment.output_dir
    try:
        record = json.loads((out / _OUTPUTS_RECORD).read_text())
        files = record["files"]
        if record["inputs"] != inputs_key:
            return False
        needed = {"results.parquet", str(Path("report") / "index.html")}
        if not needed <= set(files):
            return False
        for name, checksum in files.items():
            if _file_checksum(out / name) != checksum:
                log.info("%s is missing or changed: evaluating and reporting again", out / name)
                return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True
