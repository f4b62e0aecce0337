"""What a deformation's strength means (axis label, mild-to-severe direction, log scale) lives
on its class; the report reads it through the registry, so a new deformation plots right."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mir_ref import registry
from mir_ref.deformations.base import Deformation
from mir_ref.report import plots


def test_every_built_in_deformation_with_a_strength_names_its_axis():
    for name, cls in registry.available("deformations").items():
        if cls.strength:
            assert cls.strength_label != Deformation.strength_label, name


def test_a_new_deformation_plots_with_its_own_meaning(monkeypatch):
    @dataclass
    class Crackle(Deformation):
        """Vinyl crackle at a rate of clicks per second."""

        clicks_per_s: float = 1.0
        strength: ClassVar[str] = "clicks_per_s"
        strength_label: ClassVar[str] = "clicks (1/s)"
        log_strength: ClassVar[bool] = True

        def apply(self, audio, sample_rate, rng):
            return audio

    registry.available("deformations")  # the built-ins first, as a run loads them
    monkeypatch.setitem(registry._REGISTRY["deformations"], "crackle", Crackle)
    assert plots.deformation_class("crackle") is Crackle
    assert plots.deformation_class("crackle (labels kept)") is Crackle
    assert not plots.mild_is_high("crackle", [1, 10])


def test_the_direction_reads_from_mild_to_severe():
    assert plots.mild_is_high("white_noise", [20, 10, 0])  # a high SNR is mild
    assert not plots.mild_is_high("pitch_shift", [-1, 1])
    assert plots.mild_is_high("gain", np.array([-20.0, -40.0]))  # closest to 0 is mild
    assert plots.deformation_class("mp3").log_strength
    assert plots.deformation_class("a named entry").strength_label == "strength"
