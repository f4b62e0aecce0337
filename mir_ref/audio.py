"""Audio input: decode (soundfile), downmix, resample (soxr) and cut into windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import soxr

from mir_ref.errors import AudioError


def load(
    path: str | Path,
    *,
    sample_rate: int | None = None,
    offset_s: float = 0.0,
    duration_s: float | None = None,
) -> tuple[np.ndarray, int]:
    """Decode an audio file to mono float32.

    Parameters
    ----------
    path : any file soundfile reads (WAV, FLAC, OGG, MP3, ...).
    sample_rate : resample to this rate; the file's own rate when ``None``.
    offset_s, duration_s : read only this part of the file.

    Returns
    -------
    audio : ``[samples]`` float32.
    sample_rate : its sample rate.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    try:
        with soundfile.SoundFile(str(path)) as handle:
            native_rate = handle.samplerate
            handle.seek(int(round(offset_s * native_rate)))
            frames = -1 if duration_s is None else int(round(duration_s * native_rate))
            audio = handle.read(frames, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as error:
        raise AudioError(f"cannot decode audio file {path}: {error}") from None
    if audio.shape[0] == 0:
        raise AudioError(f"audio file {path} holds no samples")
    mono = to_mono(audio.T)
    if not np.all(np.isfinite(mono)):
        raise AudioError(f"audio file {path} contains NaN or infinite samples")
    if sample_rate is not None and sample_rate != native_rate:
        return resample(mono, native_rate, sample_rate), sample_rate
    return mono, native_rate


def probe(path: str | Path) -> float:
    """Read only the header of an audio file and return its duration in seconds."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise AudioError(f"cannot decode audio file {path}: {error}") from None
    if info.frames <= 0:
        raise AudioError(f"audio file {path} holds no samples")
    return info.frames / info.samplerate


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average ``[channels, samples]`` (or pass through ``[samples]``) to ``[samples]`` float32."""
    audio = np.asarray(audio, dtype=np.float32)
    return audio.mean(axis=0) if audio.ndim == 2 else audio


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Resample ``[samples]`` or ``[channels, samples]`` audio with soxr (high quality)."""
    if source_rate == target_rate:
        return np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        return np.ascontiguousarray(
            soxr.resample(audio.T, source_rate, target_rate, quality="HQ").T, dtype=np.float32
        )
    return soxr.resample(audio, source_rate, target_rate, quality="HQ").astype(np.float32)


def windows(audio: np.ndarray, sample_rate: int, *, window_s: float, hop_s: float) -> np.ndarray:
    """Cut ``[samples]`` audio into ``[windows, window_samples]`` frames.

    Windows start every ``hop_s``; when the hops leave the end uncovered, one more window is
    aligned to the end, so every sample is seen and no window is zero-padded. Audio shorter
    than one window becomes a single window of its own length.
    """
    length = int(round(window_s * sample_rate))
    hop = max(1, int(round(hop_s * sample_rate)))
    if audio.shape[-1] <= length:
        return audio[None, :]
    starts = list(range(0, audio.shape[-1] - length + 1, hop))
    if starts[-1] + length < audio.shape[-1]:
        starts.append(audio.shape[-1] - length)
    return np.stack([audio[start : start + length] for start in starts])
