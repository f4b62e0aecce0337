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


def test_best_probe_is_the_best_mean_over_seeds(rng):
    results = make_results(rng)
    best = tables.best_clean_probes(tables.summarize(results, MAIN_METRICS))
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


def test_ranking_marks_the_winner_and_its_gap(rng):
    best = tables.best_clean_probes(tables.summarize(make_results(rng), MAIN_METRICS))
    ranked = tables.ranking(best)
    genre = ranked[ranked["column"] == "toy_genres/genre"]
    assert list(genre["model"]) == ["mel-stats", "chroma", "mfcc"]
    assert list(genre["rank"]) == [1, 2, 3]
    assert genre["gap"].iloc[0] == pytest.approx(0.12, abs=0.03)
    assert genre["gap"].iloc[1:].isna().all()


def test_comparison_p_value_is_found_by_column_names(rng):
    best = tables.best_clean_probes(tables.summarize(make_results(rng), MAIN_METRICS))
    comparisons = pd.DataFrame(
        {
            "dataset": ["toy_genres", "toy_genres"],
            "task": ["genre", "genre"],
            "model_a": ["chroma", "mfcc"],
            "model_b": ["mel-stats", "chroma"],
            "p_value": [0.01, 0.5],
            "p_holm": [0.02, 0.5],
        }
    )
    ranked = tables.ranking(best, comparisons)
    winner = ranked[(ranked["column"] == "toy_genres/genre") & (ranked["rank"] == 1)]
    assert winner["p_value"].item() == pytest.approx(0.02)  # Holm-corrected preferred
    tags = ranked[(ranked["column"] == "toy_tags/tags") & (ranked["rank"] == 1)]
    assert np.isnan(tags["p_value"].item())
    odd = comparisons.rename(columns={"model_a": "first", "model_b": "second"})
    assert tables.ranking(best, odd)["p_value"].isna().all()


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
    best = tables.best_clean_probes(tables.summarize(make_results(rng), MAIN_METRICS))
    path = heatmap(tables.ranking(best), tmp_path / "heatmap.png")
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
    assert (folder / "plots" / "efficiency.png").is_file()
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
