"""The audiomentations-style deformations of the original mir_ref configs, mapped onto ours.

The original configs name audiomentations transforms with a random range and a probability,
``{type: AddGaussianSNR, params: {min_snr_in_db: 15, max_snr_in_db: 15, p: 1}}``, and list
them in scenarios (a list of transforms applied in turn). A robustness condition is a fixed
deformation, so ``min_*`` must equal ``max_*`` and ``p`` must be 1; a scenario of several
transforms becomes a ``chain``.
"""

from __future__ import annotations

from typing import Any

from mir_ref.errors import ConfigError

# audiomentations name → (our name, our parameter → its (min, max) key pairs, fixed extras).
_RANGED: dict[str, tuple[str, dict[str, list[tuple[str, str]]], dict[str, Any]]] = {
    "AddGaussianSNR": (
        "white_noise",
        {"snr_db": [("min_snr_in_db", "max_snr_in_db"), ("min_snr_db", "max_snr_db")]},
        {},
    ),
    "Gain": (
        "gain",
        {"gain_db": [("min_gain_in_db", "max_gain_in_db"), ("min_gain_db", "max_gain_db")]},
        {},
    ),
    "Mp3Compression": ("mp3", {"bitrate_kbps": [("min_bitrate", "max_bitrate")]}, {}),
    "PitchShift": ("pitch_shift", {"semitones": [("min_semitones", "max_semitones")]}, {}),
    "ClippingDistortion": (
        "clipping_percentile",
        {"percentile": [("min_percentile_threshold", "max_percentile_threshold")]},
        {},
    ),
    "ApplyImpulseResponse": ("impulse_response", {}, {"wet_level": 1.0}),
}
# Keys that are ours, not the transform's, and pass through unchanged.
_OURS = ("name", "apply_to", "labels")


def translate(spec: dict[str, Any] | list[Any], where: str) -> dict[str, Any]:
    """A deformation entry in our terms: audiomentations names mapped, others unchanged.

    Parameters
    ----------
    spec : a config entry; a list of entries (an original mir_ref scenario) becomes a chain.
    where : its place in the config, for error messages (``deformations[2]``).
    """
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{where}: an empty list of deformations")
        steps = [translate(step, f"{where}[{index}]") for index, step in enumerate(spec)]
        return steps[0] if len(steps) == 1 else {"type": "chain", "steps": steps}
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a mapping like {{type: white_noise, snr_db: 10}}")
    kind = spec.get("type")
    if isinstance(spec.get("steps"), list):  # a chain: its steps may use the old names too
        steps = spec["steps"]
        return {**spec, "steps": [translate(s, f"{where}.steps[{i}]") for i, s in enumerate(steps)]}
    if kind not in _RANGED:
        return spec
    ours, ranged, extras = _RANGED[kind]
    params = {k: v for k, v in spec.items() if k not in ("type", "params", *_OURS)}
    if isinstance(spec.get("params"), dict):
        params.update(spec["params"])
    where = f"{where} ({kind})"
    probability = params.pop("p", 1)
    if probability != 1:
        raise ConfigError(
            f"{where}.p: {probability!r}; a robustness condition applies to every track, so p "
            f"must be 1 (or left out)"
        )
    out = {"type": ours, **{k: spec[k] for k in _OURS if k in spec}, **extras}
    for field, pairs in ranged.items():
        pair = next((p for p in pairs if p[0] in params or p[1] in params), pairs[0])
        low, high = params.pop(pair[0], None), params.pop(pair[1], None)
        if low is None or high is None or low != high:
            raise ConfigError(
                f"{where}: {pair[0]}={low!r} and {pair[1]}={high!r}; a random range is not a "
                f"fixed condition: give both the same value (or use '{ours}' with {field})"
            )
        out[field] = low
    if kind == "ApplyImpulseResponse":
        if "ir_path" not in params:
            raise ConfigError(f"{where}.ir_path: missing (a file or folder of impulse responses)")
        out["path"] = params.pop("ir_path")
        # Ours always keeps the input's length; the audiomentations default is the same.
        if params.pop("leave_length_unchanged", True) is not True:
            raise ConfigError(f"{where}.leave_length_unchanged: only true is supported")
    if params:
        raise ConfigError(
            f"{where}: unsupported key(s) {sorted(params)}; supported: "
            f"{', '.join(k for pair in ranged.values() for p in pair for k in p) or 'ir_path'}, p"
        )
    return out
