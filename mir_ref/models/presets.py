"""Well-known pretrained models by short name: the ``huggingface`` adapter with its parameters.

``{type: mert-v1-95m}`` is ``{type: huggingface, model_id: m-a-p/MERT-v1-95M,
trust_remote_code: true}``; every adapter parameter can still be set (``layers``, ``device``,
``model_id`` to point at a local copy). Hub models are downloaded once, on a machine with
internet, into the Hugging Face cache.
"""

from __future__ import annotations

import dataclasses
import sys

from mir_ref.models.hf import HuggingFace
from mir_ref.registry import register

PRESETS: dict[str, dict[str, object]] = {
    "mert-v1-95m": {"model_id": "m-a-p/MERT-v1-95M", "trust_remote_code": True},
    "mert-v1-330m": {"model_id": "m-a-p/MERT-v1-330M", "trust_remote_code": True},
    "wav2vec2-base": {"model_id": "facebook/wav2vec2-base"},
    "hubert-base": {"model_id": "facebook/hubert-base-ls960"},
    "wavlm-base-plus": {"model_id": "microsoft/wavlm-base-plus"},
    "whisper-base": {"model_id": "openai/whisper-base"},
    "ast-audioset": {"model_id": "MIT/ast-finetuned-audioset-10-10-0.4593"},
    "clap-htsat": {"model_id": "laion/clap-htsat-unfused"},
    "encodec-24khz": {"model_id": "facebook/encodec_24khz"},
}
"""Preset name → the adapter parameters it sets."""


def _preset_class(name: str, defaults: dict[str, object]) -> type[HuggingFace]:
    class_name = "Preset_" + name.replace("-", "_")
    fields = [
        (key, type(value), dataclasses.field(default=value)) for key, value in defaults.items()
    ]
    cls = dataclasses.make_dataclass(class_name, fields, bases=(HuggingFace,))
    cls.__doc__ = f"Preset: the huggingface adapter on {defaults['model_id']}."
    # Spawned extraction workers unpickle models by module and class name.
    cls.__module__ = __name__
    setattr(sys.modules[__name__], class_name, cls)
    return cls


for _name, _defaults in PRESETS.items():
    register("models", _name)(_preset_class(_name, _defaults))
