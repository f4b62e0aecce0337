"""What the extraction benchmarks share: a corpus of audio files, configs, timing and load.

Imported by the benchmark scripts; ``make bench`` skips files that start with ``_``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def write_corpus(
    folder: Path, *, tracks: int, duration_s: float, sample_rate: int = 44100, seed: int = 0
) -> dict:
    """Write ``tracks`` WAV files (16-bit, like a decoded CD catalogue) and a manifest.

    Each track is a few random harmonic tones over soft noise, so features vary by track.

    Returns
    -------
    The dataset entry of a config that reads them (task ``genre``, two classes).
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["path,genre,split"]
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    for index in range(tracks):
        audio = 0.05 * rng.standard_normal(t.size)
        for frequency in rng.uniform(80, 2000, size=3):
            audio += 0.2 * np.sin(2 * np.pi * frequency * t + rng.uniform(0, 2 * np.pi))
        name = f"audio/track{index:05d}.wav"
        (folder / "audio").mkdir(exist_ok=True)
        soundfile.write(folder / name, (audio / 2).astype(np.float32), sample_rate, "PCM_16")
        split = ("train", "train", "train", "validation", "test")[index % 5]
        rows.append(f"{name},{'ab'[index % 2]},{split}")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return {
        "name": "corpus",
        "type": "manifest",
        "path": str(folder / "manifest.csv"),
        "tasks": {"genre": {"type": "multiclass"}},
    }


def extraction_config(folder: Path, dataset: dict, models: list[dict], **overrides) -> dict:
    """A config that only needs extraction: one dataset, the given models, its own cache."""
    config = {
        "name": "benchmark",
        "output_dir": str(folder / "run"),
        "cache_dir": str(folder / "cache"),
        "datasets": [dataset],
        "models": models,
        "embedding": {"window_s": 3.0, "hop_s": 3.0},
        "execution": {"workers": 2},
    }
    config.update(overrides)
    return config


def run_child(script: str, config: dict, folder: Path) -> dict:
    """Run ``script --child <folder>/config.json`` in a fresh interpreter and return the JSON
    object its last line prints (the benchmarks' way to measure a run from a clean process)."""
    path = Path(folder) / "config.json"
    path.write_text(json.dumps(config))
    finished = subprocess.run(
        [sys.executable, script, "--child", str(path)], check=True, capture_output=True, text=True
    )
    return json.loads(finished.stdout.strip().splitlines()[-1])


SMALLER_DEMO = {"notes_per_class": 1, "phrases_per_key": 3, "mixtures": 24}
"""The synthetic set of the demo-based benchmarks' default size."""


def smaller_demo(config: dict, dataset: dict | None = None) -> dict:
    """The demo config cut to fit ``make bench``: a smaller synthetic set (``dataset``, else
    :data:`SMALLER_DEMO`), the three hand-made features, the first and last deformations.

    A demo run's cost follows models × tasks × conditions far more than tracks, so the
    models and deformations are what is cut. Changes ``config`` in place and returns it.
    """
    config["datasets"][0].update(SMALLER_DEMO if dataset is None else dataset)
    config["models"] = config["models"][:3]
    config["deformations"] = [config["deformations"][0], config["deformations"][-1]]
    return config


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, as ``uptime`` prints them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


class Timer:
    """``with Timer() as timer: ...`` then ``timer.seconds``."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.seconds = time.perf_counter() - self.start


class FirstEntry:
    """Watches a cache folder from a thread: when did the first embedding land?

    ``with FirstEntry(cache) as first: extract(...)`` then ``first.seconds`` (from entering),
    so a benchmark can tell process start-up and model loading from the streaming phase.
    """

    def __init__(self, cache: Path) -> None:
        self.folder = Path(cache) / "embeddings"
        self.seconds: float | None = None

    def __enter__(self) -> FirstEntry:
        import threading

        self._stop = threading.Event()
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.is_set() and self.seconds is None:
            if self.folder.is_dir() and any(self.folder.rglob("*.npy")):
                self.seconds = time.perf_counter() - self._start
            self._stop.wait(0.02)

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def _bare_worker(
    config: dict, index: int, workers: int, threads: int, limit: int | None, barrier, results
) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import threadpoolctl
    import torch

    torch.set_num_threads(threads)
    threadpoolctl.threadpool_limits(threads)
    from mir_ref import audio as audio_io
    from mir_ref.experiment import Experiment
    from mir_ref.plan import extraction_units
    from mir_ref.units import decode_unit

    experiment = Experiment.from_config(config)
    entry = experiment.models[0]
    model = entry.model
    batches, audio_s = [], 0.0
    prepare_start = time.perf_counter()
    for unit in extraction_units(experiment)[:limit][index::workers]:
        audio, rate = decode_unit(experiment, unit)
        audio_s += len(audio) / rate
        audio = audio_io.resample(audio, rate, model.sample_rate)
        batches.append(
            audio_io.windows(audio, model.sample_rate, window_s=entry.window_s, hop_s=entry.hop_s)
        )
    prepare_s = time.perf_counter() - prepare_start
    model.embed(batches[0][:1])  # build the network outside the timing
    barrier.wait()
    start, cpu_start = time.perf_counter(), time.process_time()
    for batch in batches:
        model.embed(batch)
    results.put((audio_s, time.perf_counter() - start, prepare_s, time.process_time() - cpu_start))


def bare_throughput(
    config: dict, workers: int, threads: int = 1, *, tracks: int | None = None
) -> tuple[float, float, float]:
    """The bare model: ``model.embed`` on every track's windows, decoded, resampled and cut
    in advance (untimed), in ``workers`` spawned processes of ``threads`` threads started
    together behind a barrier (the model built and run once on one window first); on the
    first ``tracks`` tracks only when given (a rate needs fewer than the pipeline's run).

    Returns
    -------
    Seconds of audio per second, decode+resample time ÷ embed time, and CPU seconds.
    """
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [
        context.Process(
            target=_bare_worker, args=(config, i, workers, threads, tracks, barrier, results)
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    measured = [results.get() for _ in processes]
    for process in processes:
        process.join()
    audio_s = sum(m[0] for m in measured)
    embed_s = sum(m[1] for m in measured)
    cpu_s = sum(m[3] for m in measured)
    return audio_s / max(m[1] for m in measured), sum(m[2] for m in measured) / embed_s, cpu_s


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the pipeline's workers)."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
