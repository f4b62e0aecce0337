"""The demo config end to end: the expected science, every output file, and a free rerun."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from mir_ref.config import parse_config
from mir_ref.evaluate import COLUMNS
from mir_ref.experiment import Experiment
from mir_ref.report import tables
from mir_ref.stages import run_all
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _demo(tmp_path, **execution) -> Experiment:
    data = yaml.safe_load((REPO / "configs" / "demo.yml").read_text())
    data["output_dir"] = str(tmp_path / "run")
    data["cache_dir"] = str(tmp_path / "cache")
    data["execution"] = execution
    return Experiment.from_config(parse_config(data, base_dir=REPO / "configs"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    results = run_all(_demo(folder))
    return folder, results


def _main(results: pd.DataFrame, folder) -> pd.DataFrame:
    tasks = json.loads((folder / "run" / "tasks.json").read_text())
    main = {t["task"]: t["main_metric"] for t in tasks.values()}
    return results[results.metric == results.task.map(main)]


def test_demo_writes_every_output(demo):
    folder, results = demo
    run = folder / "run"
    assert list(results.columns) == COLUMNS
    pd.testing.assert_frame_equal(pd.read_csv(run / "results.csv"), results, check_dtype=False)
    pd.testing.assert_frame_equal(pd.read_parquet(run / "results.parquet"), results)
    for name in (
        "config.yml",
        "versions.json",
        "profile.json",
        "report/index.html",
        "robustness.csv",
        "equivariance.csv",
    ):
        assert (run / name).stat().st_size > 0, name
    for name in (
        "heatmap.png",
        "robustness_tones_pitch_class.png",
        "equivariance_tones_pitch_class.png",
        "equivariance_tones_key.png",
    ):
        assert (run / "plots" / name).stat().st_size > 10_000, name
    for name in ("drift.csv", "similarity.csv", "maps.csv", "layer_weights.csv"):
        assert len(pd.read_csv(run / name)) > 0, name
    for name in ("drift_tones", "similarity_tones", "maps_tones_pca", "layer_weights"):
        assert (run / "plots" / f"{name}.png").stat().st_size > 10_000, name
    page = (run / "report" / "index.html").read_text(encoding="utf-8")
    assert '<section id="similarity">' in page and '<section id="maps">' in page
    resolved = yaml.safe_load((run / "config.yml").read_text())
    assert resolved["cache_dir"] == str(folder / "cache")
    assert json.loads((run / "versions.json").read_text())["torch"].startswith("2.13.0")


def test_demo_covers_every_task_type_and_deformation(demo):
    folder, results = demo
    tasks = json.loads((folder / "run" / "tasks.json").read_text())
    assert {t["type"] for t in tasks.values()} == {"multiclass", "multilabel", "key", "regression"}
    assert set(results.deformation) == {"none", "white_noise", "gain", "mp3", "pitch_shift"}
    clean = results[results.deformation == "none"]
    assert clean.strength.isna().all()
    assert results[results.deformation != "none"].strength.notna().all()
    assert set(results.metric) >= {"accuracy", "mirex_key", "roc_auc", "pr_auc", "r2", "pearson"}


def test_demo_shows_the_expected_science(demo):
    folder, results = demo
    main = _main(results, folder)
    clean = main[main.deformation == "none"].groupby(["task", "model"]).value.max()
    # Pitch lives in chroma, timbre in the cepstrum.
    assert clean["key", "chroma"] > clean["key", "mfcc"] + 0.2
    assert clean["pitch_class", "chroma"] > clean["pitch_class", "mfcc"] + 0.2
    assert clean["instrument", "mfcc"] > clean["instrument", "chroma"] + 0.1

    classification = main[main.task != "tempo"]
    noisy = classification[classification.deformation.isin(["none", "white_noise"])].copy()
    noisy["snr_db"] = noisy.strength.fillna(float("inf"))
    curve = noisy.groupby(["model", "snr_db"]).value.mean().unstack()
    for model, row in curve.iterrows():
        values = row.sort_index(ascending=False).to_numpy()  # clean, 20, 10, 0 dB
        assert values[-1] < values[0], model
        assert all(
            later <= earlier + 0.02 for earlier, later in zip(values, values[1:], strict=False)
        ), model
    average = curve.mean().sort_index(ascending=False).to_numpy()
    assert all(later < earlier for earlier, later in zip(average, average[1:], strict=False))
    assert average[-1] < average[0] - 0.1  # 0 dB costs the models a lot on average


def test_pitch_models_keep_their_pitch_class_scores_when_labels_follow_the_shift(demo):
    folder, results = demo
    tasks = json.loads((folder / "run" / "tasks.json").read_text())
    main = {(t["dataset"], t["task"]): t["main_metric"] for t in tasks.values()}
    selection = pd.read_csv(folder / "run" / "selection.csv")
    summary = tables.summarize(results, main, selection=selection)
    pitch = summary[summary["column"] == "tones/pitch_class"]
    best = tables.selected_probes(summary)  # each model's probe, chosen on validation
    best = best[best["column"] == "tones/pitch_class"].set_index("model")
    shifted = pitch[pitch["deformation"] == "pitch_shift"].merge(
        best.reset_index()[["model", "probe"]], on=["model", "probe"]
    )
    pitch_models = [m for m in best.index if m == "chroma" or m.startswith("crepe-tiny")]
    assert len(pitch_models) >= 2
    for model in pitch_models:
        for n in (-1.0, 1.0):
            value = shifted.loc[(shifted["model"] == model) & (shifted["strength"] == n), "mean"]
            # A transposed C scored as a C#: the models that hear pitch stay right.
            assert value.item() >= best.loc[model, "mean"] - 0.1, (model, n)
    ranking = tables.robustness_ranking(summary)
    ranked = ranking[
        (ranking["column"] == "tones/pitch_class") & (ranking["deformation"] == "pitch_shift")
    ]["model"].tolist()
    assert ranked[-1] not in pitch_models, ranked
    # The view that says why: their predictions moved with the audio.
    shares = pd.read_csv(folder / "run" / "equivariance.csv")
    shares = shares[(shares["task"] == "pitch_class") & (shares["model"] == "chroma")]
    assert (shares["moved"] >= 0.9).all()


def test_noise_conditions_record_the_snr_each_model_hears(demo):
    folder, _ = demo
    robustness = pd.read_csv(folder / "run" / "robustness.csv")
    noise = robustness[robustness["deformation"] == "white_noise"]
    offset = (
        (noise["in_band_snr_db"] - noise["strength"]).groupby(noise["model"]).agg(["min", "max"])
    )
    # The tones are generated at 22.05 kHz: the 22.05 kHz features hear the nominal SNR, the
    # 16 kHz CREPE hears the noise above 8 kHz filtered out.
    assert offset.loc["chroma"].abs().max() < 0.05
    assert 1.2 < offset.loc["crepe-tiny", "min"] <= offset.loc["crepe-tiny", "max"] < 2.0
    assert robustness.loc[robustness["deformation"] != "white_noise", "in_band_snr_db"].isna().all()


def test_second_run_extracts_nothing_and_gives_identical_results(demo, embed_calls):
    folder, first = demo
    second = run_all(_demo(folder))  # outputs up to date: nothing is evaluated again either
    assert embed_calls["n"] == 0
    pd.testing.assert_frame_equal(first, second)


def test_demo_shows_the_embeddings_themselves(demo):
    folder, results = demo
    run = folder / "run"
    # The untrained CNN's two blocks, and a weighting of both learned per task and probe.
    cnn = results[results.model == "random_cnn"]
    assert set(cnn.layer) == {"block1", "block2", "weighted"}
    weights = pd.read_csv(run / "layer_weights.csv")
    assert set(weights.model) == {"random_cnn"} and set(weights.layer) == {"block1", "block2"}
    assert set(weights.task) == set(results.task)
    assert (weights.groupby(["task", "probe", "seed"]).weight.sum() - 1).abs().max() < 1e-6

    drift = pd.read_csv(run / "drift.csv")
    # Chroma scales each frame to a maximum of 1: a gain does not move it.
    chroma_gain = drift[(drift.model == "chroma") & (drift.deformation == "gain")]
    assert (chroma_gain.drift_median < 1e-6).all()
    noise = drift[drift.deformation == "white_noise"]
    for model in ("mfcc", "chroma", "mel-stats"):
        medians = noise[noise.model == model].sort_values("strength", ascending=False)
        assert (medians.drift_median.diff().dropna() > 0).all(), model

    # MFCCs are a linear transform (a DCT) of the log-mel bands; chroma sees something else.
    similarity = pd.read_csv(run / "similarity.csv").set_index(["model_a", "model_b"]).cka
    assert similarity["mfcc", "mel-stats"] > 0.8
    assert similarity["mfcc", "chroma"] < 0.5
