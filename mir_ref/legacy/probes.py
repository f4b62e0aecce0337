"""The original mir_ref's ``classifier`` probes, as our probe entries and training protocol.

The original put the training options (epochs, patience, learning rate, weight decay) on each
probe; ours share one ``protocol`` per config. Probes of one experiment that train alike go in
one config; :func:`protocol_key` tells them apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mir_ref.errors import ConfigError
from mir_ref.legacy.keys import check_keys
from mir_ref.legacy.notes import Notes

_KEYS = (
    "type", "emb_dim_reduction", "emb_shape", "hidden_units", "output_activation",
    "weight_decay", "optimizer", "learning_rate", "batch_size", "epochs", "patience",
    "train_sampling",
)  # fmt: skip
_PROTOCOL = ("epochs", "patience", "learning_rate", "weight_decay")
# The original's defaults where a key is left out (its example config's values).
_DEFAULTS = {
    "weight_decay": 0.0, "learning_rate": 1e-3, "batch_size": 1024, "epochs": 100,
    "patience": 10, "optimizer": "adam",
}  # fmt: skip
_ACTIVATION = {"multiclass_classification": "softmax", "multilabel_classification": "sigmoid"}
_RULES = ("infer", "power_infer")


@dataclass
class ConvertedProbe:
    """Our probe entry, the protocol options it trains with, and the remarks on it."""

    probe: dict[str, Any]
    protocol: dict[str, Any]
    notes: Notes = field(default_factory=Notes)

    def protocol_key(self) -> tuple:
        """Probes with equal keys can share one config's ``protocol``."""
        return tuple(sorted(self.protocol.items()))


def _hidden(spec: dict[str, Any], where: str, notes: Notes) -> list | str:
    """Our ``hidden`` from ``hidden_units`` (sizes, ``infer``/``power_infer``) and ``emb_shape``.

    As in the original's ``probe_builder``: a rule as the first entry sizes every one of the
    list's layers (``[infer, infer]``: two layers), which our ``mlp`` reproduces exactly.
    """
    shape = spec.get("emb_shape", "infer")
    is_size = isinstance(shape, int) and not isinstance(shape, bool) and shape > 0
    if shape != "infer" and not is_size:
        # The original raised "not implemented" for any other string (power_infer included).
        raise ConfigError(
            f"{where}.emb_shape: {shape!r}; the original accepted only infer or a size "
            "(the sizing rules infer / power_infer belong in hidden_units)"
        )
    if is_size:
        notes.add(
            (),
            f"emb_shape: {shape}: ignored; the input size is read from the embeddings",
            warning=True,
        )
    hidden = spec.get("hidden_units", [])
    if hidden is None:
        hidden = []
    if isinstance(hidden, str):
        hidden = [hidden]
    if not isinstance(hidden, list):
        raise ConfigError(f"{where}.hidden_units: expected a list of sizes, got {hidden!r}")
    if hidden and hidden[0] in _RULES:
        if any(unit != hidden[0] for unit in hidden):
            notes.add(
                (),
                f"hidden_units: {hidden}: '{hidden[0]}' sizes all {len(hidden)} layers, as in "
                "the original (the other entries had no effect)",
                warning=True,
            )
        return [str(hidden[0])] * len(hidden)
    if not all(
        isinstance(unit, int) and not isinstance(unit, bool) and unit > 0 for unit in hidden
    ):
        raise ConfigError(
            f"{where}.hidden_units: {hidden!r}; expected positive sizes, infer or power_infer"
        )
    return list(hidden)


def convert_probe(spec: Any, task_type: str, where: str) -> ConvertedProbe:
    """One original ``probes`` entry as our ``linear`` or ``mlp`` probe and its protocol;
    its notes are on the key path ``()`` (the probe entry)."""
    check_keys(spec, where, "probe", _KEYS)
    if spec.get("type", "classifier") != "classifier":
        raise ConfigError(f"{where}.type: {spec.get('type')!r}; the original had only classifier")
    options = {**_DEFAULTS, **spec}
    notes = Notes()
    hidden = _hidden(spec, where, notes)
    probe: dict[str, Any] = (
        {"type": "linear"} if hidden == [] else {"type": "mlp", "hidden": hidden}
    )
    batch_size = options["batch_size"]
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ConfigError(f"{where}.batch_size: {batch_size!r} is not a positive integer")
    probe["batch_size"] = batch_size
    for key in ("emb_dim_reduction", "train_sampling"):
        if key in spec:
            notes.add(
                (),
                f"{key}: {json.dumps(spec[key])}: ignored; it had no effect in the original "
                "mir_ref",
                warning=True,
            )
    optimizer = str(options["optimizer"]).lower()
    if optimizer != "adam":
        notes.add(
            (),
            f"optimizer: {options['optimizer']!r}: ours trains with Adam only; Adam is used",
            warning=True,
        )
    activation = spec.get("output_activation")
    implied = _ACTIVATION[task_type]
    if activation is not None and activation != implied:
        notes.add(
            (),
            f"output_activation: {activation!r}: ours follows the task type ({implied} for "
            f"{task_type})",
            warning=True,
        )
    protocol = {}
    for key in _PROTOCOL:
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}.{key}: {value!r} is not a number")
        protocol[key] = int(value) if key in ("epochs", "patience") else float(value)
    if protocol["weight_decay"]:
        # Keras' L2(λ) adds λ‖w‖² to the loss, whose gradient 2λw is what Adam's coupled
        # weight decay λ' w adds: λ' = 2λ gives the same updates.
        protocol["weight_decay"] *= 2
        notes.add(
            (),
            f"weight_decay: {options['weight_decay']}: the original's Keras L2 penalty λ‖w‖² "
            f"is Adam weight decay {protocol['weight_decay']:g} (2λ) here",
        )
    return ConvertedProbe(probe, protocol, notes)
