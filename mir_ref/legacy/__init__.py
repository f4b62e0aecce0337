"""Configs of the original mir_ref (top-level ``experiments``): detected, converted, run.

``mir_ref run -c old.yml`` (and every stage command) runs an original config through its
converted equivalent; ``mir_ref convert old.yml -o new.yml`` writes that equivalent, with
``# comments`` on whatever changed meaning. See :mod:`mir_ref.legacy.convert`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import yaml

from mir_ref.config import MAX_CONFIG_BYTES, parse_config, read_yaml
from mir_ref.errors import ConfigError
from mir_ref.legacy.convert import ConvertedConfig, convert, is_original
from mir_ref.legacy.notes import commented_yaml

__all__ = ["ConvertedConfig", "convert", "experiment_configs", "is_original", "load", "load_all"]

log = logging.getLogger(__name__)


def load_all(data: dict[str, Any], *, config_dir: Path, name: str, source: str) -> list[Any]:
    """Our validated :class:`~mir_ref.config.Config` for each part of an original config.

    Logs that the original format was detected and, once each, the notes on the conversion.

    Raises
    ------
    ConfigError
        A bad key or value, or weights a feature needs and lacks (all of them, before any
        work starts).
    """
    log.info(
        "original mir_ref config detected; running its converted equivalent "
        "(mir_ref convert %s -o NEW.yml to see it)",
        source,
    )
    converted = convert(data, config_dir=config_dir, name=name)
    missing = list(dict.fromkeys(message for part in converted for message in part.missing))
    if missing:
        raise ConfigError("\n".join(missing))
    configs, seen = [], set()
    for part in converted:
        part.notes.log(f"{source} {part.source}", seen=seen)
        configs.append(parse_config(part.config, base_dir=config_dir, source=source))
    return configs


def load(data: dict[str, Any], *, config_dir: Path, name: str, source: str) -> Any:
    """The one :class:`~mir_ref.config.Config` of an original config with one part."""
    configs = load_all(data, config_dir=config_dir, name=name, source=source)
    if len(configs) > 1:
        raise ConfigError(
            f"{source}: this original config holds {len(configs)} experiments (or parts); "
            f"`mir_ref run -c {source}` runs them in turn, `mir_ref convert` writes one config "
            f"each, and mir_ref.legacy.experiment_configs gives them from Python"
        )
    return configs[0]


def _read(path: Path) -> Any:
    """The parsed file, ``None`` when it is not readable YAML (``load_config`` says why)."""
    try:
        return read_yaml(path.read_text(), source=str(path))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def experiment_configs(path: Path) -> list[Any]:
    """What a stage command runs for ``path``: ``[path]`` for our format, else one validated
    :class:`~mir_ref.config.Config` per part of the original config."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size > MAX_CONFIG_BYTES:
        return [path]  # load_config reports it
    data = _read(path)
    if not is_original(data):
        return [path]
    return load_all(data, config_dir=path.resolve().parent, name=path.stem, source=str(path))


def write_converted(source: Path, output: Path) -> list[Path]:
    """Write the converted configs of ``source``; returns the files written.

    One part: ``output`` is the file. Several: ``output.yml`` gives ``output-1.yml``,
    ``output-2.yml``, ... beside it; an ``output`` without a YAML suffix is a folder that
    receives ``<name>.yml`` per part. Features whose weights are absent get a placeholder
    ``path`` and a TODO comment instead of an error.
    """
    source = Path(source)
    data = _read(source) if source.is_file() else None
    if not is_original(data):
        raise ConfigError(
            f"{source}: not an original mir_ref config (a mapping with top-level `experiments` "
            f"and none of our keys)"
        )
    config_dir = source.resolve().parent
    parts = convert(data, config_dir=config_dir, name=source.stem)
    output = Path(output)
    is_file = output.suffix in (".yml", ".yaml")
    if len(parts) == 1 and is_file:
        targets = [output]
    elif is_file:
        targets = [output.with_name(f"{output.stem}-{k}{output.suffix}") for k in
                   range(1, len(parts) + 1)]  # fmt: skip
    else:
        targets = [output / f"{part.config['name']}.yml" for part in parts]
    for part, target in zip(parts, targets, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        header = [
            f"Converted from {source} ({part.source}) by `mir_ref convert`. The original runs "
            "unchanged too (`mir_ref run -c` on it) and gives the same results as this file.",
            "Comments mark what changed meaning or was dropped.",
            "",
        ]
        config = _relative_paths(part.config, target.resolve().parent)
        target.write_text(commented_yaml(config, part.notes, header=header))
    return targets


def _relative_paths(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Paths under ``folder`` written relative to it (the converted file moves with them)."""

    def relative(value: str) -> str:
        path = Path(value)
        return os.path.relpath(path, folder) if path.is_relative_to(folder) else value

    out = dict(config)
    for section in ("datasets", "models"):
        out[section] = [
            {**entry, "path": relative(entry["path"])} if isinstance(entry.get("path"), str)
            else entry
            for entry in config.get(section, [])
        ]  # fmt: skip
    return out
