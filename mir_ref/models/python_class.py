"""The ``python`` adapter: a user's own model class, named by import path in the config.

``{type: python, class: mypkg.models:MyModel, params: {...}}`` imports ``mypkg.models`` (only
when the config names it) and checks, without calling anything in it, that ``MyModel`` is a
class with the :class:`~mir_ref.models.base.EmbeddingModel` interface (``sample_rate``,
``frame_hop_s``, ``embed`` and optionally ``layers``) whose constructor takes ``params``.
``MyModel(**params)`` is built only when the model is first used (extraction, training), never
by ``mir_ref validate``: a config naming ``os:system`` or ``subprocess:Popen`` runs nothing.
The class path and parameters form its cache key, with the class's ``version`` attribute: bump
it when its output changes for the same parameters.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mir_ref.digests import module_checksum
from mir_ref.errors import ConfigError
from mir_ref.models.base import EmbeddingModel, LazyRuntime
from mir_ref.registry import register

_REQUIRED = ("sample_rate", "frame_hop_s", "embed")


def _import_class(path: str) -> type:
    separator = ":" if ":" in path else "."
    module_name, _, class_name = path.rpartition(separator)
    if not module_name or not class_name:
        raise ConfigError(f"class: {path!r} must be 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(
            f"class: {path!r}: cannot import module '{module_name}' ({error}); it must be "
            "installed or on the Python path"
        ) from None
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise ConfigError(
            f"class: {path!r}: module '{module_name}' has no '{class_name}'"
        ) from None


def _not_a_model(path: str, missing: str) -> ConfigError:
    return ConfigError(
        f"class: '{path}' is not an embedding model: it lacks {missing} (it needs "
        "sample_rate, frame_hop_s and embed(batch) -> [layers, batch, frames, dim]; see "
        "mir_ref.models.base)"
    )


def _assigns_to_self(cls: type, name: str) -> bool:
    """Whether a method of ``cls`` (or a base) sets ``self.<name>``, read from the source;
    True when the source is not available (the built instance is checked then)."""
    for klass in cls.__mro__[:-1]:  # not `object`
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            return True
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == name
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
            ):
                return True
    return False


def check_model_class(path: str, params: dict[str, Any]) -> type:
    """The class named by ``path``, checked without instantiating it or calling into it.

    It must be a class; ``embed`` must be a method; ``sample_rate`` and ``frame_hop_s`` must be
    class attributes, properties, annotations or attributes its methods set on ``self``; its
    constructor must accept ``params``.

    Raises
    ------
    ConfigError
        Naming the class and what it lacks.
    """
    cls = _import_class(path)
    if not inspect.isclass(cls):
        raise ConfigError(
            f"class: '{path}' is a {type(cls).__name__}, not a class; it must name an "
            "embedding model class (sample_rate, frame_hop_s, embed)"
        )
    if not callable(inspect.getattr_static(cls, "embed", None)):
        raise _not_a_model(path, "a callable embed")
    annotated = {name for klass in cls.__mro__ for name in getattr(klass, "__annotations__", {})}
    missing = [
        name
        for name in _REQUIRED[:2]
        if not hasattr(cls, name) and name not in annotated and not _assigns_to_self(cls, name)
    ]
    if missing:
        raise _not_a_model(path, ", ".join(missing))
    try:
        inspect.signature(cls).bind(**params)
    except TypeError as error:
        raise ConfigError(f"params of class '{path}': {error}") from None
    except ValueError:  # no signature to read (a class implemented in C): checked when built
        pass
    return cls


@dataclass
class PythonModel(LazyRuntime, EmbeddingModel):
    """A user's model class wrapped for the pipeline; built by :func:`python`.

    The class is checked when the config is read; an instance is made on first use.
    """

    class_path: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_model_class(self.class_path, self.params)

    @property
    def version(self) -> str:  # type: ignore[override]
        """The user class's ``version`` class attribute (part of the cache key)."""
        return str(getattr(_import_class(self.class_path), "version", "1"))

    def _model(self) -> Any:
        if "model" not in self._runtime:
            cls = _import_class(self.class_path)
            try:
                model = cls(**self.params)
            except TypeError as error:
                raise ConfigError(f"params of class '{self.class_path}': {error}") from None
            missing = [name for name in _REQUIRED if not hasattr(model, name)]
            if missing or not callable(getattr(model, "embed", None)):
                raise _not_a_model(self.class_path, ", ".join(missing) or "a callable embed")
            self._runtime["model"] = model
        return self._runtime["model"]

    @property
    def sample_rate(self) -> int:
        """The user model's sample rate, in Hz."""
        return int(self._model().sample_rate)

    @property
    def frame_hop_s(self) -> float:
        """The user model's frame hop, in seconds."""
        return float(self._model().frame_hop_s)

    @property
    def layers(self) -> list[str]:
        """The user model's layer names (``["output"]`` when it declares none)."""
        return [str(name) for name in getattr(self._model(), "layers", ["output"])]

    def parameter_count(self) -> int | None:
        """The user model's ``parameter_count()``, when it has one."""
        counter = getattr(self._model(), "parameter_count", None)
        return counter() if callable(counter) else None

    def provenance(self) -> dict[str, Any]:
        """The SHA-256 of the source of the module that defines the class."""
        module = self.class_path.rpartition(":" if ":" in self.class_path else ".")[0]
        return {"module_sha256": module_checksum(module)}

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """The user model's ``embed``: ``[batch, samples]`` → ``[layers, batch, frames, dim]``."""
        return np.asarray(self._model().embed(batch), dtype=np.float32)


@register("models", "python")
def python(**spec: Any) -> PythonModel:
    """Your own model class by import path (``class: mypkg.models:MyModel``, ``params``)."""
    unknown = set(spec) - {"class", "params"}
    if unknown:
        raise ConfigError(
            f"unknown key(s) {sorted(unknown)} of model 'python' (keys: class, params)"
        )
    if not isinstance(spec.get("class"), str):
        raise ConfigError("model 'python' needs `class: package.module:ClassName`")
    params = spec.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"params: {params!r} must be a mapping of keyword arguments")
    return PythonModel(spec["class"], params)
