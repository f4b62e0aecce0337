"""The README's promises: its two commands and its component example stay true."""

from __future__ import annotations

import re

import numpy as np

import mir_ref
from mir_ref import registry
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def test_first_code_block_holds_exactly_the_demo_and_test_commands():
    first = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    assert first.strip().splitlines() == ["make demo", "make test"]
    makefile = (REPO / "Makefile").read_text()
    assert "mir_ref run -c configs/demo.yml" in makefile
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_the_component_example_registers_a_working_model():
    example = re.search(r"```python\n(from dataclasses import dataclass.*?)```", README, re.S)
    exec(example.group(1), {})  # noqa: S102 - the README's own example
    try:
        model = mir_ref.model("rms", frame_length=1024)
        batch = np.random.default_rng(0).normal(size=(2, 22050)).astype(np.float32)
        out = model.embed(batch)
        assert out.shape[:2] == (1, 2) and out.shape[-1] == 1
    finally:
        registry._REGISTRY["models"].pop("rms", None)
