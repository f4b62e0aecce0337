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
        When the disk is full; nothing is left behind, neither ``path`` nor the temporary file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            if durable:
                os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise CacheError(
                f"the disk holding {path.parent} is full ({error.strerror}); nothing was "
                f"written. Free space (e.g. `mir_ref cache prune`) or point cache_dir elsewhere, "
                f"then rerun to resume"
            ) from error
        raise


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
