"""VocalSet: 10.1 hours of 20 professional singers performing 17 techniques (Wilkins et al., 2018).

Layout, as unpacked from the Zenodo record 10.5281/zenodo.1442513 (``VocalSet11.zip``)::

    <path>/FULL/<singer>/<context>/<technique>/<abbr>_<context>_..._<vowel>.wav
    <path>/test_singers_technique.txt, train_singers_technique.txt   (optional)

with singers ``female1``..``female9`` and ``male1``..``male11`` and contexts ``arpeggios``,
``long_tones``, ``scales`` and ``excerpts``.

Labels are read from the folder names, matched exactly (``lip_trill`` is not ``trill``,
``male10`` is not ``male1``). Some file names in the release disagree with their folders
(a wrong singer prefix, a misspelt technique); the folders are right, and track ids are the
corrected ``<singer>/<context>/<technique>/<file stem>``: files released without their
singer prefix get it back (:data:`_MISSING_PREFIX`), known duplicate takes are left out
(:data:`DUPLICATES`) and the misspelt ``vibrado`` folder counts as ``vibrato``.

Tasks, each with its own split, so one entry evaluates one of them:

- ``technique`` (default): the 10 techniques of the paper's classifier, with its
  singer-disjoint split: test singers from ``test_singers_technique.txt`` (female2, female8,
  male3, male5, male10 when the file is absent), validation singers ``validation_singers``,
  train the rest;
- ``singer`` (20 classes): every recording, a 70/15/15 split stratified by singer.

Groups (for the bootstrap) are the singers in the technique task; the singer task, whose
classes are the singers, has none.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from mir_ref.datasets.base import Track, stratified_split
from mir_ref.datasets.corpus import Corpus
from mir_ref.datasets.remote import Remote
from mir_ref.errors import DataError
from mir_ref.registry import register
from mir_ref.tasks import Task

logger = logging.getLogger(__name__)

SINGERS = [f"female{i}" for i in range(1, 10)] + [f"male{i}" for i in range(1, 12)]
TECHNIQUES = [
    "belt", "breathy", "inhaled", "lip_trill", "spoken",
    "straight", "trill", "trillo", "vibrato", "vocal_fry",
]  # fmt: skip
TEST_SINGERS = ["female2", "female8", "male3", "male5", "male10"]
_FILE_SINGER = re.compile(r"^([fm])(\d+)_")

# Known faults of the VocalSet 1.1 release, as listed by the MARBLE benchmark's preprocessing
# (and applied by the original mir_ref). Keys are ``<technique folder>/<file name>``.
DUPLICATES = {
    "vibrato/f2_scales_vibrato_a(1).wav",
    "vibrato/caro_vibrato.wav",
    "vibrato/dona_vibrato.wav",
    "vibrato/row_vibrato.wav",
    "vibrado/slow_vibrato_arps.wav",
}
"""Files that repeat another recording; left out."""
_MISSING_PREFIX = {
    "lip_trill/lip_trill_arps.wav": "f2",
    "lip_trill/scales_lip_trill.wav": "m3",
    "straight/row_straight.wav": "m8",
    "vocal_fry/scales_vocal_fry.wav": "f2",
    "fast_forte/arps_fast_piano_c.wav": "f9",
    "fast_piano/fast_piano_arps_f.wav": "f2",
    "fast_piano/arps_c_fast_piano.wav": "m3",
    "fast_piano/scales_fast_piano_f.wav": "f3",
    **{f"straight/{c}_straight_{v}.wav": "f4" for c in ("arpeggios", "scales") for v in "aeiou"},
    **{f"fast_piano/scales_{k}_fast_piano_{v}.wav": "m10" for k in "cf" for v in "aeiou"},
}
"""Files released without their singer prefix, and the prefix they lack."""
TECHNIQUE_FOLDERS = {"vibrado": "vibrato"}
"""Misspelt technique folders of the release, and the technique they hold."""


def corrected_stem(technique_folder: str, file_name: str) -> str:
    """The file's stem with the release's known naming faults corrected."""
    prefix = _MISSING_PREFIX.get(f"{technique_folder}/{file_name}")
    stem = Path(file_name).stem
    return f"{prefix}_{stem}" if prefix else stem


def singer_abbreviation(singer: str) -> str:
    """``female2`` → ``f2``, ``male10`` → ``m10`` (the prefix of the release's file names)."""
    gender, number = re.fullmatch(r"(female|male)(\d+)", singer).groups()
    return gender[0] + number


@register("datasets", "vocalset")
@dataclass(kw_only=True)
class VocalSet(Corpus):
    """VocalSet: technique (10, singer-disjoint split) or singer (20); one task per entry.

    Parameters
    ----------
    tasks : ``["technique"]`` (the default) or ``["singer"]``.
    validation_singers : the singers of the technique task's validation split.
    """

    # As the original mir_ref: the paper's training singers minus these three.
    validation_singers: list[str] = field(default_factory=lambda: ["female9", "male9", "male11"])

    name = "vocalset"
    citation = (
        "J. Wilkins, P. Seetharaman, A. Wahl and B. Pardo, 'VocalSet: a singing voice "
        "dataset', ISMIR 2018. Data: doi:10.5281/zenodo.1442513."
    )
    download_hint = "VocalSet11.zip from doi.org/10.5281/zenodo.1442513, unpacked: <path>/FULL/"
    remotes = [
        Remote(
            "https://zenodo.org/records/1442513/files/VocalSet11.zip",
            "VocalSet11.zip",
            "md5:0c09396242f946e7111ad7d8fc649b81",
        )
    ]

    def __post_init__(self) -> None:
        if self.tasks is None:
            self.tasks = ["technique"]
        if len(self.tasks) != 1:
            raise ValueError(
                "tasks: singer and technique use different splits; list vocalset twice, once "
                "with tasks: [technique] and once with tasks: [singer]"
            )
        unknown = sorted(set(self.validation_singers) - set(SINGERS))
        if unknown:
            raise ValueError(f"validation_singers: {unknown} are not VocalSet singers ({SINGERS})")
        super().__post_init__()

    def _declare_tasks(self) -> dict[str, Task]:
        return {
            "technique": Task("technique", "multiclass", list(TECHNIQUES)),
            "singer": Task("singer", "multiclass", list(SINGERS)),
        }

    def _root(self) -> Path:
        for candidate in ("FULL", "data_by_singer", ""):
            if (self.path / candidate / "female1").is_dir():
                return self.path / candidate
        raise DataError(
            f"dataset '{self.name}': no singer folders (female1/, male1/, ...) under {self.path} "
            f"or its FULL/ sub-folder. {self._get_it()}"
        )

    def _read(self) -> dict[str, list[Track]]:
        root = self._root()
        tracks: list[Track] = []
        renamed = 0
        for singer in SINGERS:
            folder = root / singer
            if not folder.is_dir():
                raise DataError(
                    f"dataset '{self.name}': the singer folder {folder} is missing; the download "
                    f"looks incomplete. {self._get_it()}"
                )
            for file in sorted(folder.glob("*/*/*.wav")):
                folder_name = file.parent.name
                if file.name.startswith(".") or f"{folder_name}/{file.name}" in DUPLICATES:
                    continue  # macOS resource forks in the zip; known duplicate takes
                context = file.parent.parent.name
                technique = TECHNIQUE_FOLDERS.get(folder_name, folder_name)
                stem = corrected_stem(folder_name, file.name)
                match = _FILE_SINGER.match(stem)
                if match is None or f"{match[1]}{match[2]}" != singer_abbreviation(singer):
                    renamed += 1
                labels = {"singer": singer}
                if technique in TECHNIQUES:
                    labels["technique"] = technique
                track_id = f"{singer}/{context}/{technique}/{stem}"
                tracks.append(Track(track_id, labels, audio_path=file))
        if renamed:
            logger.info("%s: %d file names disagree with their singer folder", self.name, renamed)
        task = next(iter(self.tasks))
        tracks = [t for t in tracks if task in t.labels]
        if task == "technique":
            self.group_kind = "singer"
            for track in tracks:
                track.group = track.labels["singer"]
        if task == "singer":
            assignment = stratified_split([t.labels["singer"] for t in tracks], seed=self.seed)
        else:
            test_singers = self._test_singers()
            assignment = [
                "test"
                if t.labels["singer"] in test_singers
                else "validation"
                if t.labels["singer"] in self.validation_singers
                else "train"
                for t in tracks
            ]
        out: dict[str, list[Track]] = {"train": [], "validation": [], "test": []}
        for split, track in zip(assignment, tracks, strict=True):
            out[split].append(track)
        return out

    def _test_singers(self) -> set[str]:
        listed = self.path / "test_singers_technique.txt"
        if not listed.is_file():
            return set(TEST_SINGERS)
        singers = {line.strip() for line in listed.read_text().splitlines() if line.strip()}
        unknown = sorted(singers - set(SINGERS))
        if unknown:
            raise DataError(f"{listed}: {unknown} are not VocalSet singers ({', '.join(SINGERS)})")
        if singers & set(self.validation_singers):
            raise DataError(
                f"{listed}: {sorted(singers & set(self.validation_singers))} are also "
                f"validation_singers; choose other validation singers"
            )
        return singers
