"""Benchmark 6: a real-size transformer through the pipeline ÷ the bare model, per parallel mode.

The model: wav2vec2-base's architecture (MERT-v1-95M's size, 94.4M parameters) with random
weights, saved locally and run through the ``huggingface`` adapter with ``layers: all`` (13
hidden states of 768), 3-s windows (the config's default) and ``batch_size: auto`` (on CPU,
two windows per forward). For each way of spending the cores —
*threads* (one process, ``--cores`` intra-op threads) and *processes* (``--cores``
single-threaded processes) —

- *bare*: ``model.embed`` on every track's windows, decoded, resampled and cut in advance
  (untimed), one forward after the other, in that many processes and threads;
- *pipeline*: ``mir_ref.extract.extract`` with ``execution: {workers, threads}`` from an empty
  cache in a fresh process, timed whole (model loading, decoding, resampling, store writes);
  in the adapter's default mode (both with ``--full`` or ``--pipeline-modes``).

Also printed: the achieved arithmetic rate of the bare model (one forward's FLOPs, counted
from the config, × forwards per second) ÷ this machine's float32 matrix-product rate (the
roofline); the hand-made features (``mfcc``) through the pipeline in both modes; and
``dtype: bfloat16`` against float32 on one window at one thread (1 s; 3 s with ``--full``:
time, and the relative error of the window's embedding and of its frames).

    .venv/bin/python benchmarks/transformer_efficiency.py         # 10 × 3 s, default mode
    .venv/bin/python benchmarks/transformer_efficiency.py --full  # 40 × 30 s, both modes
    .venv/bin/python benchmarks/transformer_efficiency.py --profile --tracks 4   # where time goes
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from _corpus import (
    FirstEntry,
    bare_throughput,
    cpu_seconds,
    extraction_config,
    load_average,
    run_child,
    write_corpus,
)
from _transformer import build_wav2vec2_base, forward_flops, matmul_gflops

from mir_ref.models.hf import HuggingFace

MODES = ("threads", "processes")


def parallel(mode: str, cores: int) -> dict:
    """``execution`` settings of a mode: (workers, threads)."""
    if mode == "threads":
        return {"workers": 1, "threads": cores}
    return {"workers": cores, "threads": 1}


def child(config_path: Path) -> None:
    """Extract in this fresh process and print wall time, first entry, CPU seconds (this
    process and its workers) and count as JSON."""
    start = time.perf_counter()
    from mir_ref.experiment import Experiment
    from mir_ref.extract import extract

    config = json.loads(config_path.read_text())
    with FirstEntry(Path(config["cache_dir"])) as first:
        stats = extract(Experiment.from_config(config))
    wall_s = time.perf_counter() - start
    print(
        json.dumps(
            {
                "computed": stats.computed,
                "wall_s": wall_s,
                "first_s": first.seconds,
                "cpu_s": cpu_seconds(),
            }
        )
    )


def transformer_config(
    folder: Path, dataset: dict, spec: dict, window_s: float, execution: dict
) -> dict:
    """An extraction config of the transformer in ``folder`` (created)."""
    folder.mkdir()
    embedding = {"window_s": window_s, "hop_s": window_s}
    return extraction_config(folder, dataset, [spec], embedding=embedding, execution=execution)


def dtype_comparison(model_dir: Path, window_s: float, threads: int) -> list:
    """float32 and bfloat16 on one window in this process: seconds of one forward (after one
    on a quarter of a second) and each layer's relative error, ‖bfloat16 − float32‖ /
    ‖float32‖, of the window's embedding (frames averaged) and of its frames."""
    import torch

    from mir_ref import registry

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    window = (0.1 * rng.standard_normal((1, int(window_s * 16000)))).astype(np.float32)
    outputs, times = {}, {}
    for dtype in ("float32", "bfloat16"):
        spec = {"type": "huggingface", "model_id": str(model_dir), "device": "cpu", "dtype": dtype}
        model = registry.build("models", spec, where="models[0]")
        model.embed(window[:, :4000])
        start = time.perf_counter()
        outputs[dtype] = model.embed(window)
        times[dtype] = time.perf_counter() - start
    reference, half = outputs["float32"], outputs["bfloat16"]

    def relative(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.linalg.norm(a - b) / np.linalg.norm(b))

    pooled = [relative(half[i].mean(axis=1), reference[i].mean(axis=1)) for i in range(13)]
    frames = [relative(half[i], reference[i]) for i in range(13)]
    return [times["float32"], times["bfloat16"], pooled, frames]


def profile(model_dir: Path, dataset: dict, root: Path, window_s: float) -> None:
    """Where the time goes: the operators of one forward pass (``torch.profiler``, two 3-s
    windows at one thread) and the pipeline's main thread over the corpus (``cProfile``, one
    process at one thread: model calls, windows cut, audio resampled, waits for the reader)."""
    import cProfile
    import pstats

    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from mir_ref import registry
    from mir_ref.experiment import Experiment
    from mir_ref.extract import extract

    torch.set_num_threads(1)
    spec = {"type": "huggingface", "model_id": str(model_dir), "device": "cpu"}
    model = registry.build("models", spec, where="models[0]")
    windows = (0.1 * np.random.default_rng(0).standard_normal((2, int(window_s * 16000)))).astype(
        np.float32
    )
    model.embed(windows[:, :16000])
    with torch_profile(activities=[ProfilerActivity.CPU]) as profiler:
        model.embed(windows)
    events = profiler.key_averages()
    total = sum(event.self_cpu_time_total for event in events)
    print(
        f"\nOne forward of two {window_s:g}-s windows, 1 thread: {total / 1e6:.2f} s of operators"
    )
    print("| operator | self CPU s | share |")
    print("| --- | --- | --- |")
    for event in sorted(events, key=lambda e: -e.self_cpu_time_total)[:10]:
        share = event.self_cpu_time_total / total
        print(f"| `{event.key}` | {event.self_cpu_time_total / 1e6:.3f} | {share:.1%} |")

    config = transformer_config(
        root / "profile", dataset, spec, window_s, {"workers": 1, "threads": 1}
    )
    experiment = Experiment.from_config(config)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    extract(experiment)
    profiler.disable()
    wall_s = time.perf_counter() - start
    stats = pstats.Stats(profiler)
    parts = {
        "model calls (`pooled_frames`)": "pooled_frames",
        "resampling (`audio.resample`)": "resample",
        "cutting windows (`cut_windows`)": "cut_windows",
        "waiting for the reader or writer threads (`Future.result`)": "result",
        "store checks (`Store.has`)": "has",
    }
    print(f"\nThe pipeline in one process at one thread: {wall_s:.1f} s wall (main thread)")
    print("| part | cumulative s | share of wall |")
    print("| --- | --- | --- |")
    for label, name in parts.items():
        seconds = sum(row[3] for (_, _, function), row in stats.stats.items() if function == name)
        print(f"| {label} | {seconds:.2f} | {seconds / wall_s:.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="40 tracks × 30 s, 120 for mfcc")
    parser.add_argument("--quick", action="store_true", help="10 tracks × 1 s, 10 for mfcc")
    parser.add_argument("--tracks", type=int, help="transformer tracks (default 10; full 40)")
    parser.add_argument("--duration-s", type=float, help="seconds per track (default 3; full 30)")
    parser.add_argument(
        "--modes", help="bare and mfcc modes (default: the adapter's default mode; full: both)"
    )
    parser.add_argument(
        "--pipeline-modes",
        help="modes the pipeline runs in (default: the adapter's default mode; full: both)",
    )
    parser.add_argument("--cores", type=int, default=2, help="cores to spend (default 2)")
    parser.add_argument(
        "--profile", action="store_true", help="only profile one forward and the pipeline"
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    tracks = args.tracks or (40 if args.full else 10)
    duration_s = args.duration_s or (30.0 if args.full else 1.0 if args.quick else 3.0)
    mfcc_tracks = 120 if args.full else 10 if args.quick else 16
    default_mode = HuggingFace.parallelism
    modes = args.modes.split(",") if args.modes else MODES if args.full else [default_mode]
    pipeline_modes = (
        args.pipeline_modes.split(",")
        if args.pipeline_modes
        else MODES
        if args.full
        else [default_mode]
    )
    window_s = 3.0
    print(f"load average before: {load_average()}")
    print(f"{time.strftime('%Y-%m-%d %H:%M %Z')}; {args.cores} cores")
    with tempfile.TemporaryDirectory(prefix="mir_ref_bench_") as temporary:
        root = Path(temporary)
        model_dir = build_wav2vec2_base(root / "wav2vec2-base")
        spec = {"type": "huggingface", "model_id": str(model_dir), "device": "cpu"}
        dataset = write_corpus(
            root / "corpus", tracks=tracks, duration_s=duration_s, sample_rate=22050
        )
        if args.profile:
            profile(model_dir, dataset, root, window_s)
            return
        cut_s = min(window_s, duration_s)  # a track shorter than a window is one window
        flops = forward_flops(model_dir, int(cut_s * 16000))
        roofline = {mode: matmul_gflops(args.cores if mode == "threads" else 1) for mode in MODES}
        print(
            f"wav2vec2-base architecture (94.4M parameters, random weights), layers: all; "
            f"{tracks} tracks × {duration_s:g} s (22.05 kHz WAV), window_s {window_s:g}; "
            f"one window: {flops / 1e9:.1f} GFLOP ({flops / cut_s / 1e9:.1f} per audio s)"
        )
        print(
            f"float32 matrix product (2048³): {roofline['threads']:.1f} GFLOP/s at "
            f"{args.cores} threads, {roofline['processes']:.1f} at 1 thread (per process)"
        )
        rows = []
        for mode in modes:
            execution = parallel(mode, args.cores)
            folder = root / mode
            config = transformer_config(folder, dataset, spec, window_s, execution)
            bare, _, bare_cpu_s = bare_throughput(
                config, execution["workers"], execution["threads"]
            )
            result = None
            if mode in pipeline_modes:
                result = run_child(__file__, config, folder)
                assert result["computed"] == tracks, result
            achieved = bare * flops / cut_s / 1e9
            peak = roofline[mode] * (1 if mode == "threads" else args.cores)
            rows.append((mode, execution, bare, bare_cpu_s, result, achieved, peak))
            print(f"  {mode}: done ({load_average()})", flush=True)

        features = {}
        features_set = write_corpus(
            root / "mfcc-corpus", tracks=mfcc_tracks, duration_s=30.0, sample_rate=22050
        )
        for mode in modes:
            folder = root / f"mfcc-{mode}"
            folder.mkdir()
            config = extraction_config(
                folder, features_set, [{"type": "mfcc"}], execution=parallel(mode, args.cores)
            )
            result = run_child(__file__, config, folder)
            features[mode] = (mfcc_tracks * 30.0 / result["wall_s"], result["wall_s"])
        print(f"  mfcc: done ({load_average()})", flush=True)
        dtype_window_s = 3.0 if args.full else 1.0
        dtype = dtype_comparison(model_dir, dtype_window_s, threads=1)

    print()
    print(
        "| mode | workers × threads | bare (audio s/s) | pipeline (audio s/s) | "
        "**pipeline ÷ bare** | first entry after | ratio after first entry | "
        "CPU ratio | bare GFLOP/s | ÷ matrix-product rate |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    audio_s = tracks * duration_s
    for mode, execution, bare, bare_cpu_s, result, achieved, peak in rows:
        pipeline = "– | – | – | – | –"
        if result is not None:
            end_to_end = audio_s / result["wall_s"]
            streaming = (audio_s - duration_s) / (result["wall_s"] - result["first_s"])
            pipeline = (
                f"{end_to_end:.3g} | **{end_to_end / bare:.2f}** | {result['first_s']:.1f} s | "
                f"{streaming / bare:.2f} | {bare_cpu_s / result['cpu_s']:.2f}"
            )
        print(
            f"| {mode}{' (default)' if mode == default_mode else ''} | "
            f"{execution['workers']} × {execution['threads']} | {bare:.3g} | {pipeline} | "
            f"{achieved:.1f} | {achieved / peak:.2f} |"
        )
    bare = {row[0]: row[2] for row in rows}
    if len(bare) == 2:
        ratio = bare["threads"] / bare["processes"]
        print(f"\nbare transformer, threads ÷ processes: {ratio:.2f}")
    print(
        f"mfcc ({mfcc_tracks} × 30 s) through the pipeline: "
        + ", ".join(
            f"{m} {rate:.0f} audio s/s ({wall:.1f} s)" for m, (rate, wall) in features.items()
        )
    )
    if len(features) == 2:
        ratio = features["threads"][0] / features["processes"][0]
        print(f"mfcc, threads ÷ processes: {ratio:.2f}")
    f32_s, bf16_s, pooled, frames = dtype
    print(
        f"\ndtype, one {dtype_window_s:g}-s window at 1 thread: "
        f"float32 {f32_s:.2f} s, "
        f"bfloat16 {bf16_s:.2f} s (bfloat16 ÷ float32 time: {bf16_s / f32_s:.2f})"
    )
    print(
        "bfloat16 relative error per layer 0..12, window embedding: "
        + ", ".join(f"{value:.1e}" for value in pooled)
    )
    print(
        "bfloat16 relative error per layer 0..12, frames: "
        + ", ".join(f"{value:.1e}" for value in frames)
    )
    print(f"\nload average after: {load_average()}")
    print("CPU ratio: the bare model's CPU seconds ÷ the pipeline's (its process and workers)")
    print("targets: pipeline ÷ bare ≥ 0.95 (--full); bfloat16 never the default beyond 1e-2")


if __name__ == "__main__":
    main()
