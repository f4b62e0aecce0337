"""Recordings that deformations read from disk: background noises and impulse responses."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from mir_ref import audio as audio_io

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")


@functools.lru_cache(maxsize=64)
def audio_files(path: Path) -> tuple[Path, ...]:
    """``path`` itself when it is a file, else the audio files under it, sorted.

    The order is fixed so that a seed always picks the same recording. Listed once per
    process, as deformations ask for every track.
    """
    if path.is_file():
        return (path,)
    if not path.is_dir():
        return ()
    return tuple(
        sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    )


def check_recordings(field: str, path: Path) -> tuple[Path, ...]:
    """The audio files of ``path``; ``ValueError`` naming ``field`` when there are none."""
    files = audio_files(path)
    if not files:
        raise ValueError(
            f"{field}: {path} is neither an audio file nor a folder holding audio files "
            f"({', '.join(AUDIO_SUFFIXES)})"
        )
    return files


@functools.lru_cache(maxsize=16)
def recording(path: str, sample_rate: int) -> np.ndarray:
    """A file as mono ``[samples]`` float32 at ``sample_rate``, decoded once per process."""
    audio = audio_io.load(path, sample_rate=sample_rate)[0]
    audio.flags.writeable = False  # shared by every caller through the cache
    return audio
