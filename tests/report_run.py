"""A synthetic run folder for the report's tests: every file a run can leave, with known answers.

``make_run_folder`` writes ``results.csv`` and ``tasks.json`` and, with ``full=True``, every
optional input the report reads: CI columns, train-fraction and hop sweeps, a multi-layer model,
stored predictions, ``comparisons.csv``, ``robustness.csv`` (with the in-band SNR of noise,
2 dB above nominal for the encoder), ``equivariance.csv``, ``models.json``, ``profile.json``,
``versions.json``, ``config.yml``, deformed example WAVs, the embedding views
(``drift.csv``, ``similarity.csv``, ``maps.csv``) and ``layer_weights.csv``.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile

from mir_ref.predictions import predictions_path
from mir_ref.report.tables import REQUIRED_COLUMNS as COLUMNS
from mir_ref.tasks import KEYS, PITCH_CLASSES

DATASET = "toy"
PROBES = ["linear", "mlp-64", "mlp-256"]
SEEDS = [0, 1]
CONDITIONS = [
    ("none", None, None),
    ("white_noise", 20.0, "white_noise@snr_db=20"),
    ("white_noise", 0.0, "white_noise@snr_db=0"),
    ("gain", -20.0, "gain@gain_db=-20"),
]
NOTES = ["48", "60", "72", "62"]
TAGS = ["drums", "voice", "guitar"]
LAYERS = ["layer_10", "layer_2", "layer_1"]
ALL_SECTIONS = [
    "overview",
    "robustness",
    "probe-size",
    "density",
    "layers",
    "similarity",
    "maps",
    "data-efficiency",
    "pitch-key",
    "pitch-equivariance",
    "per-class",
    "efficiency",
    "listening",
    "provenance",
]


def task_table(pitch_classes: list[str]) -> dict[str, dict]:
    """``tasks.json`` of the synthetic run: pitch classes, key, MIDI notes, tags, tempo."""
    tasks = {
        "pitch_class": ("multiclass", pitch_classes, ["accuracy", "f1_macro"]),
        "key": ("key", KEYS, ["mirex_key", "accuracy"]),
        "note": ("multiclass", NOTES, ["accuracy", "f1_macro"]),
        "tags": ("multilabel", TAGS, ["roc_auc", "pr_auc"]),
        "tempo": ("regression", [], ["r2", "pearson"]),
    }
    return {
        f"{DATASET}/{name}": {
            "dataset": DATASET,
            "task": name,
            "type": kind,
            "classes": list(classes),
            "metrics": metrics,
            "main_metric": metrics[0],
        }
        for name, (kind, classes, metrics) in tasks.items()
    }


def make_run_folder(
    root: Path,
    *,
    full: bool = True,
    models: tuple[str, ...] = ("mfcc", "chroma"),
    pitch_classes: list[str] = PITCH_CLASSES,
    tasks: tuple[str, ...] | None = None,
) -> Path:
    """Write a synthetic run folder under ``root`` and return it; ``tasks`` picks a subset of
    the tasks of :func:`task_table` (all by default)."""
    rng = np.random.default_rng(7)
    root.mkdir(parents=True, exist_ok=True)
    tasks = {
        column: entry
        for column, entry in task_table(pitch_classes).items()
        if tasks is None or entry["task"] in tasks
    }
    (root / "tasks.json").write_text(json.dumps(tasks, indent=1))
    layered = {model: ["output"] for model in models}
    if full:
        layered["encoder"] = LAYERS
    fractions = [0.1, 1.0] if full else [None]
    hops = [0.5, 1.0] if full else [None]

    rows = []
    for entry in tasks.values():
        for model_index, (model, layers) in enumerate(layered.items()):
            for layer_index, layer in enumerate(layers):
                grid = itertools.product(enumerate(PROBES), SEEDS, CONDITIONS, fractions, hops)
                for (probe_index, probe), seed, condition, fraction, hop in grid:
                    deformation, strength, _ = condition
                    severity = 0.0 if strength is None else 0.3 - 0.01 * strength
                    value = 0.5 + 0.1 * model_index + 0.04 * probe_index + 0.03 * layer_index
                    value += -severity + 0.1 * ((fraction or 1.0) - 1) - 0.05 * ((hop or 0.5) - 0.5)
                    value += rng.normal(0, 0.01)
                    base = {
                        "dataset": DATASET,
                        "task": entry["task"],
                        "model": model,
                        "layer": layer,
                        "deformation": deformation,
                        "strength": np.nan if strength is None else strength,
                        "probe": probe,
                        "seed": seed,
                    }
                    for metric in entry["metrics"]:
                        row = {**base, "metric": metric, "value": value}
                        if full:
                            row.update(ci_low=value - 0.05, ci_high=value + 0.05)
                            row.update(train_fraction=fraction, hop_s=hop)
                        rows.append(row)
    results = pd.DataFrame(rows)
    results = results[COLUMNS + [name for name in results.columns if name not in COLUMNS]]
    results.to_csv(root / "results.csv", index=False)
    if not full:
        return root

    for entry in tasks.values():
        if entry["type"] == "regression":
            continue
        for model, layers in layered.items():
            for layer, probe, seed in itertools.product(layers, PROBES, SEEDS):
                path = predictions_path(
                    root, DATASET, entry["task"], model, layer, probe, f"seed{seed}"
                )
                write_predictions(path, entry, model, layer, probe, seed, rng)

    write_statistics(root, results)
    comparisons = pd.DataFrame(
        [
            {
                "dataset": DATASET,
                "task": task,
                "metric": entry["main_metric"],
                "deformation": "none",
                "model_a": "encoder/layer_2",
                "model_b": "encoder/layer_1",
                "p_value": 0.001,
                "p_holm": 0.004,
            }
            for task, entry in ((e["task"], e) for e in tasks.values())
        ]
    )
    comparisons.to_csv(root / "comparisons.csv", index=False)
    write_label_tables(root, results, tasks)
    models_info = {
        "mfcc": {"parameters": 0, "embedding_size": 40, "speed_x_realtime": 812.5},
        "chroma": {"parameters": 0, "embedding_size": 12, "speed_x_realtime": 640.0},
        "encoder": {
            "parameters": 94_000_000,
            "embedding_size": {"layer_1": 768, "layer_2": 768, "layer_10": 768},
            "speed_x_realtime": 35.2,
        },
    }
    (root / "models.json").write_text(json.dumps(models_info))
    profile = {"seconds": 12.5, "embeddings_computed": 10, "embeddings_cached": 90}
    (root / "profile.json").write_text(json.dumps(profile))
    (root / "versions.json").write_text(json.dumps({"python": "3.11", "numpy": "2.0"}))
    (root / "config.yml").write_text("name: synthetic <run>\nmodels:\n  - {type: mfcc}\n")
    for track, seconds in (("track_a", 8.0), ("track_b", 1.0)):
        for deformation, _, label in CONDITIONS:
            folder = root / "deformed" / DATASET / (label or deformation)
            folder.mkdir(parents=True, exist_ok=True)
            t = np.arange(int(22050 * seconds)) / 22050
            audio = 0.3 * np.sin(2 * np.pi * 440 * t)[:, None] * np.ones((1, 2))
            soundfile.write(folder / f"{track}.wav", audio.astype(np.float32), 22050)
    write_embedding_views(root, tasks, layered, rng)
    return root


IN_BAND_OFFSET_DB = {"mfcc": 0.0, "chroma": 0.0, "encoder": 2.0}
"""What each synthetic model hears of white noise above the nominal SNR."""


def write_label_tables(root: Path, results: pd.DataFrame, tasks: dict[str, dict]) -> None:
    """``robustness.csv`` with the labels scored and in-band SNRs, and ``equivariance.csv``:
    under a ±1 semitone shift, chroma's predictions move with the audio (all of them), the
    others' stay on the clean label for half the items."""
    deformed = results[results["deformation"] != "none"]
    keys = ["dataset", "task", "model", "layer", "train_fraction", "probe", "metric"]
    keys += ["hop_s", "deformation", "strength"]
    robustness = deformed.groupby(keys, dropna=False)["value"].mean().reset_index()
    noise = robustness["deformation"] == "white_noise"
    offset = robustness["model"].map(IN_BAND_OFFSET_DB)
    robustness = robustness.assign(
        labels="follow",
        items_left_out=0,
        in_band_snr_db=(robustness["strength"] + offset).where(noise),
    )
    robustness.to_csv(root / "robustness.csv", index=False)
    rows = []
    for entry in tasks.values():
        if entry["task"] not in ("pitch_class", "key"):
            continue
        identities = results[results["task"] == entry["task"]][
            ["dataset", "task", "model", "layer", "train_fraction", "hop_s", "probe"]
        ].drop_duplicates()
        for identity, semitones in itertools.product(identities.to_dict("records"), (-1, 1)):
            moved = 1.0 if identity["model"] == "chroma" else 0.25
            row = {**identity, "window_s": np.nan, "deformation": "pitch_shift"}
            row.update(strength=semitones, semitones=semitones, labels="follow", items=24)
            row.update(moved=moved, stayed=(1 - moved) / 2, elsewhere=(1 - moved) / 2)
            if entry["type"] == "key":
                row.update(fifth=(1 - moved) / 4, relative=0.0, parallel=0.0)
            rows.append(row)
    pd.DataFrame(rows).to_csv(root / "equivariance.csv", index=False)


def write_statistics(root: Path, results: pd.DataFrame) -> None:
    """``summary.csv`` (intervals of seed means), ``selection.csv`` (validation scores, here
    favouring the probes the test favours) and ``ranks.csv`` (encoder/layer_1 first, alone
    tied for first; the runner-up's test against it p = 0.004) for a full run folder."""
    keys = ["dataset", "task", "model", "layer", "deformation", "strength", "train_fraction"]
    keys += ["hop_s", "probe", "metric"]
    summary = results.groupby(keys, dropna=False, sort=False)["value"].mean().reset_index()
    summary = summary.assign(ci_low=summary["value"] - 0.04, ci_high=summary["value"] + 0.04)
    summary.rename(columns={"value": "mean"}).to_csv(root / "summary.csv", index=False)
    clean = results[results["deformation"] == "none"]
    selection = clean.groupby([*keys[:4], "train_fraction", "hop_s", "probe", "seed"])
    selection = (
        selection["value"].mean().reset_index().rename(columns={"value": "validation_value"})
    )
    selection.to_csv(root / "selection.csv", index=False)
    tasks = json.loads((root / "tasks.json").read_text())
    main = {entry["task"]: entry["main_metric"] for entry in tasks.values()}
    chosen = clean[(clean["probe"] == PROBES[-1]) & (clean["train_fraction"] == 1.0)]
    chosen = chosen[(chosen["hop_s"] == 1.0) & (chosen["metric"] == chosen["task"].map(main))]
    rows = []
    for task, entries in chosen.groupby("task", sort=False):
        means = entries.groupby(["model", "layer"], sort=False)["value"].mean()
        for rank, ((model, layer), mean) in enumerate(means.sort_values(ascending=False).items()):
            rows.append(
                {
                    "dataset": DATASET, "task": task, "window_s": np.nan, "hop_s": 1.0,
                    "train_fraction": 1.0, "metric": main[task], "model": model, "layer": layer,
                    "probe": PROBES[-1], "validation": mean, "mean": mean, "rank": rank + 1,
                    "rank_low": max(rank, 1), "rank_high": min(rank + 2, len(means)),
                    "p_value": np.nan if rank == 0 else 0.002 if rank == 1 else 0.0005,
                    "p_holm": np.nan if rank == 0 else 0.004 if rank == 1 else 0.001,
                    "tied_for_first": rank == 0,
                }
            )  # fmt: skip
    pd.DataFrame(rows).to_csv(root / "ranks.csv", index=False)


def write_embedding_views(
    root: Path, tasks: dict[str, dict], layered: dict[str, list[str]], rng: np.random.Generator
) -> None:
    """``drift.csv``, ``similarity.csv``, ``maps.csv`` and ``layer_weights.csv`` as the
    embedding views and the training stage write them: drift grows with the deformation's
    severity, every (model, layer) has a CKA with every other, each task has a PCA map of 24
    test items per model (clean and at white noise 0 dB), and ``encoder`` has learned weights
    that favour its last layer."""
    entries = [(model, layer) for model, layers in layered.items() for layer in layers]
    drift = [
        {
            "dataset": DATASET, "model": model, "layer": layer, "window_s": 3.0, "hop_s": 0.5,
            "deformation": deformation, "strength": strength,
            "drift_median": (0.3 - 0.01 * strength) * (1 + index), "drift_iqr": 0.1,
            "tracks": 24,
        }
        for index, (model, layer) in enumerate(entries)
        for deformation, strength, _ in CONDITIONS[1:]
    ]  # fmt: skip
    pd.DataFrame(drift).to_csv(root / "drift.csv", index=False)
    cka = rng.uniform(0.1, 0.9, (len(entries), len(entries)))
    cka = (cka + cka.T) / 2
    np.fill_diagonal(cka, 1.0)
    similarity = [
        {
            "dataset": DATASET, "model_a": a[0], "layer_a": a[1], "model_b": b[0],
            "layer_b": b[1], "cka": cka[i, j], "tracks": 24,
        }
        for (i, a), (j, b) in itertools.product(enumerate(entries), repeat=2)
    ]  # fmt: skip
    pd.DataFrame(similarity).to_csv(root / "similarity.csv", index=False)
    points = []
    for entry in tasks.values():
        classes = entry["classes"] or ["60", "90", "120"]
        for model, layers in layered.items():
            clean = rng.normal(size=(24, 2))
            for deformation, strength, xy in (
                ("none", np.nan, clean),
                ("white_noise", 0.0, clean + rng.normal(0, 0.5, clean.shape)),
            ):
                for item, (x, y) in enumerate(xy):
                    points.append(
                        {
                            "dataset": DATASET, "task": entry["task"], "model": model,
                            "layer": layers[-1], "method": "pca", "deformation": deformation,
                            "strength": strength, "track": f"t{item}", "x": x, "y": y,
                            "label": classes[item % len(classes)],
                        }
                    )  # fmt: skip
    pd.DataFrame(points).to_csv(root / "maps.csv", index=False)
    weights = []
    for entry, probe, seed in itertools.product(tasks.values(), PROBES, SEEDS):
        raw = np.array([0.5, 1.0, 3.0]) + rng.uniform(0, 0.2, 3)
        for layer, weight in zip(LAYERS[::-1], raw / raw.sum(), strict=True):
            weights.append(
                {
                    "dataset": DATASET, "task": entry["task"], "model": "encoder",
                    "window_s": 3.0, "hop_s": 0.5, "train_fraction": 1.0, "probe": probe,
                    "seed": seed, "layer": layer, "weight": weight,
                }
            )  # fmt: skip
    pd.DataFrame(weights).to_csv(root / "layer_weights.csv", index=False)


def write_predictions(
    path: Path, task: dict, model: str, layer: str, probe: str, seed: int, rng: np.random.Generator
) -> None:
    """One predictions file in the training stage's format: every condition, 24 test items.

    Multiclass and key predictions are right for three items in four and otherwise off by one
    class index; multilabel scores are noisy indicators.
    """
    n_classes = len(task["classes"])
    items = 24
    meta = {
        "key": "synthetic",
        "dataset": DATASET,
        "task": task["task"],
        "model": model,
        "layer": layer,
        "probe": probe,
        "seed": seed,
        "conditions": [
            {"label": label or "none", "deformation": deformation, "strength": strength}
            for deformation, strength, label in CONDITIONS
        ],
    }
    arrays = {"meta": np.array(json.dumps(meta))}
    for index in range(len(CONDITIONS)):
        arrays[f"track_ids_{index}"] = np.array([f"t{item}" for item in range(items)])
        if task["type"] == "multilabel":
            y_true = (rng.random((items, n_classes)) < 0.5).astype(np.float32)
            y_score = np.clip(y_true + rng.normal(0, 0.6, y_true.shape), 0, 1)
        else:
            y_true = np.arange(items) % n_classes
            predicted = np.where(np.arange(items) % 4 == 3, (y_true + 1) % n_classes, y_true)
            y_score = np.eye(n_classes)[predicted]
        arrays[f"y_true_{index}"] = y_true
        arrays[f"y_score_{index}"] = np.asarray(y_score, dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
