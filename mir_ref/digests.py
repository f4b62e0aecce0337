"""Content digests of files, folders and Python modules: what identifies a model's weights or
code in a run's provenance, and a downloaded archive against its published checksum."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

CHUNK_BYTES = 1 << 20


def file_checksum(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def folder_checksum(folder: Path) -> str:
    """SHA-256 over every file below ``folder``: its path relative to the folder and its
    content, in path order (a renamed or edited file changes it; the folder's place does not).
    """
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(file_checksum(path).encode() + b"\n")
    return digest.hexdigest()


def module_checksum(name: str) -> str | None:
    """SHA-256 of an importable module's source: its file, or every file of its package
    folder; None when the module cannot be found or has no source on disk."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return folder_checksum(Path(next(iter(spec.submodule_search_locations))))
    if spec.origin and Path(spec.origin).is_file():
        return file_checksum(Path(spec.origin))
    return None
