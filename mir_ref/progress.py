"""Progress bars for long work (rich), silenced by ``--quiet``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

_ENABLED = {"value": True}


def set_enabled(enabled: bool) -> None:
    """Turn every progress bar on or off (the CLI's ``--quiet``)."""
    _ENABLED["value"] = enabled


@contextlib.contextmanager
def bar(description: str, total: int) -> Iterator[callable]:
    """A progress bar; yields ``advance(n=1)``."""
    if not _ENABLED["value"] or total == 0:
        yield lambda n=1: None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)
