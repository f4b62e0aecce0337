"""Safety: configs load safely, nothing is pickled, foreign code runs only when a config names
it, and a changed component never serves a stale cached embedding."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from mir_ref import registry
from mir_ref.deformations.dynamics import Gain
from mir_ref.errors import ConfigError
from mir_ref.experiment import Experiment, load_config
from mir_ref.models.base import EmbeddingModel
from mir_ref.plan import extraction_units
from mir_ref.stages import ensure_valid, extract, run_all
from tests.conftest import REPO, manifest_config

SOURCE = sorted((REPO / "mir_ref").rglob("*.py"))

_FORBIDDEN = {
    r"^\s*(import|from)\s+(pickle|cPickle|dill|joblib|shelve|marshal)\b": "a pickle module",
    r"allow_pickle\s*=\s*True": "np.load(allow_pickle=True)",
    r"\byaml\.(load|load_all|full_load|unsafe_load|unsafe_load_all)\(": "an unsafe YAML loader",
    r"\byaml\.(Loader|FullLoader|UnsafeLoader)\b": "an unsafe YAML loader",
    r"\b(read_pickle|to_pickle)\(": "a pandas pickle",
    r"(?<![.\w])(eval|exec)\(": "eval/exec of a string",
}


def test_source_uses_no_pickle_no_unsafe_yaml_and_no_eval():
    found = []
    for path in SOURCE:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for pattern, what in _FORBIDDEN.items():
                if re.search(pattern, line):
                    found.append(f"{path.relative_to(REPO)}:{number}: {what}: {line.strip()}")
    assert not found, "\n".join(found)


def test_every_torch_load_is_weights_only():
    calls = [
        (path, line)
        for path in SOURCE
        for line in path.read_text().splitlines()
        if "torch.load(" in line
    ]
    assert all("weights_only=True" in line for _, line in calls), calls


def test_a_yaml_python_tag_is_refused_not_run(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.yml"
    path.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    assert not marker.exists()


_PICKLE_PROTOCOLS = {bytes([0x80, protocol]) for protocol in range(2, 6)}


@pytest.mark.slow
def test_a_run_writes_no_pickle_and_every_array_loads_without_it(manifest_corpus):
    config = _small_config(manifest_corpus)
    run_all(Experiment.from_config(config))
    files = [p for p in manifest_corpus.parent.joinpath("run").rglob("*") if p.is_file()]
    files += [p for p in manifest_corpus.parent.joinpath("cache").rglob("*") if p.is_file()]
    assert len(files) > 24
    for path in files:
        with open(path, "rb") as handle:
            assert handle.read(2) not in _PICKLE_PROTOCOLS, path
        assert path.suffix not in (".pkl", ".pickle", ".joblib"), path
        if path.suffix == ".npy":
            np.load(path, allow_pickle=False)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                for name in data.files:
                    assert data[name].dtype != object


# -- foreign code runs only when the config names it -----------------------------------------


_PLANTED = """
import pathlib
pathlib.Path({marker!r}).write_text("imported")


class Model:
    sample_rate = 16000
    frame_hop_s = 0.5

    def embed(self, batch):
        import numpy as np

        return np.zeros((1, len(batch), 1, 4), dtype=np.float32)
"""


def test_a_user_class_is_imported_only_when_the_config_names_it(manifest_corpus, monkeypatch):
    folder = manifest_corpus.parent / "plugins"
    folder.mkdir()
    marker = folder / "imported.txt"
    (folder / "planted_model.py").write_text(_PLANTED.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "planted_model", raising=False)

    # Import-path-like strings anywhere else in a config are plain data.
    config = _small_config(manifest_corpus, name="planted_model:Model")
    config["datasets"][0]["name"] = "planted_model.Model"
    ensure_valid(Experiment.from_config(config))
    assert not marker.exists()

    named = _small_config(
        manifest_corpus, models=[{"type": "python", "class": "planted_model:Model"}]
    )
    Experiment.from_config(named)
    assert marker.read_text() == "imported"


def test_remote_model_code_needs_trust_remote_code_for_that_model(tmp_path):
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "config.json").write_text('{"auto_map": {"AutoModel": "modeling.Custom"}}')
    with pytest.raises(ConfigError, match="set `trust_remote_code: true` for this model"):
        registry.build("models", {"type": "huggingface", "model_id": str(folder)}, where="m")
    hub = registry.lookup("models", "huggingface")
    assert hub.__dataclass_fields__["trust_remote_code"].default is False  # off unless named


# -- cache keys carry each component's parameters (defaults too) and code version --------------


def _small_config(manifest: Path, **overrides) -> dict:
    return manifest_config(
        manifest,
        **{
            "name": "safe",
            "models": [{"type": "mfcc", "n_mels": 40}],
            "embedding": {"window_s": 1.0, "hop_s": 1.0},
            "protocol": {"epochs": 10, "patience": 3, "learning_rate": 0.01, "n_bootstrap": 10},
            "execution": {"workers": 1},
            **overrides,
        },
    )


def _counting_model(gain_default: float, calls: dict) -> type:
    """A fresh class under one registered name, as if its code had been edited."""

    @dataclass
    class Gained(EmbeddingModel):
        gain: float = gain_default

        sample_rate = 16000
        frame_hop_s = 0.5

        def embed(self, batch: np.ndarray) -> np.ndarray:
            calls["n"] += len(batch)  # windows embedded (windows of many tracks share a call)
            rms = np.sqrt((batch**2).mean(axis=1))
            return (self.gain * rms)[None, :, None, None].astype(np.float32)

    registry.register("models", "reliability_gained")(Gained)
    return Gained


@pytest.fixture
def counting_model():
    calls = {"n": 0}
    yield calls
    registry._REGISTRY["models"].pop("reliability_gained", None)


def test_a_changed_parameter_default_or_version_recomputes(manifest_corpus, counting_model):
    calls = counting_model
    config = _small_config(manifest_corpus, models=[{"type": "reliability_gained"}])

    _counting_model(1.0, calls)
    extract(Experiment.from_config(config))
    first = calls["n"]
    assert first == 24  # one window per track
    extract(Experiment.from_config(config))
    assert calls["n"] == first  # unchanged code: everything from the cache

    changed = _counting_model(2.0, calls)  # the config does not mention `gain`
    extract(Experiment.from_config(config))
    assert calls["n"] == 2 * first

    changed.version = "2"  # same parameters, new output: the author bumps the version
    extract(Experiment.from_config(config))
    assert calls["n"] == 3 * first


def test_a_deformation_version_is_in_its_embedding_keys(manifest_corpus, monkeypatch):
    config = _small_config(manifest_corpus, deformations=[{"type": "gain", "gain_db": -6}])

    def deformed_keys() -> set[str]:
        units = extraction_units(Experiment.from_config(config))
        return {k for u in units if u.condition.deformation for k in u.keys.values()}

    before = deformed_keys()
    monkeypatch.setattr(Gain, "version", Gain.version + ".changed")
    after = deformed_keys()
    assert before and not before & after


def test_the_skipped_tracks_section_escapes_what_it_shows(tmp_path):
    from mir_ref.report.build import write_report
    from tests.report_run import make_run_folder

    folder = make_run_folder(tmp_path / "run", full=False, tasks=("tags",))
    (folder / "skipped.csv").write_text(
        'dataset,track,path,reason\nd,<script>alert(1)</script>,x.wav,"bad <b>audio</b>"\n'
    )
    page = write_report(folder, keep_plots=False).read_text(encoding="utf-8")
    assert "Skipped tracks" in page and "<script" not in page and "<b>audio" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
