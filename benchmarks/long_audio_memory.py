"""Benchmark 7: peak memory of a long track through a real-size transformer ÷ a 30-s track's.

The model of benchmark 6 (wav2vec2-base's architecture, 94.4M parameters, random weights,
``layers: all``: 13 hidden states of 768 per frame) with ``window_s: 30``, ``hop_s: 30``,
``pooling: none``, at the default ``batch_size`` (``auto``: one 30-s window per forward on
CPU). Each size runs ``mir_ref.extract.extract`` on a corpus of one track in a fresh process
(one unit of work: it runs in that process); peak RSS is the largest of that process and any
worker (``getrusage``). A 10-minute track holds 20 windows of
1,500 frames: all its frames for all layers would be 1.2 GB of float32, which the pipeline
never holds (it pools each batch of windows as it is embedded).

    .venv/bin/python benchmarks/long_audio_memory.py          # 30 s vs 60 s
    .venv/bin/python benchmarks/long_audio_memory.py --full   # 30 s vs 10 min
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from _corpus import Timer, extraction_config, load_average, run_child, write_corpus
from _transformer import build_wav2vec2_base


def child(config_path: Path) -> None:
    """Extract, then print the entry's shape and the peak resident sets (KiB) as JSON."""
    from mir_ref.experiment import Experiment
    from mir_ref.extract import extract
    from mir_ref.plan import extraction_units
    from mir_ref.store import Store

    config = json.loads(config_path.read_text())
    experiment = Experiment.from_config(config)
    stats = extract(experiment)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    (unit,) = extraction_units(experiment)
    shape = Store.of(experiment).get(unit.keys[experiment.models[0].id]).shape
    print(
        json.dumps(
            {
                "computed": stats.computed,
                "shape": list(shape),
                "peak_kib": max(own, workers),
            }
        )
    )


def measure(root: Path, model_dir: Path, duration_s: float) -> dict:
    dataset = write_corpus(root / "corpus", tracks=1, duration_s=duration_s, sample_rate=16000)
    config = extraction_config(
        root,
        dataset,
        [{"type": "huggingface", "model_id": str(model_dir), "device": "cpu"}],
        embedding={"window_s": 30.0, "hop_s": 30.0, "pooling": "none"},
        execution={},
    )
    with Timer() as timer:
        result = run_child(__file__, config, root)
    assert result["computed"] == 1, result
    return {**result, "seconds": timer.seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="a 10-minute long track")
    parser.add_argument("--quick", action="store_true", help="a 40-s long track")
    parser.add_argument("--long-s", type=float, help="the long track (default 60 s; full 600)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    long_s = args.long_s or (600.0 if args.full else 40.0 if args.quick else 60.0)
    print(f"load average before: {load_average()}")
    print(
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; wav2vec2-base architecture, layers: all, "
        f"window_s 30, pooling: none; one track of 30 s, then one of {long_s:g} s (16 kHz WAV)"
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="mir_ref_bench_") as temporary:
        root = Path(temporary)
        model_dir = build_wav2vec2_base(root / "wav2vec2-base")
        for duration_s in (30.0, long_s):
            folder = root / f"track-{duration_s:g}"
            folder.mkdir()
            rows.append((duration_s, measure(folder, model_dir, duration_s)))
    print()
    print("| track | entry `[layers, windows, dim]` | wall | peak RSS |")
    print("| --- | --- | --- | --- |")
    for duration_s, result in rows:
        print(
            f"| {duration_s:g} s | {result['shape']} | {result['seconds']:.1f} s | "
            f"{result['peak_kib'] / 1024:.0f} MiB |"
        )
    (_, short), (_, long) = rows
    ratio = long["peak_kib"] / short["peak_kib"]
    print(f"\npeak RSS, {long_s:g}-s track ÷ 30-s track: **{ratio:.2f}**")
    print(f"load average after: {load_average()}")
    print("target: ≤ 1.3")


if __name__ == "__main__":
    main()
