"""One place writes a component's error at its config key: ``where.field: message``, with no
pydantic prefix and no echo of every parameter."""

from __future__ import annotations

import pytest
from conftest import manifest_config

from mir_ref.errors import ConfigError
from mir_ref.experiment import Experiment


def refusal(manifest, **overrides) -> str:
    with pytest.raises(ConfigError) as caught:
        Experiment.from_config(manifest_config(manifest, **overrides))
    return str(caught.value)


def test_a_deformation_value_is_named_by_its_key_path(manifest_corpus):
    message = refusal(manifest_corpus, deformations=[{"type": "white_noise", "snr_db": 500.0}])
    assert message == "deformations[0].snr_db: 500.0 is outside [-30, 100] dB"


def test_a_probe_value_is_named_by_its_key_path(manifest_corpus):
    message = refusal(manifest_corpus, probes=[{"type": "linear"}, {"type": "mlp", "dropout": 1}])
    assert message == "probes[1].dropout: must be in [0, 1) (got 1.0)"


def test_a_model_value_is_named_by_its_key_path(manifest_corpus):
    message = refusal(manifest_corpus, models=[{"type": "crepe", "layers": ["conv9"]}])
    assert message.startswith("models[0].layers: ['conv9'] must name some of")
    assert "Value error" not in message and "(got {" not in message
