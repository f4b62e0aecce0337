"""The YAML config's schema: safe loading, pydantic models, validation with readable errors.

:func:`parse_config` validates a mapping and :func:`read_yaml` reads YAML safely; the config
resolved into components (datasets, conditions, models, probes) is
:class:`mir_ref.experiment.Experiment`, which also reads files and original mir_ref configs
(:func:`mir_ref.experiment.load_config`). This module imports no component package.
"""

from __future__ import annotations

import logging
import os
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from mir_ref import registry
from mir_ref.errors import ConfigError, did_you_mean
from mir_ref.paths import safe_name

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


APPLY_TO = ("test", "train", "both")
LABEL_MODES = ("follow", "keep")
"""``labels:`` of a deformation entry: labels move with the audio (``follow``, the default)
or stay the clean track's (``keep``: "does my model ignore pitch?")."""
KEPT_LABELS = " (labels kept)"
"""Appended to the ``deformation`` column of every row measured with ``labels: keep``."""


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
