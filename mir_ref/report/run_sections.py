"""The report's sections about the run itself: model efficiency, example audio to listen to,
and provenance (config, versions, date, run time, cache hits).

Each reads an optional file of the run folder and is left out when that file is missing.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import pandas as pd

from mir_ref.report import curves, tables
from mir_ref.report.html import Cell, Row, Section, number
from mir_ref.report.listening import CLIP_SAMPLE_RATE, MAX_CLIP_S, wav_data_uri
from mir_ref.report.run_folder import TaskInfo
from mir_ref.report.sections import Context

EXAMPLE_TRACKS = 2
"""Tracks per dataset in the listening section (each under every condition)."""


_FIELD_LABELS = {
    "parameters": "parameters",
    "layers": "embedding size",
    "embedding_size": "embedding size",
    "sample_rate_hz": "sample rate (Hz)",
    "frame_rate_hz": "frame rate (Hz)",
    "frame_hop_s": "frame hop (s)",
    "extraction.audio_s_per_s": "speed (s of audio per s)",
    "extraction.device": "device",
    "extraction.peak_memory_mb": "peak memory (MB)",
    "extraction.peak_gpu_memory_mb": "peak GPU memory (MB)",
}
_SPEED_FIELDS = ("extraction.audio_s_per_s", "speed_x_realtime", "audio_s_per_s", "speed")


def efficiency(context: Context) -> Section | None:
    """Parameters, embedding size, extraction speed and peak memory per model (``models.json``),
    and per task the main metric against parameters and against speed, with Pareto fronts."""
    entries = _model_entries(context.folder.json("models.json"))
    if not entries:
        return None
    fields = list(dict.fromkeys(key for entry in entries.values() for key in entry))
    rows = [
        Row([Cell(model), *(_cell(entry.get(name)) for name in fields)])
        for model, entry in entries.items()
    ]
    section = Section(
        "efficiency",
        "Efficiency",
        "What each model costs: size, embedding dimension, measured extraction speed and peak "
        "memory, as written by the extraction stage (models.json), and what it buys.",
    )
    speed_field = next((f for f in _SPEED_FIELDS if f in fields), None)
    costs = [
        ("parameters", "parameters", "parameters (log scale)", True),
        ("speed", speed_field, "extraction speed (s of audio per s, log scale)", False),
    ]
    for name, cost_field, label, cheap_is_low in costs:
        points = _score_and_cost(context, entries, cost_field) if cost_field else None
        if points is None or points.empty:
            continue
        better = "fewer" if cheap_is_low else "faster"
        path = curves.score_against_cost(
            points,
            context.colors,
            context.plot_path(f"efficiency_{name}"),
            xlabel=label,
            title=f"Score against {name}, per task",
            cheap_is_low=cheap_is_low,
        )
        section.figure(
            path,
            f"Per task, each model's clean-audio main metric (probe, and layer of multi-layer "
            f"models, chosen on validation) against its {name}. Dashed: the Pareto front, the "
            f"models no other model beats on both score and {name} ({better} is better)."
            + (
                " Models without a parameter count (hand-made features) are not drawn."
                if cheap_is_low
                else ""
            ),
        )
    labels = [_FIELD_LABELS.get(name, name) for name in fields]
    section.table("Per model, from models.json.", ["model", *labels], rows)
    return section


def _score_and_cost(
    context: Context, entries: Mapping[str, Mapping[str, Any]], cost_field: str
) -> pd.DataFrame:
    """Per task and model: the clean main metric (layer chosen on validation) and the
    model's positive ``cost_field`` from ``models.json``."""
    layers = context.best.assign(model=context.best["base_model"])
    best = tables.selected_probes(layers)
    rows = []
    for row in best.itertuples(index=False):
        cost = entries.get(str(row.model), {}).get(cost_field)
        if isinstance(cost, (int, float)) and not isinstance(cost, bool) and cost > 0:
            rows.append(
                {
                    "column": row.column,
                    "metric": row.metric,
                    "model": str(row.model),
                    "cost": float(cost),
                    "score": float(row.mean),
                }
            )
    return pd.DataFrame(rows)


def _model_entries(data: Any) -> dict[str, dict[str, Any]]:
    """``models.json`` as ``{model: {field: value}}``, from a mapping or a list of records."""
    if isinstance(data, Mapping) and isinstance(data.get("models"), (list, Mapping)):
        data = data["models"]
    if isinstance(data, Mapping):
        return {
            str(name): _flat(_sizes(entry))
            for name, entry in data.items()
            if isinstance(entry, Mapping)
        }
    if isinstance(data, list):
        entries = {}
        for index, entry in enumerate(data):
            if isinstance(entry, Mapping):
                name = entry.get("name", entry.get("model", f"model {index + 1}"))
                entries[str(name)] = _flat(
                    _sizes({k: v for k, v in entry.items() if k not in ("name", "model")})
                )
        return entries
    return {}


def _sizes(entry: Mapping[str, Any]) -> dict[str, Any]:
    """``entry`` with per-layer sizes (``{"layers": {name: dim}}``) as one readable value."""
    entry = dict(entry)
    for key in ("layers", "embedding_size"):
        sizes = entry.get(key)
        if isinstance(sizes, Mapping) and sizes:
            distinct = list(dict.fromkeys(str(size) for size in sizes.values()))
            text = ", ".join(distinct)
            entry[key] = text if len(sizes) == 1 else f"{text} ({len(sizes)} layers)"
    return entry


def _flat(entry: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings flattened to ``outer.inner`` keys."""
    flat: dict[str, Any] = {}
    for key, value in entry.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _cell(value: Any) -> Cell:
    if isinstance(value, bool) or value is None:
        return Cell("–" if value is None else str(value))
    if isinstance(value, (int, float)):
        return number(value, 0 if float(value).is_integer() else 3)
    if isinstance(value, list):
        return Cell(", ".join(str(item) for item in value))
    return Cell(str(value))


def listening(context: Context) -> Section | None:
    """Audio players for a few test tracks, clean and under every deformation."""
    examples = context.folder.deformed_examples()
    if not examples:
        return None
    section = Section(
        "listening",
        "Listening",
        f"A few test tracks as the models heard them, clean and under each deformation "
        f"(first {MAX_CLIP_S:g} s, mono, {CLIP_SAMPLE_RATE // 1000} kHz, 16-bit; written by "
        "`mir_ref deform`).",
    )
    shown: dict[str, int] = {}
    for (dataset, track), by_condition in examples.items():
        if shown.get(dataset, 0) >= EXAMPLE_TRACKS:
            continue
        shown[dataset] = shown.get(dataset, 0) + 1
        clips = [(condition, wav_data_uri(path)) for condition, path in by_condition.items()]
        section.clips(f"{dataset} · {track}", clips)
    return section


def skipped(context: Context) -> Section | None:
    """The tracks left out for bad audio (``on_bad_audio: skip``), from ``skipped.csv``."""
    table = context.folder.table("skipped.csv")
    if table is None:
        return None
    table = table.fillna("").astype(str).drop_duplicates(["dataset", "track"])
    section = Section(
        "skipped",
        "Skipped tracks",
        f"{len(table)} track(s) had unusable audio and are not in any result "
        "(`execution.on_bad_audio: skip`); fix or remove them and rerun to include them.",
    )
    section.table(
        "Each skipped track and why (skipped.csv).",
        ["dataset", "track", "reason"],
        [Row([Cell(r.dataset), Cell(r.track), Cell(r.reason)]) for r in table.itertuples()],
    )
    return section


def provenance(context: Context) -> Section:
    """The resolved config, package versions, dates, run time and cache hits."""
    folder = context.folder
    section = Section(
        "provenance", "Provenance", "What produced these results, to reproduce or cite them."
    )
    facts: list[tuple[str, Any]] = []
    results_path = folder.path / "results.csv"
    if results_path.is_file():
        written = datetime.datetime.fromtimestamp(
            results_path.stat().st_mtime, datetime.timezone.utc
        )
        facts.append(("results written", written.strftime("%Y-%m-%d %H:%M UTC")))
    profile = folder.json("profile.json")
    if isinstance(profile, Mapping):
        labels = {
            "seconds": "run time (s)",
            "embeddings_computed": "embeddings computed",
            "embeddings_cached": "embeddings from the cache (hits)",
        }
        facts += [(labels.get(key, key), value) for key, value in _flat(profile).items()]
    facts.append(("result rows", len(folder.results)))
    section.table(
        "The run.",
        ["", "value"],
        [Row([Cell(name), _cell(value)]) for name, value in facts],
    )
    versions = folder.json("versions.json")
    if isinstance(versions, Mapping):
        section.table(
            "Package versions (versions.json).",
            ["package", "version"],
            [Row([Cell(str(name)), Cell(str(value))]) for name, value in versions.items()],
        )
    section.table(
        "The tasks (tasks.json).",
        ["task", "type", "main metric", "classes"],
        [
            Row([Cell(info.column), Cell(info.type), Cell(info.main_metric), Cell(_classes(info))])
            for info in folder.tasks.values()
        ],
    )
    config = folder.text("config.yml")
    if config is not None:
        section.text("The resolved config (config.yml); click to unfold.", config)
    return section


def _classes(info: TaskInfo, *, shown: int = 24) -> str:
    names = ", ".join(info.classes[:shown])
    more = len(info.classes) - shown
    return names + (f", ... ({more} more)" if more > 0 else "") if info.classes else "–"
