"""Benchmark 3: a warm rerun of the demo config ÷ its cold run.

Runs ``mir_ref run -c <demo>`` twice as a user would (a fresh interpreter each time) with a
temporary cache and output folder: *cold* computes everything; *warm* finds every embedding,
every probe's predictions and the results in place, so it decodes no audio, builds no network,
trains no probe, evaluates nothing and redraws no plot. Both wall times include the
interpreter's start and imports. Checks that the warm run left results and cache unchanged.

    .venv/bin/python benchmarks/warm_rerun.py           # the demo, smaller dataset (make bench)
    .venv/bin/python benchmarks/warm_rerun.py --full    # configs/demo.yml as is (~3 min idle)
    .venv/bin/python benchmarks/warm_rerun.py --quick   # an even smaller dataset
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from _corpus import REPO, SMALLER_DEMO, Timer, load_average, smaller_demo

QUICK = {**SMALLER_DEMO, "mixtures": 12}


def run(config: Path) -> float:
    with Timer() as timer:
        subprocess.run(
            [sys.executable, "-m", "mir_ref", "run", "-c", str(config), "--quiet"],
            cwd=REPO,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return timer.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="configs/demo.yml as is")
    size.add_argument("--quick", action="store_true", help="a smaller dataset")
    args = parser.parse_args()
    name = "full" if args.full else "quick" if args.quick else "default"

    config = yaml.safe_load((REPO / "configs" / "demo.yml").read_text())
    if not args.full:  # the ratio the target is judged on is the demo's, with --full
        smaller_demo(config, QUICK if args.quick else None)
    print(f"load average before: {load_average()}")
    print(
        f"demo config, dataset size '{name}': {config['datasets'][0]}, models "
        f"{[m.get('name', m['type']) for m in config['models']]}, deformations "
        f"{[d['type'] for d in config['deformations']]}"
    )
    with tempfile.TemporaryDirectory(prefix="mir_ref_bench_") as temporary:
        root = Path(temporary)
        config["output_dir"] = str(root / "run")
        config["cache_dir"] = str(root / "cache")
        path = root / "demo.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        cold_s = run(path)
        results = (root / "run" / "results.csv").read_bytes()
        entries = sorted(p.name for p in (root / "cache").rglob("*.npy"))
        warm_s = run(path)
        unchanged = (root / "run" / "results.csv").read_bytes() == results and entries == sorted(
            p.name for p in (root / "cache").rglob("*.npy")
        )
    print()
    print("| cold run | warm rerun | **warm ÷ cold** | results and cache unchanged |")
    print("| --- | --- | --- | --- |")
    print(f"| {cold_s:.1f} s | {warm_s:.1f} s | **{warm_s / cold_s:.3f}** | {unchanged} |")
    print(f"\nload average after: {load_average()}")
    print("target: ≤ 0.05")


if __name__ == "__main__":
    main()
