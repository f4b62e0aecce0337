"""Tests of the report: summaries, per-class analysis, clips, and a safe self-contained page.

The page tests use synthetic run folders (tests/report_run.py); the browser test of a full
report lives in test_report_browser.py.
"""

from __future__ import annotations

import base64
import io
import itertools
import re

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import soundfile

from mir_ref.errors import MirRefError
from mir_ref.report import analysis, embedding_tables, tables
from mir_ref.report.build import write_report
from mir_ref.report.listening import wav_data_uri
from mir_ref.report.plots import heatmap, model_colors
from mir_ref.report.tables import REQUIRED_COLUMNS as COLUMNS
from mir_ref.tasks import KEYS, PITCH_CLASSES
from tests.report_run import make_run_folder

MAIN_METRICS = {("toy_genres", "genre"): "accuracy", ("toy_tags", "tags"): "roc_auc"}
MODELS = ["mfcc", "chroma", "mel-stats"]
PROBES = ["linear", "mlp-256"]
SEEDS = [0, 1]
DEFORMATIONS = {"white_noise": [30.0, 10.0, 0.0], "mp3": [192.0, 64.0, 32.0]}
SCRIPT = "<script>alert(1)</script>"


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


# --- summaries -------------------------------------------------------------------------------


def validation_scores(results: pd.DataFrame, favoured: str) -> pd.DataFrame:
    """``selection.csv`` for ``results``: every probe scores 0.5 on validation, ``favoured``
    0.9 (each seed's file records it)."""
    keys = ["dataset", "task", "model", "layer", "probe", "seed"]
    selection = results[keys].drop_duplicates()
    favoured_rows = selection["probe"] == favoured
    return selection.assign(validation_value=np.where(favoured_rows, 0.9, 0.5))


def test_probe_is_chosen_on_validation_not_on_the_test_set(rng):
    results = make_results(rng)
    layered = results[results["model"] == "mfcc"].assign(model="encoder", layer="layer_3")
    results = pd.concat([results, layered, layered.assign(layer="layer_10")])
    # The synthetic table makes `mlp-256` better than `linear` on test by 0.05 for every model;
    # validation prefers `linear`, and validation decides.
    summary = tables.summarize(
        results, MAIN_METRICS, selection=validation_scores(results, "linear")
    )
    best = tables.selected_probes(summary)
    assert len(best) == len(MAIN_METRICS) * (len(MODELS) + 2)
    assert set(best["probe"]) == {"linear"} and set(best["selected_on"]) == {"validation"}
    assert (best["validation"] == 0.9).all() and (best["seeds"] == len(SEEDS)).all()
    chroma = best[(best["model"] == "chroma") & (best["column"] == "toy_genres/genre")]
    expected = results[
        (results["model"] == "chroma")
        & (results["probe"] == "linear")
        & (results["deformation"] == "none")
        & (results["metric"] == "accuracy")
        & (results["dataset"] == "toy_genres")
    ]["value"].mean()
    assert chroma["mean"].item() == pytest.approx(expected)
    # Runs from before selection.csv: the test score chooses, and says so.
    old = tables.selected_probes(tables.summarize(results, MAIN_METRICS))
    assert set(old["probe"]) == {"mlp-256"} and set(old["selected_on"]) == {"test"}
    # Probe kinds and sweeps choose on validation too.
    gaps = tables.nonlinearity_gap(summary)
    assert set(gaps["nonlinear_probe"]) == {"mlp-256"}  # the only non-linear probe


def test_intervals_bound_the_mean_over_seeds(rng):
    results = make_results(rng, deformations={})
    results = results.assign(ci_low=results["value"] - 0.1, ci_high=results["value"] + 0.1)
    # Without summary.csv, a several-seed mean has no interval: averaging the seeds' bounds
    # would not give one.
    assert tables.summarize(results, MAIN_METRICS)["ci_low"].isna().all()
    one_seed = tables.summarize(results[results["seed"] == 0], MAIN_METRICS)
    assert one_seed["ci_low"].notna().all()
    keys = ["dataset", "task", "model", "layer", "deformation", "strength", "probe", "metric"]
    intervals = results.groupby(keys, dropna=False)["value"].mean().reset_index()
    intervals = intervals.assign(ci_low=0.25, ci_high=0.95)
    summary = tables.summarize(results, MAIN_METRICS, intervals=intervals)
    assert (summary["ci_low"] == 0.25).all() and (summary["ci_high"] == 0.95).all()


def test_ranking_marks_the_winner_and_its_gap(rng):
    best = tables.selected_probes(tables.summarize(make_results(rng), MAIN_METRICS))
    ranked = tables.ranking(best)
    genre = ranked[ranked["column"] == "toy_genres/genre"]
    assert list(genre["model"]) == ["mel-stats", "chroma", "mfcc"]
    assert list(genre["rank"]) == [1, 2, 3]
    assert genre["gap"].iloc[0] == pytest.approx(0.12, abs=0.03)
    assert genre["gap"].iloc[1:].isna().all()
    assert genre["tied_for_first"].isna().all()  # no ranks.csv: unknown


def test_ranking_reads_rank_intervals_ties_and_the_test_of_the_named_pair(rng):
    results = make_results(rng)
    # Validation picks mlp-256 for mel-stats, linear for the others: the two first rows of
    # the genre task name different probes.
    selection = validation_scores(results, "linear")
    mel = selection["model"] == "mel-stats"
    selection.loc[mel, "validation_value"] = np.where(selection.loc[mel, "probe"] == "mlp-256",
                                                      0.9, 0.5)  # fmt: skip
    best = tables.selected_probes(tables.summarize(results, MAIN_METRICS, selection=selection))
    ranks = pd.DataFrame(
        {
            "dataset": "toy_genres",
            "task": "genre",
            "model": ["mel-stats", "chroma", "mfcc", "chroma"],
            "layer": "output",
            "probe": ["mlp-256", "linear", "linear", "mlp-256"],
            "rank_low": [1, 1, 3, 1],
            "rank_high": [2, 2, 3, 1],
            "p_value": [np.nan, 0.2, 0.001, 0.0],
            "p_holm": [np.nan, 0.2, 0.002, 0.0],
            "tied_for_first": [True, True, False, False],
        }
    )
    comparisons = pd.DataFrame(  # a test of chroma's mlp-256, not the probe shown
        {"dataset": "toy_genres", "task": "genre", "model_a": ["chroma"], "probe": ["mlp-256"],
         "model_b": ["mel-stats"], "p_value": [0.01], "p_holm": [0.01]}
    )  # fmt: skip
    ranked = tables.ranking(best, comparisons, ranks)
    genre = ranked[ranked["column"] == "toy_genres/genre"].set_index("model")
    assert genre["probe"].to_dict() == {
        "mel-stats": "mlp-256",
        "chroma": "linear",
        "mfcc": "linear",
    }
    assert genre.loc["mel-stats", "p_value"] == pytest.approx(0.2)  # chroma-linear's test
    assert genre["tied_for_first"].tolist() == [True, True, False]
    assert genre["rank_high"].tolist() == [2, 2, 3]
    # Without ranks.csv, comparisons.csv has no test of these two probes: no p-value.
    assert np.isnan(tables.ranking(best, comparisons).iloc[0]["p_value"])


def test_robustness_ranking_orders_by_area(rng):
    results = make_results(rng)
    # mfcc loses nothing under white noise: it is the most robust there.
    keep = (results["model"] == "mfcc") & (results["deformation"] == "white_noise")
    clean = results[(results["model"] == "mfcc") & (results["deformation"] == "none")]
    results = pd.concat(
        [
            results[~keep],
            *[clean.assign(deformation="white_noise", strength=s) for s in (30.0, 10.0, 0.0)],
        ]
    )
    ranking = tables.robustness_ranking(tables.summarize(results, MAIN_METRICS))
    noise = ranking[
        (ranking["column"] == "toy_genres/genre") & (ranking["deformation"] == "white_noise")
    ]
    assert noise["model"].iloc[0] == "mfcc"
    assert noise["area"].iloc[0] == pytest.approx(1.0, abs=0.03)
    assert (noise["area"].iloc[1:] < 0.95).all()
    assert (noise["max_drop"].iloc[1:] > 0.3).all()


def test_nonlinearity_gap_and_probe_sizes(rng):
    gaps = tables.nonlinearity_gap(tables.summarize(make_results(rng), MAIN_METRICS))
    assert len(gaps) == len(MAIN_METRICS) * len(MODELS)
    assert set(gaps["linear_probe"]) == {"linear"} and set(gaps["nonlinear_probe"]) == {"mlp-256"}
    assert gaps["gap"].to_numpy() == pytest.approx(0.05, abs=0.03)
    assert tables.probe_size("mlp-512-256") == 768 and tables.probe_size("logistic") == 0
    assert tables.layer_order(["layer_10", "layer_2", "layer_1", "layer_2"]) == [
        "layer_1",
        "layer_2",
        "layer_10",
    ]


def test_sweep_axes_default_to_full_data_unless_kept(rng):
    results = make_results(rng, deformations={})
    results = pd.concat(
        [results.assign(train_fraction=1.0), results.assign(train_fraction=0.1, value=0.0)]
    )
    summary = tables.summarize(results, MAIN_METRICS)
    assert (summary["mean"] > 0.3).all()  # only the full-data rows
    swept = tables.sweep(
        tables.summarize(results, MAIN_METRICS, by=["train_fraction"]), "train_fraction"
    )
    assert sorted(swept["train_fraction"].unique()) == [0.1, 1.0]


def test_models_with_several_layers_are_labelled_by_layer(rng):
    results = make_results(rng, deformations={})
    layered = results[results["model"] == "mfcc"].assign(model="encoder", layer="layer_3")
    results = pd.concat([results, layered, layered.assign(layer="layer_10")])
    models = set(tables.summarize(results, MAIN_METRICS)["model"])
    assert {"mfcc", "encoder/layer_3", "encoder/layer_10"} <= models
    assert "encoder" not in models


def test_missing_or_misspelt_main_metric_is_an_error(rng):
    results = make_results(rng, deformations={})
    with pytest.raises(MirRefError, match="no entry"):
        tables.summarize(results, {("toy_genres", "genre"): "accuracy"})
    misspelt = {**MAIN_METRICS, ("toy_tags", "tags"): "roc-auc"}
    with pytest.raises(MirRefError, match="did you mean 'roc_auc'"):
        tables.summarize(results, misspelt)
    with pytest.raises(MirRefError, match="lacks the columns"):
        tables.summarize(results.drop(columns="seed"), MAIN_METRICS)


def test_model_colors_are_distinct_and_stable():
    colors = model_colors(["b", "a", "b", "c"])
    assert list(colors) == ["b", "a", "c"]
    assert len(set(colors.values())) == 3
    assert model_colors(["b", "a", "c"]) == colors
    assert len(set(model_colors(f"model{index}" for index in range(25)).values())) == 25


def test_heatmap_is_a_readable_png(tmp_path, rng):
    best = tables.selected_probes(tables.summarize(make_results(rng), MAIN_METRICS))
    ranked = tables.ranking(best)
    ranked["tied_for_first"] = ranked["rank"] <= 2  # two models boxed per task
    path = heatmap(ranked, tmp_path / "heatmap.png")
    assert_png(path)


# --- per-class analysis ----------------------------------------------------------------------


def one_hot(predicted, classes):
    return np.eye(classes)[np.asarray(predicted)]


def test_confusion_and_per_class_scores():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    matrix = analysis.confusion(y_true, one_hot([0, 1, 1, 1, 0, 0], 3), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 0], [2, 0, 0]]
    scores = analysis.per_class_scores(matrix)
    assert scores["recall"].tolist() == [0.5, 1.0, 0.0]
    assert scores["precision"].iloc[:2].tolist() == pytest.approx([1 / 3, 2 / 3])
    assert np.isnan(scores["precision"].iloc[2])  # never predicted
    assert scores["support"].tolist() == [2, 2, 2]


def test_key_errors_fall_into_mirex_categories():
    keys = list(KEYS)
    index = {name: position for position, name in enumerate(keys)}
    pairs = [
        ("C:major", "C:major"),  # correct
        ("C:major", "G:major"),  # a fifth above
        ("C:major", "A:minor"),  # relative minor
        ("A:minor", "C:major"),  # relative major
        ("C:major", "C:minor"),  # parallel
        ("C:major", "F#:major"),  # other
        ("C:major", "F:major"),  # a fifth below: not credited by MIREX
        ("D:minor", "A:minor"),  # a fifth above, minor
    ]
    y_true = [index[reference] for reference, _ in pairs]
    y_score = one_hot([index[estimate] for _, estimate in pairs], 24)
    fractions = analysis.key_errors(analysis.confusion(y_true, y_score, 24), keys)
    counts = {category: round(share * len(pairs)) for category, share in fractions.items()}
    assert counts == {"correct": 1, "fifth": 2, "relative": 2, "parallel": 1, "other": 2}


def test_pitch_class_orders_accept_any_spelling():
    flats = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"]
    orders = analysis.pitch_class_orders(flats)
    assert [flats[i] for i in orders["chromatic"]] == flats
    assert [flats[i] for i in orders["circle of fifths"]][:4] == ["C", "G", "D", "A"]
    assert [flats[i] for i in orders["circle of fifths"]][-1] == "F"
    assert analysis.pitch_class_orders(PITCH_CLASSES[::-1])["chromatic"] == list(range(11, -1, -1))
    assert analysis.pitch_class_orders(["C", "D"]) is None
    assert analysis.pitch_class_orders(["<script>", *PITCH_CLASSES[1:]]) is None


def test_octave_errors_from_midi_classes():
    assert analysis.midi_numbers(["60", "C4", "F#3", "a-1"]).tolist() == [60, 60, 54, 9]
    assert analysis.midi_numbers(["flute", "60"]) is None
    classes = ["48", "60", "72", "61"]
    midi = analysis.midi_numbers(classes)
    # True 60 → predicted 48 and 72 (octaves), 61 (a semitone), 60 (right).
    y_true = np.array([1, 1, 1, 1])
    matrix = analysis.confusion(y_true, one_hot([0, 2, 3, 1], 4), 4)
    assert analysis.pitch_errors(matrix, midi) == {"correct": 0.25, "octave": 0.5, "other": 0.25}


def test_tag_auc_skips_tags_without_both_classes():
    y_true = np.array([[1, 1, 0], [0, 1, 0], [1, 1, 0], [0, 1, 0]])
    y_score = np.array([[0.9, 0.2, 0.1], [0.1, 0.3, 0.2], [0.8, 0.9, 0.3], [0.4, 0.5, 0.4]])
    auc = analysis.tag_auc(y_true, y_score)
    assert auc[0] == 1.0 and np.isnan(auc[1]) and np.isnan(auc[2])


# --- clips -----------------------------------------------------------------------------------


def test_clips_are_short_mono_16_bit_wav(tmp_path):
    t = np.arange(44100 * 8) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], axis=1) * 0.5
    soundfile.write(tmp_path / "long.wav", stereo.astype(np.float32), 44100)
    uri = wav_data_uri(tmp_path / "long.wav")
    assert uri.startswith("data:audio/wav;base64,")
    data = base64.b64decode(uri.split(",", 1)[1])
    info = soundfile.info(io.BytesIO(data))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert info.duration == pytest.approx(5.0, abs=0.01)
    audio, _ = soundfile.read(io.BytesIO(data))
    assert np.abs(audio).max() == pytest.approx(0.5, abs=0.02)  # level kept


# --- the page --------------------------------------------------------------------------------


def section_ids(page: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', page)


def test_an_old_run_folder_gets_the_sections_it_has_data_for(tmp_path):
    """A run with only results.csv and tasks.json (no optional columns or files) renders."""
    folder = make_run_folder(tmp_path / "old", full=False, tasks=("key", "tags"))
    page = write_report(folder).read_text(encoding="utf-8")
    assert section_ids(page) == ["overview", "robustness", "probe-size", "provenance"]
    assert "<script" not in page and "http" not in page
    assert page.count("data:image/png;base64,") == 1 + 2 + 1  # heatmap, robustness ×2, probes
    assert "95% CI" not in page and "p (vs runner-up)" not in page
    assert (folder / "plots" / "heatmap.png").is_file()


def test_report_without_kept_plots_writes_no_plot_files(tmp_path):
    folder = make_run_folder(tmp_path / "old", full=False, tasks=("tags",))
    page = write_report(folder, keep_plots=False).read_text(encoding="utf-8")
    assert "data:image/png;base64," in page
    assert not (folder / "plots").exists()


def test_user_strings_are_escaped(tmp_path):
    classes = [SCRIPT, *PITCH_CLASSES[1:]]
    folder = make_run_folder(
        tmp_path / "run",
        full=False,
        models=(SCRIPT, "mfcc"),
        pitch_classes=classes,
        tasks=("pitch_class",),
    )
    page = write_report(folder, title="Run <b>1</b>").read_text(encoding="utf-8")
    assert SCRIPT not in page and "<b>1</b>" not in page and "<script" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # tables and task listing
    assert "Run &lt;b&gt;1&lt;/b&gt;" in page


def test_pitch_equivariance_and_the_snr_each_model_heard_are_reported(tmp_path):
    folder = make_run_folder(tmp_path / "run", tasks=("pitch_class", "key"))
    page = write_report(folder).read_text(encoding="utf-8")
    assert "pitch-equivariance" in section_ids(page)
    for task in ("pitch_class", "key"):
        assert (folder / "plots" / f"equivariance_toy_{task}.png").stat().st_size > 10_000
    assert "fifth, relative and parallel are parts of elsewhere" in page  # the key table
    # White noise: the 2 dB more that the encoder hears, in the caption and on the axis.
    assert (
        "relative to the nominal SNR on the axis: chroma +0.0 dB, encoder +2.0 dB, mfcc +0.0 dB"
        in page
    )


def test_missing_results_is_a_clear_error(tmp_path):
    with pytest.raises(MirRefError, match="no results"):
        write_report(tmp_path)


def test_efficiency_reads_models_json_as_a_mapping_or_a_list(tmp_path):
    folder = make_run_folder(tmp_path / "run", full=False, tasks=("tags",))
    (folder / "models.json").write_text(
        '[{"name": "mfcc", "parameters": 0, "layers": {"output": 20}, '
        '"extraction": {"audio_s_per_s": 120.5}}, '
        '{"name": "chroma", "layers": {"a": 12, "b": 12, "c": 12}, '
        '"extraction": {"audio_s_per_s": 80.0}}]'
    )
    page = write_report(folder).read_text(encoding="utf-8")
    assert "efficiency" in section_ids(page)
    assert "speed (s of audio per s)" in page and "12 (3 layers)" in page
    assert (folder / "plots" / "efficiency_speed.png").is_file()
    # mfcc has 0 parameters: nothing to draw on a log axis, so no parameters plot.
    assert not (folder / "plots" / "efficiency_parameters.png").is_file()
    (folder / "models.json").write_text('{"mfcc": {"parameters": 1000000}}')
    page = write_report(folder).read_text(encoding="utf-8")
    assert "1,000,000" in page
    (folder / "models.json").write_text("not json")
    assert "efficiency" not in section_ids(write_report(folder).read_text(encoding="utf-8"))


def test_a_deformation_without_strength_is_summarized_and_drawn(tmp_path, rng):
    from mir_ref.report.plots import robustness

    results = make_results(rng, deformations={"reverb": [np.nan]})
    summary = tables.summarize(results, MAIN_METRICS)
    ranking = tables.robustness_ranking(summary)
    assert set(ranking["deformation"]) == {"reverb"} and ranking["area"].notna().all()
    colors = model_colors(summary["model"])
    assert_png(robustness(summary, "toy_genres/genre", colors, tmp_path / "reverb.png"))


# --- the embeddings themselves ---------------------------------------------------------------


def _one_condition_results(kept: dict[str, float]) -> pd.DataFrame:
    """Results of one task: each model scores 0.8 on clean audio and 0.8 × kept under white
    noise at 10 dB."""
    rows = []
    for model, share in kept.items():
        for deformation, strength, value in (
            ("none", np.nan, 0.8),
            ("white_noise", 10.0, 0.8 * share),
        ):
            rows.append(("toy_genres", "genre", model, "output", deformation, strength, "linear", 0)
                        + ("accuracy", value))  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def _drift(moved: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"dataset": "toy_genres", "model": model, "layer": "output", "window_s": 3.0,
             "hop_s": 3.0, "deformation": "white_noise", "strength": 10.0, "drift_median": value,
             "drift_iqr": 0.1, "tracks": 30}
            for model, value in moved.items()
        ]
    )  # fmt: skip


def test_each_model_gets_one_sentence_on_probe_robustness_against_drift():
    kept = {"probe_held": 0.97, "read_moves": 0.5, "shows": 0.4, "steady": 0.99, "sunk": -2.0}
    moved = {"probe_held": 0.9, "read_moves": 0.1, "shows": 1.4, "steady": 0.05, "sunk": 2.0}
    summary = tables.summarize(_one_condition_results(kept), {("toy_genres", "genre"): "accuracy"})
    contrast = embedding_tables.drift_contrast(
        summary, embedding_tables.labelled_drift(_drift(moved))
    )
    finding = dict(zip(contrast.model, contrast.finding, strict=True))
    assert set(finding) == set(kept)
    assert finding["probe_held"].endswith("robust through the probe, not in the embedding.")
    assert (
        "move 0.90 of the typical distance" in finding["probe_held"]
        and "97%" in finding["probe_held"]
    )
    assert finding["read_moves"].endswith("small moves along what the probes read.")
    assert finding["shows"].endswith("the movement shows in the scores.")
    assert finding["steady"].endswith("robust in the embedding itself.")
    # A score below zero keeps nothing of the clean score, not a negative share.
    assert "keep 0% of their clean score" in finding["sunk"]
    assert all(text.count(". ") == 0 for text in finding.values())  # one sentence each


def test_drift_is_labelled_like_the_robustness_curves_at_the_default_density():
    drift = pd.concat([_drift({"mfcc": 0.2}), _drift({"mfcc": 0.4}).assign(hop_s=0.5)])
    layered = _drift({"enc": 0.3, "other": 0.1}).assign(model="enc", layer=["l1", "l2"])
    labelled = embedding_tables.labelled_drift(pd.concat([drift, layered]))
    assert sorted(labelled.label) == ["enc/l1", "enc/l2", "mfcc"]
    assert labelled.set_index("label").loc["mfcc", "drift_median"] == 0.2  # hop 3 s, as results


def test_layer_order_puts_the_weighted_layer_last():
    assert tables.layer_order(["weighted", "10", "2", "0"]) == ["0", "2", "10", "weighted"]
    assert tables.layer_order(["zeta", "weighted", "alpha"]) == ["alpha", "zeta", "weighted"]


def test_the_report_shows_drift_similarity_maps_and_layer_weights(tmp_path):
    folder = make_run_folder(tmp_path / "run", tasks=("tempo",))
    page = write_report(folder).read_text(encoding="utf-8")
    ids = section_ids(page)
    assert ids.index("layers") < ids.index("similarity") < ids.index("maps")
    for name in ("drift_toy", "similarity_toy", "maps_toy_pca", "layer_weights"):
        assert_png(folder / "plots" / f"{name}.png")
    robustness = page.split('<section id="robustness">')[1].split("</section>")[0]
    assert "embedding drift, probe-free" in robustness
    assert "Probe robustness against embedding drift" in robustness
    # The drift figure follows its dataset's last robustness figure.
    assert robustness.index("toy/tempo: top") < robustness.index("embedding drift, probe-free")
    layers = page.split('<section id="layers">')[1].split("</section>")[0]
    assert "Which layers each task uses" in layers
    # A copied run folder keeps its views: the report needs no cache to draw them.
    assert "linear CKA over 24 test tracks" in page and "one row per task" in page
