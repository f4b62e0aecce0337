"""`mir_ref cache info | verify | prune` on the cache of a small real run, and float16 runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from mir_ref import stages
from mir_ref.cache_admin import cache_info, human_bytes, prune
from mir_ref.cli import app
from mir_ref.errors import CacheError
from mir_ref.experiment import Experiment
from mir_ref.plan import extraction_units
from mir_ref.results import KEY_COLUMNS
from mir_ref.store import Store, cache_key
from tests.test_pipeline import SMALL_TONES, small_config

runner = CliRunner()

TINY_TONES = {**SMALL_TONES, "tasks": ["pitch_class"], "mixtures": 9}


def tiny_config(folder: Path, **overrides) -> dict:
    """Two models, clean + one deformation, 36 notes: 48 small embeddings, a few seconds."""
    options = {"datasets": [TINY_TONES], "deformations": [{"type": "gain", "gain_db": [-20]}]}
    return small_config(folder, **{**options, **overrides})


def write(folder: Path, config: dict, name: str = "config.yml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A folder with a tiny config's cache, extracted once for the module."""
    folder = tmp_path_factory.mktemp("template")
    stats = stages.extract(Experiment.from_config(tiny_config(folder)))
    result = invoke("pack", "--cache", folder / "cache")
    assert result.exit_code == 0 and f"packed {stats.computed} entries" in result.output
    return folder


@pytest.fixture
def extracted(template, tmp_path) -> tuple[Path, Experiment]:
    """A config file whose embeddings are all in its cache (a fresh copy per test)."""
    shutil.copytree(template / "cache", tmp_path / "cache")
    path = write(tmp_path, tiny_config(tmp_path))
    return path, Experiment.from_config(path)


def invoke(*args: str):
    return runner.invoke(app, ["cache", *map(str, args)])


def test_info_counts_entries_by_model_dataset_and_condition(extracted):
    path, experiment = extracted
    units = extraction_units(experiment)
    per_condition = {c.label: sum(u.condition is c for u in units) for c in experiment.conditions}
    info = cache_info(experiment.cache_dir)
    assert info.entries == 2 * len(units)
    assert {(g.model, g.dataset, g.condition, g.dtype): g.entries for g in info.groups} == {
        (model, "tones", label, "float32"): count
        for model in ("mfcc", "melspectrogram")
        for label, count in per_condition.items()
    }
    cache = experiment.cache_dir
    on_disk = sum(
        p.stat().st_size for p in cache.rglob("*") if "locks" not in p.parts and p.is_file()
    )
    assert info.size_bytes == on_disk
    result = invoke("info", "-c", path)
    assert result.exit_code == 0, result.output
    assert f"{info.entries} entries, {human_bytes(on_disk)}" in " ".join(result.output.split())
    assert "melspectrogram" in result.output and "gain" in result.output


def test_verify_repair_and_rerun_recomputes_the_damaged_entry(extracted):
    path, experiment = extracted
    store = Store(experiment.cache_dir)
    assert invoke("verify", "-c", path).exit_code == 0
    damaged = next(store.entries())
    assert damaged.packed is not None
    original = np.array(store.get(damaged.key))
    with open(damaged.path, "r+b") as shard:  # flip bits of the entry's last value
        shard.seek(damaged.packed.offset + damaged.packed.length - 1)
        last = shard.read(1)[0]
        shard.seek(-1, 1)
        shard.write(bytes([last ^ 0xFF]))

    result = invoke("verify", "--cache", experiment.cache_dir)
    assert result.exit_code == 1
    output = "".join(result.output.split())
    assert "checksummismatch" in output and damaged.key in output
    result = invoke("verify", "-c", path, "--repair")
    assert result.exit_code == 0 and "removed" in result.output
    assert not store.has(damaged.key)

    stats = stages.extract(Experiment.from_config(path))
    assert stats.computed == 1
    np.testing.assert_array_equal(store.get(damaged.key), original)
    assert invoke("verify", "-c", path).exit_code == 0


def test_prune_by_model_dry_run_then_for_real(extracted):
    path, experiment = extracted
    store = Store(experiment.cache_dir)
    before = cache_info(experiment.cache_dir).entries
    result = invoke("prune", "--cache", experiment.cache_dir, "--model", "mfcc", "--dry-run")
    assert result.exit_code == 0 and f"would remove {before // 2} entries" in result.output
    assert cache_info(experiment.cache_dir).entries == before
    result = invoke("prune", "--cache", experiment.cache_dir, "--model", "mfcc")
    assert result.exit_code == 0 and f"removed {before // 2} entries" in result.output
    left = {e.record()["meta"]["model"] for e in store.entries()}
    assert left == {"melspectrogram"}


def test_prune_keep_config_deletes_what_the_config_does_not_need(extracted, tmp_path):
    path, experiment = extracted
    # The same data with one model and no deformation: only its clean mfcc entries are needed.
    smaller = tiny_config(tmp_path, models=[{"type": "mfcc", "n_mels": 40}], deformations=[])
    keep = write(tmp_path, smaller, "smaller.yml")
    result = invoke("prune", "--keep-config", keep)
    assert result.exit_code == 0, result.output
    needed = extraction_units(Experiment.from_config(keep))
    remaining = list(Store(experiment.cache_dir).entries())
    assert sorted(e.key for e in remaining) == sorted(k for u in needed for k in u.keys.values())
    assert stages.extract(Experiment.from_config(keep)).computed == 0  # nothing it needs is gone


def test_prune_older_than_uses_the_write_time_and_skips_entries_in_use(tmp_path, rng):
    store = Store(tmp_path)
    keys = [cache_key({"i": i}) for i in range(4)]
    for key in keys:
        store.put(key, rng.normal(size=(1, 1, 4)).astype(np.float32))
    store.pack()  # packed, written now
    old = cache_key({"old": True})
    store.put(old, np.ones((1, 1, 4), dtype=np.float32))
    entry = next(e for e in store.entries() if e.key == old)
    record = entry.record()
    record["created"] -= 3 * 86400
    entry.record_path.write_text(json.dumps(record))
    assert [e.key for e in prune(tmp_path, older_than_days=2, dry_run=True).removed] == [old]
    with store.lock(old):  # a running extraction holds it: left alone
        result = prune(tmp_path, older_than_days=2)
    assert result.removed == [] and result.in_use == 1
    result = prune(tmp_path, older_than_days=2)
    assert [e.key for e in result.removed] == [old]
    assert not store.has(old) and all(store.has(key) for key in keys)


def test_prune_needs_a_criterion(tmp_path):
    with pytest.raises(CacheError, match="--older-than"):
        prune(tmp_path, dry_run=True)
    assert invoke("prune", "--cache", tmp_path).exit_code == 2


def test_verify_of_an_empty_or_missing_cache_is_healthy(tmp_path):
    result = invoke("verify", "--cache", tmp_path / "nothing")
    assert result.exit_code == 0 and "ok" in result.output
    assert invoke("info", "--cache", tmp_path / "nothing").exit_code == 0


@pytest.mark.slow
def test_a_float16_run_keeps_its_own_entries_and_matches_float32(tmp_path):
    full = stages.run_all(Experiment.from_config(tiny_config(tmp_path)))
    half_config = tiny_config(tmp_path, execution={"workers": 1, "store_dtype": "float16"})
    half_config["output_dir"] = str(tmp_path / "run16")
    experiment = Experiment.from_config(half_config)
    stats = stages.extract(experiment)
    assert stats.cached == 0  # the float32 entries of the same keys are not reused
    half = stages.run_all(experiment)
    totals: dict[str, int] = {}
    for group in cache_info(experiment.cache_dir).groups:
        totals[group.dtype] = totals.get(group.dtype, 0) + group.entries
    assert totals == {"float32": stats.computed, "float16": stats.computed}
    full, half = (t.sort_values(KEY_COLUMNS).reset_index(drop=True) for t in (full, half))
    pd.testing.assert_frame_equal(full[KEY_COLUMNS], half[KEY_COLUMNS])
    np.testing.assert_allclose(full["value"], half["value"], atol=0.05)
