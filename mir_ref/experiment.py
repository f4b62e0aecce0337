"""The experiment: a config resolved into components, the grid a run executes.

:func:`load_config` reads a config file (ours, or the original mir_ref's format, converted)
and validates it; :meth:`Experiment.from_config` builds every component (datasets,
deformation conditions, models, probes) and checks the grid, so that a bad name, key or value
fails before any heavy work, with a message that gives the key path, the bad value and the
closest valid choice.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import yaml

from mir_ref import legacy, registry
from mir_ref.config import (
    APPLY_TO,
    KEPT_LABELS,
    LABEL_MODES,
    MAX_CONFIG_BYTES,
    Config,
    ProtocolConfig,
    parse_config,
    read_yaml,
    resolve_cache_dir,
    resolve_output_dir,
)
from mir_ref.datasets.base import Dataset
from mir_ref.datasets.corpus import build_every_split
from mir_ref.deformations import compat
from mir_ref.deformations.base import Deformation
from mir_ref.errors import ConfigError, did_you_mean
from mir_ref.models.base import EmbeddingModel
from mir_ref.paths import colliding_file_names, safe_name
from mir_ref.probes.base import Probe
from mir_ref.probes.selection import tunable
from mir_ref.results import WEIGHTED_LAYER
from mir_ref.tasks import LabelChange

log = logging.getLogger(__name__)


def load_config(source: str | Path | dict[str, Any] | Config) -> Config:
    """Read a YAML file (safe loader only) or take a dict, and validate it."""
    if isinstance(source, Config):
        return source
    if isinstance(source, dict):
        if legacy.is_original(source):
            return legacy.load(source, config_dir=Path.cwd(), name="experiment", source="config")
        return parse_config(source)
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES} bytes; refused")
    try:
        data = read_yaml(path.read_text(), source=str(path))
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    if legacy.is_original(data):  # the original mir_ref's format: run its converted equivalent
        return legacy.load(data, config_dir=path.resolve().parent, name=path.stem, source=str(path))
    return parse_config(data, base_dir=path.resolve().parent, source=str(path))


@dataclass
class Condition:
    """An audio condition: clean, or one deformation at one strength.

    ``apply_to`` says which audio it deforms: ``test`` (probes train on clean audio),
    ``train`` (probes train on deformed train and validation audio, test on clean) or
    ``both``. ``name`` labels it in results (default: the deformation's type). ``labels``
    says whether labels move with the audio (``follow``: a transposed C is scored as a C#)
    or stay the clean track's (``keep``).
    """

    deformation: Deformation | None = None
    type: str = "none"
    apply_to: str = "test"
    name: str = ""
    labels: str = "follow"

    @property
    def title(self) -> str:
        """The ``deformation`` column of results: the entry's name, else its type, marked
        with :data:`KEPT_LABELS` under ``labels: keep``."""
        return (self.name or self.type) + (KEPT_LABELS if self.labels == "keep" else "")

    def label_change(self) -> LabelChange | None:
        """What this condition does to labels: none when clean or under ``labels: keep``,
        else its deformation's change (None when the deformation declares none)."""
        if self.deformation is None or self.labels == "keep":
            return LabelChange()
        return self.deformation.label_change()

    @property
    def strength(self) -> float | None:
        """The swept parameter's value; ``None`` when clean or when nothing is swept."""
        if self.deformation is None or not self.deformation.strength:
            return None
        return self.deformation.strength_value

    @property
    def label(self) -> str:
        """A readable, unique label such as ``white_noise@snr_db=10``."""
        if self.deformation is None:
            return "none"
        if self.strength is None:
            return self.title
        return f"{self.title}@{self.deformation.strength}={self.strength:g}"


@dataclass
class ModelEntry:
    """A configured embedding model at one embedding density, and its name in results.

    ``id`` tells entries apart: the name, with the density appended when the config sweeps
    more than one (``mfcc@window_s=3,hop_s=0.5``). ``weighted`` (the entry's ``weighted:
    true``) adds a learned weighting of all the model's layers as one more layer to probe.
    """

    name: str
    type: str
    model: EmbeddingModel
    window_s: float = 3.0
    hop_s: float = 3.0
    id: str = ""
    weighted: bool = False

    def __post_init__(self) -> None:
        self.id = self.id or self.name

    @property
    def probed_layers(self) -> list[str]:
        """The layers probes train on: the model's, then :data:`WEIGHTED_LAYER` if weighted."""
        return [*self.model.layers, *([WEIGHTED_LAYER] if self.weighted else [])]


def _path_fields(cls: type) -> set[str]:
    hints = typing.get_type_hints(cls)
    return {
        f.name
        for f in dataclasses.fields(cls)
        if hints.get(f.name) in (Path, Path | None, typing.Optional[Path])  # noqa: UP045
    }


def _resolve_paths(spec: dict[str, Any], cls: type, base_dir: Path) -> dict[str, Any]:
    if not dataclasses.is_dataclass(cls):
        return spec
    out = dict(spec)
    for name in _path_fields(cls):
        if out.get(name) is not None:
            out[name] = (base_dir / Path(os.path.expanduser(str(out[name])))).resolve()
    return out


def _resolve_deformation_paths(spec: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Path parameters made absolute, those of a chain's steps included."""
    kind = registry.available("deformations").get(str(spec["type"]))
    if kind is None:  # reported with its key path when the spec is built
        return spec
    spec = _resolve_paths(spec, kind, base_dir)
    if isinstance(spec.get("steps"), list):
        spec["steps"] = [
            _resolve_deformation_paths(step, base_dir)
            if isinstance(step, dict) and "type" in step
            else step
            for step in spec["steps"]
        ]
    return spec


def _expand_deformation(
    spec: dict[str, Any] | list[Any], where: str, base_dir: Path
) -> list[Condition]:
    """One condition per strength of the (single) list-valued parameter."""
    spec = compat.translate(spec, where)
    if "type" not in spec:
        raise ConfigError(f"{where}: missing key 'type' (see `mir_ref list deformations`)")
    kind = registry.lookup("deformations", str(spec["type"]), where=f"{where}.type")
    apply_to = spec.get("apply_to", "test")
    if apply_to not in APPLY_TO:
        raise ConfigError(
            f"{where}.apply_to: {apply_to!r} is not one of {', '.join(APPLY_TO)}"
            f"{did_you_mean(apply_to, APPLY_TO)}"
        )
    labels = spec.get("labels", "follow")
    if labels not in LABEL_MODES:
        raise ConfigError(
            f"{where}.labels: {labels!r} is not one of {', '.join(LABEL_MODES)}"
            f"{did_you_mean(str(labels), LABEL_MODES)}"
        )
    name = str(spec.get("name") or "")
    if name.endswith(KEPT_LABELS):
        raise ConfigError(
            f"{where}.name: {name!r} ends with {KEPT_LABELS.strip()!r}, which marks "
            f"`labels: keep` rows; set `labels: keep` instead"
        )
    params = {k: v for k, v in spec.items() if k not in ("name", "apply_to", "labels")}
    params = _resolve_deformation_paths(params, base_dir)
    conditions = [
        Condition(
            registry.build("deformations", single, where=where),
            str(spec["type"]),
            apply_to,
            name,
            labels,
        )
        for single in kind.expand(params, where)
    ]
    repeated = sorted(
        {c.label for c in conditions if [d.label for d in conditions].count(c.label) > 1}
    )
    if repeated:
        condition = next(c for c in conditions if c.label == repeated[0])
        raise ConfigError(
            f"{where}.{condition.deformation.strength}: the strength {condition.strength:g} is "
            "listed twice; list each strength once"
        )
    return conditions


def label_map_problems(datasets: list[Dataset], conditions: list[Condition]) -> list[str]:
    """Every (condition, task) whose labels the condition's deformation cannot move.

    A fractional pitch shift on a pitch-class, pitch or key task lands between two labels; a
    deformation that does not declare what it does to pitch and tempo cannot be trusted on a
    task whose labels a deformation can move. ``labels: keep`` opts out of both.
    """
    problems = []
    for condition in conditions:
        change = condition.label_change()
        for dataset in datasets:
            for task in dataset.tasks.values():
                where = f"deformation '{condition.title}'"
                if condition.strength is not None:
                    where += f" at {condition.deformation.strength}={condition.strength:g}"
                where += f", dataset '{dataset.name}', task '{task.name}'"
                if change is None and task.label_kind != "none":
                    problems.append(
                        f"{where} ({task.label_kind} labels): '{condition.type}' does not declare "
                        f"how it changes pitch and tempo, so its labels cannot follow the audio; "
                        f"declare `label_change()` (or `keeps_labels = True`) on its class, or "
                        f"add `labels: keep` to the entry to score against the clean labels"
                    )
                elif change is not None and (problem := task.label_map_problem(change)):
                    problems.append(
                        f"{where} ({task.label_kind} labels): {problem}; use whole semitones, or "
                        f"add `labels: keep` to the entry to score against the clean labels"
                    )
    return problems


@dataclass
class Experiment:
    """A config resolved into components: the grid a run executes."""

    config: Config
    name: str
    output_dir: Path
    cache_dir: Path
    datasets: list[Dataset]
    conditions: list[Condition]
    models: list[ModelEntry]
    probes: list[Probe]

    @classmethod
    def from_config(
        cls, source: str | Path | dict[str, Any] | Config, *, build_models: bool = True
    ) -> Experiment:
        """Validate the config and build every component it names.

        ``build_models=False`` leaves the models out (``models`` is empty): for work on stored
        predictions only, such as ranking the models of merged runs, which should not need
        every model's weights at hand.
        """
        config = load_config(source)
        base = config.base_dir
        output_dir = resolve_output_dir(config)
        cache_dir = resolve_cache_dir(config)

        datasets: list[Dataset] = []
        for index, spec in enumerate(config.datasets):
            where = f"datasets[{index}]"
            kind = registry.lookup("datasets", str(spec.get("type", "")), where=f"{where}.type")
            spec = _resolve_paths(spec, kind, base)
            if spec.get("split") == "all":  # every official split or fold, one dataset each
                build = functools.partial(
                    registry.build, "datasets", where=where, exclude=("name",)
                )
                try:
                    datasets.extend(build_every_split(spec, build))
                except ConfigError as error:
                    raise ConfigError(registry.located(where, str(error), ["split"])) from None
                continue
            dataset = registry.build("datasets", spec, where=where, exclude=("name",))
            dataset.name = str(spec.get("name") or spec["type"])
            datasets.append(dataset)
        _unique([d.name for d in datasets], "datasets", "name")
        _distinct_file_names([d.name for d in datasets], "datasets", "dataset names")
        for dataset in datasets:
            _distinct_file_names(list(dataset.tasks), f"dataset '{dataset.name}'", "task names")

        conditions = [Condition()]
        for index, spec in enumerate(config.deformations):
            conditions.extend(_expand_deformation(spec, f"deformations[{index}]", base))
        _unique([c.label for c in conditions], "deformations", "condition")
        problems = label_map_problems(datasets, conditions)
        if problems:
            raise ConfigError(
                "deformations: labels cannot follow the audio:\n"
                + "\n".join(f"  - {problem}" for problem in problems)
            )
        _distinct_file_names([c.label for c in conditions], "deformations", "conditions")

        densities = config.embedding.densities()
        models = []
        for index, spec in enumerate(config.models if build_models else []):
            where = f"models[{index}]"
            model = registry.build("models", spec, where=where, exclude=_ENTRY_KEYS)
            name = str(spec.get("name") or spec["type"])
            weighted = _weighted(spec, model, where)
            for window_s, hop_s in densities:
                suffix = f"@window_s={window_s:g},hop_s={hop_s:g}" if len(densities) > 1 else ""
                models.append(
                    ModelEntry(name, spec["type"], model, window_s, hop_s, name + suffix, weighted)
                )
        _unique([m.id for m in models], "models", "name")
        _distinct_file_names([m.id for m in models], "models", "model names")

        probes = [
            registry.build("probes", spec, where=f"probes[{index}]")
            for index, spec in enumerate(config.probes)
        ]
        _unique([p.label() for p in probes], "probes", "name")
        _distinct_file_names([p.label() for p in probes], "probes", "probe names")
        _check_grid(config.protocol.grid, probes, config.probes)
        unweighting = [p.label() for p in probes if not p.learns_layer_weights]
        if unweighting and any(model.weighted for model in models):
            log.warning(
                "probes %s cannot learn layer weights: they are not trained on the '%s' layer "
                "of the models with weighted: true (linear and mlp are)",
                ", ".join(unweighting),
                WEIGHTED_LAYER,
            )
        return cls(config, config.name, output_dir, cache_dir, datasets, conditions, models, probes)

    def extraction_parallelism(self) -> tuple[int, int]:
        """Local extraction processes and the intra-op threads of each: ``(workers, threads)``.

        ``execution.workers`` and ``execution.threads`` where set. Otherwise by the models'
        kind (:attr:`~mir_ref.models.base.EmbeddingModel.parallelism`): when any model runs
        best on ``threads``, one process whose operations use every core; else one
        single-threaded process per core.
        """
        cores = os.cpu_count() or 1
        execution = self.config.execution
        threaded = any(entry.model.parallelism == "threads" for entry in self.models)
        workers, threads = execution.workers, execution.threads
        if workers is None:
            workers = max(1, cores // threads) if threads else 1 if threaded else cores
        if threads is None:
            threads = max(1, cores // workers) if threaded else 1
        return workers, threads

    def resolved(self) -> dict[str, Any]:
        """The config with defaults filled in and paths made absolute (saved with results)."""
        data = self.config.model_dump(mode="json")
        data["output_dir"] = str(self.output_dir)
        data["cache_dir"] = str(self.cache_dir)
        data["datasets"] = [
            {k: str(v) if isinstance(v, Path) else v for k, v in spec.items()}
            for spec in (
                _resolve_paths(s, registry.lookup("datasets", s["type"]), self.config.base_dir)
                for s in self.config.datasets
            )
        ]
        data["deformations"] = [
            json.loads(json.dumps(_resolve_deformation_paths(spec, base), default=str))
            for spec, base in (
                (compat.translate(s, f"deformations[{i}]"), self.config.base_dir)
                for i, s in enumerate(self.config.deformations)
            )
        ]
        return data


def _check_grid(
    grid: dict[str, list[Any]], probes: list[Probe], specs: list[dict[str, Any]]
) -> None:
    """Refuse a grid key no configured probe tunes and a value that probe cannot take.

    A key a probe does not understand would be dropped when the grid is expanded, and a bad
    value found only when training starts, after the embeddings: both are config errors.
    """
    tunes = [tunable(probe) for probe in probes]
    known = sorted(set().union(*tunes))
    for key, values in grid.items():
        where = f"protocol.grid.{key}"
        if key not in known:
            raise ConfigError(
                f"{where}: unknown key{did_you_mean(key, known)} (the probes of this config "
                f"tune: {', '.join(known)})"
            )
        for index, value in enumerate(values):
            for probe, spec, keys in zip(probes, specs, tunes, strict=True):
                if key in keys:
                    _check_grid_value(probe, spec, key, value, f"{where}[{index}]")


def _check_grid_value(probe: Probe, spec: dict[str, Any], key: str, value: Any, where: str) -> None:
    """Refuse a grid value ``probe`` cannot take, naming ``where``."""
    try:
        if key in probe.grid_parameters:  # an option of fit with the protocol's own bounds
            ProtocolConfig.model_validate({key: value})
        else:
            registry.build("probes", {**spec, key: value}, where="")
    except pydantic.ValidationError as error:
        reason = error.errors()[0]["msg"]
    except ConfigError as error:
        reason = str(error).removeprefix(f"{key}: ")
    else:
        return
    raise ConfigError(
        f"{where}: {value!r} is not a valid {key} for probe '{probe.label()}' ({reason})"
    )


def _distinct_file_names(names: list[str], where: str, what: str) -> None:
    """Refuse two names that would write one file (``mfcc a`` and ``mfcc_a``): one run's
    results would silently replace the other's."""
    for first, second in colliding_file_names(names):
        raise ConfigError(
            f"{where}: the {what} '{first}' and '{second}' would be stored under one file name "
            f"('{safe_name(second)}'; only letters, digits and . _ = @ + - are kept, and case "
            "is ignored); rename one of them"
        )


_ENTRY_KEYS = ("name", "weighted")
"""Keys of a ``models`` entry that are not the model's parameters."""


def _weighted(spec: dict[str, Any], model: EmbeddingModel, where: str) -> bool:
    """The entry's ``weighted``, checked: a boolean, on a model of several layers."""
    weighted = spec.get("weighted", False)
    if not isinstance(weighted, bool):
        raise ConfigError(f"{where}.weighted: must be true or false (got {weighted!r})")
    if not weighted:
        return False
    # Only now: a python model's layers come from an instance, which validate must not build.
    layers = list(model.layers)
    if len(layers) < 2:
        raise ConfigError(
            f"{where}.weighted: model '{spec['type']}' gives one layer ({layers[0]!r}); a "
            "learned weighting needs a model with several layers (e.g. `layers: all` on a "
            "huggingface model, or random_cnn with depth >= 2)"
        )
    if WEIGHTED_LAYER in layers:
        raise ConfigError(
            f"{where}.weighted: model '{spec['type']}' has a layer named '{WEIGHTED_LAYER}', "
            "the name of the weighted layer's results; leave weighted out"
        )
    return True


def _unique(names: list[str], where: str, what: str) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise ConfigError(
                f"{where}: the {what} '{name}' appears twice; give each entry a distinct `name`"
            )
        seen.add(name)
