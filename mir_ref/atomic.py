"""Atomic file writes: a file is either complete or absent, whatever happens mid-write.

The data goes to a temporary name in the target's folder, is flushed to disk, and is renamed
into place (``os.replace`` is atomic on POSIX). A crash, ``kill -9`` or a full disk leaves at
most the temporary file, whose name carries the writer's process id so that cleaning up can
tell a crash's leftover from a write in flight.
"""

from __future__ import annotations

import errno
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from mir_ref.errors import CacheError

# A temporary file whose writer is unknown (no process id in its name) counts as a crash's
# leftover once it is this old.
STALE_TEMPORARY_S = 600.0


def atomic_write(path: Path, write: Callable[[BinaryIO], Any], *, durable: bool = True) -> None:
    """Call ``write(file_object)`` on a temporary file, flush it to disk, rename it to ``path``.

    ``durable=False`` skips the flush to disk (``fsync``): the file is still complete or absent
    after a process crash, only a power cut may lose it.

    Raises
    ------
    CacheError
        When the disk is full, the folder is read-only or a file stands where a folder should
        be: one line naming the folder; nothing is left behind, and a complete file already at
        ``path`` is kept as it was.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"
        )
    except OSError as error:
        raise unwritable(error, path.parent) from error
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            if durable:
                os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno in _UNWRITABLE:
            raise unwritable(error, path.parent) from error
        raise


def atomic_write_bytes(path: Path, data: bytes | memoryview, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda file: file.write(data), durable=durable)


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


_FULL = (errno.ENOSPC, errno.EDQUOT)
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
_NOT_A_FOLDER = (errno.ENOTDIR, errno.EEXIST)
_UNWRITABLE = _FULL + _READ_ONLY + _NOT_A_FOLDER


def unwritable(error: OSError, folder: Path) -> CacheError | OSError:
    """A one-line :class:`CacheError` for a write that failed because of where it went (full
    disk, read-only folder, a file in place of a folder); ``error`` itself otherwise."""
    if error.errno in _FULL:
        return CacheError(
            f"the disk holding {folder} is full ({error.strerror}); nothing was written, and "
            "the complete files already there are kept. Free space (e.g. `mir_ref cache "
            "prune`) or point output_dir / cache_dir elsewhere, then rerun to resume"
        )
    if error.errno in _READ_ONLY:
        return CacheError(
            f"cannot write in {folder} ({error.strerror}): it is read-only, or not yours. "
            "Make it writable, or point output_dir / cache_dir elsewhere"
        )
    if error.errno in _NOT_A_FOLDER:
        blocking = next((p for p in (folder, *folder.parents) if p.is_file()), folder)
        return CacheError(
            f"cannot create the folder {folder}: {blocking} is a file, not a folder. Move it "
            "away, or point output_dir / cache_dir elsewhere"
        )
    return error


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is the temporary file of an atomic write."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def writer_alive(path: Path) -> bool:
    """Whether the process writing the temporary file ``path`` may still be running."""
    parts = path.name.rsplit(".", 3)  # .<name>.<pid>.<random>.tmp
    try:
        pid = int(parts[1])
    except (IndexError, ValueError):
        try:
            return time.time() - path.stat().st_mtime < STALE_TEMPORARY_S
        except FileNotFoundError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
