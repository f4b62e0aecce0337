"""NSynth: 305,979 four-second notes of 1,006 instruments (Engel et al., 2017).

Layout, as unpacked from the three ``nsynth-<split>.jsonwav.tar.gz`` archives::

    <path>/nsynth-train/examples.json       {note_str: {"pitch": 60, "instrument_family_str": ...}}
    <path>/nsynth-train/audio/<note_str>.wav
    <path>/nsynth-valid/...   <path>/nsynth-test/...

Tasks: ``instrument_family`` (11 classes), ``pitch`` (the MIDI note, as a class) and
``pitch_class`` (12 classes). ``pitch`` covers MIDI 21–108 by default, the 88 notes of a
piano and the 88 classes of HEAR's NSynth pitch task, so that results compare with HEAR's;
notes outside it carry no ``pitch`` label (they keep the other two). ``pitch_range: [lo,
hi]`` sets another range, ``pitch_range: full`` every note the release holds (0–127, the
vocabulary then being the notes present). The official train / valid / test splits (their
instruments are disjoint).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

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
HEAR_PITCH_RANGE = (21, 108)
"""MIDI notes of HEAR's NSynth pitch task: the 88 keys of a piano, A0 to C8."""


@register("datasets", "nsynth")
@dataclass(kw_only=True)
class NSynth(Corpus):
    """NSynth: instrument family (11), pitch (88 MIDI notes) and pitch class (12); official
    splits.

    Parameters
    ----------
    pitch_range : the MIDI notes of the ``pitch`` task, ``[lowest, highest]`` (HEAR's 21–108
        by default), or ``full`` for every note present.
    """

    pitch_range: list[int] | Literal["full"] = field(default_factory=lambda: list(HEAR_PITCH_RANGE))

    name = "nsynth"
    citation = (
        "J. Engel, C. Resnick, A. Roberts, S. Dieleman, D. Eck, K. Simonyan and M. Norouzi, "
        "'Neural audio synthesis of musical notes with WaveNet autoencoders', ICML 2017."
    )
    download_hint = (
        "nsynth-train/valid/test.jsonwav.tar.gz from magenta.tensorflow.org/datasets/nsynth, "
        "unpacked side by side"
    )

    def __post_init__(self) -> None:
        if self.pitch_range != "full":
            if (
                len(self.pitch_range) != 2
                or not 0 <= self.pitch_range[0] <= self.pitch_range[1] <= 127
            ):
                raise ValueError(
                    f"pitch_range: {self.pitch_range} is not [lowest, highest] MIDI notes "
                    f"with 0 <= lowest <= highest <= 127; or write 'full'"
                )
        super().__post_init__()

    def _declare_tasks(self) -> dict[str, Task]:
        return {
            "instrument_family": Task("instrument_family", "multiclass", list(FAMILIES)),
            "pitch": Task("pitch", "multiclass", label_kind="pitch"),
            "pitch_class": Task(
                "pitch_class", "multiclass", list(PITCH_CLASSES), label_kind="pitch_class"
            ),
        }

    def _finish_tasks(self, declared, splits):
        if self.pitch_range == "full":
            pitches = {t.labels["pitch"] for tracks in splits.values() for t in tracks}
            classes = sorted(pitches, key=int)
        else:
            low, high = self.pitch_range
            classes = [str(p) for p in range(low, high + 1)]
        declared["pitch"] = Task("pitch", "multiclass", classes, label_kind="pitch")
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
                labels = {"instrument_family": family, "pitch_class": PITCH_CLASSES[pitch % 12]}
                if self.pitch_range == "full" or (
                    self.pitch_range[0] <= pitch <= self.pitch_range[1]
                ):
                    labels["pitch"] = str(pitch)
                audio = self.path / folder / "audio" / f"{note_id}.wav"
                tracks.append(Track(note_id, labels, audio_path=audio))
            out[split] = tracks
        return out
