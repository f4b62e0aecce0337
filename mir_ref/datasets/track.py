"""A track: one audio item of a dataset, its labels and its split group."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mir_ref import audio as audio_io
from mir_ref.errors import DataError

SPLITS = ("train", "validation", "test")
GENERATED_SAMPLE_RATE_HZ = 22050
"""The rate a synthetic track is generated at when no rate is asked for."""


@dataclass
class Track:
    """One audio item and its labels.

    Parameters
    ----------
    id : unique within its dataset.
    labels : task name → label (a class name, a list of tags, or a number). A task missing
        from ``labels`` does not use this track.
    audio_path : the file to decode, or ``None`` when ``generate`` makes the audio.
    generate : ``(sample_rate) -> [samples]`` float32, for synthetic tracks.
    identity : what makes this audio unique (for cache keys); derived from the file's path,
        size and modification time when empty.
    offset_s, duration_s : read only this part of the file.
    group : what ties this track to others that must stay in one split and be resampled
        together by the bootstrap (an artist, a singer, a song), or ``None`` when the track
        stands alone.
    """

    id: str
    labels: dict[str, Any]
    audio_path: Path | None = None
    generate: Callable[[int], np.ndarray] | None = field(default=None, repr=False)
    identity: str = ""
    offset_s: float = 0.0
    duration_s: float | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        if not self.identity and self.audio_path is not None:
            try:
                stat = os.stat(self.audio_path)
                resolved = Path(self.audio_path).resolve()
                self.identity = f"{resolved}:{stat.st_size}:{stat.st_mtime_ns}"
            except OSError:
                self.identity = f"{Path(self.audio_path).resolve()}:missing"
            if self.offset_s or self.duration_s is not None:
                self.identity += f":{self.offset_s}:{self.duration_s}"

    def audio(self, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
        """Decode (or generate) the track as mono float32 ``[samples]`` and its sample rate."""
        if self.generate is not None:
            rate = sample_rate or GENERATED_SAMPLE_RATE_HZ
            return np.asarray(self.generate(rate), dtype=np.float32), rate
        if self.audio_path is None:
            raise DataError(f"track '{self.id}' has neither an audio file nor a generator")
        return audio_io.load(
            self.audio_path,
            sample_rate=sample_rate,
            offset_s=self.offset_s,
            duration_s=self.duration_s,
            min_duration_s=audio_io.MIN_TRACK_S,
        )
