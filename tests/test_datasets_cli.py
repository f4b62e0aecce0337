"""`mir_ref datasets download` (checksums, unpacking, offline) and `mir_ref datasets info`."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mir_ref.cli import app
from mir_ref.datasets.remote import Remote, download
from mir_ref.errors import DataError
from tests.fixtures.corpora import tinysol, write_tone


def archive(tmp_path: Path) -> tuple[Path, str]:
    """A tar.gz holding genres/blues/blues.00000.au, and its md5."""
    source = tmp_path / "source"
    write_tone(source / "genres" / "blues" / "blues.00000.au", 220)
    path = tmp_path / "genres.tar.gz"
    with tarfile.open(path, "w:gz") as handle:
        handle.add(source / "genres", arcname="genres")
    return path, hashlib.md5(path.read_bytes()).hexdigest()


def test_download_verifies_the_checksum_then_unpacks(tmp_path: Path) -> None:
    path, md5 = archive(tmp_path)
    good = Remote(path.as_uri(), "genres.tar.gz", f"md5:{md5}")
    fetched = download("gtzan_genre", [good], tmp_path / "data", manual="by hand")
    assert fetched == [tmp_path / "data" / "genres.tar.gz"]
    assert (tmp_path / "data" / "genres" / "blues" / "blues.00000.au").is_file()

    bad = Remote(path.as_uri(), "genres.tar.gz", "md5:" + "0" * 32)
    with pytest.raises(DataError, match=f"has md5 {md5}, expected 0000.*removed"):
        download("gtzan_genre", [bad], tmp_path / "other", manual="by hand")
    assert not (tmp_path / "other" / "genres.tar.gz").exists()
    assert not (tmp_path / "other" / "genres").exists()  # nothing unpacked from a bad file


def test_download_offline_and_manual_datasets(tmp_path: Path) -> None:
    unreachable = Remote("http://nowhere.invalid/x.zip", "x.zip", "md5:00")
    with pytest.raises(DataError) as error:
        download("tinysol", [unreachable], tmp_path, manual="fetch x.zip from the record")
    message = str(error.value)
    assert "cannot download http://nowhere.invalid/x.zip" in message
    assert "network may be unavailable" in message and "fetch x.zip from the record" in message
    assert not list(tmp_path.glob("*.part"))

    result = CliRunner().invoke(app, ["datasets", "download", "nsynth", "--to", str(tmp_path)])
    assert result.exit_code == 2
    assert "cannot be downloaded automatically" in result.output
    assert "magenta.tensorflow.org/datasets/nsynth" in result.output


def test_info_prints_splits_balance_duration_and_problems(tmp_path: Path) -> None:
    tinysol(tmp_path)
    result = CliRunner().invoke(
        app, ["datasets", "info", "tinysol", str(tmp_path), "--set", "split=1"]
    )
    assert result.exit_code == 0, result.output
    assert "tracks: train 12, validation 4, test 4 (total 20)" in result.output
    assert "audio: 0.00 h (5.0 s)" in result.output
    assert "  Violin: train 6, validation 2, test 2" in result.output
    assert "missing or corrupt files: 0" in result.output

    victim = next((tmp_path / "audio").rglob("Vn-ord-C3-ff-N-N.wav"))
    victim.write_bytes(b"RIFF garbage")
    next((tmp_path / "audio").rglob("BTb-ord-C3-ff-N-N.wav")).unlink()
    result = CliRunner().invoke(app, ["datasets", "info", "tinysol", str(tmp_path)])
    assert result.exit_code == 1
    # The absent file is a partial download (left out), the garbage one a problem.
    assert "absent (no audio file, left out): train 1, validation 0, test 0" in result.output
    assert "tracks: train 11, validation 4, test 4 (total 19)" in result.output
    assert "missing or corrupt files: 1" in result.output
    assert "Vn-ord-C3-ff-N-N: cannot decode" in result.output


def test_info_on_a_missing_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["datasets", "info", "gtzan_genre", str(tmp_path / "no")])
    assert result.exit_code == 2
    assert (
        "does not exist" in result.output
        and "mir_ref datasets download gtzan_genre" in result.output
    )
    result = CliRunner().invoke(app, ["datasets", "info", "gtzan", str(tmp_path)])
    assert result.exit_code == 2 and "did you mean 'gtzan_genre'" in result.output
