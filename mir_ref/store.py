"""Content-addressed, atomic storage of embeddings and other arrays.

An entry is one ``.npy`` file named by the hash of everything that produced it. It is written
to a temporary name in the same folder and renamed into place, so it is either complete or
absent: a crash or ``kill -9`` mid-write never leaves a half entry, and the next run resumes.
Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def cache_key(material: dict[str, Any]) -> str:
    """SHA-256 of a JSON-serialisable description of what produced an entry."""
    text = json.dumps({"format": FORMAT_VERSION, **material}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(file_object)`` on a temporary file, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class Store:
    """Embeddings under ``<root>/embeddings/<key[:2]>/<key>.npy``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """Where the entry ``key`` lives."""
        return self.root / "embeddings" / key[:2] / f"{key}.npy"

    def has(self, key: str) -> bool:
        """Whether a complete entry exists."""
        return self.path(key).is_file()

    def put(self, key: str, array: np.ndarray) -> None:
        """Write an entry atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path(key), lambda file: np.save(file, np.ascontiguousarray(array)))

    def get(self, key: str) -> np.ndarray:
        """Read an entry (memory-mapped); ``KeyError`` when absent."""
        path = self.path(key)
        if not path.is_file():
            raise KeyError(key)
        return np.load(path, mmap_mode="r", allow_pickle=False)
