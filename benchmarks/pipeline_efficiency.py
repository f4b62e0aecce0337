"""Benchmark 1: end-to-end extraction throughput ÷ the bare model's on pre-decoded batches.

For each model: *bare* runs ``model.embed`` on batches decoded, resampled and windowed in
advance (untimed), in as many processes as the pipeline has workers, all starting together
behind a barrier, one thread each; its throughput is seconds of audio ÷ the slowest process's
seconds, measured on the first third of the tracks (a steady rate; the whole set would add
minutes to ``make bench``). *Pipeline* is ``mir_ref.extract.extract`` on every WAV file from
an empty cache, timed whole: process start, model construction, decoding, resampling,
windowing, embedding, and writing every entry to the store. Both use ``--workers`` processes.

    .venv/bin/python benchmarks/pipeline_efficiency.py            # crepe-tiny + mfcc, ~2.5 min idle
    .venv/bin/python benchmarks/pipeline_efficiency.py --quick    # ~1 min
    .venv/bin/python benchmarks/pipeline_efficiency.py --models random_cnn
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _corpus import (
    FirstEntry,
    Timer,
    bare_throughput,
    cpu_seconds,
    extraction_config,
    load_average,
    write_corpus,
)

# name: (config entry, tracks, tracks with --quick, seconds per track)
MODELS = {
    # CREPE's pitch network at its own 10-ms hop: ~2× real time per core, CPU-heavy.
    # 60 tracks (5 min of audio): as many as make bench's budget allows.
    "crepe-tiny": ({"type": "crepe", "capacity": "tiny"}, 60, 12, 5.0),
    # 4 conv blocks of 64 channels on log-mel: ~100× real time per core.
    "random_cnn": ({"type": "random_cnn"}, 120, 40, 30.0),
    # A cheap hand-made feature: ~1000× real time per core.
    "mfcc": ({"type": "mfcc"}, 60, 40, 30.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tracks")
    parser.add_argument(
        "--models", default="crepe-tiny,mfcc", help=f"comma-separated, of {', '.join(MODELS)}"
    )
    parser.add_argument("--tracks", type=int, help="tracks per model (default: per model)")
    parser.add_argument("--duration-s", type=float, help="seconds per track (default: per model)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from mir_ref.experiment import Experiment
    from mir_ref.extract import extract

    print(f"load average before: {load_average()}")
    print(f"22.05 kHz 16-bit WAV files, {args.workers} workers")
    rows = []
    with tempfile.TemporaryDirectory(prefix="mir_ref_bench_") as temporary:
        root = Path(temporary)
        for name in args.models.split(","):
            spec, tracks, quick_tracks, duration_s = MODELS[name]
            tracks = args.tracks or (quick_tracks if args.quick else tracks)
            duration_s = args.duration_s or duration_s
            dataset = write_corpus(
                root / name / "corpus", tracks=tracks, duration_s=duration_s, sample_rate=22050
            )
            config = extraction_config(
                root / name, dataset, [spec], execution={"workers": args.workers}
            )
            bare_tracks = min(tracks, max(4 * args.workers, tracks // 3))
            bare, decode_share, bare_cpu_s = bare_throughput(
                config, args.workers, tracks=bare_tracks
            )
            bare_cpu_s *= tracks / bare_tracks  # equal tracks: the whole set's CPU time
            cpu_before = cpu_seconds()
            with Timer() as timer, FirstEntry(root / name / "cache") as first:
                stats = extract(Experiment.from_config(config))
            pipeline_cpu_s = cpu_seconds() - cpu_before
            audio_s = tracks * duration_s
            assert stats.computed == tracks, stats
            # After the first entry: the streaming phase, without process start-up and imports.
            streaming = (audio_s - duration_s) / (timer.seconds - first.seconds)
            rows.append(
                (f"{name} ({tracks} × {duration_s:g} s)", bare, audio_s / timer.seconds,
                 timer.seconds, decode_share, bare_cpu_s / pipeline_cpu_s, first.seconds,
                 streaming / bare)
            )  # fmt: skip
    print()
    print("| model | bare model (audio s/s) | pipeline (audio s/s) | pipeline wall "
          "| **throughput ratio** | first entry after | ratio after first entry | CPU ratio "
          "| decode+resample ÷ embed |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, bare, end_to_end, wall_s, decode_share, cpu_ratio, first_s, streaming in rows:
        print(
            f"| {name} | {bare:.3g} | {end_to_end:.3g} | {wall_s:.1f} s | "
            f"**{end_to_end / bare:.2f}** | {first_s:.1f} s | {streaming:.2f} | {cpu_ratio:.2f} "
            f"| {decode_share:.3f} |"
        )
    print(f"\nload average after: {load_average()}")
    print("target: throughput ratio ≥ 0.9 for the CPU-heavy model (crepe-tiny, random_cnn)")
    print("CPU ratio: the bare model's CPU seconds ÷ the whole pipeline's (all its processes)")


if __name__ == "__main__":
    main()
