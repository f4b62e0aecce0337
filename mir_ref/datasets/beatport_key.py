"""Beatport EDM key: 1486 two-minute excerpts of electronic dance music (Faraldo, 2017).

Layout, as unpacked from the Zenodo record 10.5281/zenodo.1101082 (``audio.zip``,
``keys.zip``)::

    <path>/audio/<title>.mp3
    <path>/keys/<title>.txt      one line: "Eb minor", or several keys "F minor | Ab major",
                                 or a label outside the 24 keys ("other", "unknown")

Only tracks with exactly one of the 24 keys are kept (several keys, modal "other" labels and
"unknown" are dropped); enharmonic spellings are normalised (``Eb minor`` → ``D#:minor``).
The dataset has no official split: a 70/15/15 split stratified by key is drawn with
``seed`` (most studies use all of it as a test set for a model trained elsewhere).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mir_ref.datasets.base import Track, stratified_split
from mir_ref.datasets.corpus import Corpus
from mir_ref.datasets.remote import Remote
from mir_ref.errors import DataError
from mir_ref.registry import register
from mir_ref.tasks import Task, normalize_key

logger = logging.getLogger(__name__)


def single_key(text: str) -> str | None:
    """The key a label names, as ``'<tonic>:<mode>'``; ``None`` unless it names exactly one key.

    ``'Bb minor'`` → ``'A#:minor'``; ``'F minor | Ab major'``, ``'C minor / F# minor'``,
    ``'A other'``, ``'-'`` and ``'unknown'`` → ``None``.
    """
    try:
        return normalize_key(text)
    except ValueError:
        return None


@register("datasets", "beatport_key")
@dataclass(kw_only=True)
class BeatportKey(Corpus):
    """Beatport EDM key: key (24 classes, MIREX score); single-key tracks, a seeded split."""

    name = "beatport_key"
    citation = (
        "Á. Faraldo, 'Tonality estimation in electronic dance music: a computational and "
        "musically informed examination', PhD thesis, Universitat Pompeu Fabra, 2017. "
        "Data: doi:10.5281/zenodo.1101082."
    )
    download_hint = "audio.zip and keys.zip from doi.org/10.5281/zenodo.1101082, unpacked"
    remotes = [
        Remote(
            "https://zenodo.org/record/1101082/files/keys.zip?download=1",
            "keys.zip",
            "md5:939abc05f36121badfac4087241ac172",
        ),
        Remote(
            "https://zenodo.org/record/1101082/files/audio.zip?download=1",
            "audio.zip",
            "md5:f490ee6c23578482d6fcfa11b82636a1",
        ),
    ]

    def _declare_tasks(self) -> dict[str, Task]:
        return {"key": Task("key", "key")}

    def _read(self) -> dict[str, list[Track]]:
        keys_folder = self.require_folder("keys")
        audio_folder = self.require_folder("audio")
        tracks, dropped = [], 0
        for key_file in sorted(keys_folder.glob("*.txt")):
            label = key_file.read_text(encoding="utf-8", errors="replace").strip()
            key = single_key(label)
            if key is None:
                dropped += 1
                continue
            audio = audio_folder / f"{key_file.stem}.mp3"
            tracks.append(Track(key_file.stem, {"key": key}, audio_path=audio))
        if not tracks:
            raise DataError(
                f"dataset '{self.name}': no key annotations (*.txt with one key) in {keys_folder}. "
                f"{self._get_it()}"
            )
        logger.info("%s: %d tracks without exactly one key were left out", self.name, dropped)
        assignment = stratified_split([t.labels["key"] for t in tracks], seed=self.seed)
        out: dict[str, list[Track]] = {"train": [], "validation": [], "test": []}
        for split, track in zip(assignment, tracks, strict=True):
            out[split].append(track)
        return out
