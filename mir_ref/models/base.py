"""The embedding-model contract (DESIGN.md): a few attributes and one method."""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

import numpy as np

from mir_ref.errors import ComponentError

log = logging.getLogger(__name__)

WINDOWS_PER_BATCH = 16
"""Windows per :meth:`EmbeddingModel.embed` call for models that do not say."""


class EmbeddingModel:
    """Base class of embedding models.

    Subclasses are dataclasses whose fields are their config parameters. Window length, hop
    (embedding density) and pooling belong to the pipeline, not to the model: a model only
    turns a batch of equal-length waveforms into frame embeddings for each of its layers.
    Bump :attr:`version` when the output for the same parameters changes.
    """

    version: ClassVar[str] = "1"
    parallelism: ClassVar[Literal["processes", "threads"]] = "processes"
    """How extraction best spends a machine's cores on this kind of model: ``processes`` (one
    single-threaded worker per core) or ``threads`` (one worker whose operations use every
    core). Chosen by measurement (``benchmarks/transformer_efficiency.py``); the config's
    ``execution.workers`` and ``execution.threads`` override it."""

    @property
    def sample_rate(self) -> int:
        """The sample rate the model expects, in Hz."""
        raise NotImplementedError

    @property
    def layers(self) -> list[str]:
        """Names of the layers :meth:`embed` returns, in order."""
        return ["output"]

    @property
    def frame_hop_s(self) -> float:
        """Seconds between the model's native frames."""
        raise NotImplementedError

    def availability_problems(self) -> list[str]:
        """What would stop this model from loading, found cheaply: a missing optional package,
        weights file or model folder. Never loads a network; ``mir_ref validate`` calls it for
        every model so that a run does not fail after other models have extracted. Empty
        when nothing is missing (the default: models made of code alone)."""
        return []

    def provenance(self) -> dict[str, Any]:
        """What identifies the weights or code this model runs beyond its parameters, for the
        run's ``provenance.json``: a hub revision, the SHA-256 of a weights file or of a
        module's source. Empty when the parameters and mir_ref's own code say it all."""
        return {}

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """Embed a batch of waveforms.

        Parameters
        ----------
        batch : ``[batch, samples]`` float32 at :attr:`sample_rate`.

        Returns
        -------
        ``[layers, batch, frames, dim]`` float32.
        """
        raise NotImplementedError

    def embed_mean(self, batch: np.ndarray) -> np.ndarray:
        """Each waveform's frames averaged: what the pipeline stores for a window.

        Parameters
        ----------
        batch : ``[batch, samples]`` float32 at :attr:`sample_rate`.

        Returns
        -------
        ``[layers, batch, dim]`` float32. Models that run long inputs in pieces override it
        so that a window's frames are never all in memory at once.
        """
        output = np.asarray(self.embed(batch))
        if output.ndim != 4 or output.shape[1] != len(batch):
            raise ComponentError(
                f"model {type(self).__name__}.embed returned shape {output.shape}; expected "
                f"[layers, {len(batch)}, frames, dim]"
            )
        return output.mean(axis=2).astype(np.float32)

    def windows_per_batch(self, window_samples: int) -> int:
        """How many windows of ``window_samples`` the pipeline hands to one :meth:`embed` call.

        The pipeline fills each call with windows of successive tracks and averages each
        window's frames as soon as the call returns, so this bounds the frames held at once.
        Models with a ``batch_size`` of whole waveforms return it.
        """
        return WINDOWS_PER_BATCH


class LazyRuntime:
    """Mixin of models that hold what is slow to load (a network, an ONNX session, a user's
    module): it is loaded on first use into :attr:`_runtime`, and a copy sent to a worker
    process leaves it behind, so that each process loads its own and the model's
    parameters alone travel."""

    @property
    def _runtime(self) -> dict[str, Any]:
        """What this process has loaded for the model, by name."""
        return self.__dict__.setdefault("_loaded", {})

    def __getstate__(self) -> dict[str, Any]:
        return {name: value for name, value in self.__dict__.items() if name != "_loaded"}


def parameter_count_of(model: Any) -> int | None:
    """``model.parameter_count()``, or ``None`` when the model has none or counting fails
    (a missing count must not fail an extraction)."""
    counter = getattr(model, "parameter_count", None)
    if counter is None:
        return None
    try:
        count = counter()
    except Exception as error:
        log.debug("parameter count of %s unavailable: %s", type(model).__name__, error)
        return None
    return None if count is None else int(count)
