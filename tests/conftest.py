"""Shared fixtures: seeded randomness and small synthesized audio corpora."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

REPO = Path(__file__).resolve().parents[1]

# Tests never write to the user's cache.
os.environ.setdefault("MIR_REF_CACHE", str(Path("/tmp") / "mir_ref_test_cache_unused"))


def tiny_tones(**overrides) -> dict:
    """The small ``synthetic_tones`` dataset entry that most end-to-end tests run on: one note
    per (pitch class, instrument) of three instruments, three phrases per key and nine
    mixtures, all short, pitch classes only unless ``tasks`` says otherwise. ``overrides``
    replace keys; a value of None drops the key (the dataset's default then applies)."""
    entry = {
        "name": "tones",
        "type": "synthetic_tones",
        "notes_per_class": 1,
        "phrases_per_key": 3,
        "mixtures": 9,
        "instruments": 3,
        "note_duration_s": 0.5,
        "phrase_duration_s": 2.0,
        "mixture_duration_s": 1.0,
        "tasks": ["pitch_class"],
    }
    entry.update(overrides)
    return {key: value for key, value in entry.items() if value is not None}


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator, so every test sees the same signals."""
    return np.random.default_rng(1234)


def write_tone(path: Path, frequency_hz: float, *, sample_rate: int = 16000, seconds: float = 1.0):
    """Write a short harmonic tone to ``path`` (WAV, or any soundfile format by suffix)."""
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    audio = sum(np.sin(2 * np.pi * frequency_hz * k * t) / k for k in range(1, 5))
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, (0.3 * audio).astype(np.float32), sample_rate)
    return path


@pytest.fixture
def manifest_corpus(tmp_path: Path) -> Path:
    """A small manifest dataset on disk: 24 tones in two 'genres' (low vs high), with splits."""
    return write_manifest_corpus(tmp_path)


def write_manifest_corpus(tmp_path: Path) -> Path:
    """Write the :func:`manifest_corpus` tones and manifest under ``tmp_path``; return the
    manifest's path."""
    rows = ["path,genre,key,tags,bpm,split"]
    splits = ["train"] * 8 + ["validation"] * 2 + ["test"] * 2
    for index in range(24):
        genre = "low" if index % 2 == 0 else "high"
        # Detuning is shuffled against the split order, so test tones lie inside the train range.
        detune = 1 + 0.03 * ((index // 2) * 7 % 12)
        frequency = (110 if genre == "low" else 880) * detune
        name = f"audio/{genre}_{index:02d}.wav"
        write_tone(tmp_path / name, frequency)
        key = "C:major" if genre == "low" else "A:minor"
        tags = "bass;tone" if genre == "low" else "treble;tone"
        rows.append(f"{name},{genre},{key},{tags},{60 + index},{splits[index // 2]}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "manifest.csv"


def manifest_config(manifest: Path, **overrides) -> dict:
    """A config on the :func:`manifest_corpus` tones (genre task, mfcc), run and cache folders
    beside the manifest; ``overrides`` replace top-level keys."""
    config = {
        "name": "t",
        "output_dir": str(manifest.parent / "run"),
        "cache_dir": str(manifest.parent / "cache"),
        "datasets": [
            {
                "name": "corpus",
                "type": "manifest",
                "path": str(manifest),
                "tasks": {"genre": {"type": "multiclass", "column": "genre"}},
            }
        ],
        "models": [{"type": "mfcc"}],
    }
    config.update(overrides)
    return config


@pytest.fixture
def embed_calls(monkeypatch) -> dict:
    """Counts calls to the hand-made models' ``embed`` in this process: ``{"n": calls,
    "windows": windows embedded}``."""
    from mir_ref.models import handcrafted

    calls = {"n": 0, "windows": 0}
    for cls in (handcrafted.Mfcc, handcrafted.Chroma, handcrafted.MelSpectrogram):
        original = cls.embed

        def counted(self, batch, _original=original):
            calls["n"] += 1
            calls["windows"] += len(batch)
            return _original(self, batch)

        monkeypatch.setattr(cls, "embed", counted)
    return calls


@pytest.fixture
def cache_reads(monkeypatch) -> dict[str, int]:
    """Counts the reads of each cache key through ``Store.get_many`` (the training stage's and
    the embedding views' reads) in this process: ``{key: reads}``, filled as reads happen."""
    from mir_ref.store import Store

    reads: dict[str, int] = {}
    get_many = Store.get_many

    def counted(self, keys):
        for key in keys:
            reads[key] = reads.get(key, 0) + 1
        return get_many(self, keys)

    monkeypatch.setattr(Store, "get_many", counted)
    return reads


def imports_in_fresh_interpreter(code: str, module: str) -> bool:
    """Whether running ``code`` in a new Python process imports ``module``."""
    check = f"{code}\nimport sys\nprint({module!r} in sys.modules)\n"
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    )
    return result.stdout.strip().splitlines()[-1] == "True"
