"""The ``hear`` adapter: any module that follows the HEAR 2021 API.

A HEAR module offers ``load_model(model_file_path)`` (returning a model with ``sample_rate``,
``scene_embedding_size`` and ``timestamp_embedding_size``), ``get_scene_embeddings(audio,
model)`` → ``[sounds, dim]`` and ``get_timestamp_embeddings(audio, model)`` → ``([sounds,
timestamps, dim], [sounds, timestamps] in ms)``; dozens of published models are packaged so.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from mir_ref.digests import file_checksum, folder_checksum, module_checksum
from mir_ref.errors import ComponentError, ConfigError
from mir_ref.models.base import EmbeddingModel, LazyRuntime
from mir_ref.registry import register

_FUNCTIONS = ("load_model", "get_scene_embeddings", "get_timestamp_embeddings")
_MODEL_ATTRIBUTES = ("sample_rate", "scene_embedding_size", "timestamp_embedding_size")


@register("models", "hear")
@dataclass
class Hear(LazyRuntime, EmbeddingModel):
    """Any HEAR-API module (``module: name``, optional ``model_file``), scene or timestamp.

    Parameters
    ----------
    module : importable name of the HEAR module (``hearbaseline``, ``openl3_hear``, ...).
    model_file : weights passed to ``load_model``; empty for modules that bundle them.
    embedding : ``timestamp`` (frames, the layer ``timestamp``) or ``scene`` (one vector per
        window, the layer ``scene``).
    device : ``auto`` (CUDA when available) or ``cpu``/``cuda``; the audio is sent there and
        HEAR models are expected to follow it.
    """

    module: str = ""
    model_file: Path | None = None
    embedding: Literal["timestamp", "scene"] = "timestamp"
    device: Literal["auto", "cpu", "cuda"] = "auto"

    version: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        if not self.module:
            raise ValueError("module: required (an importable HEAR module)")
        self._api()

    def _api(self) -> Any:
        if "api" not in self._runtime:
            try:
                api = importlib.import_module(self.module)
            except ImportError as error:
                raise ConfigError(
                    f"HEAR module '{self.module}' cannot be imported ({error}); install it first"
                ) from None
            missing = [name for name in _FUNCTIONS if not callable(getattr(api, name, None))]
            if missing:
                raise ConfigError(
                    f"HEAR module '{self.module}' does not follow the HEAR API: it lacks "
                    f"{', '.join(missing)} (needs {', '.join(_FUNCTIONS)})"
                )
            self._runtime["api"] = api
        return self._runtime["api"]

    def availability_problems(self) -> list[str]:
        """A ``model_file`` that does not exist (the module was imported when built)."""
        if self.model_file is not None and not Path(self.model_file).exists():
            return [f"HEAR module '{self.module}': model_file {self.model_file} does not exist"]
        return []

    def _model(self) -> Any:
        if "model" not in self._runtime:
            # Deferred: loads torch, which many runs never need.
            import torch

            api = self._api()
            problems = self.availability_problems()
            if problems:
                raise ConfigError(problems[0])
            model = api.load_model(str(self.model_file or ""))
            missing = [name for name in _MODEL_ATTRIBUTES if not hasattr(model, name)]
            if missing:
                raise ConfigError(
                    f"HEAR module '{self.module}': load_model() returned a model without "
                    f"{', '.join(missing)} (the HEAR API requires {', '.join(_MODEL_ATTRIBUTES)})"
                )
            device = self.device
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            if isinstance(model, torch.nn.Module):
                model = model.to(device).eval()
            self._runtime["model"] = model
            self._runtime["device"] = device
        return self._runtime["model"]

    @property
    def sample_rate(self) -> int:
        """The HEAR model's ``sample_rate``, in Hz."""
        return int(self._model().sample_rate)

    @property
    def layers(self) -> list[str]:
        """One layer, named after the embedding kind (``timestamp`` or ``scene``)."""
        return [self.embedding]

    @property
    def frame_hop_s(self) -> float:
        """Seconds between timestamps (measured on 2 s of silence); NaN for scene embeddings."""
        if self.embedding == "scene":
            return math.nan
        if "hop_s" not in self._runtime:
            silence = np.zeros((1, 2 * self.sample_rate), dtype=np.float32)
            _, timestamps_ms = self._timestamp(silence)
            steps = np.diff(timestamps_ms[0])
            self._runtime["hop_s"] = float(np.median(steps)) / 1000 if steps.size else math.nan
        return self._runtime["hop_s"]

    def parameter_count(self) -> int | None:
        """Weights of the loaded model, when it is a PyTorch module."""
        parameters = getattr(self._model(), "parameters", None)
        return sum(p.numel() for p in parameters()) if callable(parameters) else None

    def provenance(self) -> dict[str, Any]:
        """The SHA-256 of the module's source and of ``model_file`` (a file or a folder)."""
        record: dict[str, Any] = {"module_sha256": module_checksum(self.module)}
        if self.model_file is not None:
            path = Path(self.model_file)
            record["weights_sha256"] = (
                folder_checksum(path) if path.is_dir() else file_checksum(path)
            )
        return record

    def layer_sizes(self) -> dict[str, int]:
        """The size the model declares for the configured embedding."""
        return {self.embedding: int(getattr(self._model(), f"{self.embedding}_embedding_size"))}

    def _timestamp(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Deferred: loads torch, which many runs never need.
        import torch

        model = self._model()
        audio = torch.from_numpy(batch).to(self._runtime["device"])
        with torch.inference_mode():
            result = self._api().get_timestamp_embeddings(audio, model)
        if not isinstance(result, tuple) or len(result) != 2:
            raise ComponentError(
                f"HEAR module '{self.module}': get_timestamp_embeddings must return "
                f"(embeddings, timestamps); got {type(result).__name__}"
            )
        embeddings, timestamps = (_numpy(value) for value in result)
        if embeddings.ndim != 3 or timestamps.shape != embeddings.shape[:2]:
            raise ComponentError(
                f"HEAR module '{self.module}': get_timestamp_embeddings returned shapes "
                f"{embeddings.shape} and {timestamps.shape}; expected [sounds, timestamps, dim] "
                "and [sounds, timestamps]"
            )
        return embeddings, timestamps

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """The module's timestamp or scene embeddings of a batch of waveforms.

        Parameters
        ----------
        batch : ``[batch, samples]`` float32 at :attr:`sample_rate`.

        Returns
        -------
        ``[1, batch, frames, dim]`` float32; one frame per window for scene embeddings.
        """
        # Deferred: loads torch, which many runs never need.
        import torch

        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.embedding == "timestamp":
            embeddings, _ = self._timestamp(batch)
        else:
            model = self._model()
            with torch.inference_mode():
                audio = torch.from_numpy(batch).to(self._runtime["device"])
                embeddings = _numpy(self._api().get_scene_embeddings(audio, model))
            if embeddings.ndim != 2:
                raise ComponentError(
                    f"HEAR module '{self.module}': get_scene_embeddings returned shape "
                    f"{embeddings.shape}; expected [sounds, dim]"
                )
            embeddings = embeddings[:, None]
        if embeddings.shape[0] != batch.shape[0]:
            raise ComponentError(
                f"HEAR module '{self.module}' returned {embeddings.shape[0]} embeddings for "
                f"{batch.shape[0]} sounds"
            )
        return embeddings[None].astype(np.float32)


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        return value.detach().float().cpu().numpy()
    return np.asarray(value)
