"""Issue 8, benchmark 5: reading every embedding of 10,000 tracks for training, vs one file.

Stores 10,000 entries of ``[1 layer, 1 window, 512]`` float32 with :class:`mir_ref.store.Store`
in two layouts, then times reading all of them into one training matrix ``[tracks, 512]``,
against the same data read with one ``np.load`` of a single ``.npy`` file (the fastest any
layout can be):

- ``get, loose``: ``Store.get`` per track on the files ``put`` writes (one ``.npy`` per entry,
  each memory-mapped), as the training stage read before;
- ``get_many, loose``: ``Store.get_many`` on the same files (one whole read each, headers
  parsed once per shape), what the training stage calls now;
- ``get_many, sharded``: the same on entries written by ``put_many`` (batches of 64) and
  merged by ``pack``: views of one memory-mapped shard;
- ``get_many, sharded f16``: the same from a ``dtype="float16"`` store, cast to float32.

Throughput is float32 megabytes of embeddings delivered per second (1 MB = 10^6 bytes), the
best of ``--repeats`` runs, with the files in the page cache (a cold read adds the disk's own
time to every variant). The script also prints how fast each layout is written (every ``put``
flushes its file to disk; ``put_many`` flushes once per batch). It prints each throughput and
its ratio to the single file.

Run: ``python benchmarks/store_read.py`` (3,000 tracks, for ``make bench``; ``--tracks 10000``
for the size above, ``--tracks 2000`` for a quick look).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mir_ref.store import Store, cache_key

BATCH = 64


def best_seconds(read: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    """The fastest of ``repeats`` calls, and the last result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = read()
        times.append(time.perf_counter() - start)
    return min(times), result


def timed(label: str, count: int, write: Callable[[], object]) -> None:
    start = time.perf_counter()
    write()
    seconds = time.perf_counter() - start
    print(f"{label:<34} {count / seconds:9,.0f} entries/s ({seconds:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=3_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    data = rng.normal(size=(args.tracks, 1, 1, args.dim)).astype(np.float32)
    keys = [cache_key({"track": index}) for index in range(args.tracks)]
    items = [(key, array, {"model": "benchmark"}) for key, array in zip(keys, data, strict=True)]
    megabytes = data.nbytes / 1e6

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        single = root / "all.npy"
        np.save(single, data)
        loose = Store(root / "loose")
        sharded = Store(root / "sharded")
        half = Store(root / "sharded", dtype="float16")

        def put_each() -> None:
            for key, array, meta in items:
                loose.put(key, array, meta=meta)

        def put_batches(store: Store) -> None:
            for start in range(0, len(items), BATCH):
                store.put_many(items[start : start + BATCH])

        timed("write: put per entry", args.tracks, put_each)
        timed(f"write: put_many, {BATCH} per batch", args.tracks, lambda: put_batches(sharded))
        timed("       + pack (merge the shards)", args.tracks, sharded.pack)
        timed(f"write: put_many float16, {BATCH}", args.tracks, lambda: put_batches(half))
        half.pack()

        def stacked(reader: Store) -> np.ndarray:
            return np.stack([a[0, 0] for a in reader.get_many(keys)]).astype(np.float32)

        variants: dict[str, Callable[[], np.ndarray]] = {
            "np.load one file": lambda: np.load(single, allow_pickle=False)[:, 0, 0],
            "get, loose": lambda: np.stack([np.asarray(loose.get(k))[0, 0] for k in keys]),
            "get_many, loose": lambda: stacked(loose),
            "get_many, sharded": lambda: stacked(sharded),
            "get_many, sharded f16": lambda: stacked(half),
        }
        rates = {}
        print()
        for name, read in variants.items():
            seconds, matrix = best_seconds(read, args.repeats)
            tolerance = 1e-2 if "f16" in name else 0
            assert np.allclose(matrix, data[:, 0, 0], atol=tolerance, rtol=tolerance), name
            rates[name] = megabytes / seconds
            print(f"read: {name:<24} {seconds * 1e3:8.1f} ms  {rates[name]:9.1f} MB/s")

    baseline = rates["np.load one file"]
    print(f"\n{args.tracks} tracks × [1, 1, {args.dim}] float32 = {megabytes:.1f} MB")
    for name, rate in rates.items():
        if name != "np.load one file":
            print(f"ratio {name} / np.load one file: {rate / baseline:.3f}")


if __name__ == "__main__":
    main()
