"""Command-line interface: parses arguments and calls the stages; nothing else lives here."""

from __future__ import annotations

import logging
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


def _setup(quiet: bool) -> None:
    progress.set_enabled(not quiet)
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
        force=True,
    )


def _stage(config: Path, quiet: bool, action: Callable[[Any], Any]) -> Any:
    """Resolve the config and run ``action(experiment)``, turning our errors into exit codes."""
    from mir_ref.config import Experiment

    _setup(quiet)
    try:
        return action(Experiment.from_config(config))
    except MirRefError as error:
        console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print(
            f"[yellow]interrupted.[/] Finished work is kept; rerun the same command "
            f"(-c {config}) to resume."
        )
        raise typer.Exit(130) from None


@app.command()
def run(config: ConfigOption, quiet: QuietOption = False) -> None:
    """Run every stage: validate, extract, train, evaluate, report."""
    from mir_ref import stages

    results = _stage(config, quiet, stages.run_all)
    if not quiet:
        console.print(f"{len(results)} result rows")


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
def extract(config: ConfigOption, quiet: QuietOption = False) -> None:
    """Compute and cache the embeddings the config needs (skips what is cached)."""
    from mir_ref import stages

    def action(experiment: Any) -> None:
        stages.ensure_valid(experiment)
        stages.write_provenance(experiment)
        stages.extract(experiment)

    _stage(config, quiet, action)


@app.command()
def train(config: ConfigOption, quiet: QuietOption = False) -> None:
    """Train the probes on cached embeddings and store their test predictions."""
    from mir_ref import stages

    _stage(config, quiet, stages.train)


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
    """Write plots and the HTML report from stored results."""
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


def main() -> None:
    """Entry point of the ``mir_ref`` command."""
    app(prog_name="mir_ref")


if __name__ == "__main__":
    sys.exit(main())
