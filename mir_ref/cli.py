"""Command-line interface: parses arguments and calls the stages; nothing else lives here."""

from __future__ import annotations

import enum
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from mir_ref import progress, registry
from mir_ref.errors import MirRefError

app = typer.Typer(
    help="Evaluate audio representations on music information retrieval tasks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The experiment's YAML config.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or info logs.")]


class Backend(str, enum.Enum):
    """The values of ``--backend`` (those of the config's ``execution.backend``)."""

    local = "local"
    ray = "ray"


BackendOption = Annotated[
    Backend | None,
    typer.Option(help="Where the work runs (overrides the config's execution.backend)."),
]


def _setup(quiet: bool) -> None:
    progress.set_enabled(not quiet)
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
        force=True,
    )


def _stage(
    config: Path, quiet: bool, action: Callable[[Any], Any], *, backend: Backend | None = None
) -> Any:
    """Resolve the config and run ``action(experiment)``, turning our errors into exit codes."""
    from mir_ref.config import Experiment

    _setup(quiet)
    try:
        from mir_ref.legacy import experiment_configs

        outputs = []
        # An original mir_ref config may hold several experiments: each runs in turn.
        for source in experiment_configs(config):
            experiment = Experiment.from_config(source)
            if backend is not None:
                experiment.config.execution.backend = Backend(backend).value
            outputs.append(action(experiment))
        return outputs[0] if len(outputs) == 1 else outputs
    except MirRefError as error:
        console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        # Extraction workers would finish their batch first: stop them now (what they were
        # writing is atomic, so nothing half-written is left).
        import multiprocessing

        for child in multiprocessing.active_children():
            child.terminate()
        console.print(
            f"[yellow]interrupted.[/] Finished work is kept; rerun the same command "
            f"(-c {config}) to resume."
        )
        raise typer.Exit(130) from None


@app.command()
def run(config: ConfigOption, quiet: QuietOption = False, backend: BackendOption = None) -> None:
    """Run every stage: validate, extract, train, evaluate, report."""
    from mir_ref import stages

    results = _stage(config, quiet, stages.run_all, backend=backend)
    if not quiet:
        rows = sum(map(len, results)) if isinstance(results, list) else len(results)
        console.print(f"{rows} result rows")


@app.command()
def deform(
    config: ConfigOption,
    quiet: QuietOption = False,
    examples: Annotated[int, typer.Option(help="Test tracks written per condition.")] = 2,
) -> None:
    """Write deformed audio of a few test tracks per condition as WAV files, to listen to."""
    from mir_ref import stages

    _stage(config, quiet, lambda experiment: stages.deform(experiment, examples=examples))


@app.command()
def extract(
    config: ConfigOption, quiet: QuietOption = False, backend: BackendOption = None
) -> None:
    """Compute and cache the embeddings the config needs (skips what is cached)."""
    from mir_ref import stages

    def action(experiment: Any) -> None:
        stages.ensure_valid(experiment)
        stages.write_provenance(experiment)
        stages.extract(experiment)

    _stage(config, quiet, action, backend=backend)


@app.command()
def train(config: ConfigOption, quiet: QuietOption = False, backend: BackendOption = None) -> None:
    """Train the probes on cached embeddings and store their test predictions."""
    from mir_ref import stages

    _stage(config, quiet, stages.train, backend=backend)


@app.command()
def evaluate(config: ConfigOption, quiet: QuietOption = False) -> None:
    """Score stored predictions into results.csv and results.parquet."""
    from mir_ref import stages

    _stage(config, quiet, stages.evaluate)


@app.command()
def compare(
    config: ConfigOption,
    metric: Annotated[
        str | None, typer.Option(help="Metric to compare; default each task's main metric.")
    ] = None,
    deformation: Annotated[
        str, typer.Option(help="Audio condition compared: none (clean), a deformation, or all.")
    ] = "none",
    alpha: Annotated[float, typer.Option(help="Family-wise error rate (Holm).")] = 0.05,
    quiet: QuietOption = False,
) -> None:
    """Paired bootstrap tests between every two models; writes comparisons.csv."""
    from rich.table import Table

    from mir_ref.compare import compare_models

    table = _stage(
        config,
        quiet,
        lambda experiment: compare_models(
            experiment, metric=metric, deformation=deformation, alpha=alpha
        ),
    )
    if isinstance(table, list):  # an original mir_ref config with several experiments
        import pandas as pd

        table = pd.concat(table, ignore_index=True)
    out = Table(title=f"paired comparisons (Holm-corrected, alpha={alpha:g})")
    for column in ("task", "deformation", "probe", "metric", "model a", "model b", "a − b"):
        out.add_column(column)
    out.add_column("p (Holm)", justify="right")
    out.add_column("significant")
    for row in table.itertuples():
        strength = "" if row.strength != row.strength else f"@{row.strength:g}"  # NaN: clean
        condition = f"{row.deformation}{strength}"
        out.add_row(
            f"{row.dataset}/{row.task}",
            condition,
            f"{row.probe} ({row.train_fraction:g})" if row.train_fraction != 1 else row.probe,
            row.metric,
            row.model_a,
            row.model_b,
            f"{row.difference:+.3f}",
            f"{row.p_holm:.3g}",
            "[green]yes[/]" if row.significant else "no",
        )
    Console().print(out)
    if not quiet:
        console.print(f"{int(table['significant'].sum())} of {len(table)} differences significant")


@app.command()
def report(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="The experiment's YAML config.")
    ] = None,
    run: Annotated[
        Path | None,
        typer.Option("--run", help="A run's output folder, instead of a config (no cache needed)."),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Write plots and the HTML report from stored results; with a config, first the views
    of the embeddings (drift, similarity, maps) from the cache."""
    from mir_ref import stages

    if (config is None) == (run is None):
        console.print("[red]error:[/] give either --config/-c or --run")
        raise typer.Exit(2)
    if config is not None:
        _stage(config, quiet, stages.report)
        return
    from mir_ref.report.build import write_report

    _setup(quiet)
    try:
        index = write_report(run)
    except MirRefError as error:
        console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if not quiet:
        console.print(f"report: {index}")


@app.command()
def validate(config: ConfigOption, quiet: QuietOption = False) -> None:
    """Check the config and every file it references, without heavy work."""
    from mir_ref import stages

    def action(experiment: Any) -> None:
        problems = stages.validate(experiment)
        for problem in problems:
            console.print(f"[red]-[/] {escape(problem)}", highlight=False, soft_wrap=True)
        if problems:
            console.print(f"[bold red]{len(problems)} problem(s)[/]")
            raise typer.Exit(1)
        tracks = sum(len(d.tracks()) for d in experiment.datasets)
        console.print(
            f"[green]ok[/]: {len(experiment.datasets)} dataset(s), {tracks} tracks, "
            f"{len(experiment.conditions)} condition(s), {len(experiment.models)} model(s), "
            f"{len(experiment.probes)} probe(s)"
        )

    _stage(config, quiet, action)


@app.command()
def convert(
    source: Annotated[Path, typer.Argument(help="A config in the original mir_ref's format.")],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="The new config (.yml), or a folder for one file per part."
        ),
    ],
) -> None:
    """Write an original mir_ref config in this format, with comments on what changed."""
    from mir_ref.legacy import write_converted

    _setup(True)
    try:
        written = write_converted(source, output)
    except MirRefError as error:
        _fail(error)
    for path in written:
        console.print(f"wrote {escape(str(path))}", highlight=False)


@app.command("list")
def list_components(
    kind: Annotated[str | None, typer.Argument(help="Only this kind, e.g. models.")] = None,
) -> None:
    """List the registered datasets, task types, deformations, models, probes and metrics."""
    from mir_ref.tasks import TASK_TYPES

    kinds = ["datasets", "tasks", "deformations", "models", "probes", "metrics"]
    if kind is not None and kind not in kinds:
        console.print(f"[red]error:[/] '{kind}' is not one of {', '.join(kinds)}")
        raise typer.Exit(2)
    out = Console()
    for name in kinds if kind is None else [kind]:
        out.print(f"[bold]{'task types' if name == 'tasks' else name}[/]")
        entries = (
            TASK_TYPES
            if name == "tasks"
            else {key: registry.describe(value) for key, value in registry.available(name).items()}
        )
        for key, description in entries.items():
            out.print(f"  {key:<20} {description}", highlight=False, soft_wrap=True)


datasets_app = typer.Typer(help="Get and inspect the benchmark datasets.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")


def _fail(error: MirRefError) -> None:
    console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@datasets_app.command("download")
def datasets_download(
    name: Annotated[str, typer.Argument(help="The dataset, e.g. gtzan_genre.")],
    to: Annotated[Path, typer.Option("--to", help="The folder to download and unpack into.")],
    quiet: QuietOption = False,
) -> None:
    """Download a public dataset, verify its checksums and unpack it (or say how to get it)."""
    from mir_ref.datasets.remote import download

    _setup(quiet)
    try:
        cls = registry.lookup("datasets", name, where="NAME")
        hint = getattr(cls, "download_hint", "") or "it is not a downloadable corpus"
        download(name, list(getattr(cls, "remotes", [])), to, manual=hint)
    except MirRefError as error:
        _fail(error)
    console.print(f"[green]ok[/]: {name} is in {to}; point a config's `path` at it")


@datasets_app.command("info")
def datasets_info(
    name: Annotated[str, typer.Argument(help="The dataset, e.g. gtzan_genre.")],
    folder: Annotated[Path, typer.Argument(help="Its folder (the config's `path`).")],
    option: Annotated[
        list[str] | None,
        typer.Option("--set", help="Another parameter, as key=value (YAML value)."),
    ] = None,
) -> None:
    """Tracks per split, class balance, total duration, and missing or corrupt files."""
    import yaml

    from mir_ref.datasets.inventory import take_inventory

    _setup(True)
    spec: dict[str, Any] = {"type": name, "path": folder.resolve()}
    for item in option or []:
        key, separator, value = item.partition("=")
        if not separator:
            _fail(MirRefError(f"--set {item}: expected key=value"))
        spec[key.strip()] = yaml.safe_load(value)
    try:
        dataset = registry.build("datasets", spec, where=name)
        dataset.name = name
        inventory = take_inventory(dataset)
    except MirRefError as error:
        _fail(error)
    for line in inventory.lines():
        Console().print(line, highlight=False, soft_wrap=True, markup=False)
    if inventory.problems:
        raise typer.Exit(1)


cache_app = typer.Typer(help="Inspect, check and clean the embedding cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")

CacheDirOption = Annotated[
    Path | None,
    typer.Option("--cache", help="The cache folder (default: the config's cache_dir)."),
]
CacheConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Use this config's cache_dir.")
]


def _cache_root(cache: Path | None, config: Path | None) -> Path:
    """The cache folder from --cache, else from the config, else $MIR_REF_CACHE or ~/.cache."""
    from mir_ref.config import load_config, resolve_cache_dir

    if cache is not None:
        return cache.resolve()
    loaded = None
    if config is not None:
        try:
            loaded = load_config(config)
        except MirRefError as error:
            _fail(error)
    return resolve_cache_dir(loaded)


@cache_app.command("info")
def cache_info(cache: CacheDirOption = None, config: CacheConfigOption = None) -> None:
    """Entries and size on disk, in total and per model, dataset, condition and dtype."""
    from rich.table import Table

    from mir_ref.cache_admin import cache_info, human_bytes

    info = cache_info(_cache_root(cache, config))
    out = Console()
    out.print(
        f"cache {info.root}: {info.entries} entries, {human_bytes(info.size_bytes)}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    if info.groups:
        table = Table()
        for column in ("model", "dataset", "condition", "dtype", "entries", "size"):
            table.add_column(column, justify="right" if column in ("entries", "size") else "left")
        for group in info.groups:
            table.add_row(
                *(escape(value) for value in (group.model, group.dataset, group.condition)),
                group.dtype,
                str(group.entries),
                human_bytes(group.size_bytes),
            )
        out.print(table)


@cache_app.command("verify")
def cache_verify(
    cache: CacheDirOption = None,
    config: CacheConfigOption = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="Delete damaged entries; the next run recomputes.")
    ] = False,
) -> None:
    """Check every entry against its checksum (exit 1 if any is damaged, unless repaired)."""
    from mir_ref.store import Store

    _setup(False)
    root = _cache_root(cache, config)
    problems = Store(root).verify(repair=repair)
    for problem in problems:
        console.print(f"[red]-[/] {escape(problem)}", highlight=False, soft_wrap=True)
    if problems and not repair:
        console.print(
            f"[bold red]{len(problems)} damaged entr{'y' if len(problems) == 1 else 'ies'}[/]; "
            "`mir_ref cache verify --repair` deletes them so the next run recomputes them"
        )
        raise typer.Exit(1)
    state = f"{len(problems)} damaged entries removed" if problems else "every entry is sound"
    console.print(f"[green]ok[/]: {escape(str(root))}: {state}", highlight=False)


@cache_app.command("pack")
def cache_pack(cache: CacheDirOption = None, config: CacheConfigOption = None) -> None:
    """Move small entries into shards: training reads them several times faster."""
    from mir_ref.store import Store

    _setup(True)
    try:
        count = Store(_cache_root(cache, config)).pack()
    except MirRefError as error:
        _fail(error)
    console.print(f"packed {count} entries", highlight=False)


@cache_app.command("prune")
def cache_prune(
    cache: CacheDirOption = None,
    older_than: Annotated[
        float | None, typer.Option("--older-than", help="Entries written over DAYS days ago.")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Entries of this model.")] = None,
    keep_config: Annotated[
        Path | None,
        typer.Option("--keep-config", help="Delete every entry this config does not need."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would go.")] = False,
) -> None:
    """Delete the entries matching every option given (at least one)."""
    from mir_ref.cache_admin import human_bytes, needed_entries, prune
    from mir_ref.config import Experiment

    _setup(True)
    try:
        keep = None
        if keep_config is not None:
            experiment = Experiment.from_config(keep_config)
            keep = needed_entries(experiment)
            cache = cache or experiment.cache_dir
        result = prune(
            _cache_root(cache, None),
            older_than_days=older_than,
            model=model,
            keep=keep,
            dry_run=dry_run,
        )
    except MirRefError as error:
        _fail(error)
    verb = "would remove" if dry_run else "removed"
    console.print(
        f"{verb} {len(result.removed)} entries ({human_bytes(result.size_bytes)})"
        + (f"; {result.in_use} in use by a running process were kept" if result.in_use else ""),
        highlight=False,
    )


def main() -> None:
    """Entry point of the ``mir_ref`` command."""
    try:
        app(prog_name="mir_ref")
    except SystemExit as done:
        if done.code != 130:
            raise
        # Interrupted: everything is saved, and a normal interpreter shutdown (joining pool
        # threads, collecting torch) can take seconds; Ctrl-C should stop at once. Only
        # multiprocessing's own exit handler runs, so its semaphores are released.
        import multiprocessing.util

        multiprocessing.util._exit_function()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)


if __name__ == "__main__":
    sys.exit(main())
