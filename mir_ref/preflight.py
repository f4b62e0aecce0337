"""Preflight: every problem with a run's data, found before any heavy work and listed at once.

:func:`check` reads each audio file's header (never its audio), every label and every split,
and sorts what it finds into *problems* (the run cannot start), *skips* (bad audio, when the
config's ``execution.on_bad_audio`` is ``skip``) and *warnings*. Skipped tracks are recorded
in ``<output_dir>/skipped.csv`` with their reason, dropped from their dataset for every stage,
and listed in the report. Audio that only shows its fault when decoded (truncated data, NaN
samples) follows the same policy during extraction, through :func:`skip_or_raise`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from mir_ref.datasets.base import SPLITS, Dataset
from mir_ref.errors import DataError
from mir_ref.experiment import Experiment
from mir_ref.plan import condition_labels, extraction_units
from mir_ref.skips import SKIPPED_FILE, Skip, skip_of
from mir_ref.store import Store

log = logging.getLogger(__name__)

_HEADER_READERS = 8
"""Threads reading headers: enough to hide the latency of a network file system."""


@dataclass
class Preflight:
    """What :func:`check` found."""

    problems: list[str] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check(experiment: Experiment, *, audio: bool = True, deep: bool = False) -> Preflight:
    """Every problem with the experiment's data, decoding at most a few frames of each file.

    Checks per dataset: it has tracks; track ids are unique; with ``audio``, each file's
    header (exists, not empty, is audio, WAV data not cut short, audio where the header says
    it ends, a supported sample rate, long enough, the offset inside the file); every label is
    in its task's vocabulary (a finite number for regression); after the skips, every task has
    tracks in every split and at least two classes to train on. ``deep`` also decodes every
    file in full, in parallel (:func:`decode_problems`).
    """
    found = Preflight()
    found.problems.extend(folder_problems(experiment))
    found.problems.extend(model_problems(experiment))
    skip = experiment.config.execution.on_bad_audio == "skip"
    for dataset in experiment.datasets:
        check_dataset(dataset, audio=audio, skip=skip, found=found, deep=deep)
        if not found.problems:
            _moved_label_problems(experiment, dataset, found)
    if found.skips:
        first = found.skips[0]
        log.warning(
            "%d track(s) with bad audio will be skipped (on_bad_audio: skip), e.g. track '%s' "
            "of dataset '%s': %s; a run lists them all in %s",
            len(found.skips),
            first.track,
            first.dataset,
            first.reason,
            experiment.output_dir / SKIPPED_FILE,
        )
    for warning in found.warnings:
        log.warning("%s", warning)
    return found


def folder_problems(experiment: Experiment) -> list[str]:
    """``output_dir`` and ``cache_dir`` that cannot be used: a file where a folder should be,
    a read-only output folder, a read-only cache that lacks embeddings the run needs."""
    problems = []
    folders = {"output_dir": experiment.output_dir, "cache_dir": experiment.cache_dir}
    for key, folder in folders.items():
        existing = _nearest_existing(folder)
        if not existing.is_dir():
            problems.append(f"{key}: {folder} cannot be a folder: {existing} is a file")
            continue
        if os.access(existing, os.W_OK):
            continue
        if key == "cache_dir":
            missing = _missing_embeddings(experiment)
            if not missing:
                continue  # a read-only cache that holds everything serves the run
            detail = f" and lacks {missing} embedding(s) this config needs"
        else:
            detail = ""
        problems.append(
            f"{key}: {folder} is read-only{detail}; make it writable or point {key} elsewhere"
        )
    return problems


def model_problems(experiment: Experiment) -> list[str]:
    """What would stop each configured model from loading (a missing package, weights file or
    model folder), found without loading any network, each naming its ``models[i]`` entry."""
    problems = []
    checked: set[str] = set()
    for entry in experiment.models:  # one entry per density: check each config entry once
        if entry.name in checked:
            continue
        checked.add(entry.name)
        where = f"models[{len(checked) - 1}]"
        problems.extend(f"{where}: {problem}" for problem in entry.model.availability_problems())
    return problems


def _nearest_existing(folder: Path) -> Path:
    """``folder`` itself, or the closest of its parents that exists."""
    return next((path for path in (folder, *folder.parents) if path.exists()), Path("/"))


def _missing_embeddings(experiment: Experiment) -> int:
    store = Store.of(experiment)
    try:
        keys = {key for unit in extraction_units(experiment) for key in unit.keys.values()}
    except DataError:  # the dataset's own problem, reported with the others
        return 0
    return sum(not store.has(key) for key in keys)


def check_dataset(
    dataset: Dataset,
    *,
    audio: bool = True,
    skip: bool = False,
    found: Preflight | None = None,
    deep: bool = False,
) -> Preflight:
    """The dataset's own checks (:meth:`~mir_ref.datasets.checks.Checks.findings`), added to
    ``found`` (a new one if None); with ``skip``, its bad audio becomes skips."""
    found = Preflight() if found is None else found
    findings = dataset.findings(audio=audio, skip=skip, deep=deep)
    found.problems.extend(findings.problems)
    found.skips.extend(skip_of(dataset, track, reason) for track, reason in findings.bad_audio)
    found.warnings.extend(findings.warnings)
    return found


def _moved_label_problems(experiment: Experiment, dataset: Dataset, found: Preflight) -> None:
    """Items whose label a condition moves outside the vocabulary (a warning: they are left
    out of that condition), and splits that would be left empty (a problem)."""
    for condition in experiment.conditions[1:]:
        splits = {"test": ("test",), "train": ("train", "validation")}.get(
            condition.apply_to, SPLITS
        )
        for task in dataset.tasks.values():
            for split in splits:
                tracks = dataset.task_tracks(task.name, split)
                labels = condition_labels(task, tracks, condition)
                if not labels.left_out:
                    continue
                where = (
                    f"dataset '{dataset.name}', task '{task.name}', condition "
                    f"'{condition.label}', {split} split"
                )
                if not labels.tracks:
                    found.problems.append(
                        f"{where}: every label moves outside the task's vocabulary; nothing "
                        f"would be left (add `labels: keep` to the entry, or a milder strength)"
                    )
                    continue
                found.warnings.append(
                    f"{where}: {labels.left_out} of {len(tracks)} items have a moved label "
                    f"outside the task's vocabulary and are left out of this condition only"
                )
