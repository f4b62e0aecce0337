"""Issue 21: what the embedding views cost, as warm ``mir_ref report -c`` with them ÷ without.

With the views (the config's default ``report`` section), ``mir_ref report -c`` first reads
every model's test embeddings from the cache under every condition and writes drift.csv
(drift under each deformation), similarity.csv (linear CKA between every (model, layer)) and
maps.csv (PCA maps), then draws the page with their figures. Without them (``report: {drift:
false, similarity: false, maps: []}``) it draws the page alone. Both are timed as a user runs
them (a fresh interpreter each time, imports included), alternating, after one ``mir_ref run``
has filled the cache and the run folder (warm). The learned layer weights' figure is drawn on
both sides (it plots training output, not an analysis). Wall time and CPU time (user +
system of the child process) are both reported: on a machine shared with other jobs the CPU
time varies much less than the wall time.

    .venv/bin/python benchmarks/embedding_views.py           # a smaller demo (make bench)
    .venv/bin/python benchmarks/embedding_views.py --full    # configs/demo.yml as is, in place
    .venv/bin/python benchmarks/embedding_views.py --repeat 5
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from _corpus import REPO, Timer, load_average, smaller_demo

NO_VIEWS = {"drift": False, "similarity": False, "maps": []}


def cpu_seconds() -> float:
    """User + system time of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def mir_ref(command: str, config: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``mir_ref <command> -c <config>`` in a fresh interpreter."""
    cpu = cpu_seconds()
    with Timer() as timer:
        subprocess.run(
            [sys.executable, "-m", "mir_ref", command, "-c", str(config), "--quiet"],
            cwd=REPO,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return timer.seconds, cpu_seconds() - cpu


def write(config: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="configs/demo.yml as is, in place")
    parser.add_argument("--repeat", type=int, default=1, help="timings of each side")
    args = parser.parse_args()

    demo = REPO / "configs" / "demo.yml"
    config = yaml.safe_load(demo.read_text())
    print(f"load average before: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="mir_ref_bench_") as temporary:
        root = Path(temporary)
        if args.full:
            # The demo's own run folder and cache, as absolute paths for the copies.
            for key in ("output_dir", "cache_dir"):
                config[key] = str((demo.parent / config[key]).resolve())
        else:
            smaller_demo(config)
            config["output_dir"] = str(root / "run")
            config["cache_dir"] = str(root / "cache")
        with_views = write(config, root / "with_views.yml")
        without = write({**config, "report": NO_VIEWS}, root / "without_views.yml")
        size = "configs/demo.yml" if args.full else "smaller demo, hand-made features"
        print(f"mir_ref run ({size}) ...")
        print(f"  {mir_ref('run', with_views)[0]:.1f} s")
        sides = ("without views", "with views")
        timings: dict[tuple[str, str], list[float]] = {}
        for repeat in range(args.repeat):
            for name, path in zip(sides, (without, with_views), strict=True):
                wall, cpu = mir_ref("report", path)
                timings.setdefault((name, "wall"), []).append(wall)
                timings.setdefault((name, "CPU"), []).append(cpu)
                print(f"  report {name}, {repeat + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU")
        print(f"load average after: {load_average()}")
    for clock in ("wall", "CPU"):
        for summary in (statistics.median, min):
            with_, without_ = (summary(timings[name, clock]) for name in reversed(sides))
            ratio = with_ / without_
            print(
                f"{clock} time, {summary.__name__}: with {with_:.2f} s, without {without_:.2f} s,"
                f" with ÷ without {ratio:.3f} (+{100 * (ratio - 1):.1f} %)"
            )
        # Each run with the views against the run without them just before it: the load of
        # a shared machine drifts over minutes, less between neighbours.
        pairs = zip(timings["with views", clock], timings["without views", clock], strict=True)
        ratio = statistics.median(with_ / without_ for with_, without_ in pairs)
        print(f"{clock} time, median of paired ratios: {ratio:.3f} (+{100 * (ratio - 1):.1f} %)")


if __name__ == "__main__":
    main()
