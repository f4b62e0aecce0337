"""Short audio clips for the report's listening section, as WAV data URIs.

Clips are mono, 16 kHz, 16-bit and at most a few seconds long, so that a page with a few
tracks under every condition stays a few megabytes.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import soundfile
import soxr

CLIP_SAMPLE_RATE = 16000
MAX_CLIP_S = 5.0


def wav_data_uri(path: str | Path, *, max_s: float = MAX_CLIP_S) -> str:
    """The first ``max_s`` seconds of an audio file as a ``data:audio/wav;base64,`` URI.

    The audio is mixed to mono, resampled to :data:`CLIP_SAMPLE_RATE` and written as 16-bit
    PCM. Its level is kept (a gain deformation must stay audible as one); samples beyond full
    scale are clipped.
    """
    audio, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
    audio = audio[: int(max_s * sample_rate)].mean(axis=1)
    if sample_rate != CLIP_SAMPLE_RATE and len(audio):
        audio = soxr.resample(audio, sample_rate, CLIP_SAMPLE_RATE)
    buffer = io.BytesIO()
    soundfile.write(
        buffer, np.clip(audio, -1.0, 1.0), CLIP_SAMPLE_RATE, format="WAV", subtype="PCM_16"
    )
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
