"""The original mir_ref's (task, dataset) pairs, as our dataset entries with their tasks.

The original named a task (``instrument_classification``) and datasets (``tinysol``) that each
hold it; ours names the dataset type and picks its tasks. Paths (``dir``) become our ``path``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mir_ref.errors import ConfigError, did_you_mean
from mir_ref.legacy.keys import check_keys
from mir_ref.legacy.notes import Notes


@dataclass(frozen=True)
class Target:
    """Where one original (dataset, task) lands: our dataset type, options and task."""

    type: str
    task: str
    options: tuple[tuple[str, Any], ...] = ()


# The original numbered TinySOL's rounds as mirdata's fold lists came: round k validated on
# fold k and tested on fold k+1. Ours tests on fold k; converted configs keep theirs.
_TINYSOL = (("fold_convention", "validation_k"),)
# original dataset name → original task name → ours.
TARGETS: dict[str, dict[str, Target]] = {
    "tinysol": {
        "instrument_classification": Target("tinysol", "instrument", _TINYSOL),
        "pitch_class_classification": Target("tinysol", "pitch_class", _TINYSOL),
    },
    "beatport_key": {"key_estimation": Target("beatport_key", "key")},
    "magnatagatune": {"autotagging": Target("magnatagatune", "tags")},
    **{
        f"mtg-jamendo-{original}": {
            "autotagging": Target("mtg_jamendo", "tags", (("subset", ours),))
        }
        for original, ours in [
            ("moodtheme", "moodtheme"),
            ("instruments", "instrument"),
            ("genre", "genre"),
            ("top50tags", "top50tags"),
        ]
    },
    "vocalset": {
        "singer_identification": Target("vocalset", "singer"),
        "technique_identification": Target("vocalset", "technique"),
    },
}
# Our task type each original task type must agree with.
TASK_TYPES = {
    "multiclass_classification": ("multiclass", "key"),
    "multilabel_classification": ("multilabel",),
}
_OURS_TYPE = {"instrument": "multiclass", "pitch_class": "multiclass", "key": "key",
              "tags": "multilabel", "singer": "multiclass", "technique": "multiclass"}  # fmt: skip
# Datasets with numbered official splits (folds): `split_type: all` runs every one.
_FOLDED = {"tinysol", "mtg_jamendo"}
_KEYS = ("name", "type", "dir", "split_type", "deformations")


def check_task(task: Any, where: str) -> tuple[str, str]:
    """The original ``task`` mapping's name and type, checked."""
    check_keys(task, where, "task", ("name", "type", "feature_aggregation"))
    names = sorted({name for tasks in TARGETS.values() for name in tasks})
    name = task.get("name")
    if name not in names:
        raise ConfigError(
            f"{where}.name: {name!r} is not a task of the original mir_ref"
            f"{did_you_mean(name, names)} (tasks: {', '.join(names)})"
        )
    kind = task.get("type")
    if kind not in TASK_TYPES:
        raise ConfigError(
            f"{where}.type: {kind!r} is not one of {', '.join(TASK_TYPES)}"
            f"{did_you_mean(kind, TASK_TYPES)}"
        )
    return str(name), str(kind)


def resolve_dir(value: Any, where: str, config_dir: Path) -> Path:
    """An original ``dir``, made absolute.

    Ours resolves relative paths against the config's folder; the original read them from the
    working folder. The config's folder wins when the data is there, else the working folder.
    """
    if not isinstance(value, str | os.PathLike) or not str(value):
        raise ConfigError(f"{where}.dir: the dataset's folder is required (got {value!r})")
    path = Path(os.path.expanduser(str(value)))
    if path.is_absolute():
        return path
    beside, working = (config_dir / path).resolve(), (Path.cwd() / path).resolve()
    return working if not beside.exists() and working.exists() else beside


def convert_dataset(
    spec: Any,
    task_name: str,
    task_type: str,
    where: str,
    *,
    config_dir: Path,
    notes: Notes,
    note_path: tuple,
) -> dict[str, Any]:
    """One original ``datasets`` entry (for the experiment's task) as our dataset entry."""
    check_keys(spec, where, "dataset", _KEYS)
    name = spec.get("name")
    if name not in TARGETS:
        raise ConfigError(
            f"{where}.name: {name!r} is not a dataset of the original mir_ref"
            f"{did_you_mean(name, TARGETS)} (datasets: {', '.join(TARGETS)})"
        )
    target = TARGETS[name].get(task_name)
    if target is None:
        raise ConfigError(
            f"{where}: dataset '{name}' has no task '{task_name}' (its tasks: "
            f"{', '.join(TARGETS[name])})"
        )
    if _OURS_TYPE[target.task] not in TASK_TYPES[task_type]:
        raise ConfigError(
            f"{where}: task '{task_name}' on '{name}' is {_OURS_TYPE[target.task]}, not {task_type}"
        )
    if target.task == "key":
        notes.add(
            note_path,
            "key estimation is our 'key' task: besides accuracy it reports the MIREX weighted "
            "key score",
        )
    kind = spec.get("type", "custom")
    if kind not in ("mirdata", "custom"):
        raise ConfigError(f"{where}.type: {kind!r} is not one of mirdata, custom")
    if dict(target.options).get("fold_convention") == "validation_k":
        notes.add(
            note_path,
            "fold_convention: validation_k: as the original, split k validates on fold k and "
            "tests on fold k+1 (ours, test_k, tests on fold k)",
        )
    if kind == "mirdata":
        notes.add(
            note_path,
            "type: mirdata: read from the same folder by our own loader (nothing is "
            "downloaded); `mir_ref datasets info <type> <path>` checks its layout",
        )
    entry: dict[str, Any] = {
        "name": name,
        "type": target.type,
        "path": str(resolve_dir(spec.get("dir"), where, config_dir)),
        **dict(target.options),
        "tasks": [target.task],
    }
    split_type = spec.get("split_type", "single")
    if split_type not in ("single", "all"):
        raise ConfigError(f"{where}.split_type: {split_type!r} is not one of single, all")
    if split_type == "all":
        if target.type in _FOLDED:
            entry["split"] = "all"
            notes.add(
                (*note_path, "split"),
                "split_type: all: every official split, each reported as <name>@split=<k>",
            )
        else:
            notes.add(
                note_path,
                f"split_type: all: '{name}' has one official split, so it is the same as single",
                warning=True,
            )
    return entry
