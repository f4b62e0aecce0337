"""NSynth: 305,979 four-second notes of 1,006 instruments (Engel et al., 2017).

Layout, as unpacked from the three ``nsynth-<split>.jsonwav.tar.gz`` archives::

    <path>/nsynth-train/examples.json       {note_str: {"pitch": 60, "instrument_family_str": ...}}
    <path>/nsynth-train/audio/<note_str>.wav
    <path>/nsynth-valid/...   <path>/nsynth-test/...

Tasks: ``instrument_family`` (11 classes), ``pitch`` (the MIDI note, as a class; the
vocabulary is the notes present) and ``pitch_class`` (12 classes). The official
train / valid / test splits (their instruments are disjoint).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mir_ref.datasets.base import Track
from mir_ref.datasets.corpus import Corpus
from mir_ref.errors import DataError
from mir_ref.registry import register
from mir_ref.tasks import PITCH_CLASSES, Task

FAMILIES = [
    "bass", "brass", "flute", "guitar", "keyboard", "mallet",
    "organ", "reed", "string", "synth_lead", "vocal",
]  # fmt: skip
FOLDERS = {"train": "nsynth-train", "validation": "nsynth-valid", "test": "nsynth-test"}


@register("datasets", "nsynth")
@dataclass(kw_only=True)
class NSynth(Corpus):
    """NSynth: instrument family (11), pitch (MIDI) and pitch class (12); official splits."""

    name = "nsynth"
    citation = (
        "J. Engel, C. Resnick, A. Roberts, S. Dieleman, D. Eck, K. Simonyan and M. Norouzi, "
        "'Neural audio synthesis of musical notes with WaveNet autoencoders', ICML 2017."
    )
    download_hint = (
        "nsynth-train/valid/test.jsonwav.tar.gz from magenta.tensorflow.org/datasets/nsynth, "
        "unpacked side by side"
    )

    def _declare_tasks(self) -> dict[str, Task]:
        return {
            "instrument_family": Task("instrument_family", "multiclass", list(FAMILIES)),
            "pitch": Task("pitch", "multiclass", label_kind="pitch"),
            "pitch_class": Task(
                "pitch_class", "multiclass", list(PITCH_CLASSES), label_kind="pitch_class"
            ),
        }

    def _finish_tasks(self, declared, splits):
        pitches = {t.labels["pitch"] for tracks in splits.values() for t in tracks}
        declared["pitch"] = Task(
            "pitch", "multiclass", sorted(pitches, key=int), label_kind="pitch"
        )
        return declared

    def _read(self) -> dict[str, list[Track]]:
        out = {}
        for split, folder in FOLDERS.items():
            self.require_folder(folder)
            annotation = self.require_file(f"{folder}/examples.json")
            try:
                examples = json.loads(annotation.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise DataError(
                    f"{annotation} is not valid JSON ({error}); download it again"
                ) from None
            tracks = []
            for note_id, example in examples.items():
                try:
                    pitch = int(example["pitch"])
                    family = str(example["instrument_family_str"])
                except (KeyError, TypeError, ValueError):
                    raise DataError(
                        f"{annotation}, note '{note_id}': expected integer 'pitch' and "
                        f"'instrument_family_str' fields"
                    ) from None
                if family not in FAMILIES:
                    raise DataError(
                        f"{annotation}, note '{note_id}': instrument family '{family}' is not one "
                        f"of {', '.join(FAMILIES)}"
                    )
                labels = {
                    "instrument_family": family,
                    "pitch": str(pitch),
                    "pitch_class": PITCH_CLASSES[pitch % 12],
                }
                audio = self.path / folder / "audio" / f"{note_id}.wav"
                tracks.append(Track(note_id, labels, audio_path=audio))
            out[split] = tracks
        return out
