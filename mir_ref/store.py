"""Content-addressed, atomic, checksummed storage of embeddings and other arrays.

An entry is named by the hash of everything that produced it. ``put`` writes it as one ``.npy``
file (``<root>/embeddings/<key[:2]>/<key>.npy``) with a small JSON record beside it: its
SHA-256, shape, dtype, when it was written, and what produced it (model, dataset, condition),
which ``mir_ref cache info | prune`` group by. The record is written first and the entry last,
each to a temporary name that is renamed into place (:mod:`mir_ref.atomic`), so an entry is
either complete (with its checksum) or absent: a crash, ``kill -9`` or a full disk mid-write
never leaves a half entry, and the next run resumes. Nothing is pickled.

Small entries can also live in shards (:mod:`mir_ref.shards`): ``put_many`` writes a batch as
one shard (one file, one flush to disk), and ``pack`` moves loose entries into shards, so that
the training stage reads thousands of entries from one memory-mapped file instead of one file
each. Reads look in the shards first, then at the loose files; an entry being packed is in one
or the other (or briefly both) at every moment.

A store opened with ``dtype="float16"`` keeps its entries apart (``<key>.float16``): a float32
run never reads a float16 entry as its own, and the reverse.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import mmap
import os
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mir_ref import shards
from mir_ref.atomic import STALE_TEMPORARY_S, atomic_write, is_temporary, writer_alive
from mir_ref.errors import CacheError
from mir_ref.locks import FileLock, remove_stale

if TYPE_CHECKING:
    from mir_ref.experiment import Experiment

__all__ = ["Entry", "Store", "atomic_write", "cache_key"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
StoreDtype = Literal["float32", "float16"]
DTYPES: tuple[str, ...] = ("float32", "float16")
# Entries up to this size are read whole by `get_many` and packed into shards; larger ones are
# memory-mapped from their own file (for them one open per entry costs nothing noticeable).
SMALL_ENTRY_BYTES = 1 << 20
SHARD_BYTES = 256 << 20


def fast_checksum(data: bytes | memoryview) -> int:
    """CRC-32 of an entry's bytes, checked on every read (several GB/s; SHA-256, which
    ``cache verify`` checks, is a few times slower)."""
    return zlib.crc32(data)


def cache_key(material: dict[str, Any]) -> str:
    """SHA-256 of a JSON-serialisable description of what produced an entry."""
    text = json.dumps({"format": FORMAT_VERSION, **material}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One stored array, as found on disk: a loose file, or packed in a shard."""

    key: str
    dtype: str
    path: Path
    """The loose ``.npy`` file, or the shard holding the entry."""
    packed: shards.Packed | None = None

    @property
    def name(self) -> str:
        """The entry's file stem: the key, and the dtype unless float32."""
        return self.key if self.dtype == "float32" else f"{self.key}.{self.dtype}"

    @property
    def record_path(self) -> Path:
        """The JSON record (checksum and provenance) beside a loose entry."""
        return self.path.with_suffix(".json")

    def record(self) -> dict[str, Any]:
        """The entry's record; ``{}`` when it is missing or unreadable."""
        if self.packed is not None:
            return self.packed.record
        return _read_record(self.record_path) or {}

    def size_bytes(self) -> int:
        """Bytes on disk: the array and its record (a packed entry: its share of the shard)."""
        if self.packed is not None:
            return self.packed.length
        total = 0
        for path in (self.path, self.record_path):
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                pass
        return total


class Store:
    """Embeddings under ``<root>/embeddings/<key[:2]>/`` and ``<root>/shards/``.

    Parameters
    ----------
    root : the cache folder.
    dtype : ``float32`` stores arrays as given (embeddings are float32); ``float16`` halves
        the disk and read cost of floating-point arrays, in entries of their own.
    """

    def __init__(self, root: Path, *, dtype: StoreDtype = "float32") -> None:
        if dtype not in DTYPES:
            raise CacheError(f"store dtype '{dtype}' is not one of {', '.join(DTYPES)}")
        self.root = Path(root)
        self.dtype = dtype
        self._headers: dict[bytes, tuple[np.dtype, tuple[int, ...], str, int]] = {}
        self._shards = shards.ShardIndex(self.root / "shards")

    @classmethod
    def of(cls, experiment: Experiment) -> Store:
        """The store of an experiment: its cache folder and ``execution.store_dtype``."""
        return cls(experiment.cache_dir, dtype=experiment.config.execution.store_dtype)

    def _name(self, key: str) -> str:
        return key if self.dtype == "float32" else f"{key}.{self.dtype}"

    def path(self, key: str) -> Path:
        """Where ``put`` writes the entry ``key`` (``pack`` may move it into a shard later)."""
        return self.root / "embeddings" / key[:2] / f"{self._name(key)}.npy"

    def has(self, key: str) -> bool:
        """Whether a complete entry exists."""
        self._shards.refresh()  # another process may have packed or removed it
        return self._shards.get(self._name(key), refresh=False) is not None or (
            self.path(key).is_file()
        )

    def put(self, key: str, array: np.ndarray, *, meta: dict[str, Any] | None = None) -> None:
        """Write an entry atomically, with its checksum.

        Parameters
        ----------
        meta : what produced it, e.g. ``{"model": ..., "dataset": ..., "condition": ...}``;
            ``mir_ref cache info`` and ``prune --model`` group by these.

        Raises
        ------
        CacheError
            The disk is full (nothing is written), or float16 cannot hold the values.
        """
        data, record = self._image(key, array, meta)
        path = self.path(key)
        record_path = path.with_suffix(".json")
        text = json.dumps(record, sort_keys=True, default=str).encode()
        # The record first: an entry that exists always has its checksum beside it. Not
        # flushed to disk on its own (that would double the cost of a put): after a power cut
        # a lost record makes `cache verify` flag its entry, never pass it silently.
        atomic_write(record_path, lambda file: file.write(text), durable=False)
        try:
            atomic_write(path, lambda file: file.write(data))
        except BaseException:
            if not path.is_file():
                record_path.unlink(missing_ok=True)
            raise

    def put_many(self, items: Iterable[tuple[str, np.ndarray, dict[str, Any] | None]]) -> None:
        """Write many entries at once: the small ones as one shard, the large ones as ``put``.

        One file and one flush to disk for all the small entries instead of one each (on a
        disk where a flush costs ~5 ms, that is most of the cost of storing a cheap feature).
        They appear together when the shard's index is renamed into place; a crash before
        leaves none of them.

        Parameters
        ----------
        items : ``(key, array, meta)`` triples; ``meta`` as in ``put``.
        """
        batch: dict[str, tuple[bytes | memoryview, dict]] = {}
        for key, array, meta in items:
            data, record = self._image(key, array, meta)
            if len(data) > SMALL_ENTRY_BYTES:
                self.put(key, array, meta=meta)
            else:
                batch[self._name(key)] = (data, record)
        if batch:
            shards.write_shard(self.root / "shards", batch)
            self._shards.refresh(force=True)

    def _image(
        self, key: str, array: np.ndarray, meta: dict[str, Any] | None
    ) -> tuple[memoryview, dict[str, Any]]:
        """An entry's ``.npy`` bytes and its record."""
        array = self._converted(key, np.asarray(array))
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        data = buffer.getbuffer()
        record = {
            "key": key,
            "dtype": self.dtype,
            "shape": list(array.shape),
            "array_dtype": array.dtype.str,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "crc32": fast_checksum(data),
            "created": time.time(),
            "meta": meta or {},
        }
        return data, record

    def _converted(self, key: str, array: np.ndarray) -> np.ndarray:
        if self.dtype == "float32" or not np.issubdtype(array.dtype, np.floating):
            return np.ascontiguousarray(array)
        with np.errstate(over="ignore"):
            converted = np.ascontiguousarray(array, dtype=self.dtype)
        if np.isinf(converted).any() and not np.isinf(array).any():
            raise CacheError(
                f"entry {key}: values up to {np.abs(array).max():.4g} overflow float16 "
                f"(largest 65504); use execution.store_dtype: float32 for this model"
            )
        return converted

    def get(self, key: str) -> np.ndarray:
        """Read an entry (read-only; a large one memory-mapped); ``KeyError`` when absent.

        Every read checks the entry's bytes against the checksum written with it.

        Raises
        ------
        CacheError
            The entry exists but is damaged (unreadable, or its bytes changed since they
            were written); the message names it and says how to repair.
        """
        self._shards.refresh()
        return self._read(key)

    def get_many(self, keys: list[str]) -> list[np.ndarray]:
        """Read many entries at once, in the order of ``keys``: the training stage's bulk read.

        Packed entries are views of their shard's memory map; small loose entries are read whole
        (one ``read`` each, headers parsed once per distinct shape), several times faster than
        memory-mapping each; large ones are memory-mapped. Every array is read-only, and every
        entry is checked against its checksum (:class:`CacheError` when damaged).
        ``KeyError`` names the first absent key.
        """
        self._shards.refresh()
        return [self._read(key) for key in keys]

    def _read(self, key: str) -> np.ndarray:
        name = self._name(key)
        packed = self._shards.get(name, refresh=False)
        if packed is None:
            path = self.path(key)
            try:
                return self._read_loose(path)
            except FileNotFoundError:
                packed = self._shards.get(name)  # packed meanwhile, by another process?
            except (OSError, ValueError) as error:
                raise self._damaged(path, error) from error
        if packed is None:
            raise KeyError(key)
        try:
            try:
                return self._checked(self._shards.view(packed), packed.record)
            except FileNotFoundError:
                # Its shard was merged into another by a `pack` since we looked: look again.
                self._shards.refresh(force=True)
                packed = self._shards.get(name, refresh=False)
                if packed is None:
                    raise KeyError(key) from None
                return self._checked(self._shards.view(packed), packed.record)
        except (OSError, ValueError) as error:
            raise self._damaged(packed.shard, error) from error

    def _read_loose(self, path: Path) -> np.ndarray:
        """A loose entry, checked against its record; ``FileNotFoundError`` when absent."""
        record = _read_record(path.with_suffix(".json"))
        with open(path, "rb") as file:
            if os.fstat(file.fileno()).st_size > SMALL_ENTRY_BYTES:
                data: bytes | memoryview = memoryview(
                    mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
                )
            else:
                data = file.read()
        if record is None:
            # `put` writes the record before the entry: one may have just completed both.
            record = _read_record(path.with_suffix(".json")) or {}
        return self._checked(data, record)

    def _checked(self, data: bytes | memoryview, record: dict[str, Any]) -> np.ndarray:
        """The array in an entry's bytes; ``ValueError`` when they do not match its record."""
        if "crc32" in record:
            if len(data) != record.get("bytes") or fast_checksum(data) != record["crc32"]:
                raise ValueError("its bytes do not match their checksum")
        else:  # written before records held a CRC-32
            problem = _check_bytes(data, record)
            if problem is not None:
                raise ValueError(problem)
        return self._parse(data)

    def _parse(self, data: bytes | memoryview) -> np.ndarray:
        """An array from the bytes of an ``.npy`` file, without copying them (read-only)."""
        if len(data) < 16:
            raise ValueError(f"{len(data)} bytes: too short for an .npy file")
        width = 2 if data[6] == 1 else 4
        start = 8 + width + int.from_bytes(data[8 : 8 + width], "little")
        header = bytes(data[:start])
        parsed = self._headers.get(header) or self._parse_header(header)
        dtype, shape, order, count = parsed
        if len(data) - start != count * dtype.itemsize:
            raise ValueError(f"{len(data) - start} data bytes, expected {count * dtype.itemsize}")
        return np.frombuffer(data, dtype, count, start).reshape(shape, order=order)

    def _parse_header(self, header: bytes) -> tuple[np.dtype, tuple[int, ...], str, int]:
        """``(dtype, shape, order, count)`` of an ``.npy`` header, remembered for the next."""
        if header[:6] != b"\x93NUMPY":
            raise ValueError("not an .npy file")
        stream = io.BytesIO(header)
        version = np.lib.format.read_magic(stream)
        read = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read(stream)
        if dtype.hasobject:
            raise ValueError("object arrays are refused (they would need pickle)")
        parsed = (dtype, shape, "F" if fortran else "C", int(np.prod(shape)))
        self._headers[header] = parsed
        return parsed

    def _damaged(self, path: Path, error: Exception) -> CacheError:
        return CacheError(
            f"cache entry {path} is damaged ({error}); run `mir_ref cache verify --repair "
            f"--cache {self.root}` and rerun to recompute it"
        )

    def lock(self, key: str) -> FileLock:
        """A lock on computing ``key``: hold it to compute and put an entry only once.

        Examples
        --------
        >>> with store.lock(key):  # doctest: +SKIP
        ...     if not store.has(key):
        ...         store.put(key, compute())
        """
        return FileLock(self.root / "locks" / key[:2] / f"{key}.lock")

    def _pack_lock(self) -> FileLock:
        return FileLock(self.root / "locks" / "pack.lock")

    def entries(self) -> Iterator[Entry]:
        """Every complete entry on disk, of every dtype, packed ones first, each once."""
        seen = set()
        for name, packed in self._shards:
            key, _, dtype = name.partition(".")
            seen.add(name)
            yield Entry(key, dtype or "float32", packed.shard, packed)
        for entry in self._loose_entries():
            if entry.name not in seen:
                yield entry

    def _loose_entries(self) -> Iterator[Entry]:
        for path in sorted((self.root / "embeddings").glob("*/*.npy")):
            if not path.name.startswith("."):
                key, _, dtype = path.name[: -len(".npy")].partition(".")
                yield Entry(key, dtype or "float32", path)

    def remove(self, entry: Entry) -> None:
        """Delete an entry, every copy of it (loose and packed)."""
        self.remove_many([entry])

    def remove_many(self, entries: Iterable[Entry]) -> None:
        """Delete entries, every copy of each; each shard index is rewritten once."""
        names = set()
        for entry in entries:
            loose = self.root / "embeddings" / entry.key[:2] / f"{entry.name}.npy"
            loose.unlink(missing_ok=True)  # the array first: never present without its record
            loose.with_suffix(".json").unlink(missing_ok=True)
            names.add(entry.name)
        self._shards.refresh(force=True)
        if not any(self._shards.locations(name) for name in names):
            return
        with self._pack_lock():
            self._shards.refresh(force=True)
            by_index: dict[Path, set[str]] = {}
            for name in names:
                for packed in self._shards.locations(name):
                    by_index.setdefault(packed.index, set()).add(name)
            for index, dropped in by_index.items():
                shards.drop_from_index(index, dropped)
        self._shards.refresh(force=True)

    def pack(
        self, *, max_entry_bytes: int = SMALL_ENTRY_BYTES, shard_bytes: int = SHARD_BYTES
    ) -> int:
        """Move small loose entries into shards; repack shards that are mostly deleted entries.

        Safe to run beside extraction and training, and to kill at any point: an entry is
        deleted from its old place only after its new shard and index are complete. Entries
        whose checksum does not match are left where they are, for ``verify`` to report.

        Returns
        -------
        The number of loose entries moved into shards (entries of merged shards not counted).
        """
        folder = self.root / "shards"
        packed = 0
        with self._pack_lock():
            self._shards.refresh(force=True)
            batch: dict[str, tuple[bytes | memoryview, dict]] = {}
            moved: list[Path] = []
            size = 0

            def flush() -> None:
                nonlocal batch, moved, size
                if batch:
                    shards.write_shard(folder, batch)
                for path in moved:  # now packed: the loose copies go
                    path.unlink(missing_ok=True)
                    path.with_suffix(".json").unlink(missing_ok=True)
                batch, moved, size = {}, [], 0

            for entry in self._loose_entries():
                if self._shards.get(entry.name, refresh=False) is not None:
                    moved.append(entry.path)  # packed before a crash cut the clean-up short
                    continue
                data, record = _read_loose_entry(entry, max_entry_bytes)
                if data is None or _check_bytes(data, record) is not None:
                    continue
                record = {**record, "crc32": fast_checksum(data)}  # entries from before CRCs
                batch[entry.name] = (data, record)
                moved.append(entry.path)
                packed += 1
                size += len(data)
                if size >= shard_bytes:
                    flush()
            retired = self._shards_to_repack(shard_bytes)
            for index in retired:
                for name, item in shards.read_index(index).items():
                    batch[name] = (bytes(self._shards.view(item)), item.record)
            flush()
            for index in retired:  # the index first: a shard without one is a leftover
                shard = index.with_name(json.loads(index.read_text())["shard"])
                index.unlink()
                shard.unlink(missing_ok=True)
            self._shards.refresh(force=True)
        log.info("cache: packed %d entries into shards under %s", packed, folder)
        return packed

    def _shards_to_repack(self, shard_bytes: int) -> list[Path]:
        """Indexes of shards that are mostly deleted entries, and of small shards (``put_many``
        batches) when there are several to merge."""
        dead, small = [], []
        for index in sorted((self.root / "shards").glob("*.json")):
            entries = shards.read_index(index)
            if not entries:
                continue
            live = sum(item.length for item in entries.values())
            try:
                size = next(iter(entries.values())).shard.stat().st_size
            except FileNotFoundError:
                continue
            if live < size / 2:
                dead.append(index)
            elif size < shard_bytes / 8:
                small.append(index)
        return dead + (small if len(small) > 1 else [])

    def verify(self, *, repair: bool = False) -> list[str]:
        """Check every entry against its checksum; clean up what crashes left behind.

        Temporary files of writers that are gone, records without an entry, shards without an
        index and unheld lock files are harmless leftovers: they are always deleted (and
        logged), never problems.

        Parameters
        ----------
        repair : delete each damaged entry, so the next run recomputes it.

        Returns
        -------
        One line per damaged entry (unreadable, no checksum record, or checksum mismatch) or
        unreadable shard index; empty when the cache is healthy.
        """
        self.clean_leftovers()
        remove_stale(self.root / "locks")
        problems = []
        for index in sorted((self.root / "shards").glob("*.json")):
            if not shards.read_index(index) and _unreadable(index):
                if repair:
                    index.unlink(missing_ok=True)
                problems.append(
                    f"{index}: unreadable shard index" + (" (removed)" if repair else "")
                )
        for entry in self.entries():
            problem = self._check(entry)
            if problem is None:
                continue
            if repair:
                self.remove(entry)
                problem += " (removed; the next run recomputes it)"
            where = entry.path if entry.packed is None else f"{entry.path}[{entry.name}]"
            problems.append(f"{where}: {problem}")
        return problems

    def _check(self, entry: Entry) -> str | None:
        """What is wrong with an entry, or None when it is sound."""
        # The record before the array: `pack` deletes a moved entry's array before its record,
        # so a missing record here with the array still present is a real problem.
        record = entry.record()
        try:
            if entry.packed is not None:
                data = bytes(self._shards.view(entry.packed))
            else:
                data = entry.path.read_bytes()
        except FileNotFoundError:
            if entry.packed is None:
                return None  # moved into a shard (or pruned) while we looked
            self._shards.refresh(force=True)
            now = self._shards.get(entry.name, refresh=False)
            if now is None or now.shard != entry.packed.shard:
                # Merged into another shard (check that copy) or removed while we looked.
                return (
                    None if now is None else self._check(replace(entry, path=now.shard, packed=now))
                )
            return "its shard is missing"
        except (OSError, ValueError) as error:
            return f"unreadable ({error})"
        if not record and entry.packed is None and not entry.path.exists():
            return None  # moved into a shard (or pruned) while we looked
        return _check_bytes(data, record)

    def clean_leftovers(self) -> list[Path]:
        """Delete temporary files of crashed writers, records without an entry, and shards
        without an index."""
        removed = []
        folders = [*sorted((self.root / "embeddings").glob("*")), self.root / "shards"]
        for folder in folders:
            for path in sorted(folder.glob(".*.tmp")):
                if is_temporary(path) and not writer_alive(path):
                    path.unlink(missing_ok=True)
                    removed.append(path)
        for path in sorted((self.root / "embeddings").glob("*/*.json")):
            # A record is written just before its entry; give a live writer time to finish.
            try:
                young = time.time() - path.stat().st_mtime < STALE_TEMPORARY_S
            except FileNotFoundError:
                continue
            if not path.with_suffix(".npy").exists() and not young:
                path.unlink(missing_ok=True)
                removed.append(path)
        # A shard is written just before its index: one no index names, and old enough that
        # no writer can still be between the two, is a crash's leftover.
        named = {item.shard for _, item in self._shards}
        for path in sorted((self.root / "shards").glob(f"*{shards.SHARD_SUFFIX}")):
            try:
                young = time.time() - path.stat().st_mtime < STALE_TEMPORARY_S
            except FileNotFoundError:
                continue
            if path not in named and not young:
                path.unlink(missing_ok=True)
                removed.append(path)
        for path in removed:
            log.info("cache: removed leftover %s", path)
        return removed


def _read_loose_entry(entry: Entry, max_bytes: int) -> tuple[bytes | None, dict]:
    """A loose entry's bytes and record, or ``(None, {})`` when it is too big or gone."""
    try:
        if entry.path.stat().st_size > max_bytes:
            return None, {}
        return entry.path.read_bytes(), entry.record()
    except FileNotFoundError:
        return None, {}


def _read_record(path: Path) -> dict[str, Any] | None:
    """An entry's JSON record; None when it is absent, ``{}`` when unreadable."""
    try:
        # One open and one read: every loose read pays for this, twice as fast as read_text.
        descriptor = os.open(path, os.O_RDONLY)
        try:
            record = json.loads(os.read(descriptor, _MAX_RECORD_BYTES))
        finally:
            os.close(descriptor)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


_MAX_RECORD_BYTES = 1 << 20
"""More than any record holds (its ``meta`` is a few names)."""


def _check_bytes(data: bytes | memoryview, record: dict[str, Any]) -> str | None:
    """What is wrong with an entry's bytes given its record, or None when they agree."""
    if "sha256" not in record:
        return "no checksum record"
    if len(data) != record.get("bytes"):
        return f"{len(data)} bytes, expected {record.get('bytes')} (truncated?)"
    if hashlib.sha256(data).hexdigest() != record["sha256"]:
        return "checksum mismatch (the file changed after it was written)"
    try:
        np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError) as error:
        return f"not a readable array ({error})"
    return None


def _unreadable(index: Path) -> bool:
    """Whether a shard index exists but cannot be parsed (one merged away meanwhile is fine)."""
    try:
        text = index.read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    if shards.parse_index(index, text):
        return False
    try:
        return json.loads(text).get("entries") != {}  # an empty index is merely useless
    except (ValueError, AttributeError):
        return True
