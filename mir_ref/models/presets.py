"""Well-known pretrained models by short name: the ``huggingface`` adapter with its parameters.

``{type: mert-v1-95m}`` is ``{type: huggingface, model_id: m-a-p/MERT-v1-95M,
trust_remote_code: true}``; every adapter parameter can still be set (``layers``, ``device``,
``model_id`` to point at a local copy). Hub models are downloaded once, on a machine with
internet, into the Hugging Face cache.

A preset's trust in remote code covers its own hub id only: with any other ``model_id`` the
repository's code runs only if the config itself says ``trust_remote_code: true``, so that
``{type: mert-v1-95m, model_id: ./downloaded}`` never runs a folder's Python unasked.
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


def _trust_only_the_preset_repository(self: HuggingFace) -> None:
    """Unset ``trust_remote_code`` means: trusted for the preset's own hub id, not another."""
    if self.trust_remote_code is None:
        self.trust_remote_code = self.model_id == self.preset_model_id
    HuggingFace.__post_init__(self)


def _preset_class(name: str, defaults: dict[str, object]) -> type[HuggingFace]:
    class_name = "Preset_" + name.replace("-", "_")
    fields = [
        (key, type(value), dataclasses.field(default=value))
        for key, value in defaults.items()
        if key != "trust_remote_code"
    ]
    namespace: dict[str, object] = {"preset_model_id": defaults["model_id"]}
    if defaults.get("trust_remote_code"):
        fields.append(("trust_remote_code", bool | None, dataclasses.field(default=None)))
        namespace["__post_init__"] = _trust_only_the_preset_repository
    cls = dataclasses.make_dataclass(class_name, fields, bases=(HuggingFace,), namespace=namespace)
    cls.__doc__ = f"Preset: the huggingface adapter on {defaults['model_id']}."
    # Spawned extraction workers unpickle models by module and class name.
    cls.__module__ = __name__
    setattr(sys.modules[__name__], class_name, cls)
    return cls


for _name, _defaults in PRESETS.items():
    register("models", _name)(_preset_class(_name, _defaults))
