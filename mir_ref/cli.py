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
def report(config: ConfigOption, quiet: QuietOption = False) -> None:
    """Write plots and the HTML report from stored results."""
    from mir_ref import stages

    _stage(config, quiet, stages.report)


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


def main() -> None:
    """Entry point of the ``mir_ref`` command."""
    app(prog_name="mir_ref")


if __name__ == "__main__":
    sys.exit(main())
