"""Benchmark 2: mir_ref's extraction versus a naive per-file loop (the original tool's approach).

Same WAV files, features (``mfcc``, ``melspectrogram``) and conditions (clean, white noise at
10 dB SNR, -20 dB gain, with the same per-track noise):

- *naive*: one process, librosa's features (the original tool's); each deformed track is
  written to a WAV file, then per model and condition each file is loaded with
  ``librosa.load``, embedded window by window and saved with ``np.save``, one file per track.
- *ours, librosa features*: ``mir_ref.extract.extract`` with ``--workers`` processes from an
  empty cache, the features computed by librosa (``implementation: librosa``): the same
  arithmetic as the naive loop, so this row measures the pipeline alone.
- *ours*: the same with the default ``implementation: fast`` (``mir_ref.models.spectral``).
- *floor*: a feature's own compute time on windows already in memory (cut in advance, one
  thread, warm), each feature computed alone, summed over features, conditions and tracks.
  For ours, also the floor with both features of a window sharing one STFT, as ours computes
  them (the strict floor).

Prints the speed-up (naive ÷ ours) and the efficiency = (floor ÷ cores) ÷ our wall time.

    .venv/bin/python benchmarks/naive_loop.py             # 30 tracks (make bench)
    .venv/bin/python benchmarks/naive_loop.py --tracks 80 # the size first measured
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
                audio = condition.deformation(
                    audio, rate, track_rng(seed, dataset, track, condition)
                )
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


def feature_floor_s(experiment, *, shared: bool = False) -> float:
    """CPU seconds of the features alone on in-memory windows, one thread.

    ``shared``: a window's features are computed one after the other, as the pipeline does,
    so features of one STFT share it; otherwise each feature is computed alone.
    """
    import threadpoolctl

    from mir_ref import audio as audio_io
    from mir_ref.models import spectral
    from mir_ref.plan import extraction_units
    from mir_ref.units import decode_unit

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
                if not shared:
                    spectral._memo.__dict__.clear()
                start = time.process_time()
                model.embed(batch)
                total += time.process_time() - start
    return total


def _stored(experiment, folder: Path | None = None) -> dict[tuple[str, str, str], np.ndarray]:
    """Every embedding of the run, by (model, condition, track): from the store, or the
    naive loop's files under ``folder``."""
    from mir_ref.plan import extraction_units
    from mir_ref.store import Store

    store = Store.of(experiment)
    found = {}
    for unit in extraction_units(experiment):
        for entry in experiment.models:
            label = unit.condition.label
            if folder is None:
                array = np.asarray(store.get(unit.keys[entry.id]))
            else:
                name = f"{_file_name(unit.track.id)}.npy"
                array = np.load(folder / "features" / entry.name / label / name)
            found[entry.name, label, unit.track.id] = array
    return found


def _max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tracks")
    parser.add_argument("--tracks", type=int, help="tracks (default 30; quick 20)")
    parser.add_argument("--duration-s", type=float, default=30.0, help="seconds per track")
    parser.add_argument("--workers", type=int, default=2, help="our processes (= cores)")
    args = parser.parse_args()
    tracks = args.tracks or (20 if args.quick else 30)

    from mir_ref.experiment import Experiment
    from mir_ref.extract import extract
    from mir_ref.plan import extraction_units

    print(f"load average before: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="mir_ref_bench_") as temporary:
        root = Path(temporary)
        dataset = write_corpus(
            root / "corpus", tracks=tracks, duration_s=args.duration_s, sample_rate=22050
        )

        def experiment(name: str, implementation: str) -> Experiment:
            # Every track is a test track, so each deformation applies to all of them.
            models = [{**model, "implementation": implementation} for model in MODELS]
            config = extraction_config(
                root / name,
                dataset,
                models,
                deformations=[{**d, "apply_to": "both"} for d in DEFORMATIONS],
                execution={"workers": args.workers},
            )
            return Experiment.from_config(config)

        reference, fast = experiment("librosa", "librosa"), experiment("fast", "fast")
        units = extraction_units(fast)
        print(
            f"{tracks} tracks × {args.duration_s:g} s (22.05 kHz WAV) × "
            f"{len(fast.conditions)} conditions × {len(MODELS)} features = "
            f"{len(units) * len(MODELS)} embeddings"
        )
        with Timer() as naive:
            naive_loop(reference, root / "naive")
        times = {}
        for name, run in (("librosa", reference), ("fast", fast)):
            with Timer() as ours, FirstEntry(root / name / "cache") as first:
                stats = extract(experiment(name, run.models[0].model.implementation))
            assert stats.computed == len(units) * len(MODELS), stats
            times[name] = (ours.seconds, first.seconds)
        floors = {
            "librosa": feature_floor_s(reference),
            "fast": feature_floor_s(fast),
            "fast, shared STFT": feature_floor_s(fast, shared=True),
        }
        naive_embeddings = _stored(reference, root / "naive")
        differences = {
            "librosa": _max_difference(naive_embeddings, _stored(reference)),
            "fast": _max_difference(naive_embeddings, _stored(fast)),
        }

    print()
    print(
        "| ours | features | naive loop | ours | speed-up | floor (CPU s) | **efficiency** "
        "| first entry after | efficiency after first entry | max abs diff from naive |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, name, floor in (
        ("librosa features", "librosa", "librosa"),
        ("default", "fast", "fast"),
        ("default, strict floor", "fast", "fast, shared STFT"),
    ):
        seconds, first = times[name]
        floor_s = floors[floor]
        efficiency = floor_s / args.workers / seconds
        # After the first entry: the streaming phase, without process start-up and imports.
        streaming = floor_s * (1 - 1 / len(units)) / args.workers / (seconds - first)
        print(
            f"| {label} | {name} | {naive.seconds:.1f} s | {seconds:.1f} s "
            f"| {naive.seconds / seconds:.2f}× | {floor_s:.1f} ({floor}) | **{efficiency:.2f}** "
            f"| {first:.1f} s | {streaming:.2f} | {differences[name]:.1e} |"
        )
    print(f"\nload average after: {load_average()}")
    print(f"target: efficiency ≥ 0.85 (floor ÷ {args.workers} cores ÷ our wall time)")


if __name__ == "__main__":
    main()
