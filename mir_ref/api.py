"""The Python API for notebooks: run a config, make a deformation or a model by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mir_ref import registry
from mir_ref.deformations.base import Deformation
from mir_ref.experiment import Experiment
from mir_ref.models.base import EmbeddingModel
from mir_ref.stages import run_all


def run(config: str | Path | dict[str, Any]) -> pd.DataFrame:
    """Run every stage of a config (a YAML path or a dict) and return the results table.

    Relative paths in a dict config resolve against the current folder.
    """
    return run_all(Experiment.from_config(config))


def deformation(type: str, **params: Any) -> Deformation:  # noqa: A002 - the config key
    """A registered deformation, a callable ``(audio, sample_rate, seed=0) -> audio``."""
    return registry.build("deformations", {"type": type, **params}, where=f"deformation '{type}'")


def model(type: str, **params: Any) -> EmbeddingModel:  # noqa: A002 - mirrors the config key
    """A registered embedding model, configured with ``params``."""
    return registry.build("models", {"type": type, **params}, where=f"model '{type}'")
