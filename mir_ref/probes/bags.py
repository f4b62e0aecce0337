"""Tracks as bags of windows: the input of probes that pool windows themselves.

With ``embedding.pooling: none`` a track is a variable number of window embeddings. A probe
with ``pool`` set (see :class:`~mir_ref.probes.torch_probes.TorchProbe`) takes a split as
:class:`Bags` and learns from whole tracks: it pools each track's windows (mean, or learned
attention) before its classifier, and predicts one score per track.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Bags:
    """``len(self)`` bags of windows.

    Attributes
    ----------
    windows : ``[n_windows, dim]`` every window of every bag (``[n_windows, layers, dim]``
        for a probe that weights layers).
    owner : ``[n_windows]`` int, the bag (``0 .. len - 1``) of each window. Every bag has at
        least one window.
    """

    windows: np.ndarray
    owner: np.ndarray

    @classmethod
    def of_rows(cls, x: np.ndarray) -> Bags:
        """Each row of ``[n, dim]`` a bag of one window (a track-level embedding)."""
        return cls(np.asarray(x), np.arange(len(x)))

    def __len__(self) -> int:
        return int(self.owner.max()) + 1 if len(self.owner) else 0

    def subset(self, bags: np.ndarray) -> Bags:
        """Bags ``bags`` (sorted row indices), renumbered ``0 .. len(bags) - 1``."""
        renumber = np.full(len(self), -1, dtype=np.int64)
        renumber[bags] = np.arange(len(bags))
        kept = np.flatnonzero(renumber[self.owner] >= 0)
        return Bags(self.windows[kept], renumber[self.owner[kept]])

    def padded(self) -> tuple[np.ndarray, np.ndarray]:
        """Windows as ``[bags, most windows, ...]`` (a window's own shape last), zero-padded,
        and the ``[bags, most windows]`` bool mask of real windows (windows keep their order
        within a bag)."""
        n_bags = len(self)
        counts = np.bincount(self.owner, minlength=n_bags)
        order = np.argsort(self.owner, kind="stable")
        owner = self.owner[order]
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        position = np.arange(len(owner)) - starts[owner]
        width = int(counts.max()) if n_bags else 0
        x = np.zeros((n_bags, width, *self.windows.shape[1:]), dtype=self.windows.dtype)
        mask = np.zeros((n_bags, width), dtype=bool)
        x[owner, position] = self.windows[order]
        mask[owner, position] = True
        return x, mask
