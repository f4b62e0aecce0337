"""From run to paper and back, end to end on small real runs: paper tables (LaTeX checked by a
TeX engine), merged runs, ``mir_ref reproduce`` and ``mir_ref diff``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from mir_ref import provenance
from mir_ref.cli import app
from mir_ref.errors import MirRefError
from mir_ref.experiment import Experiment
from mir_ref.export import export_table
from mir_ref.merge import merge_runs
from mir_ref.report import tables
from mir_ref.report.run_folder import RunFolder
from mir_ref.report.sections import Context
from mir_ref.stages import run_all
from mir_ref.table_formats import render
from tests.conftest import manifest_config, write_manifest_corpus

pytestmark = pytest.mark.slow

MODELS = {"mfcc": {"type": "mfcc", "n_mels": 40}, "chroma": {"type": "chroma"}}


def _config(corpus, name: str, models: list[str], **overrides) -> dict:
    return manifest_config(
        corpus,
        name=name,
        output_dir=str(corpus.parent / name),
        models=[MODELS[model] for model in models],
        deformations=[{"type": "white_noise", "snr_db": [10]}],
        protocol={
            "seeds": 2,
            "epochs": 20,
            "patience": 5,
            "learning_rate": 0.01,
            "n_bootstrap": 200,
        },
        execution={"workers": 1},
        **overrides,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """Three runs on one manifest corpus and cache: both models, and each model alone."""
    corpus = write_manifest_corpus(tmp_path_factory.mktemp("publish"))
    folders = {}
    for name, models in (("full", ["mfcc", "chroma"]), ("a", ["mfcc"]), ("b", ["chroma"])):
        config = _config(corpus, name, models)
        (corpus.parent / f"{name}.yml").write_text(yaml.safe_dump(config))
        run_all(Experiment.from_config(config))
        folders[name] = corpus.parent / name
    folders["manifest"] = corpus
    return folders


def _compile(tex: str, folder) -> None:
    """Typeset ``tex`` inside a document that loads booktabs and nothing else."""
    if shutil.which("pdflatex") is None:
        if os.environ.get("MIR_REF_REQUIRE_LATEX"):
            pytest.fail("pdflatex is required (MIR_REF_REQUIRE_LATEX) but not installed")
        pytest.skip("no TeX engine (`make latex` installs one)")
    (folder / "table.tex").write_text(tex)
    (folder / "paper.tex").write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
        "\\input{table.tex}\n\\end{document}\n"
    )
    done = subprocess.run(
        ["pdflatex", "-halt-on-error", "-interaction=nonstopmode", "-no-shell-escape", "paper.tex"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert (folder / "paper.pdf").stat().st_size > 0


def test_latex_tables_typeset_with_booktabs_alone(runs, tmp_path):
    main = render(export_table(runs["full"]), "latex")
    robustness = render(export_table(runs["full"], table="robustness"), "latex")
    assert main.count("\\textbf{") >= 1 and "\\toprule" in main and "\\bottomrule" in main
    assert "2 seed(s)" in main and "Test items: corpus/genre 4" in main
    assert "two-level bootstrap" in main and "200 resamples" in main
    assert "white\\_noise" in robustness and "clean" in robustness
    _compile(main + robustness, tmp_path)


def test_best_is_bold_and_ties_follow_ranks_csv(runs):
    table = export_table(runs["full"])
    tidy = table.tidy
    ranks = pd.read_csv(runs["full"] / "ranks.csv")
    for row in tidy.itertuples(index=False):
        found = ranks[(ranks["model"] == row.model) & (ranks["task"] == "genre")]
        assert row.tied_with_best == bool(found["tied_for_first"].iloc[0])
    best = tidy.loc[tidy["mean"].idxmax()]
    assert best["best"]
    line = next(
        r for r in render(table, "markdown").splitlines() if r.startswith(f"| {best.model}")
    )
    assert f"**{best['mean']:.3f}**" in line


def test_export_cli_writes_markdown_and_csv_and_refuses_unknown_conditions(runs):
    runner = CliRunner()
    result = runner.invoke(app, ["export", "--run", str(runs["full"]), "-f", "markdown"])
    assert result.exit_code == 0, result.output
    markdown = (runs["full"] / "tables" / "main.md").read_text()
    assert "| model | corpus/genre accuracy |" in markdown and "Probe: linear" in markdown
    result = runner.invoke(
        app,
        ["export", "--run", str(runs["full"]), "-f", "csv", "--table", "robustness", "-o", "-"],
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("task,metric,model,probe,deformation")
    std = runner.invoke(
        app,
        ["export", "--run", str(runs["full"]), "-f", "markdown", "--spread", "std",
         "--deformation", "white_noise", "-o", "-"],
    )  # fmt: skip
    assert std.exit_code == 0 and "±" in std.output and "white_noise at 10" in std.output
    for options, message in (
        (["--deformation", "reverb"], "'reverb' is not a condition"),
        (["--deformation", "white_noise", "--strength", "3"], "3 is not a strength"),
        (["--metric", "accuracyy"], "did you mean 'accuracy'"),
    ):
        result = runner.invoke(app, ["export", "--run", str(runs["full"]), *options])
        assert result.exit_code == 2 and message in result.output, result.output


def test_merged_halves_give_the_full_runs_overview(runs, tmp_path):
    merged = merge_runs([runs["a"], runs["b"]], tmp_path / "merged")
    for name in ("results.csv", "ranks.csv", "comparisons.csv"):
        full, together = pd.read_csv(runs["full"] / name), pd.read_csv(merged / name)
        order = [c for c in full.columns if c in ("task", "model", "model_a", "seed", "metric")]
        pd.testing.assert_frame_equal(
            full.sort_values(order).reset_index(drop=True),
            together.sort_values(order).reset_index(drop=True),
        )

    def overview(folder):
        context = Context(RunFolder(folder), tmp_path / "plots")
        comparisons = context.folder.table("comparisons.csv")
        ranked = tables.ranking(context.best, comparisons, context.ranks)
        return ranked.sort_values(["column", "model"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(overview(runs["full"]), overview(merged))
    export = render(export_table(merged), "markdown")
    assert export == render(export_table(runs["full"]), "markdown")
    result = CliRunner().invoke(
        app, ["report", "--run", str(runs["a"]), "--run", str(runs["b"]), "--merged", str(merged)]
    )
    assert result.exit_code == 0, result.output
    assert (merged / "report" / "index.html").is_file()
    assert provenance.read(merged)["merged_from"].keys() == {str(runs["a"]), str(runs["b"])}


def _copy_with(run, folder, change) -> object:
    copy = folder / run.name
    shutil.copytree(run, copy)
    record = json.loads((copy / provenance.PROVENANCE_FILE).read_text())
    change(record)
    (copy / provenance.PROVENANCE_FILE).write_text(json.dumps(record))
    return copy


def test_merging_refuses_different_protocols_data_or_the_same_model(runs, tmp_path):
    seeds = _copy_with(
        runs["b"], tmp_path / "seeds", lambda r: r["config"]["protocol"].update(seeds=3)
    )
    with pytest.raises(MirRefError, match=r"protocol\.seeds: 2 in .*, 3 in "):
        merge_runs([runs["a"], seeds], tmp_path / "merged")
    relabelled = _copy_with(
        runs["b"],
        tmp_path / "labels",
        lambda r: r["datasets"]["corpus"].update(labels_sha256="0" * 64),
    )
    with pytest.raises(MirRefError, match="fingerprint of its tracks, splits and labels"):
        merge_runs([runs["a"], relabelled], tmp_path / "merged")
    with pytest.raises(MirRefError, match="model 'mfcc' is in both"):
        merge_runs([runs["a"], runs["full"]], tmp_path / "merged")
    result = CliRunner().invoke(
        app, ["export", "--run", str(runs["a"]), "--run", str(seeds), "--merged",
              str(tmp_path / "m")],
    )  # fmt: skip
    assert result.exit_code == 2 and "protocol.seeds" in result.output


def test_reproduce_a_copied_run_without_its_cache_is_identical(runs, tmp_path):
    copy = tmp_path / "published"
    shutil.copytree(runs["full"], copy)
    record = provenance.read(copy)
    assert set(record["stages_s"]) >= {"validate", "extract", "train", "evaluate", "report"}
    result = CliRunner().invoke(app, ["reproduce", str(copy), "-q"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("identical: the ")
    again = tmp_path / "published-again"
    assert (again / "cache").is_dir()  # computed afresh, not read from the run's cache
    diff = CliRunner().invoke(app, ["diff", str(runs["full"]), str(again)])
    assert diff.exit_code == 0 and diff.output.startswith("identical")


def test_reproduce_warns_about_a_changed_label_and_shows_the_row(runs, tmp_path):
    manifest = runs["manifest"]
    original = manifest.read_text()
    # A test track: its label is scored, so the results change too.
    manifest.write_text(original.replace("audio/low_22.wav,low,", "audio/low_22.wav,high,"))
    try:
        result = CliRunner().invoke(
            app, ["reproduce", str(runs["a"]), "-o", str(tmp_path / "again"), "-q"]
        )
    finally:
        manifest.write_text(original)
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "the fingerprint of its tracks, splits and labels differs" in output
    assert "changed tracks of corpus (labels)" in output
    assert 'audio/low_22.wav │ {"genre": "low"} │ {"genre": "high"}' in output
    assert "results differ:" in output
