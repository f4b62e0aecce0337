"""Name → class registries for every component kind.

Built-ins register themselves with :func:`register` when their module is imported; the
modules of each built-in package are discovered with ``pkgutil`` on first lookup, and
third-party packages add components through the entry-point group ``mir_ref.<kind>``.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import pkgutil
import re
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import pydantic

from mir_ref.errors import ConfigError, did_you_mean

KINDS = ("datasets", "deformations", "models", "probes", "metrics")
_PACKAGES = {
    "datasets": "mir_ref.datasets",
    "deformations": "mir_ref.deformations",
    "models": "mir_ref.models",
    "probes": "mir_ref.probes",
    "metrics": "mir_ref.metrics",
}
_REGISTRY: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
_LOADED: set[str] = set()

T = TypeVar("T")


def register(kind: str, name: str) -> Callable[[T], T]:
    """Class (or function) decorator that registers a component under ``name``."""
    if kind not in _REGISTRY:
        raise ValueError(f"unknown component kind {kind!r}; one of {KINDS}")

    def decorate(obj: T) -> T:
        _REGISTRY[kind][name] = obj
        return obj

    return decorate


def _load(kind: str) -> None:
    if kind in _LOADED:
        return
    package = importlib.import_module(_PACKAGES[kind])
    if hasattr(package, "__path__"):
        for module in pkgutil.iter_modules(package.__path__):
            if not module.name.startswith("_"):
                importlib.import_module(f"{package.__name__}.{module.name}")
    for entry_point in importlib.metadata.entry_points(group=f"mir_ref.{kind}"):
        _REGISTRY[kind].setdefault(entry_point.name, entry_point.load())
    _LOADED.add(kind)


def available(kind: str) -> dict[str, Any]:
    """All registered components of ``kind``, by name."""
    _load(kind)
    return dict(sorted(_REGISTRY[kind].items()))


def lookup(kind: str, name: str, *, where: str = "type") -> Any:
    """The component registered as ``name``; a :class:`ConfigError` naming ``where`` if none."""
    components = available(kind)
    if name not in components:
        raise ConfigError(
            f"{where}: '{name}' is not a registered {kind[:-1]}{did_you_mean(name, components)} "
            f"(registered: {', '.join(components)}; see `mir_ref list`)"
        )
    return components[name]


def describe(obj: Any) -> str:
    """First line of a component's docstring."""
    return (obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else ""


def _fields_at(root: Any, loc: tuple[Any, ...]) -> list[str]:
    """Names of the fields of the dataclass or pydantic model reached by ``loc`` from ``root``
    (through dicts, lists and optionals); empty when the path cannot be followed."""
    current = root
    for part in loc:
        if isinstance(current, type) and (
            dataclasses.is_dataclass(current) or issubclass(current, pydantic.BaseModel)
        ):
            try:
                current = typing.get_type_hints(current).get(part)
            except (NameError, TypeError):
                return []
            continue
        options = [a for a in typing.get_args(current) if a is not type(None)]
        origin = typing.get_origin(current)
        if origin is dict and len(options) == 2:
            current = options[1]
        elif origin is list and options:
            current = options[0]
        elif options:  # a union: follow its first structured member
            current = next(
                (a for a in options if typing.get_origin(a) or isinstance(a, type)), None
            )
        else:
            return []
    if isinstance(current, type) and dataclasses.is_dataclass(current):
        return [f.name for f in dataclasses.fields(current) if f.init]
    if isinstance(current, type) and issubclass(current, pydantic.BaseModel):
        return list(current.model_fields)
    return []


_VALUE_ERROR_PREFIX = "Value error, "
"""What pydantic puts before the message of a ``ValueError`` a component raises."""
_FIELD_MESSAGE = re.compile(r"^([A-Za-z_]\w*)((?:\.\w+|\[\d+\])*): (.*)$", re.DOTALL)


def located(where: str, message: str, fields: typing.Iterable[str] = ()) -> str:
    """A component's own message placed at its config key: the one place that writes
    ``where.field: message``.

    Components raise ``ValueError("snr_db: 500.0 is outside [-30, 100] dB")``, naming their
    parameter first; when that name is one of ``fields``, it joins ``where`` as a key path
    (``deformations[0].snr_db: 500.0 is outside ...``). Any other message gets ``where: ``.
    """
    match = _FIELD_MESSAGE.match(message)
    if match and match.group(1) in set(fields):
        path = match.group(1) + match.group(2)
        return f"{where}.{path}: {match.group(3)}" if where else f"{path}: {match.group(3)}"
    if not where or message.startswith(f"{where}:") or message.startswith(f"{where}."):
        return message
    return f"{where}: {message}"


def _field_names(cls: Any) -> list[str]:
    if isinstance(cls, type) and dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls) if f.init]
    return []


def format_validation_error(
    error: pydantic.ValidationError, where: str, *, root: Any = None
) -> str:
    """Render a pydantic error as ``path: message (got value)`` lines.

    ``root`` is the validated type; with it, an unknown nested key gets a did-you-mean.
    """
    lines = []
    for item in error.errors():
        path = where
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = item["msg"]
        if item["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            allowed = _fields_at(root, tuple(item["loc"][:-1])) if root is not None else []
            hint = did_you_mean(item["loc"][-1], allowed) if allowed else ""
            listing = f" (allowed: {', '.join(allowed)})" if allowed else ""
            lines.append(f"{path}: unknown key{hint}{listing}")
            continue
        if item["type"] == "literal_error":
            allowed = re.findall(r"'([^']*)'", item.get("ctx", {}).get("expected", ""))
            value = item.get("input")
            hint = did_you_mean(value, allowed)
            lines.append(f"{path}: {value!r} is not one of {', '.join(allowed)}{hint}")
            continue
        if item["type"] == "value_error" and not item["loc"]:
            # The component's own check: its message names the parameter, and the input is
            # every parameter at once, which says nothing more.
            message = message.removeprefix(_VALUE_ERROR_PREFIX)
            lines.append(located(where, message, _field_names(root)))
            continue
        message = message.removeprefix(_VALUE_ERROR_PREFIX)
        lines.append(f"{path}: {message} (got {item.get('input')!r})")
    return "\n".join(lines)


def build(kind: str, spec: dict[str, Any], *, where: str, exclude: tuple[str, ...] = ()) -> Any:
    """Instantiate the component ``spec['type']`` of ``kind`` from its parameters.

    Parameters are checked against the component's dataclass fields: an unknown key is an
    error that names ``where`` and suggests the closest field; values are validated (and
    coerced) by pydantic.
    """
    if "type" not in spec:
        raise ConfigError(f"{where}: missing key 'type' (see `mir_ref list {kind}`)")
    cls = lookup(kind, str(spec["type"]), where=f"{where}.type")
    params = {k: v for k, v in spec.items() if k != "type" and k not in exclude}
    if dataclasses.is_dataclass(cls):
        fields = {f.name for f in dataclasses.fields(cls) if f.init}
        for key in params:
            if key not in fields:
                listing = ", ".join(sorted(fields)) or "none"
                raise ConfigError(
                    f"{where}.{key}: unknown parameter of {kind[:-1]} '{spec['type']}'"
                    f"{did_you_mean(key, fields | set(exclude))} (parameters: {listing})"
                )
        try:
            return pydantic.TypeAdapter(cls).validate_python(params)
        except pydantic.ValidationError as error:
            raise ConfigError(format_validation_error(error, where, root=cls)) from None
        except ConfigError as error:  # a component that checks more than its values
            raise ConfigError(located(where, str(error), fields)) from None
    try:
        return cls(**params)
    except (ConfigError, ValueError) as error:
        raise ConfigError(located(where, str(error), params)) from None


OMIT_DEFAULT = {"omit_default": True}
"""Field metadata of a parameter added after caches existed: left out of :func:`parameters`
(so of cache keys) while it holds its default, so that existing entries keep their keys."""


def parameters(obj: Any) -> dict[str, Any]:
    """A component's parameters as a plain, JSON-serialisable dict (for cache keys)."""
    if dataclasses.is_dataclass(obj):
        return {
            f.name: getattr(obj, f.name)
            for f in dataclasses.fields(obj)
            if f.init
            and not f.name.startswith("_")
            and not (f.metadata.get("omit_default") and getattr(obj, f.name) == f.default)
        }
    return {}
