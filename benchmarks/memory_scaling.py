"""Benchmark 4: peak memory of extraction with 10× more tracks ÷ peak memory at 1×.

Each size runs ``mir_ref.extract.extract`` in a fresh child process (``--workers`` worker
processes below it) on its own WAV corpus and empty cache; the child reports the largest
resident set of itself and of every worker (``getrusage``: ``RUSAGE_SELF`` and
``RUSAGE_CHILDREN``, whose ``ru_maxrss`` is the largest of the waited-for descendants).
Extraction streams, so neither the parent nor a worker should grow with the track count.

    .venv/bin/python benchmarks/memory_scaling.py           # 10 vs 100 tracks (make bench)
    .venv/bin/python benchmarks/memory_scaling.py --quick   # 10 vs 100 tracks
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
from pathlib import Path

from _corpus import Timer, extraction_config, load_average, run_child, write_corpus

MODELS = [{"type": "mfcc"}, {"type": "random_cnn", "depth": 2}]
DEFORMATIONS = [{"type": "gain", "gain_db": [-20], "apply_to": "both"}]


def child(config_path: Path) -> None:
    """Run extraction and print peak resident sets (KiB) as JSON."""
    from mir_ref.experiment import Experiment
    from mir_ref.extract import extract

    config = json.loads(config_path.read_text())
    stats = extract(Experiment.from_config(config))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"computed": stats.computed, "parent_kib": own, "worker_kib": workers}))


def measure(root: Path, tracks: int, duration_s: float, workers: int) -> dict:
    dataset = write_corpus(root / "corpus", tracks=tracks, duration_s=duration_s, seed=tracks)
    config = extraction_config(
        root, dataset, MODELS, deformations=DEFORMATIONS, execution={"workers": workers}
    )
    with Timer() as timer:
        result = run_child(__file__, config, root)
    assert result["computed"] == 2 * tracks * len(MODELS), result
    return {**result, "seconds": timer.seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 vs 50 tracks")
    parser.add_argument("--tracks", type=int, help="tracks at 1× (default 10; quick 5)")
    parser.add_argument("--duration-s", type=float, default=10.0, help="seconds per track")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    tracks = args.tracks or (5 if args.quick else 10)
    print(f"load average before: {load_average()}")
    print(
        f"{tracks} and {10 * tracks} tracks × {args.duration_s:g} s (44.1 kHz WAV), clean + "
        f"gain, mfcc + random_cnn, {args.workers} workers"
    )
    rows = []
    for size in (tracks, 10 * tracks):
        with tempfile.TemporaryDirectory(prefix="mir_ref_bench_") as temporary:
            rows.append((size, measure(Path(temporary), size, args.duration_s, args.workers)))
    print()
    print("| tracks | audio | wall | peak RSS, parent | peak RSS, largest worker |")
    print("| --- | --- | --- | --- | --- |")
    for size, result in rows:
        print(
            f"| {size} | {size * args.duration_s / 60:.0f} min | {result['seconds']:.1f} s "
            f"| {result['parent_kib'] / 1024:.0f} MiB | {result['worker_kib'] / 1024:.0f} MiB |"
        )
    (_, small), (_, large) = rows
    peak = [max(r["parent_kib"], r["worker_kib"]) for r in (small, large)]
    total = [r["parent_kib"] + r["worker_kib"] for r in (small, large)]
    print(f"\npeak (largest process) 10× ÷ 1×: **{peak[1] / peak[0]:.2f}**")
    print(f"parent + largest worker 10× ÷ 1×: {total[1] / total[0]:.2f}")
    print(f"load average after: {load_average()}")
    print("target: ≤ 1.3")


if __name__ == "__main__":
    main()
