"""The ``python`` adapter: a user's own model class, named by import path in the config.

``{type: python, class: mypkg.models:MyModel, params: {...}}`` imports ``mypkg.models`` (only
when the config names it), builds ``MyModel(**params)`` and checks that it has the
:class:`~mir_ref.models.base.EmbeddingModel` interface: ``sample_rate``, ``frame_hop_s``,
``embed`` and optionally ``layers``. The class path and parameters form its cache key; bump
the class's ``version`` attribute when its output changes for the same parameters.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mir_ref.digests import module_checksum
from mir_ref.errors import ConfigError
from mir_ref.models.base import EmbeddingModel
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


@dataclass
class PythonModel(EmbeddingModel):
    """A user's model class wrapped for the pipeline; built by :func:`python`."""

    class_path: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._runtime: dict[str, Any] = {}
        model = self._model()
        missing = [name for name in _REQUIRED if not hasattr(model, name)]
        if missing or not callable(getattr(model, "embed", None)):
            raise ConfigError(
                f"class: '{self.class_path}' is not an embedding model: it lacks "
                f"{', '.join(missing) or 'a callable embed'} (it needs sample_rate, frame_hop_s "
                "and embed(batch) -> [layers, batch, frames, dim]; see mir_ref.models.base)"
            )

    @property
    def version(self) -> str:  # type: ignore[override]
        """The user class's ``version`` (part of the cache key)."""
        return str(getattr(self._model(), "version", "1"))

    def _model(self) -> Any:
        if "model" not in self._runtime:
            cls = _import_class(self.class_path)
            try:
                self._runtime["model"] = cls(**self.params)
            except TypeError as error:
                raise ConfigError(f"params of class '{self.class_path}': {error}") from None
        return self._runtime["model"]

    def __getstate__(self) -> dict[str, Any]:
        # Workers import the class and build their own instance.
        return {**self.__dict__, "_runtime": {}}

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
