"""Beatport EDM key: 1486 two-minute excerpts of electronic dance music (Faraldo, 2017).

Layout, as unpacked from the Zenodo record 10.5281/zenodo.1101082 (``audio.zip``,
``keys.zip``, ``original_metadata.zip``), which is also mirdata's ``beatport_key`` folder::

    <path>/audio/<title>.mp3
    <path>/keys/<title>.txt      one line: "Eb minor", or several keys "F minor | Ab major",
                                 or a label outside the 24 keys ("A other", "unknown")
    <path>/meta/<title>.json     optional: Beatport's metadata ("artists": [{"name": ...}])

with ``<title>`` such as ``100066 Lindstrom - Monsteer (Original Mix)``, the track id.

Only tracks with exactly one of the 24 keys are kept (see
:func:`mir_ref.datasets.key_labels.single_key`); enharmonic spellings are normalised (``Eb
minor`` → ``D#:minor``, where mirdata returns the file's text, ``Eb minor``). The dataset
has no official split: a 70/15/15 split stratified by key is drawn with ``seed``, grouped by
artist (from ``meta/``, else from the title), so that no artist straddles two splits (most
studies use all of it as a test set for a model trained elsewhere).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from mir_ref.datasets.base import Track
from mir_ref.datasets.corpus import Corpus
from mir_ref.datasets.key_labels import single_key
from mir_ref.datasets.remote import Remote
from mir_ref.datasets.splitting import grouped_split, linked_groups
from mir_ref.errors import DataError
from mir_ref.registry import register
from mir_ref.tasks import Task

logger = logging.getLogger(__name__)

# '<beatport id> <artist>, <artist> - <title>', as the audio, key and meta files are named.
_TITLE = re.compile(r"^\d+\s+(?P<artists>.+?)\s+-\s+")
_NO_ARTIST = {"unknown artist", "various artists"}


def title_artists(title: str) -> list[str]:
    """The artists a Beatport file title names (``'10089 A, B - Song'`` → ``['A', 'B']``)."""
    match = _TITLE.match(title)
    if match is None:
        return []
    names = [name.strip() for name in match["artists"].split(",")]
    return [name for name in names if name and name.casefold() not in _NO_ARTIST]


def meta_artists(meta: Path) -> list[str]:
    """The artists of a Beatport metadata file (``"artists": [{"name": ...}, ...]``)."""
    # The release writes NaN as a bare `nan`; mirdata's download rewrites it to null.
    text = meta.read_text(encoding="utf-8", errors="replace").replace(": nan", ": null")
    try:
        artists = json.loads(text).get("artists") or []
        names = [str(artist["name"]).strip() for artist in artists]
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError) as error:
        raise DataError(
            f"{meta}: expected Beatport metadata with artists' names ({error})"
        ) from None
    return [name for name in names if name and name.casefold() not in _NO_ARTIST]


def read_release(
    root: Path, keys_folder: str, *, dataset: str, hint: str
) -> tuple[list[Track], int]:
    """The tracks of a Beatport-style key release: ``audio/``, ``<keys_folder>/``, ``meta/``.

    Returns the tracks with one key, each grouped by artist (``meta/`` when the track has a
    metadata file, else its title), and the number of tracks left out for not naming one key.
    ``dataset`` and ``hint`` (how to get the data) go into the error when nothing is there.
    """
    keys = root / keys_folder
    if not keys.is_dir():
        raise DataError(f"dataset '{dataset}': the folder {keys} does not exist. {hint}")
    tracks, artists, dropped = [], [], 0
    for key_file in sorted(keys.glob("*.txt")):
        text = key_file.read_text(encoding="utf-8", errors="replace")
        key = single_key(text.strip(), source=str(key_file))
        if key is None:
            dropped += 1
            continue
        title = key_file.stem
        meta = root / "meta" / f"{title}.json"
        artists.append(meta_artists(meta) if meta.is_file() else title_artists(title))
        tracks.append(Track(title, {"key": key}, audio_path=root / "audio" / f"{title}.mp3"))
    if not tracks:
        raise DataError(
            f"dataset '{dataset}': no key annotations (*.txt with one key) in {keys}. {hint}"
        )
    for track, group in zip(tracks, linked_groups(artists), strict=True):
        track.group = group
    return tracks, dropped


@register("datasets", "beatport_key")
@dataclass(kw_only=True)
class BeatportKey(Corpus):
    """Beatport EDM key: key (24 classes, MIREX score); single-key tracks, an artist-grouped
    seeded split."""

    name = "beatport_key"
    group_kind = "artist"
    citation = (
        "Á. Faraldo, 'Tonality estimation in electronic dance music: a computational and "
        "musically informed examination', PhD thesis, Universitat Pompeu Fabra, 2017. "
        "Data: doi:10.5281/zenodo.1101082."
    )
    download_hint = (
        "audio.zip, keys.zip and original_metadata.zip from doi.org/10.5281/zenodo.1101082, "
        "unpacked side by side (mirdata's beatport_key folder is the same)"
    )
    remotes = [
        Remote(
            "https://zenodo.org/record/1101082/files/keys.zip?download=1",
            "keys.zip",
            "md5:939abc05f36121badfac4087241ac172",
        ),
        Remote(
            "https://zenodo.org/record/1101082/files/original_metadata.zip?download=1",
            "original_metadata.zip",
            "md5:bb3e3ac1fe5dee7600ef2814accdf8f8",
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
        tracks, dropped = read_release(self.path, "keys", dataset=self.name, hint=self._get_it())
        logger.info("%s: %d tracks without exactly one key were left out", self.name, dropped)
        assignment = grouped_split(
            [[t.labels["key"]] for t in tracks], [t.group for t in tracks], seed=self.seed
        )
        out: dict[str, list[Track]] = {"train": [], "validation": [], "test": []}
        for split, track in zip(assignment, tracks, strict=True):
            out[split].append(track)
        return out
