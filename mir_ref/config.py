"""The YAML config: pydantic models, validation with readable errors, and the resolved grid.

``load_config`` reads and validates the file; ``Experiment.from_config`` builds every
component (datasets, deformation conditions, models, probes) so that a bad name, key or value
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
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from mir_ref import registry
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

MAX_CONFIG_BYTES = 1_000_000


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmbeddingConfig(_Section):
    """How tracks become embeddings: window length, hop (density) and track pooling."""

    # A list sweeps the value: every (window, hop) combination is its own embedding setting,
    # which answers "how densely should I sample embeddings?".
    window_s: Annotated[float, Field(gt=0)] | list[Annotated[float, Field(gt=0)]] = 3.0
    hop_s: Annotated[float, Field(gt=0)] | list[Annotated[float, Field(gt=0)]] = 3.0
    # none: probes train on every window (labelled with its track's label) and a track's
    # prediction is the mean of its windows' predictions.
    pooling: Literal["mean", "max", "mean_std", "none"] = "mean"

    def densities(self) -> list[tuple[float, float]]:
        """Every ``(window_s, hop_s)`` combination, in config order."""
        windows = self.window_s if isinstance(self.window_s, list) else [self.window_s]
        hops = self.hop_s if isinstance(self.hop_s, list) else [self.hop_s]
        if not windows or not hops:
            raise ConfigError("embedding: window_s and hop_s need at least one value each")
        return [(float(w), float(h)) for w in windows for h in hops]


class ProtocolConfig(_Section):
    """The downstream training protocol shared by every probe."""

    seeds: int = Field(1, ge=1)
    seed: int = 0
    epochs: int = Field(200, ge=1)
    patience: int = Field(20, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    # Hyper-parameters swept per probe, e.g. {learning_rate: [1e-3, 1e-2], hidden: [[64]]};
    # every combination is trained, the best on the validation main metric is kept.
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    # Data-efficiency sweep: fractions of the train split (seeded, stratified subsets).
    train_fraction: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: [1.0], min_length=1
    )
    n_bootstrap: int = Field(1000, ge=0, description="bootstrap resamples of test items")

    @pydantic.field_validator("grid")
    @classmethod
    def _grid_values_are_nonempty(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = [name for name, values in grid.items() if not values]
        if empty:
            raise ValueError(f"every grid entry needs at least one value (empty: {empty})")
        return grid


class ReportConfig(_Section):
    """What the report stage writes, and which views of the embeddings themselves are made
    (drift.csv, similarity.csv, maps.csv; ``mir_ref report -c`` makes them from the cache)."""

    plots: bool = True
    # How far each deformation moves the test embeddings (probe-free robustness).
    drift: bool = True
    # Linear CKA between every pair of (model, layer) on the clean test embeddings.
    similarity: bool = True
    # 2-D maps of the test embeddings per task and model: pca (milliseconds), tsne (about a
    # second per map); [] for none.
    maps: list[Literal["pca", "tsne"]] = Field(default_factory=lambda: ["pca"])


class ExecutionConfig(_Section):
    """Where the work runs: this machine (``local``) or a Ray cluster (``ray``)."""

    backend: Literal["local", "ray"] = "local"
    # Extraction processes and each one's intra-op threads (torch, BLAS, OpenMP). Unset, they
    # follow the models' kind (EmbeddingModel.parallelism, chosen by measurement): see
    # Experiment.extraction_parallelism.
    workers: int | None = Field(None, ge=1, description="extraction processes; default: by model")
    threads: int | None = Field(None, ge=1, description="threads per extraction process")
    # A track whose audio is missing, corrupt or unusable stops the run (error), or is left
    # out and listed in skipped.csv and the report (skip); see mir_ref.preflight.
    on_bad_audio: Literal["error", "skip"] = "error"
    # float16 halves the cache's disk and read cost; its entries are kept apart from float32's.
    store_dtype: Literal["float32", "float16"] = "float32"
    # Probe architectures of one grid (one stack each) trained at once, each in its own thread
    # on one core; results do not depend on it. It pays off only with that many idle cores.
    train_threads: int = Field(1, ge=1, description="probe stacks trained at once")
    # Ray only. `local` starts a private Ray instance on this machine; `auto` joins the cluster
    # this machine belongs to (`ray start`); `ray://host:port` connects through Ray Client.
    address: str = Field("local", pattern=r"^(local|auto|ray://.+|[^/\s]+:\d+)$")
    num_gpus_per_model: float = Field(0, ge=0, description="GPUs each extraction worker holds")
    num_cpus_per_worker: float = Field(1, gt=0, description="CPUs each Ray worker holds")


class Config(_Section):
    """The whole config file, validated; components stay as dicts until resolved."""

    name: str = "experiment"
    output_dir: Path | None = None
    cache_dir: Path | None = None
    datasets: list[dict[str, Any]] = Field(min_length=1)
    # A list entry is an original mir_ref scenario (transforms applied in turn): a chain.
    deformations: list[dict[str, Any] | list[dict[str, Any]]] = Field(default_factory=list)
    models: list[dict[str, Any]] = Field(min_length=1)
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    probes: list[dict[str, Any]] = Field(default_factory=lambda: [{"type": "linear"}])
    protocol: ProtocolConfig = Field(default_factory=ProtocolConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)


_SECTIONS: dict[str, type[BaseModel]] = {
    "embedding": EmbeddingConfig,
    "protocol": ProtocolConfig,
    "report": ReportConfig,
    "execution": ExecutionConfig,
}


def _check_keys(data: dict[str, Any], allowed: typing.Iterable[str], where: str) -> None:
    allowed = list(allowed)
    for key in data:
        if key not in allowed:
            prefix = f"{where}." if where else ""
            raise ConfigError(
                f"{prefix}{key}: unknown key{did_you_mean(key, allowed)} "
                f"(allowed: {', '.join(allowed)})"
            )


def parse_config(data: Any, *, base_dir: Path | None = None, source: str = "config") -> Config:
    """Validate a config dict; relative paths will resolve against ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level")
    _check_keys(data, [f for f in Config.model_fields if f != "base_dir"], "")
    for section, model in _SECTIONS.items():
        if isinstance(data.get(section), dict):
            _check_keys(data[section], model.model_fields, section)
    try:
        config = Config.model_validate({**data, "base_dir": base_dir or Path.cwd()})
    except pydantic.ValidationError as error:
        raise ConfigError(registry.format_validation_error(error, "")) from None
    return config


MAX_CONFIG_NODES = 100_000
"""A config whose aliases expand to more values than this is refused (a YAML anchor bomb)."""


def read_yaml(text: str, *, source: str = "config") -> Any:
    """``yaml.safe_load`` that refuses alias expansion past :data:`MAX_CONFIG_NODES`.

    PyYAML shares an aliased node instead of copying it, so a few lines of nested anchors
    load instantly but hold billions of values once anything walks them (validation, cache
    keys, the saved config). The node graph is measured before it is built.
    """
    # libyaml's parser where installed: ten times faster on a large file (4 s, not 40, for
    # the 450,000 values a 1 MB file can hold).
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise ConfigError(f"{source}: nested too deeply; refused") from None
        if node is None:
            return None
        try:
            size = _expanded_size(node, {}, set())
        except RecursionError:
            raise ConfigError(f"{source}: nested too deeply; refused") from None
        if size < 0:
            raise ConfigError(f"{source}: an alias refers to its own anchor; refused")
        if size > MAX_CONFIG_NODES and _written_size(node) > MAX_CONFIG_NODES:
            raise ConfigError(
                f"{source}: too large: it holds more than {MAX_CONFIG_NODES} values; refused "
                "(a config describes an experiment; long lists of data belong in a manifest)"
            )
        if size > MAX_CONFIG_NODES:
            raise ConfigError(
                f"{source}: its anchors and aliases expand to more than {MAX_CONFIG_NODES} "
                "values; refused (a YAML anchor bomb?)"
            )
        _refuse_duplicate_keys(node, source)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _written_size(root: yaml.Node) -> int:
    """Values written in the file (each aliased node once), counted up to just past
    :data:`MAX_CONFIG_NODES`."""
    seen: set[int] = set()
    stack = [root]
    while stack and len(seen) <= MAX_CONFIG_NODES:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(item for pair in node.value for item in pair)
    return len(seen)


def _refuse_duplicate_keys(root: yaml.Node, source: str) -> None:
    """A :class:`ConfigError` for the first key written twice in one mapping, at any depth.

    YAML keeps the last of two equal keys and drops the first without a word (``probes:``
    twice runs only the second list). Keys merged in with ``<<: *anchor`` may be overridden,
    as YAML intends.
    """
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:  # an alias: walked once
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{index}]") for index, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            lines: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                if key.tag == "tag:yaml.org,2002:merge" or not isinstance(key, yaml.ScalarNode):
                    stack.append((value, path))
                    continue
                where = f"{path}.{key.value}" if path else str(key.value)
                line = key.start_mark.line + 1
                if (key.tag, key.value) in lines:
                    first = lines[(key.tag, key.value)]
                    raise ConfigError(
                        f"{source}: {where}: the key appears twice (lines {first} and {line}); "
                        "YAML would keep only the second. Merge the two into one"
                    )
                lines[(key.tag, key.value)] = line
                stack.append((value, where))


def _expanded_size(node: yaml.Node, sizes: dict[int, int], path: set[int]) -> int:
    """Values in ``node`` with every alias expanded (-1 for a self-referring alias); memoised,
    since aliases share nodes."""
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in path:
        return -1
    size = 1
    if isinstance(node, yaml.SequenceNode | yaml.MappingNode):
        path.add(id(node))
        for child in node.value:  # nodes, or (key, value) pairs of a mapping
            for item in child if isinstance(child, tuple) else (child,):
                inner = _expanded_size(item, sizes, path)
                if inner < 0:
                    return -1
                size += inner
                if size > MAX_CONFIG_NODES:
                    break
        path.discard(id(node))
    sizes[id(node)] = size
    return size


def load_config(source: str | Path | dict[str, Any] | Config) -> Config:
    """Read a YAML file (safe loader only) or take a dict, and validate it."""
    if isinstance(source, Config):
        return source
    from mir_ref import legacy  # imports this module: not at the top

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


APPLY_TO = ("test", "train", "both")
LABEL_MODES = ("follow", "keep")
"""``labels:`` of a deformation entry: labels move with the audio (``follow``, the default)
or stay the clean track's (``keep``: "does my model ignore pitch?")."""
KEPT_LABELS = " (labels kept)"
"""Appended to the ``deformation`` column of every row measured with ``labels: keep``."""


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


def resolve_cache_dir(config: Config | None) -> Path:
    """The config's ``cache_dir`` (relative to the config file), else ``$MIR_REF_CACHE``, else
    ``~/.cache/mir_ref``."""
    if config is not None and config.cache_dir is not None:
        return (config.base_dir / config.cache_dir).resolve()
    default = os.environ.get("MIR_REF_CACHE") or Path.home() / ".cache" / "mir_ref"
    return Path(default).expanduser().resolve()


def resolve_output_dir(config: Config) -> Path:
    """The config's ``output_dir`` (relative to the config file), else ``runs/<name>``."""
    # A safe file name: `name: ..` stays inside runs/.
    default = Path("runs") / safe_name(config.name)
    return (config.base_dir / (config.output_dir or default)).resolve()


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
                datasets.extend(build_every_split(spec, build))
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
