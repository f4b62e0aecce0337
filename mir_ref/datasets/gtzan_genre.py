"""GTZAN genre: 1000 30-second excerpts, 100 in each of 10 genres (Tzanetakis & Cook, 2002).

Layouts, ``<path>`` being any of these folders::

    <path>/genres/<genre>/<genre>.000NN.au              genres.tar.gz, unpacked
    <path>/genres_original/<genre>/<genre>.000NN.wav    the Kaggle copy
    <path>/gtzan_genre/genres/<genre>/<genre>.000NN.wav mirdata's data_home (its
                                                        gtzan_genre/ folder works too)
    <path>/<genre>/<genre>.000NN.au                     the genre folders themselves

(``.au`` and ``.wav`` alike). The genre is the file name's prefix; mirdata spells hiphop
``hip-hop``, the release's own folder name is kept here.

Splits:

- ``filtered`` (default): the fault-filtered, artist-conscious split of Kereliuk, Larsen and
  Sturm (2015): 443 train / 197 validation / 290 test tracks; the 70 repeated, distorted or
  mislabelled excerpts Sturm (2013) found are in no split.
- ``random``: all 1000 tracks, a 70/15/15 split stratified by genre, drawn with ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mir_ref.datasets.base import Track, stratified_split
from mir_ref.datasets.corpus import Corpus
from mir_ref.datasets.remote import Remote
from mir_ref.errors import DataError
from mir_ref.registry import register
from mir_ref.tasks import Task

GENRES = [
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
]
SUFFIXES = (".wav", ".au")
# Where the genre folders are, relative to `path`, in the layouts above.
ROOTS = ("genres", "genres_original", "gtzan_genre/genres", "")

# The fault-filtered split (Kereliuk et al. 2015, as distributed with Sturm's fault list),
# written as track-number ranges per genre: "blues 12-28 61-72" is blues.00012 .. blues.00072.
_FILTERED_RANGES = {
    "train": (
        "blues 29-49 73-97; classical 30-33 43-48 50-67 80-99; country 19-26 28-29 65-99; "
        "disco 5 15-20 22-37 39-45 47 49 53-54 56-57 59 61 70 73-74 89; "
        "hiphop 2-25 28-29 31-38 41-42 55-61 77-80; jazz 0-1 11-24 41 47-72; "
        "metal 2-3 5 21 24 35 46-57 59-66 69 71-72 79-80 84 86 89-99; "
        "pop 2-9 11-12 16-20 23-29 31-36 38-42 44 46 49-50 80 97-99; "
        "reggae 0-2 4 6 9 11-12 14-32 42-45 49-51 54-60 63 69; rock 0-9 16-26 57-70 91-99"
    ),
    "validation": (
        "blues 0-11 50-60; classical 0-10 68-76; country 0-7 9-18 27 41-42 45 49; "
        "disco 0 2-4 6-14 46 48 52 67-68 72 75 90 95; hiphop 81-98; jazz 2-10 25-32; "
        "metal 0-1 6-11 16-20 36-37 68 76-77 81-82; pop 10 53 55 58-62 81 83-86; "
        "reggae 61-62 70 72 74 76-78 85 92-99; rock 38 49-56 71-85"
    ),
    "test": (
        "blues 12-28 61-72 98-99; classical 11-29 34-41 49 77-79; "
        "country 30-40 43-44 46-48 50-51 53-64; disco 1 21 58 62-66 69 76-88 91-94 96-97 99; "
        "hiphop 0 26-27 30 40 43-45 51-54 62-75 99; jazz 73-99; "
        "metal 12-15 22-23 25-33 38-39 67 70 73-75 78 83 85 87-88; "
        "pop 0-1 13-14 43 63-66 69-79 82 88-96; reggae 34-40 46-48 52-53 64-68 71 79 82-84 87-90; "
        "rock 10-15 27-37 39-48 86-90"
    ),
}


def filtered_split() -> dict[str, list[str]]:
    """The fault-filtered split: split → track names such as ``blues.00012``."""
    out: dict[str, list[str]] = {}
    for split, spec in _FILTERED_RANGES.items():
        names = []
        for part in spec.split(";"):
            genre, *ranges = part.split()
            for item in ranges:
                first, _, last = item.partition("-")
                for number in range(int(first), int(last or first) + 1):
                    names.append(f"{genre}.{number:05d}")
        out[split] = names
    return out


@register("datasets", "gtzan_genre")
@dataclass(kw_only=True)
class GtzanGenre(Corpus):
    """GTZAN: genre (10 classes); the fault-filtered artist-conscious split by default.

    Parameters
    ----------
    split : ``filtered`` (Kereliuk/Sturm, 930 tracks) or ``random`` (all 1000, stratified).
    """

    split: Literal["filtered", "random"] = "filtered"

    name = "gtzan_genre"
    citation = (
        "G. Tzanetakis and P. Cook, 'Musical genre classification of audio signals', IEEE "
        "Transactions on Speech and Audio Processing 10(5), 2002. Split: C. Kereliuk, B. L. "
        "Sturm and J. Larsen, 'Deep learning and music adversaries', IEEE Transactions on "
        "Multimedia 17(11), 2015."
    )
    download_hint = "genres.tar.gz from marsyas.info, unpacked: <path>/genres/<genre>/*.au"
    remotes = [
        Remote(
            "http://opihi.cs.uvic.ca/sound/genres.tar.gz",
            "genres.tar.gz",
            "md5:5b3d6dddb579ab49814ab86dba69e7c7",
        )
    ]

    def _declare_tasks(self) -> dict[str, Task]:
        return {"genre": Task("genre", "multiclass", list(GENRES))}

    def _audio_root(self) -> Path:
        for candidate in ROOTS:
            if any((self.path / candidate / genre).is_dir() for genre in GENRES):
                return self.path / candidate
        searched = ", ".join(str(self.path / candidate) for candidate in ROOTS)
        raise DataError(
            f"dataset '{self.name}': no genre folders (blues/, classical/, ...) holding "
            f"<genre>.000NN.au or .wav files in any of {searched}. {self._get_it()}"
        )

    def _read(self) -> dict[str, list[Track]]:
        root = self._audio_root()
        files: dict[str, Path] = {}
        for genre in GENRES:
            if (root / genre).is_dir():
                for file in (root / genre).iterdir():
                    if file.suffix.lower() in SUFFIXES and file.stem.startswith(f"{genre}."):
                        files[file.stem] = file
        if self.split == "random":
            names = [f"{genre}.{n:05d}" for genre in GENRES for n in range(100)]
            assignment = stratified_split([n.split(".")[0] for n in names], seed=self.seed)
            by_split: dict[str, list[str]] = {"train": [], "validation": [], "test": []}
            for split, track_name in zip(assignment, names, strict=True):
                by_split[split].append(track_name)
        else:
            by_split = filtered_split()
        # A track of the split without its file keeps its place (the corpus leaves it out
        # as absent), under the name the rest of the folder uses.
        suffix = next(iter(files.values())).suffix if files else ".wav"

        def audio(name: str) -> Path:
            return files.get(name, root / name.split(".")[0] / f"{name}{suffix}")

        return {
            split: [Track(n, {"genre": n.split(".")[0]}, audio_path=audio(n)) for n in names]
            for split, names in by_split.items()
        }
