"""MagnaTagATune: 25,863 29-second clips with 188 tags (Law et al., 2009); the top 50 tags.

Layout: the unpacked ``mp3.zip.001``–``003`` and the split of Won et al. (2020)
(github.com/minzwon/sota-music-tagging-models, ``split/mtat/``)::

    <path>/mp3/<0-f>/<clip>.mp3          (or <path>/<0-f>/<clip>.mp3)
    <split_dir>/train.npy, valid.npy, test.npy     strings "<index>\\t<0-f>/<clip>.mp3"
    <split_dir>/binary.npy               [clips, 50] 0/1, row <index>
    <split_dir>/tags.npy                 the 50 tag names

Train / validation / test as in Won et al. (2020), the split most papers report on; the three
known empty mp3 files of the release are excluded. Groups are the artists, the first field of
a clip's name (``<artist>-<album>-<track>-<title>-<start>-<end>.mp3``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mir_ref.datasets.base import Track
from mir_ref.datasets.corpus import Corpus
from mir_ref.errors import DataError
from mir_ref.registry import register
from mir_ref.tasks import Task

SPLIT_FILES = {"train": "train.npy", "validation": "valid.npy", "test": "test.npy"}
# Zero-byte files in the release (they hold no audio).
CORRUPT = {
    "6/norine_braun-now_and_zen-08-gently-117-146.mp3",
    "8/jacob_heringman-josquin_des_prez_lute_settings-19-gintzler__pater_noster-204-233.mp3",
    "9/american_baroque-dances_and_suites_of_rameau_and_couperin-25-le_petit_rien_xiveme_ordre_"
    "couperin-88-117.mp3",
}


@register("datasets", "magnatagatune")
@dataclass(kw_only=True)
class MagnaTagATune(Corpus):
    """MagnaTagATune: top-50 tags (multilabel); the split of Won et al. (2020).

    Parameters
    ----------
    split_dir : the folder of train.npy, valid.npy, test.npy, binary.npy, tags.npy;
        ``<path>/split`` when ``None``.
    """

    split_dir: Path | None = None

    name = "magnatagatune"
    group_kind = "artist"
    citation = (
        "E. Law, K. West, M. Mandel, M. Bay and J. S. Downie, 'Evaluation of algorithms using "
        "games: the case of music tagging', ISMIR 2009. Split: M. Won, A. Ferraro, D. Bogdanov "
        "and X. Serra, 'Evaluation of CNN-based automatic music tagging models', SMC 2020."
    )
    download_hint = (
        "mp3.zip.001-003 from mirg.city.ac.uk/codeapps/the-magnatagatune-dataset, joined and "
        "unpacked, and split/mtat/*.npy from github.com/minzwon/sota-music-tagging-models "
        "into <path>/split"
    )

    def _declare_tasks(self) -> dict[str, Task]:
        return {"tags": Task("tags", "multilabel")}

    def _finish_tasks(self, declared, splits):
        return {"tags": Task("tags", "multilabel", list(self._tags))}

    def _load_npy(self, folder: Path, filename: str) -> np.ndarray:
        path = folder / filename
        if not path.is_file():
            raise DataError(
                f"dataset '{self.name}': the split file {path} is missing. {self._get_it()}"
            )
        return np.load(path, allow_pickle=False)

    def _read(self) -> dict[str, list[Track]]:
        split_dir = Path(self.split_dir) if self.split_dir is not None else self.path / "split"
        self._tags = [str(tag) for tag in self._load_npy(split_dir, "tags.npy")]
        binary = self._load_npy(split_dir, "binary.npy")
        if binary.ndim != 2 or binary.shape[1] != len(self._tags):
            raise DataError(
                f"{split_dir / 'binary.npy'}: expected [clips, {len(self._tags)}] labels, got "
                f"shape {binary.shape}"
            )
        audio_root = self.path / "mp3" if (self.path / "mp3").is_dir() else self.path
        out = {}
        for split, filename in SPLIT_FILES.items():
            tracks = []
            for entry in self._load_npy(split_dir, filename):
                index, _, relative = str(entry).partition("\t")
                if relative in CORRUPT:
                    continue
                if not index.isdigit() or int(index) >= len(binary):
                    raise DataError(f"{split_dir / filename}: bad entry '{entry}'")
                tags = [tag for tag, on in zip(self._tags, binary[int(index)], strict=True) if on]
                # A clip without any of the 50 tags stays: the split lists it, as a negative.
                artist = Path(relative).name.split("-")[0] or None
                audio = audio_root / relative
                tracks.append(Track(relative, {"tags": tags}, audio_path=audio, group=artist))
            out[split] = tracks
        return out
