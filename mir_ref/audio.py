"""Audio input: decode (soundfile), downmix, resample (soxr) and cut into windows.

Decoding reads a file block by block and downmixes each block as it arrives, so a long
multichannel file never sits in memory at its full channel count: a 3-hour 8-channel file
costs its mono length, and ``duration_s`` reads only the span asked for. Every way a file can
be unusable raises an :class:`~mir_ref.errors.AudioError` that names the file: missing,
empty, not audio, truncated, an unsupported sample rate, NaN or infinite samples, or too short.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

from mir_ref.errors import AudioError

log = logging.getLogger(__name__)

MIN_SAMPLE_RATE_HZ = 4_000
MAX_SAMPLE_RATE_HZ = 768_000
"""Sample rates outside this range are refused: below it no music is left (8 kHz telephone
audio is the lowest in use), above it a header is corrupt or the file is not audio."""

MIN_TRACK_S = 0.01
"""A track shorter than this (a handful of samples) is refused rather than padded: no model
frame fits in it, and a silently padded track would be scored as if it were music. (Other
audio, such as an impulse response, may be shorter.)"""

_BLOCK_FRAMES = 1 << 18
"""Frames decoded per block (6 s at 44.1 kHz): the only multichannel buffer ever held."""

_TRUNCATION_TOLERANCE = 0.01
"""Compressed formats (MP3, OGG) estimate their length from the header; a file that decodes
to less than 99 % of it is truncated."""


@dataclass(frozen=True)
class Header:
    """What a file's header says, read without decoding any audio."""

    frames: int
    sample_rate: int
    channels: int
    format: str

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate


def header(path: str | Path, *, min_duration_s: float = 0.0, check_end: bool = True) -> Header:
    """Read and check an audio file's header (cheap: at most a few frames are decoded).

    ``check_end`` also seeks to 99 % of the length the header declares and decodes a few
    frames there, which finds a compressed file (FLAC, MP3) cut short: its header still
    declares the whole length.

    Raises
    ------
    AudioError
        The file is missing, empty, not audio (whatever its extension says), a WAV whose data
        chunk is cut short, a file that ends before the length its header declares, has an
        unsupported sample rate or holds no audio, or less than ``min_duration_s``
        (:data:`MIN_TRACK_S` for tracks).
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    size = path.stat().st_size
    if size == 0:
        raise AudioError(f"cannot decode audio file {path}: it is empty (0 bytes)")
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError(f"cannot decode audio file {path}: {_reason(error)}") from None
    if not MIN_SAMPLE_RATE_HZ <= info.samplerate <= MAX_SAMPLE_RATE_HZ:
        raise AudioError(
            f"audio file {path} has a sample rate of {info.samplerate} Hz; supported: "
            f"{MIN_SAMPLE_RATE_HZ} to {MAX_SAMPLE_RATE_HZ} Hz"
        )
    if info.format in ("WAV", "WAVEX"):
        declared, available = _wav_data_sizes(path, size)
        if declared is not None and declared > available:
            raise AudioError(
                f"audio file {path} is truncated: its header declares {declared} bytes of "
                f"audio, the file holds {available}"
            )
    found = Header(info.frames, info.samplerate, info.channels, info.format)
    if info.frames <= 0:
        raise AudioError(f"audio file {path} holds no samples")
    if found.duration_s < min_duration_s:
        raise AudioError(_too_short(path, info.frames, info.samplerate, min_duration_s))
    if check_end and info.format not in ("WAV", "WAVEX"):  # a WAV's data size is checked above
        _check_end(path, found)
    return found


_END_FRAMES = 1024
"""Frames decoded where a file should still have audio, to find truncation."""


def _check_end(path: Path, found: Header) -> None:
    """Raise when the audio stops before 99 % of the frames the header declares."""
    position = max(0, int(found.frames * (1 - _TRUNCATION_TOLERANCE)) - _END_FRAMES)
    try:
        with soundfile.SoundFile(str(path)) as handle:
            handle.seek(position)
            present = len(handle.read(_END_FRAMES, dtype="float32", always_2d=True))
    except (soundfile.LibsndfileError, RuntimeError, ValueError):
        present = 0
    if present == 0:
        raise AudioError(
            f"audio file {path} is truncated: its header declares {found.frames} frames "
            f"({found.duration_s:.2f} s), but its audio stops before "
            f"{position / found.sample_rate:.2f} s"
        )


def probe(path: str | Path) -> float:
    """Read only the header of an audio file, check it, and return its duration in seconds."""
    return header(path).duration_s


def load(
    path: str | Path,
    *,
    sample_rate: int | None = None,
    offset_s: float = 0.0,
    duration_s: float | None = None,
    min_duration_s: float = 0.0,
    quiet: bool = False,
) -> tuple[np.ndarray, int]:
    """Decode an audio file to mono float32, block by block.

    Parameters
    ----------
    path : any file soundfile reads (WAV, FLAC, OGG, MP3, ...).
    sample_rate : resample to this rate; the file's own rate when ``None``.
    offset_s, duration_s : read only this part of the file.
    min_duration_s : refuse less audio than this (:data:`MIN_TRACK_S` for tracks).
    quiet : do not log a warning for silent audio (the caller reports it).

    Returns
    -------
    audio : ``[samples]`` float32.
    sample_rate : its sample rate.

    Raises
    ------
    AudioError
        See :func:`header`; also when the audio decodes to fewer frames than the header
        declares (truncated data) or holds NaN or infinite samples. Silent audio is valid
        and only logged.
    """
    found = header(path, min_duration_s=min_duration_s, check_end=False)  # decoding checks it
    native_rate = found.sample_rate
    start = int(round(offset_s * native_rate))
    wanted = found.frames - start
    if duration_s is not None:
        wanted = min(wanted, int(round(duration_s * native_rate)))
    if wanted <= 0:
        raise AudioError(
            f"audio file {path} holds no samples after offset_s={offset_s:g} (it is "
            f"{found.duration_s:.3f} s long)"
        )
    mono = np.empty(wanted, dtype=np.float32)
    filled = 0
    try:
        with soundfile.SoundFile(str(path)) as handle:
            if start:
                handle.seek(start)
            while filled < wanted:
                block = handle.read(
                    min(_BLOCK_FRAMES, wanted - filled), dtype="float32", always_2d=True
                )
                if block.shape[0] == 0:
                    break
                block = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
                if not np.isfinite(block).all():
                    bad = filled + int(np.flatnonzero(~np.isfinite(block))[0])
                    raise AudioError(
                        f"audio file {path} contains NaN or infinite samples (first at "
                        f"{(start + bad) / native_rate:.3f} s)"
                    )
                mono[filled : filled + len(block)] = block
                filled += len(block)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as error:
        raise AudioError(f"cannot decode audio file {path}: {_reason(error)}") from None
    if filled < wanted * (1 - _TRUNCATION_TOLERANCE):
        raise AudioError(
            f"audio file {path} is truncated: it decodes to {filled} frames where its header "
            f"declares {wanted} ({filled / native_rate:.2f} of {wanted / native_rate:.2f} s)"
        )
    mono = mono[:filled]
    if filled / native_rate < min_duration_s:
        raise AudioError(_too_short(path, filled, native_rate, min_duration_s))
    if not quiet and not mono.any():
        log.warning("audio file %s is silent (every sample is 0); kept", path)
    if sample_rate is not None and sample_rate != native_rate:
        return resample(mono, native_rate, sample_rate), sample_rate
    return mono, native_rate


def _too_short(path: str | Path, frames: int, sample_rate: int, minimum_s: float) -> str:
    return (
        f"audio file {path} is too short: {frames} sample(s) at {sample_rate} Hz "
        f"({frames / sample_rate:.4f} s); a track needs at least {minimum_s:g} s"
    )


def _reason(error: Exception) -> str:
    # libsndfile repeats the path in its message; the caller already names the file.
    text = str(error)
    return text.split(": ", 1)[1] if text.startswith("Error opening") and ": " in text else text


def _wav_data_sizes(path: Path, size: int) -> tuple[int | None, int]:
    """``(bytes the data chunk declares, bytes the file holds after its start)``.

    libsndfile quietly shortens a WAV whose data chunk runs past the end of the file; this
    reads the RIFF chunk list itself so that a cut-off download is reported, not decoded short.
    The declared size is ``None`` when unknown (no data chunk found, or a streaming writer's
    placeholder size).
    """
    with open(path, "rb") as file:
        riff = file.read(12)
        if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            return None, 0
        position = 12
        while position + 8 <= size:
            file.seek(position)
            chunk, length = struct.unpack("<4sI", file.read(8))
            if chunk == b"data":
                if length in (0, 0xFFFFFFFF):
                    return None, 0
                return length, size - position - 8
            position += 8 + length + (length & 1)
    return None, 0


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


def window_starts(
    samples: int, sample_rate: int, *, window_s: float, hop_s: float
) -> tuple[np.ndarray, int]:
    """Where :func:`windows` cuts ``samples`` of audio: each window's first sample and the
    window length (the audio's own length when it is shorter than one window).

    Windows start every ``hop_s``; when the hops leave the end uncovered, one more window is
    aligned to the end, so every sample is seen and no window is zero-padded.
    """
    length = int(round(window_s * sample_rate))
    hop = max(1, int(round(hop_s * sample_rate)))
    if samples <= length:
        return np.zeros(1, dtype=np.int64), samples
    starts = np.arange(0, samples - length + 1, hop, dtype=np.int64)
    if starts[-1] + length < samples:
        starts = np.append(starts, samples - length)
    return starts, length


def cut_windows(audio: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """``[len(starts), length]``: a copy of the windows of ``audio`` that begin at ``starts``."""
    cut = np.empty((len(starts), length), dtype=audio.dtype)
    for row, start in enumerate(starts):
        cut[row] = audio[start : start + length]
    return cut


def windows(audio: np.ndarray, sample_rate: int, *, window_s: float, hop_s: float) -> np.ndarray:
    """Cut ``[samples]`` audio into ``[windows, window_samples]`` frames (:func:`window_starts`).

    Audio shorter than one window becomes a single window of its own length. The windows are
    a copy: a model may write into its batch.
    """
    starts, length = window_starts(audio.shape[-1], sample_rate, window_s=window_s, hop_s=hop_s)
    return cut_windows(audio, starts, length)
