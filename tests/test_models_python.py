"""The ``python`` adapter: a user class by import path, checked and run end to end."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import mir_ref
from mir_ref import registry
from mir_ref.errors import ConfigError
from tests.model_runs import notes_config

EXAMPLE = "tests.python_model_example:FrameEnergy"


def build(**spec):
    return registry.build("models", {"type": "python", **spec}, where="models[0]")


def test_user_class_is_built_with_its_params_and_pickles(rng):
    model = build(**{"class": EXAMPLE, "params": {"frame_length": 800}})
    assert model.layers == ["log_energy", "zero_crossings"]
    assert model.sample_rate == 16000
    assert model.frame_hop_s == pytest.approx(0.05)
    audio = rng.standard_normal((2, 8000)).astype(np.float32)
    output = model.embed(audio)
    assert output.shape == (2, 2, 10, 1)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).embed(audio), output)


def test_params_are_part_of_the_cache_key():
    first = registry.parameters(build(**{"class": EXAMPLE, "params": {"frame_length": 800}}))
    second = registry.parameters(build(**{"class": EXAMPLE}))
    assert first != second
    assert first["class_path"] == EXAMPLE


def test_dotted_path_works_too():
    assert build(**{"class": "tests.python_model_example.FrameEnergy"}).sample_rate == 16000


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"class": "tests.python_model_example:NotAModel"}, "NotAModel' is not an embedding"),
        ({"class": "tests.no_such_module:Model"}, "cannot import module 'tests.no_such_module'"),
        ({"class": "tests.python_model_example:Missing"}, "has no 'Missing'"),
        ({"class": EXAMPLE, "params": {"bogus": 1}}, "params of class .*bogus"),
        ({"class": EXAMPLE, "extra": 1}, r"unknown key\(s\) \['extra'\]"),
        ({}, "needs `class: package.module:ClassName`"),
    ],
)
def test_bad_classes_are_config_errors_naming_them(spec, message):
    with pytest.raises(ConfigError, match=message):
        build(**spec)


def test_user_model_runs_end_to_end_one_row_set_per_layer(tmp_path):
    results = mir_ref.run(notes_config(tmp_path, [{"type": "python", "class": EXAMPLE}]))
    assert set(results.layer.astype(str)) == {"log_energy", "zero_crossings"}


def test_readme_example_class_works_through_the_adapter(tmp_path, monkeypatch, rng):
    import re

    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    source = re.search(r"```python\n(# mymodels\.py.*?)```", readme, re.S).group(1)
    assert len(source.strip().splitlines()) <= 22
    (tmp_path / "readme_mymodels.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    model = build(**{"class": "readme_mymodels:FrameEnergy", "params": {"frame_length": 800}})
    output = model.embed(rng.standard_normal((2, 8000)).astype(np.float32))
    assert model.layers == ["log_energy"] and output.shape == (1, 2, 10, 1)
