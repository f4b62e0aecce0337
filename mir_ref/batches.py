"""Windows of successive tracks gathered into full model calls, their frames pooled at once.

Each model is handed batches of :meth:`~mir_ref.models.base.EmbeddingModel.windows_per_batch`
windows, filled across tracks (a track with fewer windows than a batch shares it with the
next tracks), and each window's frames are averaged as soon as the call returns. So a call is
never smaller than it needs to be, and no stage holds more frames than one batch's, however
long the track: a 10-minute track is embedded as a run of batches of windows, cut from its
audio only when their batch is due.

An item's embeddings do not depend on what it is batched with: every model computes each
window on its own (``tests/test_extract.py`` checks the pipeline against one track at a time,
bit for bit).
"""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mir_ref import audio as audio_io
from mir_ref import memory
from mir_ref.errors import ComponentError, MirRefError
from mir_ref.experiment import ModelEntry
from mir_ref.models.base import EmbeddingModel, parameter_count_of
from mir_ref.plan import ExtractionUnit

MEASURES = ("audio_s", "compute_s", "peak_added_bytes", "peak_gpu_bytes", "parameters")
"""What extraction measures per model: seconds of audio embedded and seconds spent (summed
over calls and processes), the most resident memory one embedding call added to its process
and the most GPU memory allocated, and the model's parameter count, read where the model is
loaded so that ``models.json`` need not load it again (maxed; NaN where unknown)."""


def fresh_measures() -> list[float]:
    """:data:`MEASURES` before any call: nothing embedded, nothing known."""
    return [0.0, 0.0, math.nan, math.nan, math.nan]


def pooled_frames(model: EmbeddingModel, batch: np.ndarray) -> np.ndarray:
    """Embed a batch of windows and average each window's frames (``model.embed_mean``).

    Parameters
    ----------
    batch : ``[windows, samples]`` float32 at the model's sample rate.

    Returns
    -------
    ``[layers, windows, dim]`` float32.
    """
    pooled = np.asarray(model.embed_mean(batch))
    if pooled.ndim != 3 or pooled.shape[1] != batch.shape[0]:
        raise ComponentError(
            f"model {type(model).__name__}.embed_mean returned shape {pooled.shape}; expected "
            f"[layers, {batch.shape[0]}, dim]"
        )
    return pooled.astype(np.float32, copy=False)


@dataclass(eq=False)
class _Part:
    """One model's share of one unit: where its windows are, and their pooled frames."""

    item: _Item
    entry: ModelEntry
    audio: np.ndarray | None
    """At the model's sample rate; dropped once every window is cut."""
    starts: np.ndarray
    length: int
    queued: int = 0
    """Windows handed to a batch so far."""
    done: int = 0
    pooled: np.ndarray | None = None
    """``[layers, windows, dim]``, filled batch by batch."""

    @property
    def windows(self) -> int:
        return len(self.starts)


@dataclass(eq=False)
class _Item:
    unit: ExtractionUnit
    tag: Any
    parts: list[_Part] = field(default_factory=list)

    def complete(self) -> bool:
        return all(part.done == part.windows for part in self.parts)

    def label(self) -> str:
        unit = self.unit
        return f"track '{unit.track.id}' of dataset '{unit.dataset.name}' ({unit.condition.label})"


class WindowBatches:
    """Units' windows, batched per model across units; units come out complete, in order.

    Parameters
    ----------
    speed : accumulates, per model name, :data:`MEASURES`: seconds of audio,
        seconds spent resampling and embedding, the most resident memory one model call
        added to this process and the most GPU memory it allocated, and the parameter count
        (NaN where unknown).
    """

    def __init__(self, speed: dict[str, list[float]]) -> None:
        self._speed = speed
        # Models whose parameters were counted: once each, even where the count is unknown.
        self._counted: set[str] = set()
        self._open: collections.deque[_Item] = collections.deque()
        self._queues: dict[str, collections.deque[_Part]] = {}

    def add(
        self,
        unit: ExtractionUnit,
        audio: np.ndarray,
        sample_rate: int,
        models: list[ModelEntry],
        *,
        tag: Any = None,
    ) -> list[tuple[Any, list[tuple[ModelEntry, np.ndarray]]]]:
        """Queue a unit's decoded audio for ``models``; embed every batch that is now full.

        The audio is resampled once per distinct model sample rate.

        Returns
        -------
        ``(tag, [(model, [layers, windows, dim] float32), ...])`` for each unit now complete,
        in the order the units were added, its models in the order given.
        """
        item = _Item(unit, tag)
        resampled: dict[int, np.ndarray] = {}
        for entry in models:
            start = time.perf_counter()
            rate = int(entry.model.sample_rate)
            if rate not in resampled:
                try:
                    resampled[rate] = audio_io.resample(audio, sample_rate, rate)
                except Exception as error:
                    raise self._failure(entry, [item], error) from error
            starts, length = audio_io.window_starts(
                len(resampled[rate]), rate, window_s=entry.window_s, hop_s=entry.hop_s
            )
            part = _Part(item, entry, resampled[rate], starts, length)
            item.parts.append(part)
            self._queues.setdefault(entry.id, collections.deque()).append(part)
            totals = self._speed.setdefault(entry.name, fresh_measures())
            totals[0] += len(audio) / sample_rate
            totals[1] += time.perf_counter() - start
        self._open.append(item)
        self._embed_due(final=False)
        return self._completed()

    def flush(self) -> list[tuple[Any, list[tuple[ModelEntry, np.ndarray]]]]:
        """Embed what is queued, partial batches included; return the units now complete."""
        self._embed_due(final=True)
        return self._completed()

    def pending(self) -> list[Any]:
        """The tags of units added but not yet returned (to release on an error)."""
        return [item.tag for item in self._open]

    def _embed_due(self, *, final: bool) -> None:
        # One batch per model per round: consecutive models then embed the same windows one
        # after the other (mfcc and melspectrogram share one STFT that way).
        busy = True
        while busy:
            busy = False
            for queue in self._queues.values():
                pieces = _take(queue, final=final)
                if pieces:
                    self._embed(pieces)
                    busy = True

    def _embed(self, pieces: list[tuple[_Part, int, int]]) -> None:
        entry = pieces[0][0].entry
        length = pieces[0][0].length
        batch = np.empty((sum(stop - first for _, first, stop in pieces), length), np.float32)
        row = 0
        for part, first, stop in pieces:
            batch[row : row + stop - first] = audio_io.cut_windows(
                part.audio, part.starts[first:stop], length
            )
            row += stop - first
            if part.queued == part.windows:
                part.audio = None
        items = list(dict.fromkeys(part.item for part, _, _ in pieces))
        start = time.perf_counter()
        on_gpu = getattr(entry.model, "device_name", "cpu") != "cpu"
        try:
            with memory.peak(gpu=on_gpu) as peak:
                pooled = pooled_frames(entry.model, batch)
        except MirRefError:
            raise
        except Exception as error:
            raise self._failure(entry, items, error) from error
        totals = self._speed[entry.name]
        totals[1] += time.perf_counter() - start
        for index, measured in ((2, peak.added_bytes), (3, peak.gpu_bytes)):
            if measured is not None:
                totals[index] = float(np.fmax(totals[index], measured))
        if entry.name not in self._counted:
            # Counted here, where the model is loaded: in the parent it would load it again.
            self._counted.add(entry.name)
            count = parameter_count_of(entry.model)
            if count is not None:
                totals[4] = float(count)
        row = 0
        for part, first, stop in pieces:
            if part.pooled is None:
                part.pooled = np.empty((pooled.shape[0], part.windows, pooled.shape[2]), np.float32)
            if part.pooled.shape[::2] != pooled.shape[::2]:
                raise ComponentError(
                    f"model '{entry.name}' returned {pooled.shape[0]} layers of size "
                    f"{pooled.shape[2]} for one batch and {part.pooled.shape[0]} of size "
                    f"{part.pooled.shape[2]} for another ({part.item.label()})"
                )
            part.pooled[:, first:stop] = pooled[:, row : row + stop - first]
            part.done += stop - first
            row += stop - first

    def _completed(self) -> list[tuple[Any, list[tuple[ModelEntry, np.ndarray]]]]:
        done = []
        while self._open and self._open[0].complete():
            item = self._open[0]
            for part in item.parts:
                if not np.all(np.isfinite(part.pooled)):
                    raise ComponentError(
                        f"model '{part.entry.name}' returned NaN or infinite values for "
                        f"{item.label()}"
                    )
            self._open.popleft()
            done.append((item.tag, [(part.entry, part.pooled) for part in item.parts]))
        return done

    @staticmethod
    def _failure(entry: ModelEntry, items: list[_Item], error: Exception) -> ComponentError:
        where = ", ".join(item.label() for item in items)
        return ComponentError(f"model '{entry.name}' failed on {where}: {error}")


def _take(queue: collections.deque[_Part], *, final: bool) -> list[tuple[_Part, int, int]]:
    """The next batch of one model's queue: ``(part, first, stop)`` window ranges, or none.

    A batch holds windows of one length; it is taken when full, when the next window differs
    in length (the batch cannot grow), or on ``final``.
    """
    if not queue:
        return []
    length = queue[0].length
    wanted = max(1, queue[0].entry.model.windows_per_batch(length))
    available = 0
    can_grow = True
    for part in queue:
        if part.length != length:
            can_grow = False
            break
        available += part.windows - part.queued
        if available >= wanted:
            break
    if available < wanted and can_grow and not final:
        return []
    pieces = []
    taken = 0
    while taken < wanted and queue and queue[0].length == length:
        part = queue[0]
        count = min(wanted - taken, part.windows - part.queued)
        pieces.append((part, part.queued, part.queued + count))
        part.queued += count
        taken += count
        if part.queued == part.windows:
            queue.popleft()
    return pieces
