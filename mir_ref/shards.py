"""Shards: many small cache entries packed into one file, for fast bulk reads.

Reading 10,000 small entries costs 10,000 file opens; reading them from one shard costs one
memory map. A shard is the ``.npy`` images of its entries, concatenated
(``<root>/shards/<id>.npys``), and its index (``<id>.json``): entry name → offset, length and
the entry's record (checksum, provenance). The shard is written and flushed first, its index
last, both atomically, so an index names only complete shards; a shard without an index is a
crash's leftover. Entries leave a shard by a rewrite of its index; ``Store.pack`` reclaims the
dead bytes of a mostly-deleted shard, and merges small shards (``Store.put_many`` batches).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mir_ref.atomic import atomic_write

SHARD_SUFFIX = ".npys"


@dataclass(frozen=True)
class Packed:
    """Where one entry lives inside a shard."""

    index: Path
    shard: Path
    offset: int
    length: int
    record: dict[str, Any]


class ShardIndex:
    """Every packed entry under ``folder``, by entry name; reloaded when the folder changes."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._entries: dict[str, Packed] = {}
        self._stamp: list[tuple[str, int]] | None = None
        self._indexes: dict[tuple[str, int], dict[str, Packed]] = {}
        self._maps: dict[Path, memoryview] = {}
        self._marker: tuple[int, int] | None = None
        self._settled = False

    def refresh(self, *, force: bool = False) -> None:
        """Reload what changed since the last load: added, rewritten or removed indexes.

        Cheap when nothing changed: one ``stat`` of the folder. ``force`` lists it regardless.
        """
        try:
            folder = self.folder.stat()
        except FileNotFoundError:
            folder = None
        marker = None if folder is None else (folder.st_ino, folder.st_mtime_ns)
        if not force and self._settled and marker == self._marker:
            return
        # The folder's time changes with every index written, renamed or deleted in it, but in
        # coarse ticks: it proves "nothing changed" only when it was already a second old at
        # the last listing.
        self._marker = marker
        self._settled = folder is not None and time.time_ns() - folder.st_mtime_ns > 10**9
        # An index can vanish between the listing and its reading (a `pack` merged it into a
        # new one, written before the old one is deleted): then list again.
        for _ in range(100):
            stamp = self._listing()
            if stamp == self._stamp:
                return
            indexes = {item: self._indexes.get(item) for item in stamp}
            try:
                for item, entries in indexes.items():
                    if entries is None:  # new since the last load: parse only these
                        path = self.folder / item[0]
                        indexes[item] = parse_index(path, path.read_text())
            except FileNotFoundError:
                continue
            break
        merged: dict[str, Packed] = {}
        for entries in indexes.values():
            merged.update(entries or {})
        self._indexes, self._entries, self._stamp = indexes, merged, stamp
        # Maps of shards no index names any more go once no array uses them (frees the disk).
        named = {packed.shard for packed in merged.values()}
        self._maps = {shard: view for shard, view in self._maps.items() if shard in named}

    def _listing(self) -> list[tuple[str, int]]:
        """``(name, inode)`` of every index: an index is always replaced by a new file."""
        try:
            with os.scandir(self.folder) as listing:
                return sorted(
                    (item.name, item.inode())
                    for item in listing
                    if item.name.endswith(".json") and not item.name.startswith(".")
                )
        except FileNotFoundError:
            return []

    def get(self, name: str, *, refresh: bool = True) -> Packed | None:
        """Where ``name`` is packed, or None; reloads once on a miss when ``refresh``."""
        packed = self._entries.get(name)
        if packed is None and refresh:
            self.refresh(force=True)
            packed = self._entries.get(name)
        return packed

    def locations(self, name: str) -> list[Packed]:
        """Every shard holding ``name`` (more than one only after a crash mid-repack)."""
        return [entries[name] for entries in self._indexes.values() if name in entries]

    def __iter__(self) -> Iterator[tuple[str, Packed]]:
        self.refresh()
        return iter(list(self._entries.items()))

    def view(self, packed: Packed) -> memoryview:
        """The bytes of a packed entry: a read-only view of the shard's memory map."""
        mapped = self._maps.get(packed.shard)
        if mapped is None:
            with open(packed.shard, "rb") as file:
                mapped = memoryview(mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ))
            self._maps[packed.shard] = mapped
        if packed.offset + packed.length > len(mapped):
            raise ValueError(f"shard {packed.shard} is shorter than its index says (truncated?)")
        return mapped[packed.offset : packed.offset + packed.length]


def read_index(index: Path) -> dict[str, Packed]:
    """The entries of one shard index; empty when it is gone or unreadable."""
    try:
        return parse_index(index, index.read_text())
    except OSError:
        return {}


def parse_index(index: Path, text: str) -> dict[str, Packed]:
    """The entries of the shard index ``index`` holding ``text``; empty when unreadable (``Store.
    verify`` reports it)."""
    try:
        data = json.loads(text)
        shard = index.with_name(data["shard"])
        return {
            name: Packed(index, shard, int(item["offset"]), int(item["length"]), item["record"])
            for name, item in data["entries"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def write_shard(folder: Path, images: dict[str, tuple[bytes | memoryview, dict]]) -> Path:
    """Write ``name → (npy image, record)`` as one shard and its index; return the index path."""
    digest = hashlib.sha256()
    for name, (_, record) in images.items():
        digest.update(f"{name}:{record.get('sha256')}".encode())
    shard_id = digest.hexdigest()[:24]
    shard = folder / f"{shard_id}{SHARD_SUFFIX}"
    entries, offset = {}, 0
    for name, (data, record) in images.items():
        entries[name] = {"offset": offset, "length": len(data), "record": record}
        offset += len(data)

    def write_all(file: Any) -> None:
        for data, _ in images.values():
            file.write(data)

    atomic_write(shard, write_all)
    return write_index(folder / f"{shard_id}.json", shard.name, entries)


def write_index(index: Path, shard_name: str, entries: dict[str, dict]) -> Path:
    """Write (or atomically replace) a shard's index."""
    text = json.dumps({"format": 1, "shard": shard_name, "entries": entries}, sort_keys=True)
    atomic_write(index, lambda file: file.write(text.encode()))
    return index


def drop_from_index(index: Path, names: set[str]) -> None:
    """Remove entries from a shard's index; the shard goes with its last entry."""
    try:
        data = json.loads(index.read_text())
    except FileNotFoundError:
        return
    kept = {name: item for name, item in data["entries"].items() if name not in names}
    if kept:
        write_index(index, data["shard"], kept)
        return
    index.unlink(missing_ok=True)  # the index first: a shard without one is a leftover
    index.with_name(data["shard"]).unlink(missing_ok=True)
