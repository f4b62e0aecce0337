"""The Ray backend on this machine: 2 workers vs 1, and its overhead against the local backend.

Runs the demo config (``--quick``: the demo with a smaller synthetic set) four ways, each on a
cold cache, one after the other in this process:

- local extraction, ``execution.workers: 2`` (the local streaming pipeline);
- Ray extraction with 2 workers and (``--scaling`` or ``--full``) with 1 worker, on a local
  Ray instance with this machine's cores (started once; its start-up time is printed apart);
- the training stage, local and on Ray (one task per dataset × task × model × layer), on the
  2-worker caches.

It prints the wall times, the ratios (Ray 1 worker / 2 workers; Ray / local, per stage and for
both stages) and whether the Ray run's predictions equal the local run's exactly.

Run: ``python benchmarks/ray_scaling.py`` (``--quick`` for a run of about a minute).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import ray
import yaml
from _corpus import smaller_demo

from mir_ref import progress, stages
from mir_ref.experiment import Experiment
from mir_ref.predictions import read_predictions

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yml"


def demo_config(folder: Path, *, quick: bool, backend: str, workers: int) -> dict:
    """The demo config with its own cache and output folder, on the given backend."""
    config = yaml.safe_load(DEMO.read_text())
    config["output_dir"] = str(folder / "run")
    config["cache_dir"] = str(folder / "cache")
    config["execution"] = {"backend": backend, "workers": workers}
    if quick:
        smaller_demo(config)
        config["probes"] = [{"type": "linear"}]
    return config


def timed(action, experiment: Experiment) -> float:
    start = time.perf_counter()
    action(experiment)
    return time.perf_counter() - start


def same_predictions(a: Experiment, b: Experiment) -> bool:
    """Whether two runs wrote the same predictions files with exactly equal scores."""
    files = sorted(p.relative_to(a.output_dir) for p in a.output_dir.rglob("*.npz"))
    if files != sorted(p.relative_to(b.output_dir) for p in b.output_dir.rglob("*.npz")):
        return False
    for name in files:
        (_, left), (_, right) = (
            read_predictions(a.output_dir / name),
            read_predictions(b.output_dir / name),
        )
        for x, y in zip(left, right, strict=True):
            if not np.array_equal(x["y_score"], y["y_score"]):
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    # The default is the smaller set: four runs of the full demo take ~8 min, past what
    # `make bench` may spend on one script.
    size.add_argument("--quick", action="store_true", help="a smaller synthetic set (default)")
    size.add_argument("--full", action="store_true", help="configs/demo.yml as is")
    parser.add_argument(
        "--scaling", action="store_true", help="also Ray with 1 worker (+~75 s; --full implies it)"
    )
    args = parser.parse_args()
    args.quick = not args.full
    args.scaling = args.scaling or args.full
    progress.set_enabled(False)
    logging.basicConfig(level=logging.WARNING)
    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="mir_ref_ray_bench_") as scratch:
        root = Path(scratch)

        def experiment(name: str, backend: str, workers: int) -> Experiment:
            config = demo_config(root / name, quick=args.quick, backend=backend, workers=workers)
            return Experiment.from_config(config)

        local = experiment("local", "local", 2)
        on_ray, on_ray_1 = experiment("ray2", "ray", 2), experiment("ray1", "ray", 1)
        times = {"local extract": timed(stages.extract, local)}
        start = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
        times["ray start"] = time.perf_counter() - start
        try:
            times["ray extract, 2 workers"] = timed(stages.extract, on_ray)
            if args.scaling:
                times["ray extract, 1 worker"] = timed(stages.extract, on_ray_1)
            times["local train"] = timed(stages.train, local)
            times["ray train"] = timed(stages.train, on_ray)
        finally:
            ray.shutdown()
        identical = same_predictions(local, on_ray)
    print(f"{'demo (quick)' if args.quick else 'demo'} on {cpus} cores")
    for name, seconds in times.items():
        print(f"  {name:<24} {seconds:7.1f} s")
    ray_2 = times["ray extract, 2 workers"]
    ratios = {}
    if args.scaling:
        ratios["extraction, Ray 1 worker / 2 workers"] = times["ray extract, 1 worker"] / ray_2
    ratios |= {
        "extraction, Ray 2 workers / local 2": ray_2 / times["local extract"],
        "training, Ray / local": times["ray train"] / times["local train"],
        "extract + train, Ray / local": (ray_2 + times["ray train"])
        / (times["local extract"] + times["local train"]),
    }
    for name, ratio in ratios.items():
        print(f"  {name:<40} {ratio:5.2f}x")
    print(f"  {'predictions identical to local':<40} {'yes' if identical else 'NO'}")


if __name__ == "__main__":
    main()
