"""A chain: other deformations applied one after another, as one condition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mir_ref import registry
from mir_ref.deformations.base import Deformation
from mir_ref.deformations.compat import translate
from mir_ref.errors import ConfigError
from mir_ref.tasks import LabelChange


@registry.register("deformations", "chain")
@dataclass
class Chain(Deformation):
    """Several deformations applied in order (a degradation path: phone line, broadcast, ...).

    Parameters
    ----------
    steps : the deformations, each a mapping like a ``deformations`` entry of the config
        (``{type: low_pass, cutoff_hz: 3400}``), applied first to last.
    sweep : index of the step whose strength is the chain's strength, or ``None`` (a chain
        with no strength: its ``strength`` column is empty). Set by the config: at most one
        step may give a list of strengths, and the chain is expanded into one condition per
        strength, e.g. ``{type: chain, steps: [{type: mp3, bitrate_kbps: 64},
        {type: white_noise, snr_db: [20, 10]}]}`` gives ``chain@snr_db=20`` and
        ``chain@snr_db=10``.

    Notes
    -----
    The steps share the generator, in order, so a chain is deterministic for a seed. The
    output length is the input's unless a step changes it (``time_stretch``). The chain's
    version combines its steps' versions, so changing one step's code recomputes caches.
    """

    steps: list[dict[str, Any]]
    sweep: int | None = None

    version: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("steps: a chain needs at least one step")
        if self.sweep is not None and not 0 <= self.sweep < len(self.steps):
            last = len(self.steps) - 1
            raise ValueError(f"sweep: {self.sweep!r} is not a step index; 0 to {last}")
        try:
            self._steps: list[Deformation] = [
                registry.build("deformations", translate(step, where), where=where)
                for where, step in ((f"steps[{i}]", s) for i, s in enumerate(self.steps))
            ]
        except ConfigError as error:
            raise ValueError(str(error)) from None
        # Instance attributes shadow the class's: this chain's strength is its swept step's.
        self.strength = "" if self.sweep is None else self._steps[self.sweep].strength
        self.version = "1:" + ",".join(step.version for step in self._steps)

    @property
    def strength_value(self) -> float:
        """The swept step's strength (``nan`` when the chain sweeps nothing)."""
        return float("nan") if self.sweep is None else self._steps[self.sweep].strength_value

    @property
    def parts(self) -> tuple[Deformation, ...]:
        """The steps, in order."""
        return tuple(part for step in self._steps for part in step.parts)

    def label_change(self) -> LabelChange | None:
        """The steps' changes composed in order; None when a step declares none."""
        change = LabelChange()
        for step in self._steps:
            step_change = step.label_change()
            if step_change is None:
                return None
            change = change.then(step_change)
        return change

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        for step in self._steps:
            audio = step(audio, sample_rate, rng)
        return audio

    @classmethod
    def expand(cls, spec: dict[str, Any], where: str) -> list[dict[str, Any]]:
        """One chain per strength of its (single) swept step; steps are checked on the way."""
        steps = spec.get("steps")
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            raise ConfigError(f"{where}.steps: expected a list of deformations ({{type: ...}})")
        steps = [translate(step, f"{where}.steps[{i}]") for i, step in enumerate(steps)]
        expanded = []
        for index, step in enumerate(steps):
            step_where = f"{where}.steps[{index}]"
            kind = registry.lookup(
                "deformations", str(step.get("type")), where=f"{step_where}.type"
            )
            expanded.append(kind.expand(step, step_where))
            for single in expanded[-1]:
                registry.build("deformations", single, where=step_where)
        swept = [index for index, singles in enumerate(expanded) if singles != [steps[index]]]
        if len(swept) > 1:
            raise ConfigError(
                f"{where}.steps: only one step can be swept per chain; steps {swept} give lists"
            )
        if not swept:
            return [{**spec, "steps": steps}]
        index = swept[0]
        return [
            {**spec, "steps": [*steps[:index], single, *steps[index + 1 :]], "sweep": index}
            for single in expanded[index]
        ]
