"""An original mir_ref config (top-level ``experiments``) as one or more of our configs.

Each original experiment is one task on some datasets, each dataset with its own deformation
scenarios, evaluated with its features and probes. Ours is a grid (datasets × deformations ×
models × probes) with one training protocol, so an experiment becomes one config, or several
when its datasets differ in deformations or its probes in training options: the grid of each
is then exactly the original's, and the converted configs run the same jobs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mir_ref.config import Config
from mir_ref.deformations import compat
from mir_ref.errors import ConfigError
from mir_ref.legacy.datasets import check_task, convert_dataset
from mir_ref.legacy.features import convert_feature
from mir_ref.legacy.keys import check_keys
from mir_ref.legacy.notes import Notes
from mir_ref.legacy.probes import ConvertedProbe, convert_probe

_EXPERIMENT_KEYS = ("task", "datasets", "features", "probes")
_POOLING = {"mean": "mean", "max": "max"}


@dataclass
class ConvertedConfig:
    """One of our configs (a dict), the notes on it, and what it came from.

    ``missing`` lists, one message each, the dataset folders and weight files it needs and
    lacks: running fails on them, converting does not.
    """

    config: dict[str, Any]
    notes: Notes
    source: str
    missing: list[str] = field(default_factory=list)


def is_original(data: Any) -> bool:
    """Whether ``data`` (a parsed YAML document) is in the original mir_ref's format."""
    ours = set(Config.model_fields) - {"base_dir"}
    return isinstance(data, dict) and "experiments" in data and not set(data) & ours


def convert(data: dict[str, Any], *, config_dir: Path, name: str) -> list[ConvertedConfig]:
    """Every experiment of an original config as our configs, in order.

    Parameters
    ----------
    data : the original config, parsed.
    config_dir : its folder; relative ``dir`` and weight paths resolve against it (or, when
        the data is not there, against the working folder, as the original read them).
    name : the run's name (the file's stem); several configs are named ``<name>-<k>``.

    Raises
    ------
    ConfigError
        A key or value the original format does not have, naming its key path.
    """
    unknown = sorted(set(data) - {"experiments"})
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown top-level key of an original mir_ref config")
    experiments = data["experiments"]
    if not isinstance(experiments, list) or not experiments:
        raise ConfigError("experiments: expected a non-empty list of experiments")
    converted = [
        part
        for index, experiment in enumerate(experiments)
        for part in _experiment(experiment, f"experiments[{index}]", config_dir)
    ]
    for number, part in enumerate(converted, start=1):
        part.config = {"name": name if len(converted) == 1 else f"{name}-{number}", **part.config}
    return converted


def _experiment(spec: Any, where: str, config_dir: Path) -> list[ConvertedConfig]:
    check_keys(spec, where, "experiment", _EXPERIMENT_KEYS)
    for key in _EXPERIMENT_KEYS:
        if key not in spec:
            raise ConfigError(f"{where}.{key}: missing")
        if key != "task" and (not isinstance(spec[key], list) or not spec[key]):
            raise ConfigError(f"{where}.{key}: expected a non-empty list")
    task_name, task_type = check_task(spec["task"], f"{where}.task")
    aggregation = spec["task"].get("feature_aggregation", "mean")
    if aggregation not in _POOLING:
        raise ConfigError(
            f"{where}.task.feature_aggregation: {aggregation!r} is not one of {', '.join(_POOLING)}"
        )

    # Datasets that share their deformation scenarios share a config.
    by_deformations: dict[str, list[int]] = {}
    for index, dataset in enumerate(spec["datasets"]):
        scenarios = dataset.get("deformations") if isinstance(dataset, dict) else None
        by_deformations.setdefault(json.dumps(scenarios or [], sort_keys=True), []).append(index)
    # Probes that share their training options share a config.
    probes = [
        convert_probe(probe, task_type, f"{where}.probes[{i}]")
        for i, probe in enumerate(spec["probes"])
    ]
    by_protocol: dict[tuple, list[int]] = {}
    for index, probe in enumerate(probes):
        by_protocol.setdefault(probe.protocol_key(), []).append(index)

    parts = []
    for dataset_indices in by_deformations.values():
        for probe_indices in by_protocol.values():
            parts.append(
                _part(spec, where, config_dir, task_name, task_type, dataset_indices,
                      probe_indices, probes, split=len(by_deformations) * len(by_protocol) > 1)
            )  # fmt: skip
    return parts


def _part(
    spec: dict[str, Any],
    where: str,
    config_dir: Path,
    task_name: str,
    task_type: str,
    dataset_indices: list[int],
    probe_indices: list[int],
    probes: list[ConvertedProbe],
    *,
    split: bool,
) -> ConvertedConfig:
    """The config of some datasets and probes of one experiment."""
    notes = Notes()
    source = where
    if split:
        source = f"{where} (datasets {dataset_indices}, probes {probe_indices})"
        notes.add(
            (),
            f"{source}: the experiment's datasets differ in deformations or its probes in "
            "training options, so it is split into configs that each share them",
        )
    datasets = [
        convert_dataset(
            spec["datasets"][i],
            task_name,
            task_type,
            f"{where}.datasets[{i}]",
            config_dir=config_dir,
            notes=notes,
            note_path=("datasets", position),
        )
        for position, i in enumerate(dataset_indices)
    ]
    missing = [
        f"{where}.datasets[{i}].dir: the folder {entry['path']} does not exist (a relative dir "
        "is read from the config's folder, else from the working folder)"
        for i, entry in zip(dataset_indices, datasets, strict=True)
        if not Path(entry["path"]).exists()
    ]
    scenarios = spec["datasets"][dataset_indices[0]].get("deformations") or []
    deformations = _deformations(scenarios, f"{where}.datasets[{dataset_indices[0]}]", notes)

    models = []
    for index, feature in enumerate(spec["features"]):
        result = convert_feature(
            feature,
            f"{where}.features[{index}]",
            config_dir=config_dir,
            notes=notes,
            note_path=("models", index),
        )
        models.append(result.model)
        if result.missing:
            missing.append(result.missing)

    chosen = [probes[i] for i in probe_indices]
    for position, probe in enumerate(chosen):
        for note in probe.notes.items:
            notes.add(("probes", position), note.text, warning=note.level == "warning")
    probe_entries = [dict(probe.probe) for probe in chosen]
    labels = [json.dumps({k: v for k, v in p.items() if k != "batch_size"}) for p in probe_entries]
    if len(set(labels)) < len(labels):  # same architecture twice: names tell them apart
        for position, (entry, i) in enumerate(zip(probe_entries, probe_indices, strict=True)):
            entry["name"] = f"{entry['type']}-{i}"
            notes.add(("probes", position, "name"), f"named after its place in {where}.probes")

    config = {
        "datasets": datasets,
        "deformations": deformations,
        "models": models,
        "embedding": {"pooling": _POOLING[spec["task"].get("feature_aggregation", "mean")]},
        "probes": probe_entries,
        "protocol": chosen[0].protocol,
    }
    notes.add(
        ("embedding",),
        "feature_aggregation → pooling of each track's windows; window_s/hop_s are ours "
        "(3 s windows by default), where the original used each model's own input length",
        warning=True,
    )
    notes.add(
        ("protocol",),
        "epochs, patience, learning_rate and weight_decay of the original probes (shared by "
        "every probe here); ours also keeps the best epoch on validation loss and reports "
        "bootstrap confidence intervals",
    )
    if not deformations:
        del config["deformations"]
    return ConvertedConfig(config, notes, source, missing)


def _deformations(scenarios: Any, where: str, notes: Notes) -> list[dict[str, Any]]:
    """Each scenario (transforms applied in turn) as one of our deformations, named by it."""
    if not isinstance(scenarios, list):
        raise ConfigError(f"{where}.deformations: expected a list of scenarios (lists)")
    out = []
    for index, scenario in enumerate(scenarios):
        scenario_where = f"{where}.deformations[{index}]"
        steps = scenario if isinstance(scenario, list) else [scenario]
        entry = compat.translate(steps, scenario_where)
        parts = entry["steps"] if entry["type"] == "chain" else [entry]
        entry = {"name": " + ".join(_title(step) for step in parts), **entry}
        out.append(entry)
    if out:
        notes.add(
            ("deformations",),
            "each scenario is one condition (a chain when it has several transforms) with "
            "audiomentations names mapped to ours; as in the original, probes train on clean "
            "audio and are tested on deformed audio (apply_to: test)",
        )
    shifted = [
        entry["name"]
        for entry in out
        if any(step["type"] == "pitch_shift" for step in entry.get("steps", [entry]))
    ]
    if shifted:
        notes.add(
            ("deformations",),
            f"changed meaning: under {', '.join(shifted)} the labels of pitch, pitch-class and "
            "key tasks move with the audio (a C shifted up a semitone is scored as a C#); the "
            "original scored the clean labels: add `labels: keep` to an entry for its numbers",
            warning=True,
        )
    return out


def _title(step: dict[str, Any]) -> str:
    params = ",".join(f"{k}={v}" for k, v in step.items() if k not in ("type", "name", "path"))
    return f"{step['type']}({params})" if params else str(step["type"])
