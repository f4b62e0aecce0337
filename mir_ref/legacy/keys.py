"""The key check every entry of an original config goes through."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from mir_ref.errors import ConfigError


def check_keys(spec: Any, where: str, what: str, keys: Collection[str]) -> dict[str, Any]:
    """``spec`` itself, once it is a mapping of known keys; else an error naming ``where``,
    the unknown keys and the ones an original ``what`` (experiment, task, ...) has."""
    listing = ", ".join(keys)
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a mapping of an original {what} (keys: {listing})")
    unknown = sorted(set(spec) - set(keys))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {unknown} of an original {what} (keys: {listing})"
        )
    return spec
