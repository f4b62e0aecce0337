"""Peak memory over a stretch of code: resident memory of this process (Linux) and, for code
on a GPU, the CUDA memory torch allocated.

Linux keeps a process's peak resident set size (``VmHWM``) and lets the process reset it
(writing ``5`` to ``/proc/self/clear_refs``), so the peak of one model's embedding call can be
read without sampling. Elsewhere the resident peak is unknown (None).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass
class Peak:
    """What :func:`peak` measured; None where it could not."""

    added_bytes: int | None = None
    """The most resident memory the process held during the block beyond what it held
    before it (other threads' allocations meanwhile included)."""
    gpu_bytes: int | None = None
    """The most CUDA memory torch had allocated during the block (None without CUDA)."""


def _status_bytes(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # the kernel reports kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def _reset_resident_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


@contextlib.contextmanager
def peak(*, gpu: bool = False) -> Iterator[Peak]:
    """Measure the block's peak memory into the :class:`Peak` it yields.

    ``gpu``: also the CUDA peak (resets torch's peak statistics; only when torch is imported
    and a GPU is visible).
    """
    measured = Peak()
    before = _status_bytes("VmRSS")
    resettable = before is not None and _reset_resident_peak()
    torch = sys.modules.get("torch") if gpu else None
    cuda = torch is not None and torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    yield measured
    if resettable:
        high = _status_bytes("VmHWM")
        measured.added_bytes = None if high is None else max(0, high - before)
    if cuda:
        measured.gpu_bytes = int(torch.cuda.max_memory_allocated())
