"""Group-aware splits: related tracks (one artist, singer, song) never straddle two splits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mir_ref.cli import app
from mir_ref.datasets.base import SPLITS
from mir_ref.datasets.folder import FolderDataset
from mir_ref.datasets.manifest import ManifestDataset, TaskSpec
from mir_ref.datasets.splitting import (
    fold_splits,
    grouped_split,
    groups_across_splits,
    linked_groups,
)
from mir_ref.errors import DataError
from mir_ref.experiment import Experiment
from mir_ref.plan import groups_of_test_tracks
from tests.fixtures.corpora import write_tone


def crossing(assignment: list[str], groups: list[str | None]) -> set[str]:
    """Groups found in more than one split."""
    seen: dict[str, set[str]] = {}
    for split, group in zip(assignment, groups, strict=True):
        if group is not None:
            seen.setdefault(group, set()).add(split)
    return {group for group, splits in seen.items() if len(splits) > 1}


@pytest.mark.parametrize("seed", range(8))
def test_no_group_crosses_splits_and_classes_keep_their_share(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # 60 artists of 1-12 tracks, each artist mostly in one of four genres.
    labels, groups = [], []
    for artist in range(60):
        genre = int(rng.integers(4))
        for _ in range(int(rng.integers(1, 13))):
            labels.append([genre if rng.random() < 0.8 else int(rng.integers(4))])
            groups.append(f"artist {artist}")
    labels += [[int(rng.integers(4))] for _ in range(30)]  # 30 tracks on their own
    groups += [None] * 30
    assignment = grouped_split(labels, groups, seed=seed)
    assert crossing(assignment, groups) == set()
    shares = Counter(assignment)
    for split, fraction in zip(SPLITS, (0.7, 0.15, 0.15), strict=True):
        assert abs(shares[split] / len(labels) - fraction) < 0.06, (split, shares)
    for genre in range(4):
        in_genre = [s for s, (g,) in zip(assignment, labels, strict=True) if g == genre]
        assert abs(in_genre.count("train") / len(in_genre) - 0.7) < 0.15
    assert grouped_split(labels, groups, seed=seed) == assignment  # seeded


def test_a_zero_fraction_split_stays_empty_and_small_sets_fill_every_split() -> None:
    groups = ["a", "a", "b", "c", "c", "d"]
    assignment = grouped_split([[]] * 6, groups, seed=0, fractions=(0.85, 0.15, 0.0))
    assert "test" not in assignment and "validation" in assignment
    assert crossing(assignment, groups) == set()
    assert set(grouped_split([[0]] * 3, ["a", "b", "c"], seed=1)) == set(SPLITS)


def test_linked_groups_join_collaborations() -> None:
    names = [["Aly & Fila"], ["Aly & Fila", " ", "Josie"], ["josie"], ["SPL", "Eye-D"], [], ["SPL"]]
    assert linked_groups(names) == ["Aly & Fila"] * 3 + ["Eye-D", None, "Eye-D"]


def test_fold_conventions() -> None:
    folds = [0, 1, 2, 3, 4]
    assert fold_splits(folds, 1, 5) == ["train", "test", "validation", "train", "train"]
    assert fold_splits(folds, 1, 5, convention="validation_k") == [
        "train", "validation", "test", "train", "train",
    ]  # fmt: skip


def manifest(tmp_path: Path, *, split: bool = False) -> Path:
    """48 tracks by 12 artists (4 each), two genres; a split column that divides an artist."""
    rows = ["path,genre,artist" + (",split" if split else "")]
    for index in range(48):
        artist, genre = index // 4, ("low", "high")[index // 4 % 2]
        name = f"audio/{index:02d}.wav"
        write_tone(tmp_path / name, 110 if genre == "low" else 880, seconds=0.05)
        cell = ("," + ("test" if index == 1 else "train" if index < 40 else "validation")) * split
        rows.append(f"{name},{genre},artist {artist}{cell}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "m.csv"


def test_manifest_group_column(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = manifest(tmp_path)
    tasks = {"genre": TaskSpec(type="multiclass")}
    for seed in range(5):
        dataset = ManifestDataset(path=path, tasks=tasks, group_column="artist", seed=seed)
        assert groups_across_splits(dataset.splits()) == {}
        assert all(dataset.tracks(split) for split in SPLITS)
        assert dataset.tracks()[0].group.startswith("artist ")
    # Without group_column the seeded split divides artists (the leak this prevents).
    plain = ManifestDataset(path=path, tasks=tasks)
    assert all(track.group is None for track in plain.tracks())
    by_artist = {}
    for split in SPLITS:
        for track in plain.tracks(split):
            by_artist.setdefault(int(track.id[6:8]) // 4, set()).add(split)
    assert any(len(splits) > 1 for splits in by_artist.values())

    written = ManifestDataset(path=manifest(tmp_path / "s", split=True), tasks=tasks,
                              group_column="artist")  # fmt: skip
    assert [t.id for t in written.tracks("test")] == ["audio/01.wav"]  # kept as written
    assert "group_column 'artist': 1 groups have tracks in several splits" in caplog.text
    assert "'artist 0' in train and test" in caplog.text
    with pytest.raises(DataError, match="group_column reads column 'singer', which is not"):
        ManifestDataset(path=path, tasks=tasks, group_column="singer")


def test_info_counts_groups_per_split(tmp_path: Path) -> None:
    path = manifest(tmp_path)
    result = CliRunner().invoke(
        app,
        ["datasets", "info", "manifest", str(path), "--set", "tasks={genre: {type: multiclass}}",
         "--set", "group_column=artist"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    dataset = ManifestDataset(
        path=path, tasks={"genre": TaskSpec(type="multiclass")}, group_column="artist"
    )
    counts = {s: len({t.group for t in dataset.tracks(s)}) for s in SPLITS}
    assert sum(counts.values()) == 12
    line = ", ".join(f"{split} {counts[split]}" for split in SPLITS)
    assert f"groups (artist): {line}" in result.output


def test_folder_group_column(tmp_path: Path) -> None:
    rows = ["path,album"]
    for label in ("cello", "flute"):
        for take in range(12):
            relative = f"{label}/{label}_{take}.wav"
            write_tone(tmp_path / relative, 220 if label == "cello" else 660, seconds=0.05)
            rows.append(f"{relative},{label} album {take // 3}")
    (tmp_path / "albums.csv").write_text("\n".join(rows) + "\n")
    dataset = FolderDataset(path=tmp_path, group_column="album", metadata=tmp_path / "albums.csv")
    assert groups_across_splits(dataset.splits()) == {}
    assert {t.group for t in dataset.tracks()} == {f"{x} album {k}" for x in ("cello", "flute")
                                                   for k in range(4)}  # fmt: skip
    assert dataset.group_kind == "album"
    write_tone(tmp_path / "flute" / "extra.wav", 660, seconds=0.05)
    with pytest.raises(DataError, match=r"albums.csv: 1 audio files have no row .*flute/extra"):
        FolderDataset(path=tmp_path, group_column="album", metadata=tmp_path / "albums.csv")


def test_a_manifest_group_column_is_what_the_bootstrap_resamples(tmp_path: Path) -> None:
    """The config's `group_column` reaches the statistics: the test tracks' groups that the
    cluster bootstrap draws are the manifest's artists (no group left out, none invented)."""
    path = manifest(tmp_path)
    config = {
        "name": "g",
        "output_dir": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
        "datasets": [
            {
                "name": "corpus",
                "type": "manifest",
                "path": str(path),
                "group_column": "artist",
                "tasks": {"genre": {"type": "multiclass"}},
            }
        ],
        "models": [{"type": "mfcc"}],
    }
    experiment = Experiment.from_config(config)
    groups = groups_of_test_tracks(experiment)["corpus"]
    test_tracks = experiment.datasets[0].tracks("test")
    assert set(groups) == {track.id for track in test_tracks}
    rows = {line.split(",")[0]: line.split(",")[2] for line in path.read_text().splitlines()[1:]}
    assert groups == {track.id: rows[track.id] for track in test_tracks}
    plain = {**config["datasets"][0]}
    del plain["group_column"]
    assert groups_of_test_tracks(Experiment.from_config({**config, "datasets": [plain]})) == {}
