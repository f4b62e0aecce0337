"""provenance.json: dataset fingerprints, model identities (hub revisions, weight and module
hashes), peak memory, and the results diff; all without running a pipeline."""

from __future__ import annotations

import json
import mmap
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from mir_ref import memory, provenance, registry
from mir_ref.digests import file_checksum, folder_checksum
from mir_ref.errors import ConfigError
from mir_ref.experiment import Experiment
from mir_ref.report.tables import pareto_front
from mir_ref.reproduce import diff_results
from mir_ref.stages import write_provenance
from tests import hf_tiny
from tests.conftest import REPO, manifest_config


def _relabel(manifest, track: str, old: str, new: str) -> None:
    lines = manifest.read_text().splitlines()
    lines = [line.replace(f"{track},{old},", f"{track},{new},") for line in lines]
    manifest.write_text("\n".join(lines) + "\n")


def test_fingerprints_tell_a_changed_label_from_a_touched_file(manifest_corpus):
    config = manifest_config(manifest_corpus)
    write_provenance(Experiment.from_config(config))
    run = manifest_corpus.parent / "run"
    first = provenance.read(run)
    fingerprint = first["datasets"]["corpus"]
    assert fingerprint["tracks"] == {"train": 16, "validation": 4, "test": 4}
    assert fingerprint["audio_files"] == 24
    assert first["config"]["datasets"][0]["path"] == str(manifest_corpus)
    assert first["packages"]["numpy"] == np.__version__ and first["machine"]["cpu_count"]
    tracks = provenance.read_tracks(run)
    assert len(tracks) == 24 and json.loads(tracks["labels"][0]) == {"genre": "high"}

    _relabel(manifest_corpus, "audio/high_23.wav", "high", "low")
    write_provenance(Experiment.from_config(config))
    second = provenance.read(run)
    assert second["datasets"]["corpus"]["labels_sha256"] != fingerprint["labels_sha256"]
    assert second["datasets"]["corpus"]["audio_sha256"] == fingerprint["audio_sha256"]
    differences = provenance.differences(first, second)
    assert differences == [
        "dataset 'corpus': the fingerprint of its tracks, splits and labels differs"
    ]
    changed = provenance.changed_tracks(
        tracks, provenance.read_tracks(run), dataset="corpus", columns=provenance.LABEL_COLUMNS
    )
    assert changed["track"].tolist() == ["audio/high_23.wav"]
    assert changed[["labels_before", "labels_after"]].iloc[0].tolist() == [
        '{"genre": "high"}',
        '{"genre": "low"}',
    ]

    audio = manifest_corpus.parent / "audio" / "low_00.wav"
    os.utime(audio, ns=(audio.stat().st_atime_ns, audio.stat().st_mtime_ns + 10**9))
    write_provenance(Experiment.from_config(config))
    third = provenance.read(run)["datasets"]["corpus"]
    assert third["labels_sha256"] == second["datasets"]["corpus"]["labels_sha256"]
    assert third["audio_sha256"] != fingerprint["audio_sha256"]


def test_a_local_hugging_face_folder_records_its_hash_and_takes_no_revision(tmp_path):
    folder = hf_tiny.wav2vec2(tmp_path / "w2v")
    model = registry.build(
        "models", {"type": "huggingface", "model_id": str(folder), "device": "cpu"}, where="m"
    )
    assert model.provenance() == {"folder_sha256": folder_checksum(folder)}
    # A revision changes no cache key unless it is given.
    assert "revision" not in registry.parameters(model)
    before = model.provenance()["folder_sha256"]
    (folder / "config.json").write_text((folder / "config.json").read_text() + " ")
    assert model.provenance()["folder_sha256"] != before  # an edited file changes it
    with pytest.raises(ConfigError, match="revision.*local folder has none"):
        registry.build(
            "models",
            {"type": "huggingface", "model_id": str(folder), "revision": "main"},
            where="m",
        )


def test_a_hub_model_records_the_commit_it_loaded(tmp_path):
    """A hub model found offline in a Hugging Face cache laid out as the hub writes it:
    the commit of ``refs/main``, or the one ``revision:`` pins, is recorded."""
    commit = "1" * 40
    cache = tmp_path / "hub"
    repository = cache / "models--tiny--w2v"
    hf_tiny.wav2vec2(repository / "snapshots" / commit)
    (repository / "refs").mkdir()
    (repository / "refs" / "main").write_text(commit)
    script = textwrap.dedent(
        f"""
        import json
        from mir_ref import registry
        found = []
        for extra in ({{}}, {{"revision": "{commit}"}}):
            spec = {{"type": "huggingface", "model_id": "tiny/w2v", "device": "cpu", **extra}}
            model = registry.build("models", spec, where="m")
            found.append([model.provenance(), "revision" in registry.parameters(model)])
        print(json.dumps(found))
        """
    )
    environment = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=environment, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    unpinned, pinned = json.loads(done.stdout.strip().splitlines()[-1])
    assert unpinned == [{"revision": commit, "requested_revision": None}, False]
    assert pinned == [{"revision": commit, "requested_revision": commit}, True]


def test_python_and_hear_models_record_their_module_source():
    python = registry.build(
        "models", {"type": "python", "class": "tests.python_model_example:FrameEnergy"}, where="m"
    )
    assert python.provenance() == {
        "module_sha256": file_checksum(REPO / "tests" / "python_model_example.py")
    }
    hear = registry.build("models", {"type": "hear", "module": "tests.hear_example"}, where="m")
    assert hear.provenance() == {"module_sha256": file_checksum(REPO / "tests" / "hear_example.py")}


def test_peak_memory_sees_an_allocation_inside_the_block():
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("the resident peak is measured on Linux only")
    with memory.peak() as small:
        pass
    with memory.peak() as large:
        # Fresh pages from the kernel (an earlier test's freed heap could serve a numpy array
        # without growing the resident set), written so that they are resident.
        block = mmap.mmap(-1, 40 * 2**20)
        block.write(b"\1" * len(block))
        block.close()
    assert large.added_bytes is not None and large.added_bytes >= 35 * 2**20
    assert small.added_bytes < 35 * 2**20


def test_pareto_front_keeps_the_points_nothing_beats():
    cost = [1.0, 2.0, 3.0, 3.0, 10.0]
    score = [0.5, 0.7, 0.6, 0.7, 0.9]
    assert pareto_front(cost, score, cheap_is_low=True).tolist() == [True, True, False, False, True]
    # Speed: a higher cost is better.
    assert pareto_front(cost, score, cheap_is_low=False).tolist() == [
        False,
        False,
        False,
        False,
        True,
    ]


def _results(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": "d", "task": "t", "model": ["a", "b", "c"][: len(values)],
            "layer": "output", "window_s": 3.0, "hop_s": 3.0, "deformation": np.nan,
            "strength": np.nan, "train_fraction": 1.0, "probe": "linear", "seed": 0,
            "metric": "accuracy", "value": values, "ci_low": np.nan, "ci_high": np.nan,
        }
    )  # fmt: skip


def test_results_diff_says_identical_or_lists_the_rows(tmp_path):
    for name, values in (("a", [0.5, 0.6]), ("b", [0.5, 0.6]), ("c", [0.5, 0.7, 0.1])):
        (tmp_path / name).mkdir()
        _results(values).to_csv(tmp_path / name / "results.csv", index=False)
    same = diff_results(tmp_path / "a", tmp_path / "b")
    assert same.identical and same.summary().startswith("identical: the 2 result rows")
    other = diff_results(tmp_path / "a", tmp_path / "c")
    assert not other.identical
    assert other.changed["model"].tolist() == ["b"]
    assert other.changed["difference"].iloc[0] == pytest.approx(0.1)
    assert other.only_b["model"].tolist() == ["c"] and other.only_a.empty
    assert "1 of 3 rows differ" in other.summary() and "1 rows only in" in other.summary()


def test_validate_refuses_a_misspelt_or_empty_revision(tmp_path):
    folder = str(hf_tiny.wav2vec2(tmp_path / "w2v"))
    with pytest.raises(ConfigError, match="did you mean 'revision'"):
        registry.build(
            "models", {"type": "huggingface", "model_id": folder, "revison": "main"}, where="m"
        )
    with pytest.raises(ConfigError, match="must name a commit, branch or tag"):
        registry.build(
            "models", {"type": "huggingface", "model_id": "org/x", "revision": ""}, where="m"
        )
