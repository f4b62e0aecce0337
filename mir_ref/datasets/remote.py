"""Remote files of public datasets: where they are, their checksums, and fetching them.

A dataset class lists its archives in ``remotes``; :func:`download` fetches each one into a
folder, verifies its checksum before anything is unpacked, and unpacks it. Datasets whose
audio cannot be fetched automatically (no stable public address, or a licence to accept)
have no ``remotes``; their ``download_hint`` says what to do by hand.
"""

from __future__ import annotations

import logging
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from mir_ref.digests import CHUNK_BYTES, file_checksum
from mir_ref.errors import DataError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Remote:
    """One file to fetch.

    Parameters
    ----------
    url : where it is.
    filename : the name it is saved under.
    checksum : ``"<algorithm>:<hex>"`` (``md5``, ``sha1``, ``sha256``), as published.
    into : the sub-folder of the dataset folder it is saved (and unpacked) in.
    unpack : unpack the archive (``.zip``, ``.tar``, ``.tar.gz``) where it is saved.
    """

    url: str
    filename: str
    checksum: str
    into: str = "."
    unpack: bool = True


def download(name: str, remotes: list[Remote], folder: Path, *, manual: str) -> list[Path]:
    """Fetch, verify and unpack ``remotes`` into ``folder``; return the files fetched.

    A file already there with the right checksum is not fetched again. Raises
    :class:`DataError` when there is nothing to fetch (with the manual steps), when the
    network is unreachable (with the manual steps), or when a checksum does not match (the
    bad file is removed).
    """
    if not remotes:
        raise DataError(f"dataset '{name}' cannot be downloaded automatically. By hand: {manual}")
    manual += "; the files: " + ", ".join(f"{r.url} ({r.checksum})" for r in remotes)
    folder.mkdir(parents=True, exist_ok=True)
    fetched = []
    for remote in remotes:
        target = folder / remote.into / remote.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        algorithm, _, expected = remote.checksum.partition(":")
        if not (target.is_file() and file_checksum(target, algorithm) == expected):
            _fetch(remote.url, target, name=name, manual=manual)
            actual = file_checksum(target, algorithm)
            if actual != expected:
                target.unlink()
                raise DataError(
                    f"dataset '{name}': {remote.url} has {algorithm} {actual}, expected "
                    f"{expected}; the file was removed. Try again, or download it by hand: {manual}"
                )
        fetched.append(target)
        if remote.unpack:
            _unpack(target, target.parent)
    return fetched


def _fetch(url: str, target: Path, *, name: str, manual: str) -> None:
    partial = target.with_name(target.name + ".part")
    logger.info("downloading %s", url)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out, CHUNK_BYTES)
    except (urllib.error.URLError, OSError, ValueError) as error:
        partial.unlink(missing_ok=True)
        raise DataError(
            f"dataset '{name}': cannot download {url} ({error}); the network may be unavailable. "
            f"By hand: {manual}"
        ) from None
    partial.replace(target)


def _unpack(archive: Path, folder: Path) -> None:
    name = archive.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as handle:
            handle.extractall(folder)
    elif name.endswith((".tar", ".tar.gz", ".tgz")):
        with tarfile.open(archive) as handle:
            handle.extractall(folder, filter="data")
    else:
        raise DataError(f"{archive}: unknown archive type; expected .zip, .tar or .tar.gz")
