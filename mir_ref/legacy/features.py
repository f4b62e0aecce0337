"""The original mir_ref's feature names, as our model entries.

``mert-v1-95m-<layers>`` is our ``mert-v1-95m`` preset with those layers. The other original
features ran on weights the original downloaded or bundled; here the user supplies them as an
ONNX file (our ``onnx`` adapter), named in the legacy config as an extension::

    features:
      - {name: effnet-discogs, path: weights/discogs-effnet-bsdynamic-1.onnx}

or dropped, under the file name in :data:`WEIGHTS`, into a ``weights/`` folder beside the
config or the folder named by ``$MIR_REF_WEIGHTS``. A feature without its file fails when the
config is loaded (before any work), naming the file and where to get it. Our own registered
model names (``mfcc``, ...) and full model entries (``{type: mfcc, n_mels: 40}``) are accepted
as a second extension, so an original config can run on features that need no weights.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mir_ref import registry
from mir_ref.errors import ConfigError, did_you_mean
from mir_ref.legacy.notes import Notes

WEIGHTS_ENV = "MIR_REF_WEIGHTS"


@dataclass(frozen=True)
class Weights:
    """What a weight-needing original feature needs: the file, where to get it, how to run it.

    ``onnx`` holds our ``onnx`` adapter's options for the model (sample rate, input kind and
    front end); ``caveat`` says how our run differs from the original's.
    """

    file: str
    source: str
    onnx: dict[str, Any] = field(default_factory=dict)
    caveat: str = ""


_ESSENTIA = "https://essentia.upf.edu/models/feature-extractors"
_MEL_CAVEAT = (
    "the original fed this network Essentia's log-compressed mel bands; our onnx adapter's "
    "front end is ln(mel power + log_offset), so embeddings differ from the original's unless "
    "the ONNX file includes its own front end (then set input: waveform)"
)
WEIGHTS: dict[str, Weights] = {
    "effnet-discogs": Weights(
        "discogs-effnet-bsdynamic-1.onnx",
        f"{_ESSENTIA}/discogs-effnet/ (Essentia model zoo; the ONNX release of discogs-effnet)",
        {"sample_rate_hz": 16000, "input": "log_mel", "n_fft": 512, "hop_length": 256,
         "n_mels": 96},
        _MEL_CAVEAT,
    ),
    "msd-musicnn": Weights(
        "msd-musicnn-1.onnx",
        f"{_ESSENTIA}/musicnn/ (Essentia model zoo: msd-musicnn-1.pb, converted with tf2onnx "
        "if no .onnx is offered)",
        {"sample_rate_hz": 16000, "input": "log_mel", "n_fft": 512, "hop_length": 256,
         "n_mels": 96},
        _MEL_CAVEAT,
    ),
    "vggish-audioset": Weights(
        "audioset-vggish-3.onnx",
        f"{_ESSENTIA}/vggish/ (Essentia model zoo: audioset-vggish-3.pb, converted with tf2onnx)",
        {"sample_rate_hz": 16000, "input": "log_mel", "n_fft": 400, "hop_length": 160,
         "n_mels": 64, "log_offset": 0.01},
        "VGGish's front end is close to ours (log(mel + 0.01), 25 ms windows, 10 ms hop) but "
        "not identical (its mel range is 125-7500 Hz and it uses magnitudes)",
    ),
    "maest": Weights(
        "discogs-maest-30s-pw-1.onnx",
        f"{_ESSENTIA}/maest/ (Essentia model zoo: a discogs-maest-30s .pb, converted with "
        "tf2onnx)",
        {"sample_rate_hz": 16000, "input": "log_mel", "n_fft": 512, "hop_length": 256,
         "n_mels": 96},
        _MEL_CAVEAT,
    ),
    "openl3": Weights(
        "openl3-music-mel128-emb512.onnx",
        f"the openl3 package (pip install openl3; Keras weights) or {_ESSENTIA}/openl3/ "
        "(openl3-music-mel128-emb512-3.pb), exported to ONNX with tf2onnx",
        {"sample_rate_hz": 48000, "input": "waveform"},
        "we have no adapter for openl3's own Keras model: it runs from an ONNX export, which "
        "must take the 48 kHz waveform (front end included)",
    ),
    "clmr-v2": Weights(
        "clmr-v2.onnx",
        "the CLMR v2 checkpoint (SampleCNN, clmr_checkpoint_10000.pt) from "
        "https://github.com/Spijkervet/CLMR/releases, exported with torch.onnx.export",
        {"sample_rate_hz": 22050, "input": "waveform", "input_samples": 59049},
        "we have no adapter for the PyTorch checkpoint: it runs from an ONNX export of its "
        "encoder (waveform in, 59049 samples at 22.05 kHz)",
    ),
    "neuralfp": Weights(
        "neuralfp.onnx",
        "the neural audio fingerprint checkpoint (Chang et al., 2021; "
        "https://github.com/mimbres/neural-audio-fp), exported to ONNX with tf2onnx",
        {"sample_rate_hz": 8000, "input": "log_mel", "n_fft": 1024, "hop_length": 256,
         "n_mels": 256},
        "we have no adapter for the TensorFlow checkpoint: it runs from an ONNX export; "
        + _MEL_CAVEAT,
    ),
}  # fmt: skip
"""Original feature name → the weights it needs."""

_MERT = re.compile(r"^(mert-v1-(?:95|330)m)-(\d+(?:[-,+]\d+)*)$")


def weights_message(name: str, where: str) -> str:
    """Which file ``name`` needs, where to get it and where to put it."""
    weights = WEIGHTS[name]
    return (
        f"{where}: feature '{name}' needs its weights, {weights.file}, which were not found. "
        f"Get them from {weights.source}; then put the file in a weights/ folder beside the "
        f"config (or in ${WEIGHTS_ENV}), or write the feature as "
        f"{{name: {name}, path: path/to/{weights.file}}}."
    )


def find_weights(name: str, folders: list[Path]) -> Path | None:
    """The first of ``folders`` (then ``$MIR_REF_WEIGHTS``) that holds ``name``'s file."""
    extra = [Path(os.environ[WEIGHTS_ENV]).expanduser()] if os.environ.get(WEIGHTS_ENV) else []
    for folder in [*folders, *extra]:
        candidate = folder / WEIGHTS[name].file
        if candidate.is_file():
            return candidate.resolve()
    return None


@dataclass
class FeatureResult:
    """A feature as our model entry; ``missing`` holds the error when its weights are absent."""

    model: dict[str, Any]
    missing: str = ""


def convert_feature(
    feature: Any, where: str, *, config_dir: Path, notes: Notes, note_path: tuple
) -> FeatureResult:
    """One entry of an original ``features`` list as our ``models`` entry.

    Parameters
    ----------
    feature : ``mert-v1-95m-6``, a weight-needing name, our model name, or a mapping
        (``{name: effnet-discogs, path: ...}`` or our model entry ``{type: mfcc, ...}``).
    where : its key path in the original config, for messages.
    config_dir : the original config's folder (weights are looked up in ``weights/`` there).
    notes : collects the remarks on the converted entry at ``note_path``.
    """
    if isinstance(feature, dict):
        if "type" in feature:  # our own model entry: the extension, used as is
            notes.add(note_path, "not an original feature: our own model entry, used as is")
            return FeatureResult(dict(feature))
        name = feature.get("name")
        if name not in WEIGHTS:
            raise ConfigError(
                f"{where}: a feature mapping needs `type` (our model entry) or `name`, one of "
                f"{', '.join(WEIGHTS)}{did_you_mean(name, WEIGHTS)} (got {feature!r})"
            )
        options = {k: v for k, v in feature.items() if k != "name"}
        return _with_weights(name, options, where, config_dir, notes, note_path)
    if not isinstance(feature, str):
        raise ConfigError(f"{where}: expected a feature name, got {feature!r}")
    match = _MERT.match(feature)
    if match:
        layers = [int(layer) for layer in re.split(r"[-,+]", match.group(2))]
        notes.add(
            note_path,
            f"'{feature}': layer{'s' if len(layers) > 1 else ''} {match.group(2)} of the "
            f"{match.group(1)} preset (hidden state k is the output of transformer block k)",
        )
        return FeatureResult({"name": feature, "type": match.group(1), "layers": layers})
    if feature in WEIGHTS:
        return _with_weights(feature, {}, where, config_dir, notes, note_path)
    models = registry.available("models")
    if feature in models:
        notes.add(note_path, f"'{feature}' is not an original feature: our '{feature}' model")
        return FeatureResult({"type": feature})
    known = [*WEIGHTS, "mert-v1-95m-<layer>", "mert-v1-330m-<layer>"]
    raise ConfigError(
        f"{where}: '{feature}' is not a feature of the original mir_ref "
        f"({', '.join(known)}) nor one of our models{did_you_mean(feature, [*WEIGHTS, *models])}"
    )


def _with_weights(
    name: str,
    options: dict[str, Any],
    where: str,
    config_dir: Path,
    notes: Notes,
    note_path: tuple,
) -> FeatureResult:
    weights = WEIGHTS[name]
    entry = {"name": name, "type": "onnx", **weights.onnx, **options}
    if weights.caveat:
        notes.add(note_path, f"'{name}': {weights.caveat}", warning=True)
    if entry.get("path") is not None:
        path = Path(os.path.expanduser(str(entry["path"])))
        entry["path"] = str(path if path.is_absolute() else (config_dir / path).resolve())
        return FeatureResult(entry)
    found = find_weights(name, [config_dir / "weights"])
    if found is not None:
        entry["path"] = str(found)
        return FeatureResult(entry)
    entry["path"] = str(config_dir / "weights" / weights.file)
    notes.add(
        (*note_path, "path"),
        f"TODO: put {weights.file} here (or change path); get it from {weights.source}",
        warning=True,
    )
    return FeatureResult(entry, missing=weights_message(name, where))
