"""Benchmark 2: mir_ref's extraction versus a naive per-file loop (the original tool's approach).

Same WAV files, features (``mfcc``, ``melspectrogram``) and conditions (clean, white noise at
10 dB SNR, -20 dB gain, with the same per-track noise):

- *naive*: one process; each deformed track is written to a WAV file, then per model and
  condition each file is loaded with ``librosa.load``, embedded window by window and saved
  with ``np.save``, one file per track.
- *ours*: ``mir_ref.extract.extract`` with ``--workers`` processes, from an empty cache.
- *floor*: the features' own compute time on audio already in memory (windows cut in
  advance, one thread), summed over models, conditions and tracks.

Prints the speed-up (naive ÷ ours) and the efficiency = (floor ÷ cores) ÷ our wall time.

    .venv/bin/python benchmarks/naive_loop.py           # ~1.5 min on 2 idle cores
    .venv/bin/python benchmarks/naive_loop.py --quick   # ~30 s
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
from _corpus import FirstEntry, Timer, extraction_config, load_average, write_corpus

MODELS = [{"type": "mfcc"}, {"type": "melspectrogram"}]
DEFORMATIONS = [{"type": "white_noise", "snr_db": [10]}, {"type": "gain", "gain_db": [-20]}]


def _file_name(track_id: str) -> str:
    return track_id.replace("/", "_")


def naive_loop(experiment, folder: Path) -> None:
    """Deform to files, then per model: load each file with librosa, embed, ``np.save``."""
    import librosa

    from mir_ref import audio as audio_io
    from mir_ref.plan import condition_tracks, track_rng

    dataset = experiment.datasets[0]
    seed = experiment.config.protocol.seed
    files: dict[str, list[tuple[str, Path]]] = {}
    for condition in experiment.conditions:
        files[condition.label] = []
        for track in condition_tracks(dataset, condition):
            path = Path(track.audio_path)
            if condition.deformation is not None:
                audio, rate = soundfile.read(path, dtype="float32")
                audio = condition.deformation(audio, rate, track_rng(seed, track, condition))
                path = folder / "deformed" / condition.label / f"{_file_name(track.id)}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                soundfile.write(path, audio, rate, subtype="FLOAT")
            files[condition.label].append((track.id, path))
    for entry in experiment.models:
        model = entry.model
        for label, tracks in files.items():
            out = folder / "features" / entry.name / label
            out.mkdir(parents=True, exist_ok=True)
            for track_id, path in tracks:
                audio, rate = librosa.load(path, sr=model.sample_rate, mono=True)
                batch = audio_io.windows(audio, rate, window_s=entry.window_s, hop_s=entry.hop_s)
                np.save(out / f"{_file_name(track_id)}.npy", model.embed(batch).mean(axis=2))


def feature_floor_s(experiment) -> float:
    """CPU seconds of the features alone on in-memory windows, one thread."""
    import threadpoolctl

    from mir_ref import audio as audio_io
    from mir_ref.extract import decode_unit
    from mir_ref.plan import extraction_units

    total = 0.0
    with threadpoolctl.threadpool_limits(1):
        for unit in extraction_units(experiment):
            audio, rate = decode_unit(experiment, unit)
            for entry in experiment.models:
                model = entry.model
                resampled = audio_io.resample(audio, rate, model.sample_rate)
                batch = audio_io.windows(
                    resampled, model.sample_rate, window_s=entry.window_s, hop_s=entry.hop_s
                )
                start = time.process_time()
                model.embed(batch)
                total += time.process_time() - start
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tracks")
    parser.add_argument("--tracks", type=int, help="tracks (default 60; quick 20)")
    parser.add_argument("--duration-s", type=float, default=30.0, help="seconds per track")
    parser.add_argument("--workers", type=int, default=2, help="our processes (= cores)")
    args = parser.parse_args()
    tracks = args.tracks or (20 if args.quick else 60)

    from mir_ref.config import Experiment
    from mir_ref.extract import extract
    from mir_ref.plan import extraction_units
    from mir_ref.store import Store

    print(f"load average before: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="mir_ref_bench_") as temporary:
        root = Path(temporary)
        dataset = write_corpus(
            root / "corpus", tracks=tracks, duration_s=args.duration_s, sample_rate=22050
        )
        # Every track is a test track, so each deformation applies to all of them.
        config = extraction_config(
            root / "ours",
            dataset,
            MODELS,
            deformations=[{**d, "apply_to": "both"} for d in DEFORMATIONS],
            execution={"workers": args.workers},
        )
        experiment = Experiment.from_config(config)
        units = extraction_units(experiment)
        print(
            f"{tracks} tracks × {args.duration_s:g} s (22.05 kHz WAV) × "
            f"{len(experiment.conditions)} conditions × {len(MODELS)} features = "
            f"{len(units) * len(MODELS)} embeddings"
        )
        with Timer() as naive:
            naive_loop(experiment, root / "naive")
        with Timer() as ours, FirstEntry(root / "ours" / "cache") as first:
            stats = extract(Experiment.from_config(config))
        assert stats.computed == len(units) * len(MODELS), stats
        floor_s = feature_floor_s(experiment)

        store = Store.of(experiment)
        difference = 0.0
        for unit in units:
            for entry in experiment.models:
                saved = np.load(
                    root / "naive" / "features" / entry.name / unit.condition.label
                    / f"{_file_name(unit.track.id)}.npy"
                )  # fmt: skip
                stored = np.asarray(store.get(unit.keys[entry.id]))
                difference = max(difference, float(np.abs(saved - stored).max()))

    efficiency = floor_s / args.workers / ours.seconds
    # After the first entry: the streaming phase, without process start-up and imports.
    streaming = floor_s * (1 - 1 / len(units)) / args.workers / (ours.seconds - first.seconds)
    print()
    print("| naive loop | ours | speed-up | feature floor (CPU s) | **efficiency** "
          "| first entry after | efficiency after first entry | max abs diff |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {naive.seconds:.1f} s | {ours.seconds:.1f} s | {naive.seconds / ours.seconds:.2f}× "
        f"| {floor_s:.1f} | **{efficiency:.2f}** | {first.seconds:.1f} s | {streaming:.2f} "
        f"| {difference:.1e} |"
    )
    print(f"\nload average after: {load_average()}")
    print(f"target: efficiency ≥ 0.85 (floor ÷ {args.workers} cores ÷ our wall time)")


if __name__ == "__main__":
    main()
