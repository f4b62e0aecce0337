"""File names made from user-given names (datasets, tasks, models, probes, conditions).

A name may hold anything YAML can spell: ``..``, ``/``, ``\\``, NUL, thousands of characters.
:func:`safe_name` turns it into one path component that stays inside the folder it is joined
to; :func:`colliding_file_names` finds names that would share a file once made safe.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

MAX_NAME_CHARS = 100
"""Longer names are cut and end in a hash of the whole name (file systems allow 255 bytes)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._=@+-]+")


def safe_name(name: str) -> str:
    """A file-system-safe version of a user-given name: one path component, never ``.`` or
    ``..``, at most :data:`MAX_NAME_CHARS` characters (ASCII)."""
    safe = _UNSAFE.sub("_", str(name)) or "_"
    if set(safe) == {"."}:  # "." and ".." name the folder itself and its parent
        safe = safe.replace(".", "_")
    if len(safe) > MAX_NAME_CHARS:
        digest = hashlib.sha256(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:16]
        safe = f"{safe[: MAX_NAME_CHARS - 17]}-{digest}"
    return safe


def colliding_file_names(names: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs of distinct names that :func:`safe_name` maps to one file name.

    Case is ignored: on the case-insensitive file systems of macOS and Windows ``MFCC`` and
    ``mfcc`` are one file.
    """
    first: dict[str, str] = {}
    pairs = []
    for name in names:
        file_name = safe_name(name).casefold()
        other = first.setdefault(file_name, name)
        if other != name:
            pairs.append((other, name))
    return pairs
