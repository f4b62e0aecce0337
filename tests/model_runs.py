"""A small end-to-end config for model tests: 36 half-second notes, one task, one probe."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import tiny_tones

NOTES = tiny_tones(name="notes")


def notes_config(folder: Path, models: list[dict]) -> dict:
    """A config that runs ``models`` on :data:`NOTES` in seconds, writing under ``folder``."""
    return {
        "name": "models",
        "output_dir": str(folder / "run"),
        "cache_dir": str(folder / "cache"),
        "datasets": [NOTES],
        "models": models,
        "embedding": {"window_s": 0.5, "hop_s": 0.5},
        "probes": [{"type": "linear"}],
        "protocol": {"epochs": 5, "patience": 5},
        "execution": {"workers": 1},
        "report": {"plots": False},
    }
