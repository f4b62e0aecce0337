"""The README's "Adding a dataset" and "Adding a deformation" examples work as it says."""

from __future__ import annotations

import re
import sys
import types

import numpy as np
import pytest
from conftest import REPO, write_tone

from mir_ref import registry, stages
from mir_ref.errors import ConfigError
from mir_ref.experiment import Experiment
from mir_ref.report import plots

README = (REPO / "README.md").read_text()


def _example(heading: str) -> str:
    section = README.split(f"### {heading}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def registered():
    names = []

    def run(heading: str, kind: str, name: str) -> None:
        # A module of its own, as a user's file would be (dataclasses and pydantic read it).
        module = types.ModuleType(f"readme_{name}")
        sys.modules[module.__name__] = module
        exec(_example(heading), module.__dict__)  # noqa: S102 - the README's own example
        names.append((kind, name, module.__name__))

    yield run
    for kind, name, module in names:
        registry._REGISTRY[kind].pop(name, None)
        sys.modules.pop(module, None)


def test_the_dataset_example_validates_and_is_checked(tmp_path, registered):
    registered("Adding a dataset", "datasets", "drum_hits")
    for split, count in (("train", 4), ("validation", 2), ("test", 2)):
        for kind, frequency in (("kick", 60), ("snare", 200), ("hat", 3000)):
            for index in range(count):
                write_tone(tmp_path / "drums" / split / kind / f"{index}.wav", frequency + index)
    config = {
        "output_dir": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
        "datasets": [{"type": "drum_hits", "path": str(tmp_path / "drums")}],
        "models": [{"type": "mfcc"}],
    }
    experiment = Experiment.from_config(config)
    assert stages.validate(experiment) == []
    assert len(experiment.datasets[0].tracks("train")) == 12
    (tmp_path / "drums" / "test" / "hat" / "0.wav").write_bytes(b"not audio")
    problems = stages.validate(Experiment.from_config(config))
    assert len(problems) == 1 and "test/hat/0" in problems[0]


def test_the_deformation_example_sweeps_plots_and_refuses_a_bad_level(registered):
    registered("Adding a deformation", "deformations", "hum")
    config = {
        "datasets": [{"type": "synthetic_tones", "tasks": ["pitch_class"]}],
        "deformations": [{"type": "hum", "level_db": [-40, -20]}],
        "models": [{"type": "mfcc"}],
    }
    conditions = Experiment.from_config(config).conditions
    assert [c.label for c in conditions] == ["none", "hum@level_db=-40", "hum@level_db=-20"]
    audio = np.zeros(16000, dtype=np.float32)
    hummed = conditions[2].deformation(audio, 16000)
    assert hummed.shape == audio.shape and np.abs(hummed).max() > 0
    assert plots.deformation_class("hum").strength_label == "hum level (dB re RMS)"
    config["deformations"] = [{"type": "hum", "level_db": 5}]
    with pytest.raises(ConfigError) as refused:
        Experiment.from_config(config)
    assert str(refused.value) == "deformations[0].level_db: 5.0 is outside [-60, 0] dB"
