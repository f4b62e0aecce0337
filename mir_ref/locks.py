"""Advisory file locks, so that concurrent runs on one cache never compute one entry twice.

A ``FileLock`` is an ``fcntl.flock`` on a small file. The kernel drops the lock when its holder
exits, however it exits (``kill -9`` included), so a crashed run never leaves a cache locked.
The lock file is deleted on release; a waiter that locked a file which was deleted meanwhile
notices (the path no longer names the file it holds) and locks the new one instead, so deleting
lock files never lets two holders in at once.

Locks are per open file: two ``FileLock`` objects on one path exclude each other even inside
one process (threads included), and one ``FileLock`` is not re-entrant.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from mir_ref.atomic import unwritable
from mir_ref.errors import MirRefError


class FileLock:
    """An exclusive lock named by a path.

    Parameters
    ----------
    path : the lock file; its folder is created when needed.

    Examples
    --------
    >>> with FileLock(cache / "locks" / "abc.lock"):  # doctest: +SKIP
    ...     compute_and_store()
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._descriptor: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._descriptor is not None

    def acquire(self, *, blocking: bool = True) -> bool:
        """Take the lock; wait for it unless ``blocking`` is false.

        Returns
        -------
        True when the lock is now held, False when another holder has it and ``blocking`` is
        false.
        """
        if self._descriptor is not None:
            raise MirRefError(f"lock {self.path} is already held by this object")
        flags = fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB
        while True:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                raise unwritable(error, self.path.parent) from error
            try:
                fcntl.flock(descriptor, flags)
            except BlockingIOError:
                os.close(descriptor)
                return False
            except BaseException:
                os.close(descriptor)
                raise
            if _same_file(descriptor, self.path):
                self._descriptor = descriptor
                return True
            # The previous holder deleted the file while we waited: lock the current one.
            os.close(descriptor)

    def release(self) -> None:
        """Give the lock up and delete its file (a no-op when not held)."""
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is None:
            return
        try:
            # Deleted while still held, so a waiter on this file retries on a fresh one.
            self.path.unlink(missing_ok=True)
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)

    def __repr__(self) -> str:
        return f"FileLock({str(self.path)!r}, held={self.held})"


def _same_file(descriptor: int, path: Path) -> bool:
    try:
        on_disk = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(descriptor)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def remove_stale(folder: Path) -> list[Path]:
    """Delete lock files in ``folder`` that nobody holds (left by killed runs); return them."""
    removed = []
    for path in sorted(Path(folder).glob("**/*.lock")):
        lock = FileLock(path)
        try:
            taken = lock.acquire(blocking=False)
        except FileNotFoundError:
            continue
        if taken:
            lock.release()
            removed.append(path)
    return removed
