"""The embedding store: atomic writes, checksums, float16, bulk reads, locks and a full disk."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from mir_ref import store as store_module
from mir_ref.errors import CacheError
from mir_ref.locks import FileLock, remove_stale
from mir_ref.store import Store, cache_key
from tests.conftest import REPO

KEY = cache_key({"track": "a"})
OTHER = cache_key({"track": "b"})


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "cache")


def leftovers(root: Path) -> list[Path]:
    """Every file under ``root`` that is not a complete entry or its record."""
    return [p for p in root.rglob("*") if p.is_file() and p.name.startswith(".")]


def test_put_get_round_trip_is_read_only(store, rng):
    array = rng.normal(size=(2, 5, 8)).astype(np.float32)
    store.put(KEY, array, meta={"model": "mfcc"})
    assert store.has(KEY) and not store.has(OTHER)
    stored = store.get(KEY)
    np.testing.assert_array_equal(stored, array)
    assert not stored.flags.writeable
    with pytest.raises(KeyError):
        store.get(OTHER)
    assert store.verify() == []


def test_get_many_equals_get_in_key_order_and_names_the_missing_key(store, rng):
    arrays = {
        cache_key({"i": i}): rng.normal(size=(1, i + 1, 4)).astype(np.float32) for i in range(5)
    }
    big = rng.normal(size=(1, 300, 1024)).astype(np.float32)  # over 1 MB: memory-mapped
    arrays[OTHER] = big
    for key, array in arrays.items():
        store.put(key, array)
    keys = list(reversed(arrays))
    for key, read in zip(keys, store.get_many(keys), strict=True):
        np.testing.assert_array_equal(read, arrays[key])
        assert not read.flags.writeable
    with pytest.raises(KeyError) as missing:
        store.get_many([keys[0], KEY])
    assert missing.value.args[0] == KEY


def test_float16_entries_round_trip_and_stay_apart_from_float32(tmp_path, rng):
    full, half = Store(tmp_path), Store(tmp_path, dtype="float16")
    array = rng.normal(size=(1, 3, 16)).astype(np.float32)
    half.put(KEY, array)
    # A float32 run must not take the float16 entry for its own, nor the reverse.
    assert half.has(KEY) and not full.has(KEY)
    stored = half.get(KEY)
    assert stored.dtype == np.float16
    np.testing.assert_allclose(stored, array, rtol=1e-3, atol=1e-3)
    full.put(KEY, array)
    assert full.get(KEY).dtype == np.float32
    assert half.path(KEY).stat().st_size < full.path(KEY).stat().st_size
    assert {e.dtype for e in full.entries()} == {"float32", "float16"}


def test_float16_refuses_values_it_cannot_hold(tmp_path):
    with pytest.raises(CacheError, match="overflow float16"):
        Store(tmp_path, dtype="float16").put(KEY, np.array([1e6], dtype=np.float32))
    assert not Store(tmp_path, dtype="float16").has(KEY)


def test_an_exception_mid_write_leaves_no_entry_and_no_temporary(store, monkeypatch):
    def fail_after_half(file, data):
        file.write(bytes(data)[: len(data) // 2])
        raise RuntimeError("killed mid-write")

    original = store_module.atomic_write

    def half_writer(path, write, **options):
        if path.suffix == ".npy":
            return original(path, lambda file: fail_after_half(file, write_bytes(write)), **options)
        return original(path, write, **options)

    monkeypatch.setattr(store_module, "atomic_write", half_writer)
    with pytest.raises(RuntimeError):
        store.put(KEY, np.ones((1, 2, 3), dtype=np.float32))
    assert not store.has(KEY)
    assert leftovers(store.root) == []
    assert list(store.root.rglob("*.json")) == []  # its record is withdrawn too


def write_bytes(write) -> bytes:
    """What ``write(file)`` writes."""
    import io

    buffer = io.BytesIO()
    write(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_disk_full_leaves_nothing_and_says_so(store, monkeypatch, failing):
    store.put(OTHER, np.zeros(4, dtype=np.float32))
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    if failing == "fsync":

        def fsync(descriptor):
            raise full

        monkeypatch.setattr(store_module.os, "fsync", fsync)
    else:
        original = store_module.atomic_write

        def writer(path, write, **options):
            def partial(file):
                file.write(b"\x93NUMPY partial")
                raise full

            return original(path, partial if path.suffix == ".npy" else write, **options)

        monkeypatch.setattr(store_module, "atomic_write", writer)
    with pytest.raises(CacheError, match="disk .* is full") as error:
        store.put(KEY, np.ones((1, 2, 3), dtype=np.float32))
    assert str(store.root) in str(error.value)
    assert not store.has(KEY)
    assert leftovers(store.root) == []
    assert sorted(p.name for p in store.root.rglob("*.*")) == [f"{OTHER}.json", f"{OTHER}.npy"]


WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from pathlib import Path
    from mir_ref import store as store_module

    original = store_module.atomic_write

    def slow(path, write, **options):
        def stalled(file):
            write(file)
            file.flush()
            print("writing", flush=True)
            import time; time.sleep(60)
        return original(path, stalled if path.suffix == ".npy" else write, **options)

    store_module.atomic_write = slow
    store_module.Store(Path(sys.argv[1])).put(sys.argv[2], np.ones((1, 64, 512), np.float32))
    """
)


def test_kill_9_mid_write_leaves_no_entry_and_verify_cleans_up(store):
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store.root), KEY],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "writing"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not store.has(KEY)
    temporary = leftovers(store.root)
    assert len(temporary) == 1  # the half-written entry, under a temporary name
    assert store.verify() == []  # a crash's leftovers are not damage ...
    assert leftovers(store.root) == []  # ... and verify deletes them
    store.put(KEY, np.ones((1, 64, 512), np.float32))  # the rerun writes it
    assert store.verify() == []


def test_verify_ignores_a_write_in_flight(store):
    in_flight = store.path(KEY).parent / f".{KEY}.npy.{os.getpid()}.abc.tmp"
    in_flight.parent.mkdir(parents=True)
    in_flight.write_bytes(b"partial")
    assert store.verify() == []
    assert in_flight.exists()  # this process is alive: it may still be writing


@pytest.mark.parametrize("damage", ["flip", "truncate", "no_record", "garbage"])
def test_verify_finds_a_damaged_entry_and_repair_removes_it(store, damage):
    store.put(KEY, np.arange(64, dtype=np.float32).reshape(1, 4, 16))
    store.put(OTHER, np.ones((1, 1, 16), dtype=np.float32))
    path = store.path(KEY)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-5] ^= 0x10
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[:-7]))
    elif damage == "no_record":
        path.with_suffix(".json").unlink()
    else:
        path.write_bytes(b"not an array at all")
    problems = store.verify()
    assert len(problems) == 1 and str(path) in problems[0]
    assert store.has(KEY)  # verify alone changes nothing
    assert store.verify(repair=True) == [problems[0] + " (removed; the next run recomputes it)"]
    assert not store.has(KEY) and store.has(OTHER)
    assert store.verify() == []


def test_reading_a_damaged_entry_is_a_clear_error(store):
    store.put(KEY, np.ones((1, 4, 16), dtype=np.float32))
    store.path(KEY).write_bytes(store.path(KEY).read_bytes()[:-9])
    for read in (store.get, lambda key: store.get_many([key])):
        with pytest.raises(CacheError, match="damaged.*cache verify --repair"):
            read(KEY)


@pytest.mark.parametrize("size", ["small", "large"])
def test_a_same_size_bit_flip_is_caught_on_every_read(store, rng, size):
    """Not only by `cache verify`: a read never returns bytes that changed after writing."""
    shape = (1, 4, 16) if size == "small" else (1, 300, 1024)  # large: memory-mapped
    store.put(KEY, rng.normal(size=shape).astype(np.float32))
    path = store.path(KEY)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x10
    path.write_bytes(bytes(data))
    for read in (store.get, lambda key: store.get_many([key])):
        with pytest.raises(CacheError, match=f"cache entry {path} is damaged"):
            read(KEY)


def test_a_bit_flip_in_a_packed_entry_is_caught_on_read(store, rng):
    arrays = filled(store, rng)
    victim = damage_a_packed_entry(store)
    with pytest.raises(CacheError, match="damaged"):
        Store(store.root).get_many([victim.key])
    healthy = [key for key in arrays if key != victim.key]
    assert len(Store(store.root).get_many(healthy)) == len(healthy)


def test_an_entry_written_before_fast_checksums_is_checked_by_its_sha256(store, rng):
    store.put(KEY, rng.normal(size=(1, 4, 16)).astype(np.float32))
    record_path = store.path(KEY).with_suffix(".json")
    record = json.loads(record_path.read_text())
    del record["crc32"]
    record_path.write_text(json.dumps(record))
    assert store.get(KEY).shape == (1, 4, 16)
    data = bytearray(store.path(KEY).read_bytes())
    data[-5] ^= 0x10
    store.path(KEY).write_bytes(bytes(data))
    with pytest.raises(CacheError, match="checksum mismatch"):
        store.get(KEY)


def test_no_pickle_object_arrays_are_refused(store):
    with pytest.raises(ValueError):
        store.put(KEY, np.array([{"a": 1}], dtype=object))
    assert not store.has(KEY)


def test_lock_is_exclusive_within_a_process_and_its_file_goes_on_release(store):
    first, second = store.lock(KEY), store.lock(KEY)
    assert first.acquire(blocking=False)
    assert not second.acquire(blocking=False)
    assert store.lock(OTHER).acquire(blocking=False)  # other keys are independent
    first.release()
    assert not first.path.exists()
    with second:
        assert second.held and second.path.exists()
    assert not second.held


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from mir_ref.locks import FileLock

    lock = FileLock(Path(sys.argv[1]))
    lock.acquire()
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    lock.release()
    """
)


def hold(path: Path, seconds: float) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(seconds)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "held"
    return process


def test_lock_excludes_another_process_and_a_waiter_gets_it_after(tmp_path):
    path = tmp_path / "locks" / "x.lock"
    holder = hold(path, 1.0)
    lock = FileLock(path)
    assert not lock.acquire(blocking=False)
    start = time.monotonic()
    assert lock.acquire()  # waits for the holder, then wins even though it deleted the file
    assert time.monotonic() - start > 0.3
    assert path.exists() and lock.held
    holder.wait(timeout=10)
    assert not FileLock(path).acquire(blocking=False)  # still ours
    lock.release()


def test_a_killed_holder_releases_its_lock_and_stale_files_are_removed(tmp_path):
    path = tmp_path / "locks" / "x.lock"
    holder = hold(path, 60)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert path.exists()  # the file stays, but nobody holds it
    with FileLock(path):
        pass
    holder = hold(path, 60)
    assert remove_stale(tmp_path / "locks") == []  # held: kept
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert remove_stale(tmp_path / "locks") == [path]
    assert not path.exists()


def test_unknown_dtype_is_a_clear_error(tmp_path):
    with pytest.raises(CacheError, match="float16"):
        Store(tmp_path, dtype="int8")


def filled(store: Store, rng, count: int = 12) -> dict[str, np.ndarray]:
    arrays = {
        cache_key({"i": i}): rng.normal(size=(1, 1 + i % 3, 8)).astype(np.float32)
        for i in range(count)
    }
    for key, array in arrays.items():
        store.put(key, array, meta={"model": "m"})
    return arrays


def test_pack_moves_small_entries_into_a_shard_that_reads_the_same(store, rng):
    arrays = filled(store, rng)
    big = rng.normal(size=(1, 300, 1024)).astype(np.float32)  # over 1 MB: stays loose
    store.put(OTHER, big)
    before = Store(store.root)
    before.get_many(list(arrays))  # a reader that looked before the pack ...
    assert store.pack() == len(arrays)
    assert sorted(p.name for p in store.root.rglob("embeddings/*/*")) == [
        f"{OTHER}.json",
        f"{OTHER}.npy",
    ]
    for reader in (store, before, Store(store.root)):  # ... still finds everything after it
        assert all(reader.has(key) for key in arrays)
        for key, read in zip(arrays, reader.get_many(list(arrays)), strict=True):
            np.testing.assert_array_equal(read, arrays[key])
            assert not read.flags.writeable
        np.testing.assert_array_equal(reader.get(next(iter(arrays))), next(iter(arrays.values())))
    assert {e.packed is not None for e in store.entries()} == {True, False}
    assert store.verify() == []
    assert store.pack() == 0  # nothing left to pack


def damage_a_packed_entry(store: Store) -> store_module.Entry:
    """Pack the store, then overwrite the last byte of one packed entry; return that entry."""
    store.pack()
    victim = next(e for e in store.entries() if e.packed is not None)
    with open(victim.path, "r+b") as shard:
        shard.seek(victim.packed.offset + victim.packed.length - 1)
        shard.write(b"\xff")
    return victim


def test_a_damaged_shard_entry_is_found_and_repaired(store, rng):
    arrays = filled(store, rng)
    victim = damage_a_packed_entry(store)
    problems = store.verify()
    assert len(problems) == 1 and victim.key in problems[0] and "checksum" in problems[0]
    assert store.verify(repair=True)
    assert not store.has(victim.key)
    assert all(Store(store.root).has(key) for key in arrays if key != victim.key)
    assert store.verify() == []


def test_a_pack_that_dies_midway_loses_nothing_and_leaves_no_leftover(store, rng, monkeypatch):
    arrays = filled(store, rng)
    from mir_ref import shards

    def die(*args, **kwargs):
        raise KeyboardInterrupt  # killed after the shard was written, before its index

    monkeypatch.setattr(shards, "write_index", die)
    with pytest.raises(KeyboardInterrupt):
        store.pack()
    monkeypatch.undo()
    reader = Store(store.root)
    assert all(reader.has(key) for key in arrays)
    (orphan,) = (store.root / "shards").glob("*.npys")
    assert store.verify() == []
    assert orphan.exists()  # so young that a writer may be about to write its index
    os.utime(orphan, (time.time() - 3600, time.time() - 3600))
    assert store.verify() == []
    assert not orphan.exists()  # a crash's leftover: cleaned
    assert store.pack() == len(arrays)
    for key, read in zip(arrays, reader.get_many(list(arrays)), strict=True):
        np.testing.assert_array_equal(read, arrays[key])


def test_removing_most_of_a_shard_then_packing_reclaims_its_space(store, rng):
    arrays = filled(store, rng)
    store.pack()
    (shard,) = (store.root / "shards").glob("*.npys")
    size = shard.stat().st_size
    keep = list(arrays)[-3:]
    for entry in list(store.entries()):
        if entry.key not in keep:
            store.remove(entry)
    assert not any(store.has(key) for key in arrays if key not in keep)
    store.pack()
    (smaller,) = (store.root / "shards").glob("*.npys")
    assert smaller.stat().st_size < size / 2
    for key, read in zip(keep, store.get_many(keep), strict=True):
        np.testing.assert_array_equal(read, arrays[key])
    assert store.verify() == []


def test_float16_entries_pack_apart_from_float32(tmp_path, rng):
    full, half = Store(tmp_path), Store(tmp_path, dtype="float16")
    array = rng.normal(size=(1, 2, 8)).astype(np.float32)
    half.put(KEY, array)
    full.pack()
    assert half.has(KEY) and not full.has(KEY)
    assert half.get(KEY).dtype == np.float16


def test_put_many_writes_small_entries_as_one_shard_and_large_ones_loose(store, rng):
    small = {cache_key({"i": i}): rng.normal(size=(1, 2, 8)).astype(np.float32) for i in range(5)}
    big = rng.normal(size=(1, 300, 1024)).astype(np.float32)
    store.put_many([(k, a, {"model": "m"}) for k, a in small.items()] + [(OTHER, big, None)])
    assert len(list((store.root / "shards").glob("*.npys"))) == 1
    assert [p.name for p in store.root.rglob("embeddings/*/*.npy")] == [f"{OTHER}.npy"]
    keys = [*small, OTHER]
    for key, read in zip(keys, Store(store.root).get_many(keys), strict=True):
        np.testing.assert_array_equal(read, small.get(key, big))
    assert {e.record()["meta"].get("model") for e in store.entries()} == {"m", None}
    assert store.verify() == []


def test_put_many_on_a_full_disk_leaves_nothing(store, monkeypatch):
    def fsync(descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store_module.os, "fsync", fsync)
    with pytest.raises(CacheError, match="is full"):
        store.put_many([(KEY, np.ones((1, 1, 4), np.float32), None)])
    assert not store.has(KEY)
    assert [p for p in store.root.rglob("*") if p.is_file()] == []


def test_pack_merges_the_small_shards_of_many_put_many_calls(store, rng):
    arrays = {cache_key({"i": i}): rng.normal(size=(1, 1, 8)).astype(np.float32) for i in range(9)}
    items = list(arrays.items())
    for start in range(0, 9, 3):
        store.put_many([(k, a, None) for k, a in items[start : start + 3]])
    assert len(list((store.root / "shards").glob("*.npys"))) == 3
    store.pack()
    assert len(list((store.root / "shards").glob("*.npys"))) == 1
    for key, read in zip(arrays, store.get_many(list(arrays)), strict=True):
        np.testing.assert_array_equal(read, arrays[key])
    assert store.verify() == []


CHURN = textwrap.dedent(
    """
    import sys, numpy as np
    from pathlib import Path
    from mir_ref.store import Store, cache_key

    store, offset = Store(Path(sys.argv[1])), int(sys.argv[2])

    def value(i):
        return np.full((1, 1 + i % 3, 8), i, dtype=np.float32)

    for round in range(8):
        first = offset + 10 * round
        store.put_many([(cache_key({"i": i}), value(i), None) for i in range(first, first + 6)])
        for i in range(first + 6, first + 10):
            store.put(cache_key({"i": i}), value(i))
        store.pack()
        problems = store.verify()  # while the other process writes and packs
        assert problems == [], problems
        written = list(range(offset, first + 10))
        for i, read in zip(written, store.get_many([cache_key({"i": i}) for i in written])):
            assert (read == value(i)).all(), i
    """
)


def test_two_processes_writing_packing_and_verifying_at_once_lose_nothing(tmp_path):
    # Overlapping key ranges: both processes write and pack some of the same entries.
    processes = [
        subprocess.Popen([sys.executable, "-c", CHURN, str(tmp_path), str(offset)], cwd=REPO)
        for offset in (0, 40)
    ]
    assert [p.wait(timeout=120) for p in processes] == [0, 0]
    store = Store(tmp_path)
    keys = [cache_key({"i": i}) for i in range(120)]
    for i, read in enumerate(store.get_many(keys)):
        np.testing.assert_array_equal(read, np.full((1, 1 + i % 3, 8), i, dtype=np.float32))
    assert store.verify() == []
    assert store.pack() == 0 and list(store.root.rglob("embeddings/*/*.npy")) == []


def test_an_unreadable_shard_index_is_reported_and_repair_removes_it(store, rng):
    arrays = filled(store, rng, count=3)
    store.pack()
    (index,) = (store.root / "shards").glob("*.json")
    index.write_text('{"shard": "x.npys", "entr')
    problems = Store(store.root).verify()
    assert problems == [f"{index}: unreadable shard index"]
    assert Store(store.root).verify(repair=True) == [f"{index}: unreadable shard index (removed)"]
    assert not any(Store(store.root).has(key) for key in arrays)  # the next run recomputes
    assert Store(store.root).verify() == []
