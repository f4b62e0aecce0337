"""Looking after a cache folder: what is in it (``info``) and what to delete (``prune``).

Checking it is :meth:`mir_ref.store.Store.verify`. Entries are grouped by what produced them
(model, dataset, audio condition, dtype), read from the record beside each entry; entries
written without that record show as ``?``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mir_ref.atomic import unwritable
from mir_ref.errors import CacheError, DataError
from mir_ref.experiment import Experiment
from mir_ref.plan import extraction_units
from mir_ref.store import Entry, Store

log = logging.getLogger(__name__)

# Entries removed per batch: their locks are held together (open files are limited).
_CHUNK = 256


@dataclass
class Group:
    """Entries that share a model, dataset, condition and dtype."""

    model: str
    dataset: str
    condition: str
    dtype: str
    entries: int = 0
    size_bytes: int = 0


@dataclass
class CacheInfo:
    """What a cache folder holds."""

    root: Path
    entries: int = 0
    size_bytes: int = 0
    """Every file of the store on disk (indexes, and space of deleted entries not yet
    reclaimed by ``pack``, included); a group's size counts its entries' bytes."""
    groups: list[Group] = field(default_factory=list)


def _group_of(entry: Entry, record: dict) -> tuple[str, str, str, str]:
    meta = record.get("meta") or {}
    return (
        str(meta.get("model", "?")),
        str(meta.get("dataset", "?")),
        str(meta.get("condition", "?")),
        entry.dtype,
    )


def cache_info(root: Path) -> CacheInfo:
    """Count the entries of the cache at ``root`` and their size on disk, in total and per group.

    Returns
    -------
    ``CacheInfo`` with groups sorted by model, dataset, condition, dtype.
    """
    info = CacheInfo(Path(root))
    groups: dict[tuple[str, str, str, str], Group] = {}
    for entry in Store(root).entries():
        key = _group_of(entry, entry.record())
        group = groups.setdefault(key, Group(*key))
        group.entries += 1
        group.size_bytes += entry.size_bytes()
        info.entries += 1
    for folder in ("embeddings", "shards"):
        for path in (info.root / folder).rglob("*"):
            try:
                info.size_bytes += path.stat().st_size if path.is_file() else 0
            except FileNotFoundError:
                continue
    info.groups = [groups[key] for key in sorted(groups)]
    return info


@dataclass
class PruneResult:
    """What ``prune`` deleted (or, with ``dry_run``, would delete)."""

    removed: list[Entry] = field(default_factory=list)
    size_bytes: int = 0
    in_use: int = 0
    """Matching entries left alone because a running process holds their lock."""
    unavailable: list[Entry] = field(default_factory=list)
    """Entries kept because they belong to a track of the kept config whose audio cannot be
    read now (a moved folder, an unmounted disk): their keys cannot be recomputed, and the
    audio may come back."""


@dataclass
class KeepList:
    """What ``prune --keep-config`` keeps: the entries a config needs."""

    entries: set[tuple[str, str]] = field(default_factory=set)
    """``(key, dtype)`` of every embedding the config reads."""
    unavailable: dict[tuple[str, str], str] = field(default_factory=dict)
    """``(dataset, track)`` → audio path, for the config's tracks whose audio cannot be read
    now; their entries are kept whatever their key."""
    models: set[str] = field(default_factory=set)
    """The config's model names."""

    def holds_unavailable(self, record: dict) -> bool:
        """Whether an entry's record names a model of the config and an unavailable track."""
        meta = record.get("meta") or {}
        track = (str(meta.get("dataset")), str(meta.get("track")))
        return meta.get("model") in self.models and track in self.unavailable


def prune(
    root: Path,
    *,
    older_than_days: float | None = None,
    model: str | None = None,
    keep: KeepList | Iterable[tuple[str, str]] | None = None,
    dry_run: bool = False,
) -> PruneResult:
    """Delete the entries that match every criterion given.

    Parameters
    ----------
    older_than_days : entries written more than this many days ago.
    model : entries of this model (its config name, as ``cache info`` shows).
    keep : what a config needs (``needed_entries``), or ``(key, dtype)`` pairs; every other
        entry matches, except those of tracks whose audio is unavailable now (kept and listed
        in ``unavailable``).
    dry_run : only report what would be deleted.

    Raises
    ------
    CacheError
        No criterion given (deleting everything is ``rm -r`` of the folder, on purpose), or
        the cache cannot be written (read-only).
    """
    if older_than_days is None and model is None and keep is None:
        raise CacheError(
            "cache prune: give --older-than, --model and/or --keep-config; to empty the cache, "
            f"delete {root}"
        )
    if keep is not None and not isinstance(keep, KeepList):
        keep = KeepList(set(keep))
    now = time.time()
    store = Store(root)
    result = PruneResult()
    for entry in store.entries():
        record = entry.record()
        if keep is not None and (entry.key, entry.dtype) in keep.entries:
            continue
        if keep is not None and keep.holds_unavailable(record):
            result.unavailable.append(entry)
            continue
        if model is not None and (record.get("meta") or {}).get("model") != model:
            continue
        if older_than_days is not None:
            try:
                written = record.get("created") or entry.path.stat().st_mtime
            except FileNotFoundError:
                continue
            if now - float(written) < older_than_days * 86400:
                continue
        result.removed.append(entry)
        result.size_bytes += entry.size_bytes()
    if not dry_run:
        removed = result.removed
        result.removed, result.size_bytes = [], 0
        try:
            for start in range(0, len(removed), _CHUNK):
                _remove_unless_in_use(store, removed[start : start + _CHUNK], result)
        except OSError as error:
            failed = unwritable(error, Path(error.filename or root).parent)
            if failed is error:
                raise
            raise failed from error
    log.info(
        "cache prune: %s %d entries (%d bytes) from %s",
        "would remove" if dry_run else "removed",
        len(result.removed),
        result.size_bytes,
        root,
    )
    return result


def _remove_unless_in_use(store: Store, entries: list[Entry], result: PruneResult) -> None:
    """Remove the entries whose lock is free; a running extraction may be writing the others."""
    locks, free = [], []
    try:
        for entry in entries:
            lock = store.lock(entry.key)
            if lock.acquire(blocking=False):
                locks.append(lock)
                free.append(entry)
            else:
                result.in_use += 1
        result.size_bytes += sum(entry.size_bytes() for entry in free)
        store.remove_many(free)
        result.removed += free
    finally:
        for lock in locks:
            lock.release()


def needed_entries(experiment: Experiment) -> KeepList:
    """Every embedding an experiment reads, and its tracks whose audio is unavailable now.

    An unavailable file's key cannot be computed (it holds the file's size and time), so its
    entries are recognised by their record instead (dataset, track, model).

    Raises
    ------
    DataError
        A dataset cannot be listed (its folder or manifest is missing): pruning would delete
        every embedding of it.
    """
    dtype = experiment.config.execution.store_dtype
    keep = KeepList(models={model.name for model in experiment.models})
    for dataset in experiment.datasets:
        try:
            tracks = dataset.tracks()
        except DataError as error:
            raise DataError(
                f"{error}; `cache prune --keep-config` needs every dataset of the config to be "
                "readable, or it would delete that dataset's embeddings"
            ) from None
        for track in tracks:
            path = track.audio_path
            if path is not None and not (os.path.isfile(path) and os.access(path, os.R_OK)):
                keep.unavailable[(dataset.name, track.id)] = str(path)
    keep.entries = {
        (key, dtype)
        for unit in extraction_units(experiment)
        if (unit.dataset.name, unit.track.id) not in keep.unavailable
        for key in unit.keys.values()
    }
    return keep


def human_bytes(size: float) -> str:
    """``1536`` → ``'1.5 kB'`` (powers of 1000, as disk tools print)."""
    if size < 1000:
        return f"{size:.0f} B"
    for unit in ("kB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000 or unit == "TB":
            break
    return f"{size:.1f} {unit}"
