"""Batched grid training vs the sequential loop: speed-up and equal results, in one run.

A 12-point grid (learning_rate × weight_decay × hidden) × 3 seeds of the ``mlp`` probe (and
the 6-point learning_rate × weight_decay grid of ``linear``) on synthetic embeddings: one
problem shaped like the demo's (300 tracks, 40 dimensions) and a larger one. "sequential" fits each
(setting, seed) alone (:meth:`mir_ref.probes.base.Probe.fit_grid`); "batched" trains every
(setting, seed) of one architecture as one stacked computation
(:meth:`mir_ref.probes.torch_probes.TorchProbe.fit_grid`). Both select on the validation main
metric; the script prints the times (wall clock, and this process's CPU time), their ratios,
the selected settings and the largest test metric difference.

Run: ``python benchmarks/grid_training.py`` (``--quick``: the demo-sized problem only;
``--probe mlp``: one probe only; ``--repeat 3``: the fastest of three alternating runs;
``--threads 1 2``: time both sides with each ``execution.train_threads``, check that results
do not change with it, and compare each side at its fastest).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mir_ref import metrics
from mir_ref.probes.base import Probe
from mir_ref.probes.selection import expand_grid, select
from mir_ref.probes.torch_probes import LinearProbe, MLPProbe, OneThread
from mir_ref.tasks import Task

GRID = {
    "learning_rate": [1e-3, 3e-3, 1e-2],
    "weight_decay": [0.0, 1e-3],
    "hidden": [[64], [256]],
}
SEEDS = [0, 1, 2]


def blobs(rng: np.random.Generator, n: int, dim: int, n_classes: int) -> tuple:
    """Overlapping Gaussian classes, ``[n, dim]`` float32 and ``[n]`` labels."""
    centres = rng.normal(scale=0.6, size=(n_classes, dim))
    labels = rng.integers(0, n_classes, n)
    return (centres[labels] + rng.normal(size=(n, dim))).astype(np.float32), labels


def run(probe: Probe, batched: bool, data: dict, task: Task, epochs: int, threads: int) -> tuple:
    settings = expand_grid(probe, GRID, {"learning_rate": 1e-3, "weight_decay": 0.0})
    fit_grid = probe.fit_grid if batched else lambda *a, **k: Probe.fit_grid(probe, *a, **k)
    # As in the training stage: one thread-count switch around everything, so that the
    # sequential loop does not pay a thread-pool rebuild (~20 ms) per fit. ``threads`` is
    # `execution.train_threads`: stacks (batched) or lone fits (sequential) run at once.
    with OneThread():
        start, start_cpu = time.perf_counter(), time.process_time()
        fitted = fit_grid(
            *data["train"],
            *data["validation"],
            task=task,
            settings=settings,
            seeds=SEEDS,
            epochs=epochs,
            patience=20,
            workers=threads,
        )
        seconds = time.perf_counter() - start, time.process_time() - start_cpu
    winner, _ = select(fitted, *data["validation"], task=task)
    x_test, y_test = data["test"]
    test = [metrics.accuracy(y_test, p.predict(x_test), task) for p in fitted[winner]]
    return seconds, settings[winner], np.array(test), len(settings)


def fastest(runs: list[tuple[tuple, tuple]]) -> tuple[tuple, tuple]:
    """Of repeated (sequential, batched) runs, each side with its least wall and CPU time."""
    sides = []
    for side in zip(*runs, strict=True):
        wall = min(r[0][0] for r in side)
        cpu = min(r[0][1] for r in side)
        sides.append(((wall, cpu), *side[0][1:]))
    return sides[0], sides[1]


PROBLEMS = {
    # name: (train items, embedding dim, classes); validation and test are half the train size
    "demo-sized": (300, 40, 12),
    "larger": (2000, 128, 10),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    # The larger problem adds ~2 min, past `make bench`'s budget with the other scripts.
    size.add_argument("--quick", action="store_true", help="the demo-sized problem (default)")
    size.add_argument("--full", action="store_true", help="the larger problem too")
    parser.add_argument(
        "--probe", choices=["mlp", "linear"], action="append", help="only these probes"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="time each side this many times, alternating, and keep the fastest (other jobs on "
        "a shared machine only ever slow a run down)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[1],
        help="execution.train_threads values to time (e.g. 1 2): stacks, or lone fits, trained "
        "at once in threads, one core each",
    )
    args = parser.parse_args()
    epochs = 200
    probes = [
        p
        for p in (MLPProbe(), LinearProbe())
        if not args.probe or p.label().split("-")[0] in args.probe
    ]
    for problem, (n, dim, n_classes) in PROBLEMS.items():
        if not args.full and problem != "demo-sized":
            continue
        task = Task("genre", "multiclass", classes=[f"c{k}" for k in range(n_classes)])
        rng = np.random.default_rng(0)
        x, y = blobs(rng, n * 2, dim, n_classes)
        data = {
            "train": (x[:n], y[:n]),
            "validation": (x[n : n * 3 // 2], y[n : n * 3 // 2]),
            "test": (x[n * 3 // 2 :], y[n * 3 // 2 :]),
        }
        print(
            f"{problem}: {n} train items, dim {dim}, {n_classes} classes, batch_size 256, up to "
            f"{epochs} epochs (patience 20), seeds {SEEDS}, one intra-op thread per stack or fit"
        )
        for probe in probes:
            best: dict[str, tuple] = {}
            for threads in args.threads:
                sequential, batched = fastest(
                    [
                        (
                            run(probe, False, data, task, epochs, threads),
                            run(probe, True, data, task, epochs, threads),
                        )
                        for _ in range(args.repeat)
                    ]
                )
                print(
                    f"  {probe.label():>8}: {sequential[3]}-point grid × {len(SEEDS)} seeds, "
                    f"train_threads {threads}: sequential {sequential[0][0]:.2f} s, batched "
                    f"{batched[0][0]:.2f} s, speed-up {sequential[0][0] / batched[0][0]:.1f}× "
                    f"(CPU time: {sequential[0][1]:.2f} s vs {batched[0][1]:.2f} s)"
                )
                same = "same" if sequential[1] == batched[1] else "DIFFERENT"
                print(
                    f"            {same} selection {batched[1]}; test accuracy per seed "
                    f"{np.round(batched[2], 4).tolist()}, max |batched - sequential| "
                    f"{np.abs(sequential[2] - batched[2]).max():.4f}"
                )
                for side, result in (("sequential", sequential), ("batched", batched)):
                    if side in best and not np.array_equal(result[2], best[side][0][2]):
                        print(f"            {side}: DIFFERENT test accuracy at {threads} threads")
                    if side not in best or result[0][0] < best[side][0][0][0]:
                        best[side] = (result, threads)
            if len(args.threads) > 1:
                (sequential, s_threads), (batched, b_threads) = best["sequential"], best["batched"]
                print(
                    f"            each at its fastest: sequential {sequential[0][0]:.2f} s "
                    f"({s_threads} threads), batched {batched[0][0]:.2f} s ({b_threads} threads), "
                    f"speed-up {sequential[0][0] / batched[0][0]:.1f}×"
                )


if __name__ == "__main__":
    main()
