"""The streaming extraction pipeline gives the simple path's embeddings, bit for bit."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

import numpy as np
import pytest

from mir_ref.experiment import Experiment
from mir_ref.extract import extract
from mir_ref.pipeline import single_threaded
from mir_ref.plan import extraction_units
from mir_ref.store import Store
from mir_ref.units import process_unit
from tests.conftest import tiny_tones

TONES = tiny_tones(tasks=["tags"])


def config(folder: Path, *, workers: int, models: list[dict] | None = None) -> dict:
    return {
        "name": "extract",
        "output_dir": str(folder / "run"),
        "cache_dir": str(folder / "cache"),
        "datasets": [TONES],
        "deformations": [
            {"type": "white_noise", "snr_db": [10]},
            {"type": "gain", "gain_db": [-6]},
        ],
        "models": models
        or [
            {"type": "mfcc", "n_mels": 40},
            {"type": "melspectrogram", "n_mels": 32, "sample_rate_hz": 16000},
            {"type": "random_cnn", "depth": 1, "width": 8},
        ],
        "embedding": {"window_s": 1.0, "hop_s": 0.5},
        "execution": {"workers": workers},
    }


def stored(experiment: Experiment) -> dict[str, np.ndarray]:
    store = Store.of(experiment)
    return {
        key: np.array(store.get(key))
        for unit in extraction_units(experiment)
        for key in unit.keys.values()
    }


@pytest.fixture(scope="module")
def simple_path(tmp_path_factory) -> dict[str, np.ndarray]:
    """Every embedding of the config computed by ``process_unit``, one unit after the other,
    at the pipeline's one thread per process (more threads change the last bits of BLAS sums).
    """
    experiment = Experiment.from_config(config(tmp_path_factory.mktemp("simple"), workers=1))
    store = Store.of(experiment)
    speed: dict[str, list[float]] = {}
    with single_threaded():
        for unit in extraction_units(experiment):
            assert process_unit(experiment, store, unit, speed) == len(experiment.models)
            assert process_unit(experiment, store, unit, speed) == 0
    return stored(experiment)


# Two workers spawn processes that import torch: slow on a busy 2-core machine.
@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_pipeline_gives_the_simple_paths_arrays_bit_for_bit(tmp_path, simple_path, workers):
    experiment = Experiment.from_config(config(tmp_path, workers=workers))
    stats = extract(experiment)
    assert stats.computed == len(simple_path) and stats.cached == 0
    streamed = stored(experiment)
    assert streamed.keys() == simple_path.keys()
    for key, array in simple_path.items():
        assert streamed[key].dtype == array.dtype == np.float32
        assert streamed[key].shape == array.shape
        assert np.array_equal(streamed[key], array), key
    assert set(stats.speed) == {"mfcc", "melspectrogram", "random_cnn"}


def test_rerun_computes_nothing(tmp_path, embed_calls):
    experiment = Experiment.from_config(config(tmp_path, workers=1, models=[{"type": "mfcc"}]))
    first = extract(experiment)
    calls = embed_calls["n"]
    assert first.computed > 0 and calls > 0
    second = extract(Experiment.from_config(config(tmp_path, workers=1, models=[{"type": "mfcc"}])))
    assert (second.computed, second.cached, embed_calls["n"]) == (0, first.computed, calls)


def test_models_that_differ_only_in_name_compute_their_shared_entry_once(tmp_path, embed_calls):
    models = [{"type": "mfcc"}, {"type": "mfcc", "name": "mfcc-again"}]
    experiment = Experiment.from_config(config(tmp_path, workers=1, models=models))
    stats = extract(experiment)
    units = extraction_units(experiment)
    assert stats.computed == len(units)
    # Every window embedded once: the stored entries hold as many windows as were embedded.
    store = Store.of(experiment)
    windows = sum(store.get(unit.keys["mfcc"]).shape[1] for unit in units)
    assert embed_calls["windows"] == windows


def test_an_entry_another_run_holds_is_waited_for_not_recomputed(tmp_path):
    experiment = Experiment.from_config(config(tmp_path, workers=1, models=[{"type": "mfcc"}]))
    store = Store.of(experiment)
    units = extraction_units(experiment)
    held_key = units[1].keys["mfcc"]
    lock = store.lock(held_key)
    assert lock.acquire(blocking=False)
    sentinel = np.full((1, 1, 20), 7.0, dtype=np.float32)

    def other_run_finishes() -> None:
        store.put(held_key, sentinel)
        lock.release()

    timer = threading.Timer(1.0, other_run_finishes)
    timer.start()
    try:
        stats = extract(experiment)
    finally:
        timer.join()
    assert stats.computed == len(units) - 1
    assert np.array_equal(store.get(held_key), sentinel)


@pytest.mark.parametrize(
    ("samples", "starts"),
    [(30, [0, 10, 20]), (35, [0, 10, 20, 25]), (10, [0]), (7, [0])],
)
def test_windows_cover_every_sample_without_padding(samples, starts):
    from mir_ref.audio import windows

    audio = np.arange(samples, dtype=np.float32)
    cut = windows(audio, 10, window_s=1.0, hop_s=1.0)
    expected = [audio[start : start + 10] for start in starts]
    assert cut.shape == (len(starts), min(samples, 10))
    np.testing.assert_array_equal(cut, np.stack(expected))
    cut[...] = -1  # a model writing into its batch leaves the track alone
    np.testing.assert_array_equal(audio, np.arange(samples, dtype=np.float32))


def test_windows_overlap_with_a_shorter_hop():
    from mir_ref.audio import windows

    audio = np.arange(25, dtype=np.float32)
    cut = windows(audio, 10, window_s=1.0, hop_s=0.5)
    np.testing.assert_array_equal(cut[:, 0], [0, 5, 10, 15])


def test_a_tracks_conditions_follow_one_another_and_decode_once(tmp_path, monkeypatch):
    from mir_ref.datasets.base import Track

    experiment = Experiment.from_config(config(tmp_path, workers=1))
    units = extraction_units(experiment)
    tracks = [unit.track.id for unit in units]
    # Each track's units are contiguous: the track changes once per track.
    changes = sum(a != b for a, b in zip(tracks, tracks[1:], strict=False))
    assert changes == len(set(tracks)) - 1
    decoded = []
    original = Track.audio

    def counting(self, *args, **kwargs):
        decoded.append(self.id)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Track, "audio", counting)
    with single_threaded():
        extract(experiment)
    assert sorted(decoded) == sorted(set(tracks))


def test_model_calls_are_filled_across_tracks_and_never_exceed_the_batch(tmp_path, monkeypatch):
    from mir_ref.models.random_nets import RandomCnn

    sizes: list[int] = []
    original = RandomCnn.embed

    def recorded(self, batch):
        sizes.append(len(batch))
        return original(self, batch)

    monkeypatch.setattr(RandomCnn, "embed", recorded)
    model = {"type": "random_cnn", "depth": 1, "width": 8, "batch_size": 4}
    experiment = Experiment.from_config(config(tmp_path, workers=1, models=[model]))
    with single_threaded():
        extract(experiment)
    store = Store.of(experiment)
    windows = [store.get(unit.keys["random_cnn"]).shape[1] for unit in extraction_units(experiment)]
    assert max(windows) < 4  # each track alone would leave its calls part-empty
    assert sum(sizes) == sum(windows)
    assert sizes[:-1] == [4] * (len(sizes) - 1) and 1 <= sizes[-1] <= 4


class ThreadsSeen:
    """Records the torch thread count each ``embed`` call runs with (``python`` adapter)."""

    seen: list[int] = []
    sample_rate = 16000
    frame_hop_s = 0.1

    def embed(self, batch: np.ndarray) -> np.ndarray:
        import torch

        ThreadsSeen.seen.append(torch.get_num_threads())
        return np.zeros((1, len(batch), 1, 2), dtype=np.float32)


@pytest.mark.parametrize(("execution", "threads"), [({"workers": 1}, 1), ({"threads": 2}, 2)])
def test_execution_threads_reach_the_models(tmp_path, execution, threads):
    model = {"type": "python", "class": "tests.test_extract:ThreadsSeen", "name": "seen"}
    spec = {**config(tmp_path, workers=1, models=[model]), "execution": execution}
    experiment = Experiment.from_config(spec)
    assert experiment.extraction_parallelism() == (1, threads)
    # The adapter imports the class by its path, which may be another module object than
    # the one pytest collected.
    seen = importlib.import_module("tests.test_extract").ThreadsSeen.seen
    seen.clear()
    extract(experiment)
    assert set(seen) == {threads}


def test_parallelism_follows_the_model_kind_unless_the_config_says(tmp_path, monkeypatch):
    from mir_ref.models.handcrafted import Mfcc

    monkeypatch.setattr("os.cpu_count", lambda: 4)

    def resolved(**execution) -> tuple[int, int]:
        spec = config(tmp_path, workers=1, models=[{"type": "mfcc"}])
        return Experiment.from_config({**spec, "execution": execution}).extraction_parallelism()

    assert resolved() == (4, 1)  # hand-made features: one single-threaded process per core
    assert resolved(workers=3) == (3, 1)
    assert resolved(threads=2) == (2, 2)
    monkeypatch.setattr(Mfcc, "parallelism", "threads")
    assert resolved() == (1, 4)  # one process whose operations use every core
    assert resolved(workers=2) == (2, 2)
    assert resolved(workers=2, threads=1) == (2, 1)
