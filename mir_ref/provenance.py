"""``provenance.json``: what a run needs to be re-run and checked, written beside its results.

It holds the resolved config; per model what identifies its weights or code beyond its
parameters (a Hugging Face commit, a weights file's or module's SHA-256,
:meth:`~mir_ref.models.base.EmbeddingModel.provenance`); per dataset a fingerprint (a SHA-256
of every track's id, split, group and labels, another of its audio files' sizes and
modification times, and the track count per split); the package versions, Python, OS, CPU
and GPU; and the seconds each stage took. ``provenance_tracks.csv`` beside it holds the rows
the fingerprints hash, so that a changed label can be shown, not only detected.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from mir_ref import registry
from mir_ref.atomic import atomic_write
from mir_ref.datasets.base import SPLITS, Dataset, Track
from mir_ref.errors import MirRefError
from mir_ref.experiment import Experiment

log = logging.getLogger(__name__)

PROVENANCE_FILE = "provenance.json"
TRACKS_FILE = "provenance_tracks.csv"
TRACK_COLUMNS = [
    "dataset", "track", "split", "group", "labels", "audio_bytes", "audio_mtime_ns", "generated",
]  # fmt: skip
"""Columns of ``provenance_tracks.csv``: one row per track; ``labels`` is JSON; the audio file's
size and modification time, or for a generated (synthetic) track the digest of what generates
it (:attr:`~mir_ref.datasets.base.Track.identity`)."""

LABEL_COLUMNS = ["split", "group", "labels"]
"""What ``labels_sha256`` hashes, besides the track id."""
AUDIO_COLUMNS = ["audio_bytes", "audio_mtime_ns", "generated"]
"""What ``audio_sha256`` hashes, besides the track id."""

PACKAGES = [
    "mir_ref", "numpy", "scipy", "torch", "transformers", "huggingface_hub", "onnxruntime",
    "librosa", "soundfile", "soxr", "pedalboard", "scikit-learn", "mir_eval", "pandas",
    "pyarrow", "pydantic", "ray",
]  # fmt: skip


def package_versions() -> dict[str, str | None]:
    """Python, the platform and the installed version of each of :data:`PACKAGES`."""
    versions: dict[str, str | None] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def machine() -> dict[str, Any]:
    """The interpreter, operating system, CPU model and count, and the GPUs visible."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "os": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpus": _gpus(),
    }


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def _gpus() -> list[str]:
    # torch is asked only when a model already imported it: importing it here costs seconds.
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in listing.splitlines() if line.strip()]


def track_rows(dataset: Dataset) -> list[dict[str, Any]]:
    """One :data:`TRACK_COLUMNS` row per track of ``dataset``, in split and track order."""
    rows = []
    for split in SPLITS:
        for track in sorted(dataset.tracks(split), key=lambda t: t.id):
            size, mtime = _file_state(track)
            rows.append(
                {
                    "dataset": dataset.name,
                    "track": track.id,
                    "split": split,
                    "group": track.group,
                    "labels": json.dumps(track.labels, sort_keys=True, default=str),
                    "audio_bytes": size,
                    "audio_mtime_ns": mtime,
                    "generated": track.identity if track.generate is not None else None,
                }
            )
    return rows


def _file_state(track: Track) -> tuple[int | None, int | None]:
    if track.audio_path is None:
        return None, None
    try:
        stat = os.stat(track.audio_path)
    except OSError:
        return None, None
    return stat.st_size, stat.st_mtime_ns


def fingerprint(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A dataset's fingerprint from its :func:`track_rows`.

    ``labels_sha256`` hashes (track id, split, group, labels); ``audio_sha256`` hashes each
    track's audio file size and modification time (a generated track: what generates it) by
    track id, so that a dataset moved elsewhere keeps both while a relabelled track or a
    re-encoded file changes one; ``tracks`` counts tracks per split.
    """
    labels = hashlib.sha256()
    audio = hashlib.sha256()
    for row in rows:
        identity = [row["track"], row["split"], row["group"], row["labels"]]
        labels.update(json.dumps(identity).encode())
        audio.update(json.dumps([row["track"], *(row[c] for c in AUDIO_COLUMNS)]).encode())
    tracks = {split: sum(row["split"] == split for row in rows) for split in SPLITS}
    return {
        "tracks": tracks,
        "labels_sha256": labels.hexdigest(),
        "audio_sha256": audio.hexdigest(),
        "audio_files": sum(row["audio_bytes"] is not None for row in rows),
    }


def model_records(experiment: Experiment) -> dict[str, dict[str, Any]]:
    """Per configured model (once, whatever the densities): its type, parameters, code
    version and :meth:`~mir_ref.models.base.EmbeddingModel.provenance`."""
    records: dict[str, dict[str, Any]] = {}
    for entry in experiment.models:
        if entry.name in records:
            continue
        record = {
            "type": entry.type,
            "params": json.loads(json.dumps(registry.parameters(entry.model), default=str)),
            "version": str(getattr(entry.model, "version", "1")),
        }
        try:
            record.update(entry.model.provenance())
        except (MirRefError, OSError) as error:
            # The run can go on; the record says what could not be identified, and why.
            log.warning("model '%s': its weights could not be identified: %s", entry.name, error)
            record["provenance_error"] = str(error)
        records[entry.name] = record
    return records


def write(experiment: Experiment) -> dict[str, Any]:
    """Write ``provenance.json`` and ``provenance_tracks.csv`` for ``experiment`` (a new
    record: stage times are added as the stages finish); return the record."""
    out = experiment.output_dir
    rows = {dataset.name: track_rows(dataset) for dataset in experiment.datasets}
    record = {
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": experiment.resolved(),
        "datasets": {
            dataset.name: {"type": type(dataset).__name__, **fingerprint(rows[dataset.name])}
            for dataset in experiment.datasets
        },
        "models": model_records(experiment),
        "packages": package_versions(),
        "machine": machine(),
        "stages_s": {},  # filled in as the run's stages finish (record_stage)
    }
    table = pd.DataFrame([row for per in rows.values() for row in per], columns=TRACK_COLUMNS)
    table = table.astype({"audio_bytes": "Int64", "audio_mtime_ns": "Int64"})
    _write_bytes(out / TRACKS_FILE, table.to_csv(index=False).encode())
    _write_json(out / PROVENANCE_FILE, record)
    return record


def record_stage(output_dir: Path, stage: str, seconds: float) -> None:
    """Add the seconds ``stage`` took to ``provenance.json``'s ``stages_s``."""
    record = read(output_dir) or {}
    record.setdefault("stages_s", {})[stage] = round(seconds, 3)
    _write_json(Path(output_dir) / PROVENANCE_FILE, record)


def read(output_dir: Path) -> dict[str, Any] | None:
    """A run folder's ``provenance.json``, or None when it has none."""
    path = Path(output_dir) / PROVENANCE_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as error:
        raise MirRefError(f"{path} is not valid JSON ({error})") from None


def read_tracks(output_dir: Path) -> pd.DataFrame | None:
    """A run folder's ``provenance_tracks.csv``, or None when it has none."""
    path = Path(output_dir) / TRACKS_FILE
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype={"track": str, "split": str, "group": str, "labels": str})


def differences(
    recorded: dict[str, Any], current: dict[str, Any], *, environment: bool = True
) -> list[str]:
    """Every dataset fingerprint, model identity (revision, weights, code) and, with
    ``environment``, package version that differs between two provenance records."""
    found = []
    for name in sorted(set(recorded.get("datasets", {})) | set(current.get("datasets", {}))):
        before = recorded.get("datasets", {}).get(name)
        after = current.get("datasets", {}).get(name)
        if before is None or after is None:
            side = "new" if before is None else "recorded"
            found.append(f"dataset '{name}' is only in the {side} run")
            continue
        if before.get("tracks") != after.get("tracks"):
            found.append(
                f"dataset '{name}': tracks per split differ: {before.get('tracks')} recorded, "
                f"{after.get('tracks')} now"
            )
        if before.get("labels_sha256") != after.get("labels_sha256"):
            found.append(
                f"dataset '{name}': the fingerprint of its tracks, splits and labels differs"
            )
        if before.get("audio_sha256") != after.get("audio_sha256"):
            found.append(
                f"dataset '{name}': the fingerprint of its audio files (sizes and modification "
                "times) differs"
            )
    for name in sorted(set(recorded.get("models", {})) & set(current.get("models", {}))):
        before, after = recorded["models"][name], current["models"][name]
        for key in sorted(set(before) | set(after)):
            if key in ("type", "params", "requested_revision"):
                continue
            if before.get(key) != after.get(key):
                found.append(
                    f"model '{name}': {key} differs: {before.get(key)} recorded, "
                    f"{after.get(key)} now"
                )
    if environment:
        packages = (recorded.get("packages") or {}, current.get("packages") or {})
        for package in sorted(set(packages[0]) | set(packages[1])):
            if package != "platform" and packages[0].get(package) != packages[1].get(package):
                found.append(
                    f"{package}: {packages[0].get(package)} recorded, "
                    f"{packages[1].get(package)} now"
                )
    return found


def changed_tracks(
    before: pd.DataFrame, after: pd.DataFrame, *, dataset: str, columns: list[str]
) -> pd.DataFrame:
    """The tracks of ``dataset`` whose ``columns`` (:data:`LABEL_COLUMNS` or
    :data:`AUDIO_COLUMNS`) differ between two ``provenance_tracks.csv``, side by side:
    ``track`` and each column ``<name>_before`` / ``<name>_after`` (empty where the track is
    absent on that side)."""
    before = before[before["dataset"] == dataset]
    after = after[after["dataset"] == dataset]
    merged = before.merge(
        after, on="track", how="outer", suffixes=("_before", "_after"), indicator=True
    )
    changed = merged["_merge"] != "both"
    for column in columns:
        a, b = merged[f"{column}_before"], merged[f"{column}_after"]
        changed |= ~((a == b) | (a.isna() & b.isna()))
    shown = ["track"] + [f"{c}_{side}" for c in columns for side in ("before", "after")]
    return merged.loc[changed, shown].sort_values("track").reset_index(drop=True)


def _write_json(path: Path, record: dict[str, Any]) -> None:
    _write_bytes(path, (json.dumps(record, indent=2, default=str) + "\n").encode())


def _write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda file: file.write(data), durable=False)
