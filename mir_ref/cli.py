"""Command-line interface: parses arguments and calls the stages; nothing else lives here.

Ctrl-C and SIGTERM stop a command the same way wherever they land (in a stage, in an import,
while the command line itself loads): finished work is kept, the resume hint is printed, and
the exit code is 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.util
import os
import shlex
import signal
import sys

_INTERRUPTION: dict[str, int | bool | None] = {"signal": None, "hint_shown": False}
"""The signal that stopped this command, and whether the resume hint is printed already."""


def _resume_hint() -> str:
    command = shlex.join(["mir_ref", *sys.argv[1:]])
    return f"interrupted. Finished work is kept; rerun the same command ({command}) to resume."


def _stop_now() -> None:
    """Exit at once after an interruption: the hint (once), no interpreter shutdown."""
    for child in multiprocessing.active_children():
        child.terminate()
    if not _INTERRUPTION["hint_shown"]:
        sys.stderr.write(_resume_hint() + "\n")
    # Everything is saved, and a normal interpreter shutdown (joining pool threads, collecting
    # torch, or importing it again after an interrupted import, which crashes) can take
    # seconds; only multiprocessing's own exit handler runs, so its semaphores are released.
    multiprocessing.util._exit_function()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(128 + int(_INTERRUPTION["signal"] or signal.SIGINT))


try:  # Ctrl-C while the command line's own libraries load is an interruption like any other
    import enum
    from collections.abc import Callable
    from pathlib import Path
    from typing import Annotated, Any

    import typer
    import yaml
    from rich.console import Console
    from rich.logging import RichHandler
    from rich.markup import escape
    from rich.table import Table

    from mir_ref import progress, registry
    from mir_ref.atomic import atomic_write
    from mir_ref.config import resolve_cache_dir, resolve_output_dir
    from mir_ref.errors import MirRefError
except KeyboardInterrupt:
    if os.path.basename(sys.argv[0]) not in ("mir_ref", "__main__.py"):
        raise  # imported by a program of its own, which handles its Ctrl-C
    _stop_now()

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
    # Deferred: loads pandas, which many runs never need.
    from mir_ref.experiment import Experiment

    _setup(quiet)
    try:
        # Deferred: loads numpy, which many commands never need.
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
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM under `main`
        # Extraction workers would finish their batch first: stop them now (what they were
        # writing is atomic, so nothing half-written is left).

        for child in multiprocessing.active_children():
            child.terminate()
        console.print(
            f"[yellow]interrupted.[/] Finished work is kept; rerun the same command "
            f"(-c {config}) to resume."
        )
        _INTERRUPTION["hint_shown"] = True
        raise typer.Exit(130) from None


@app.command()
def run(config: ConfigOption, quiet: QuietOption = False, backend: BackendOption = None) -> None:
    """Run every stage: validate, extract, train, evaluate, report."""
    # Deferred: loads pandas, which many runs never need.
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
    # Deferred: loads pandas, which many runs never need.
    from mir_ref import stages

    _stage(config, quiet, lambda experiment: stages.deform(experiment, examples=examples))


@app.command()
def extract(
    config: ConfigOption, quiet: QuietOption = False, backend: BackendOption = None
) -> None:
    """Compute and cache the embeddings the config needs (skips what is cached)."""
    # Deferred: loads pandas, which many runs never need.
    from mir_ref import stages

    def action(experiment: Any) -> None:
        stages.ensure_valid(experiment)
        stages.write_provenance(experiment)
        stages.extract(experiment)

    _stage(config, quiet, action, backend=backend)


@app.command()
def train(config: ConfigOption, quiet: QuietOption = False, backend: BackendOption = None) -> None:
    """Train the probes on cached embeddings and store their test predictions."""
    # Deferred: loads pandas, which many runs never need.
    from mir_ref import stages

    _stage(config, quiet, stages.train, backend=backend)


@app.command()
def evaluate(config: ConfigOption, quiet: QuietOption = False) -> None:
    """Score stored predictions into results.csv and results.parquet."""
    # Deferred: loads pandas, which many runs never need.
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
    """Paired bootstrap tests between every two models; writes comparisons.csv and ranks.csv."""
    # Deferred: loads pandas, which many runs never need.
    import pandas as pd

    # Deferred: loads pandas, which many runs never need.
    from mir_ref.compare import compare_models, rank_models
    from mir_ref.experiment import Experiment

    def compare_and_rank(experiment: Experiment) -> pd.DataFrame:
        rank_models(experiment, alpha=alpha)
        return compare_models(experiment, metric=metric, deformation=deformation, alpha=alpha)

    table = _stage(config, quiet, compare_and_rank)
    if isinstance(table, list):  # an original mir_ref config with several experiments
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
            "–" if pd.isna(row.p_holm) else f"{row.p_holm:.3g}",
            "–" if pd.isna(row.significant) else "[green]yes[/]" if row.significant else "no",
        )
    Console().print(out)
    if not quiet and len(table) and table["p_value"].isna().all():
        console.print("no p-values: protocol.n_bootstrap is 0")
    elif not quiet:
        console.print(f"{int(table['significant'].sum())} of {len(table)} differences significant")


OptionalConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="The experiment's YAML config.")
]
RunsOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--run",
        help="A run's output folder, instead of a config (no cache needed); several: merged "
        "into one comparison.",
    ),
]
MergedOption = Annotated[
    Path | None,
    typer.Option(
        "--merged", help="Where several --run are merged (default: <parent>/<run>+<run>)."
    ),
]


def _run_folder(config: Path | None, runs: list[Path] | None, merged: Path | None) -> Path:
    """The run folder to read: the config's output folder, the one --run, or several --run
    merged (:mod:`mir_ref.merge`)."""
    if (config is None) == (not runs):
        console.print("[red]error:[/] give either --config/-c or --run")
        raise typer.Exit(2)
    try:
        if config is not None:
            # Deferred: loads pandas, which many runs never need.
            from mir_ref.experiment import load_config

            return resolve_output_dir(load_config(config))
        if len(runs) == 1:
            return runs[0]
        # Deferred: loads pandas, which many runs never need.
        from mir_ref.merge import default_output, merge_runs

        folder = merge_runs(runs, merged or default_output(runs))
    except MirRefError as error:
        _fail(error)
    console.print(f"merged {len(runs)} runs into {escape(str(folder))}", highlight=False)
    return folder


@app.command()
def report(
    config: OptionalConfigOption = None,
    run: RunsOption = None,
    merged: MergedOption = None,
    quiet: QuietOption = False,
) -> None:
    """Write plots and the HTML report from stored results (of one run, or several merged);
    with a config, first the views of the embeddings (drift, similarity, maps) from the cache."""
    # Deferred: loads pandas, which many runs never need.
    from mir_ref import stages

    if config is not None and not run:
        _stage(config, quiet, stages.report)
        return
    # Deferred: loads sklearn and matplotlib, which many runs never need.
    from mir_ref.report.build import write_report

    _setup(quiet)
    folder = _run_folder(config, run, merged)
    try:
        index = write_report(folder)
    except MirRefError as error:
        _fail(error)
    if not quiet:
        console.print(f"report: {index}")


class ExportFormat(str, enum.Enum):
    """The values of ``export --format``."""

    latex = "latex"
    markdown = "markdown"
    csv = "csv"


class ExportTable(str, enum.Enum):
    """The values of ``export --table``."""

    main = "main"
    robustness = "robustness"


class Spread(str, enum.Enum):
    """The values of ``export --spread``."""

    ci = "ci"
    std = "std"


@app.command()
def export(
    config: OptionalConfigOption = None,
    run: RunsOption = None,
    merged: MergedOption = None,
    format: Annotated[  # noqa: A002 - the option's name
        ExportFormat, typer.Option("--format", "-f", help="latex (booktabs), markdown or csv.")
    ] = ExportFormat.latex,
    table: Annotated[
        ExportTable, typer.Option(help="main (model x task) or robustness.")
    ] = ExportTable.main,
    metric: Annotated[
        str | None, typer.Option(help="Metric shown; default each task's main metric.")
    ] = None,
    deformation: Annotated[
        str, typer.Option(help="main table: the condition, none (clean) or a deformation.")
    ] = "none",
    strength: Annotated[
        float | None, typer.Option(help="The deformation's strength, when it has several.")
    ] = None,
    spread: Annotated[
        Spread, typer.Option(help="ci: 95% interval of the mean; std: ± std over seeds.")
    ] = Spread.ci,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="The file to write (default <run>/tables/<table>.<ext>); - for stdout.",
        ),
    ] = None,
) -> None:
    """Write a paper-ready table of a run (or of several runs, merged) as LaTeX, Markdown or CSV."""
    # Deferred: loads matplotlib and pandas, which many runs never need.
    from mir_ref.export import export_table
    from mir_ref.table_formats import FORMATS, render

    _setup(True)
    folder = _run_folder(config, run, merged)
    try:
        built = export_table(
            folder,
            table=table.value,
            metric=metric,
            deformation=deformation,
            strength=strength,
            spread=spread.value,
        )
        text = render(built, format.value)
    except MirRefError as error:
        _fail(error)
    if str(output) == "-":
        sys.stdout.write(text)
        return
    path = output or folder / "tables" / f"{table.value}.{FORMATS[format.value]}"
    atomic_write(path, lambda file: file.write(text.encode()), durable=False)
    console.print(f"wrote {escape(str(path))}", highlight=False)


@app.command()
def reproduce(
    run: Annotated[Path, typer.Argument(help="The run folder to re-run.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="The new run's folder (default: <run>-again)."),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(help="Embedding cache (default: a new one inside the new run's folder)."),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Re-run a run folder from its config and provenance; warn on every input that differs
    and end with a diff of the two results (exit 1 when they differ)."""
    # Deferred: loads pandas, which many runs never need.
    from mir_ref.reproduce import reproduce as reproduce_run

    _setup(quiet)
    try:
        found = reproduce_run(run, output_dir=output, cache_dir=cache)
    except MirRefError as error:
        _fail(error)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted.[/] Finished work is kept; rerun to resume.")
        raise typer.Exit(130) from None
    for name, rows in found.changed_tracks.items():
        # Only the columns that changed somewhere, recorded value beside the new one.
        shown = ["track"] + [
            column
            for before in rows.columns[1::2]
            if not rows[before].equals(rows[(after := before[: -len("_before")] + "_after")])
            for column in (before, after)
        ]
        _print_frame(f"changed tracks of {name} (recorded → now)", rows[shown])
    _print_diff(found.diff)


@app.command()
def diff(
    a: Annotated[Path, typer.Argument(help="A run folder.")],
    b: Annotated[Path, typer.Argument(help="Another run folder.")],
) -> None:
    """Compare two runs' results.csv side by side (and their recorded inputs); exit 1 when the
    results differ."""
    # Deferred: loads pandas, which many runs never need.
    from mir_ref import provenance
    from mir_ref.reproduce import diff_results

    _setup(True)
    try:
        found = diff_results(a, b)
        records = provenance.read(a), provenance.read(b)
    except MirRefError as error:
        _fail(error)
    if all(record is not None for record in records):
        for difference in provenance.differences(*records):
            console.print(f"[yellow]inputs differ:[/] {escape(difference)}", highlight=False)
    _print_diff(found)


_SHOWN_ROWS = 40


def _print_frame(title: str, frame: Any) -> None:

    out = Table(title=title)
    for column in frame.columns:
        out.add_column(str(column))
    for row in frame.head(_SHOWN_ROWS).itertuples(index=False):
        out.add_row(*(escape(_shown(value)) for value in row))
    Console().print(out)
    if len(frame) > _SHOWN_ROWS:
        Console().print(f"... and {len(frame) - _SHOWN_ROWS} more rows")


def _shown(value: Any) -> str:
    if value is None or value != value:  # NaN
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _print_diff(found: Any) -> None:
    """The side-by-side diff of two results tables, then its one-line summary (exit 1 when
    they differ)."""
    if found.identical:
        Console().print(found.summary(), highlight=False, soft_wrap=True)
        return
    # Deferred: loads pandas, which many runs never need.
    from mir_ref.results import KEY_COLUMNS

    def varying(frame: Any) -> list[str]:
        """The key columns worth showing: those that vary, and always model, seed, metric."""
        return [
            column
            for column in KEY_COLUMNS
            if column in ("model", "seed", "metric") or frame[column].astype(str).nunique() > 1
        ]

    changed = found.changed
    if not changed.empty:
        side = changed[[*varying(changed), "value_a", "value_b", "difference"]].rename(
            columns={"value_a": f"a ({found.a.name})", "value_b": f"b ({found.b.name})"}
        )
        _print_frame("rows whose values differ", side)
    for name, rows in ((found.a, found.only_a), (found.b, found.only_b)):
        if not rows.empty:
            _print_frame(f"rows only in {name}", rows[[*varying(rows), "value"]])
    Console().print(found.summary(), highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@app.command()
def validate(
    config: ConfigOption,
    quiet: QuietOption = False,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep",
            help="Also decode every audio file in full, in parallel: lists NaN or infinite "
            "samples, silent and undecodable tracks.",
        ),
    ] = False,
) -> None:
    """Check the config and every file it references, without heavy work."""
    # Deferred: loads pandas, which many runs never need.
    from mir_ref import stages

    def action(experiment: Any) -> None:
        problems = stages.validate(experiment, deep=deep)
        for problem in problems:
            console.print(f"[red]-[/] {escape(problem)}", highlight=False, soft_wrap=True)
        if problems:
            console.print(f"[bold red]{len(problems)} problem(s)[/]")
            raise typer.Exit(2)  # as `run` exits on the same problems
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
    # Deferred: loads numpy, which many commands never need.
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
    # Deferred: loads numpy, which many commands never need.
    from mir_ref.tasks import TASK_TYPES

    kinds = ["datasets", "tasks", "deformations", "models", "probes", "metrics"]
    if kind is not None and kind not in kinds:
        console.print(f"[red]error:[/] '{kind}' is not one of {', '.join(kinds)}")
        raise typer.Exit(2)
    out = Console()
    for name in kinds if kind is None else [kind]:
        out.print(f"[bold]{'task types' if name == 'tasks' else name}[/]")
        entries = (
            {key: task_type.description for key, task_type in TASK_TYPES.items()}
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
    # Deferred: loads numpy, which many commands never need.
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
    # Deferred: loads numpy, which many commands never need.
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
    # Deferred: loads pandas, which many runs never need.
    from mir_ref.experiment import load_config

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

    # Deferred: loads pandas, which many runs never need.
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
    # Deferred: loads numpy, which many commands never need.
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
    # Deferred: loads numpy, which many commands never need.
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
    # Deferred: loads pandas, which many runs never need.
    from mir_ref.cache_admin import human_bytes, needed_entries, prune
    from mir_ref.experiment import Experiment

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
    if result.unavailable:
        tracks = {
            (str(meta.get("dataset")), str(meta.get("track")))
            for meta in ((entry.record().get("meta") or {}) for entry in result.unavailable)
        }
        dataset, track = sorted(tracks)[0]
        console.print(
            f"{'would keep' if dry_run else 'kept'} {len(result.unavailable)} entries of "
            f"{len(tracks)} track(s) whose audio is unavailable now, e.g. track "
            f"'{escape(track)}' of dataset '{escape(dataset)}' "
            f"({escape(keep.unavailable[(dataset, track)])}); make the audio available again "
            "and they are used, or delete them with --model or --older-than",
            highlight=False,
            soft_wrap=True,
        )


def _on_signal(signum: int, frame: object) -> None:
    """SIGINT and SIGTERM: remember which, and stop the command as Ctrl-C does."""
    _INTERRUPTION["signal"] = signum
    raise KeyboardInterrupt


def _caused_by_interruption(error: BaseException) -> bool:
    """Whether ``error`` is, or was raised while handling, an interruption (an import cut
    short by Ctrl-C can surface as another exception)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return _INTERRUPTION["signal"] is not None


def main() -> None:
    """Entry point of the ``mir_ref`` command."""
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        app(prog_name="mir_ref")
    except SystemExit as done:
        if done.code != 130:  # typer turns an interruption it sees into exit code 130
            raise
    except BaseException as error:
        if not _caused_by_interruption(error):
            raise
    _stop_now()


if __name__ == "__main__":
    sys.exit(main())
