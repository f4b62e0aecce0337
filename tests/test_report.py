"""Tests of the report: plots written as readable PNGs, and a safe self-contained index.html."""

from __future__ import annotations

import base64
import itertools
import re

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from mir_ref.errors import MirRefError
from mir_ref.report.html import write_index
from mir_ref.report.plots import (
    best_clean_probes,
    heatmap,
    model_colors,
    summarize,
    write_plots,
)
from mir_ref.results import COLUMNS

MAIN_METRICS = {("toy_genres", "genre"): "accuracy", ("toy_tags", "tags"): "roc_auc"}
MODELS = ["mfcc", "chroma", "mel-stats"]
PROBES = ["linear", "mlp-256"]
SEEDS = [0, 1]
DEFORMATIONS = {"white_noise": [30.0, 10.0, 0.0], "mp3": [192.0, 64.0, 32.0]}
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def make_results(
    rng: np.random.Generator,
    *,
    models: list[str] = MODELS,
    deformations: dict[str, list[float]] = DEFORMATIONS,
) -> pd.DataFrame:
    """A results table in the pipeline's schema: every model, probe and seed on clean audio and
    under each deformation; scores fall as the deformation gets harsher."""
    rows = []
    conditions = [("none", np.nan, 0.0)] + [
        (name, strength, (index + 1) / len(strengths))
        for name, strengths in deformations.items()
        for index, strength in enumerate(strengths)
    ]
    for (dataset, task), metric in MAIN_METRICS.items():
        for model_index, model in enumerate(models):
            for probe_index, probe in enumerate(PROBES):
                for (name, strength, severity), seed in itertools.product(conditions, SEEDS):
                    clean = 0.55 + 0.12 * model_index + 0.05 * probe_index
                    value = clean - 0.3 * severity + rng.normal(0, 0.01)
                    for row_metric, row_value in ((metric, value), ("other", 1 - value)):
                        rows.append(
                            (dataset, task, model, "output", name, strength, probe, seed)
                            + (row_metric, row_value)
                        )
    return pd.DataFrame(rows, columns=COLUMNS)


def assert_png(path, *, min_height: int = 200, min_width: int = 300) -> None:
    assert path.is_file() and path.stat().st_size > 0
    image = matplotlib.image.imread(path)
    height, width = image.shape[:2]
    assert height >= min_height and width >= min_width
    assert height <= 4000 and width <= 4000


def test_write_plots_writes_readable_pngs(tmp_path, rng):
    # Read back from CSV, as the report stage does: clean strengths come back as NaN.
    make_results(rng).to_csv(tmp_path / "results.csv", index=False)
    results = pd.read_csv(tmp_path / "results.csv")
    paths = write_plots(results, MAIN_METRICS, tmp_path / "plots")
    assert [path.name for path in paths] == ["heatmap.png", "robustness.png"]
    for path in paths:
        assert_png(path)


def test_without_deformations_only_the_heatmap_is_written(tmp_path, rng):
    results = make_results(rng, deformations={})
    paths = write_plots(results, MAIN_METRICS, tmp_path)
    assert [path.name for path in paths] == ["heatmap.png"]
    assert not (tmp_path / "robustness.png").exists()
    assert_png(paths[0])


def test_best_probe_is_the_best_mean_over_seeds(rng):
    results = make_results(rng)
    best = best_clean_probes(summarize(results, MAIN_METRICS))
    assert len(best) == len(MAIN_METRICS) * len(MODELS)
    # The synthetic table makes `mlp-256` better than `linear` by 0.05 for every model.
    assert set(best["probe"]) == {"mlp-256"}
    assert (best["seeds"] == len(SEEDS)).all()
    chroma = best[(best["model"] == "chroma") & (best["column"] == "toy_genres/genre")]
    expected = results[
        (results["model"] == "chroma")
        & (results["probe"] == "mlp-256")
        & (results["deformation"] == "none")
        & (results["metric"] == "accuracy")
        & (results["dataset"] == "toy_genres")
    ]["value"].mean()
    assert chroma["mean"].item() == pytest.approx(expected)


def test_models_with_several_layers_are_labelled_by_layer(rng):
    results = make_results(rng, deformations={})
    layered = results[results["model"] == "mfcc"].assign(model="encoder", layer="layer_3")
    results = pd.concat([results, layered, layered.assign(layer="layer_10")])
    models = set(summarize(results, MAIN_METRICS)["model"])
    assert {"mfcc", "encoder/layer_3", "encoder/layer_10"} <= models
    assert "encoder" not in models


def test_model_colors_are_distinct_and_stable():
    colors = model_colors(["b", "a", "b", "c"])
    assert list(colors) == ["b", "a", "c"]
    assert len(set(colors.values())) == 3
    assert model_colors(["b", "a", "c"]) == colors
    assert len(set(model_colors(f"model{index}" for index in range(25)).values())) == 25


def test_missing_or_misspelt_main_metric_is_an_error(tmp_path, rng):
    results = make_results(rng, deformations={})
    with pytest.raises(MirRefError, match="no entry"):
        heatmap(results, {("toy_genres", "genre"): "accuracy"}, tmp_path / "h.png")
    misspelt = {**MAIN_METRICS, ("toy_tags", "tags"): "roc-auc"}
    with pytest.raises(MirRefError, match="did you mean 'roc_auc'"):
        heatmap(results, misspelt, tmp_path / "h.png")
    with pytest.raises(MirRefError, match="lacks the columns"):
        heatmap(results.drop(columns="seed"), MAIN_METRICS, tmp_path / "h.png")


def test_index_embeds_plots_and_escapes_names(tmp_path, rng):
    results = make_results(rng, models=["mfcc", SCRIPT, "price$1$"])
    plots = write_plots(results, MAIN_METRICS, tmp_path)
    index = write_index(results, MAIN_METRICS, tmp_path, title="Run <b>1</b>", plots=plots)
    assert index == tmp_path / "index.html"
    page = index.read_text(encoding="utf-8")
    for plot in plots:
        assert f"data:image/png;base64,{base64.b64encode(plot.read_bytes()).decode()}" in page
    assert SCRIPT not in page and "<b>1</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Run &lt;b&gt;1&lt;/b&gt;" in page
    # One table row per model × task × probe, with the spread over the two seeds.
    assert page.count("<tr") == 1 + len(MAIN_METRICS) * 3 * len(PROBES)
    assert len(re.findall(r"\d ± \d", page)) == len(MAIN_METRICS) * 3 * len(PROBES)
