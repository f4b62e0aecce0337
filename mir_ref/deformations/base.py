"""The deformation contract: a small dataclass, registered by name, part of the cache key."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from mir_ref.errors import ConfigError
from mir_ref.tasks import LabelChange


class Deformation:
    """Base class of deformations.

    Subclasses are dataclasses whose fields are the parameters (units in the names:
    ``snr_db``, ``bitrate_kbps``), set :attr:`strength` to the field that a config sweeps,
    and implement :meth:`apply`. Bump :attr:`version` when the output for the same
    parameters changes, so caches recompute. Parameters are checked in ``__post_init__``,
    which raises ``ValueError`` naming the field and its allowed range (a config error at
    load time).

    A deformation also declares what it does to labels (:meth:`label_change`): one that
    changes neither pitch nor tempo sets :attr:`keeps_labels`; one that does overrides
    :meth:`label_change`. A deformation that declares neither is refused on every task whose
    labels a deformation can move (pitch classes, pitches, keys, tempi).
    """

    strength: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    strength_label: ClassVar[str] = "strength"
    """How the report labels :attr:`strength` on a plot's axis, with its unit."""
    mild_is_high: ClassVar[bool] = False
    """Whether the strength is gentlest at high values (SNRs, bitrates, cutoffs): the report
    reverses the axis so that every panel reads from mild (left) to severe (right)."""
    log_strength: ClassVar[bool] = False
    """Whether the report draws the strength on a log axis (bitrates come in doublings)."""
    keeps_labels: ClassVar[bool] = False
    """True for a deformation that moves neither pitch nor tempo (noise, codecs, filters...)."""

    def label_change(self) -> LabelChange | None:
        """What this deformation does to pitch and tempo, and so to labels; None: undeclared."""
        return LabelChange() if self.keeps_labels else None

    @property
    def parts(self) -> tuple[Deformation, ...]:
        """The deformations applied, in order: itself, or a chain's steps."""
        return (self,)

    def apply(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        """Deform ``[samples]`` or ``[channels, samples]`` float32 audio; same shape out."""
        raise NotImplementedError

    def __call__(
        self, audio: np.ndarray, sample_rate: int, seed: int | np.random.Generator = 0
    ) -> np.ndarray:
        """Deform ``audio``; the same ``seed`` gives bit-identical output."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        out = self.apply(np.asarray(audio, dtype=np.float32), sample_rate, rng)
        return np.asarray(out, dtype=np.float32)

    @property
    def strength_value(self) -> float:
        """The value of the swept parameter (the ``strength`` column of results)."""
        return float(getattr(self, self.strength))

    @classmethod
    def expand(cls, spec: dict[str, Any], where: str) -> list[dict[str, Any]]:
        """One spec per strength: the (single) list-valued parameter of ``spec`` is swept.

        ``{type: white_noise, snr_db: [20, 10]}`` becomes two specs with ``snr_db: 20`` and
        ``snr_db: 10``. A deformation whose parameters hold lists by nature (``chain``)
        overrides this.
        """
        swept = [key for key, value in spec.items() if isinstance(value, list)]
        if len(swept) > 1:
            raise ConfigError(
                f"{where}: only one parameter can be swept per deformation; got lists for {swept}"
            )
        if not swept:
            return [spec]
        if swept[0] != cls.strength:
            raise ConfigError(
                f"{where}.{swept[0]}: only '{cls.strength}' can be given a list of strengths "
                f"for '{spec.get('type')}'; give '{swept[0]}' one value per entry"
            )
        if not spec[swept[0]]:
            raise ConfigError(f"{where}.{swept[0]}: the list of strengths is empty")
        return [{**spec, swept[0]: value} for value in spec[swept[0]]]


def check_range(name: str, value: float, low: float, high: float, unit: str) -> None:
    """Raise ``ValueError`` unless ``low <= value <= high`` (and finite)."""
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name}: {value!r} is outside [{low:g}, {high:g}] {unit}".rstrip())


def fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """Crop or zero-pad the last axis of ``audio`` to ``length`` samples."""
    if audio.shape[-1] >= length:
        return audio[..., :length]
    padding = [(0, 0)] * (audio.ndim - 1) + [(0, length - audio.shape[-1])]
    return np.pad(audio, padding)


def as_channels(audio: np.ndarray) -> np.ndarray:
    """``[samples]`` or ``[channels, samples]`` as a C-contiguous ``[channels, samples]`` view."""
    return np.ascontiguousarray(audio.reshape(-1, audio.shape[-1]), dtype=np.float32)


def process_with_plugin(
    audio: np.ndarray, sample_rate: int, make_plugin: Callable[[], Any]
) -> np.ndarray:
    """Run a fresh pedalboard plugin over ``audio``, keeping its shape.

    pedalboard takes the shorter axis for channels, so very short input is padded to keep
    samples the longer axis; more than two channels are processed one at a time.
    """
    if audio.shape[-1] == 0:
        return audio.copy()
    channels = fit_length(as_channels(audio), max(audio.shape[-1], 16))
    groups = [channels] if len(channels) <= 2 else [row[None] for row in channels]
    out = [make_plugin().process(group, float(sample_rate), reset=True) for group in groups]
    return fit_length(np.concatenate(out), audio.shape[-1]).reshape(audio.shape)
