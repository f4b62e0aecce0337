"""The embedding-model contract (DESIGN.md): a few attributes and one method."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np


class EmbeddingModel:
    """Base class of embedding models.

    Subclasses are dataclasses whose fields are their config parameters. Window length, hop
    (embedding density) and pooling belong to the pipeline, not to the model: a model only
    turns a batch of equal-length waveforms into frame embeddings for each of its layers.
    Bump :attr:`version` when the output for the same parameters changes.
    """

    version: ClassVar[str] = "1"

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
