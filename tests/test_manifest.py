"""The manifest dataset: a CSV file with one row per track, read and checked on construction."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile

from mir_ref import registry
from mir_ref.datasets.base import SPLITS
from mir_ref.datasets.manifest import ManifestDataset, TaskSpec
from mir_ref.errors import ConfigError, DataError
from mir_ref.tasks import KEYS, Task

SAMPLE_RATE = 8000


def write_wav(path: Path, rng: np.random.Generator, *, frequency_hz: float = 440.0) -> None:
    """A quarter-second tone with a little noise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    time_s = np.arange(SAMPLE_RATE // 4) / SAMPLE_RATE
    audio = 0.5 * np.sin(2 * np.pi * frequency_hz * time_s) + 0.01 * rng.standard_normal(
        len(time_s)
    )
    soundfile.write(path, audio.astype(np.float32), SAMPLE_RATE)


def write_manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def manifest(path: Path, **tasks: str) -> ManifestDataset:
    return ManifestDataset(
        path=path, tasks={name: TaskSpec(type=kind) for name, kind in tasks.items()}
    )


def test_parses_every_task_type(tmp_path: Path, rng: np.random.Generator) -> None:
    rows = [
        ("a.wav", "rock", "Bb minor", "120.5", "guitar; drums", "train"),
        ("b.wav", "pop", "F#:minor", "", " voice ;;guitar ", "train"),
        ("c.wav", "", "c major", "99", "", "valid"),
        ("d.wav", "jazz", "", "1e2", "drums;drums", "test"),
    ]
    columns = ("path", "genre", "key", "bpm", "instruments", "split")
    write_manifest(tmp_path / "m.csv", [dict(zip(columns, row, strict=True)) for row in rows])
    for name, *_ in rows:
        write_wav(tmp_path / name, rng)
    dataset = ManifestDataset(
        path=tmp_path / "m.csv",
        tasks={
            "genre": TaskSpec(type="multiclass"),
            "key": TaskSpec(type="key"),
            "tempo": TaskSpec(type="regression", column="bpm", metrics=["r2"]),
            "tags": TaskSpec(type="multilabel", column="instruments"),
        },
    )
    labels = {track.id: track.labels for track in dataset.tracks()}
    assert labels == {
        "a.wav": {"genre": "rock", "key": "A#:minor", "tempo": 120.5, "tags": ["guitar", "drums"]},
        "b.wav": {"genre": "pop", "key": "F#:minor", "tags": ["voice", "guitar"]},
        "c.wav": {"key": "C:major", "tempo": 99.0},
        "d.wav": {"genre": "jazz", "tempo": 100.0, "tags": ["drums"]},
    }
    tasks = dataset.tasks
    assert all(isinstance(task, Task) for task in tasks.values())
    assert tasks["genre"].classes == ["jazz", "pop", "rock"]
    assert tasks["key"].classes == KEYS and tasks["key"].type == "key"
    assert tasks["tempo"].classes == [] and tasks["tempo"].metrics == ["r2"]
    assert tasks["tags"].classes == ["drums", "guitar", "voice"]
    assert tasks["genre"].metrics == ["accuracy", "balanced_accuracy", "f1_macro"]
    # An empty cell leaves the track out of that task only.
    assert [t.id for t in dataset.task_tracks("genre", "train")] == ["a.wav", "b.wav"]
    assert dataset.task_tracks("genre", "validation") == []
    assert dataset.audio_sample_rate is None
    audio, rate = dataset.tracks("test")[0].audio()
    assert rate == SAMPLE_RATE and audio.shape == (SAMPLE_RATE // 4,)


def test_multilabel_separator(tmp_path: Path) -> None:
    path = write_manifest(
        tmp_path / "m.csv", [{"path": "a.wav", "tags": "a | b c|", "split": "test"}]
    )
    dataset = ManifestDataset(path=path, tasks={"tags": TaskSpec(type="multilabel", separator="|")})
    assert dataset.tracks()[0].labels == {"tags": ["a", "b c"]}


def test_split_column_and_aliases(tmp_path: Path) -> None:
    values = ["train", "Train", "validation", "valid", "val", "dev", "test", " TEST "]
    rows = [{"path": f"{i}.wav", "part": value} for i, value in enumerate(values)]
    path = write_manifest(tmp_path / "m.csv", [{**row, "genre": "x"} for row in rows])
    dataset = ManifestDataset(
        path=path, split_column="part", tasks={"genre": TaskSpec(type="multiclass")}
    )
    assert {split: [t.id for t in dataset.tracks(split)] for split in SPLITS} == {
        "train": ["0.wav", "1.wav"],
        "validation": ["2.wav", "3.wav", "4.wav", "5.wav"],
        "test": ["6.wav", "7.wav"],
    }


def test_stratified_split_without_split_column(tmp_path: Path) -> None:
    rows = [
        {"path": f"{genre}{i}.wav", "bpm": str(60 + i), "genre": genre}
        for genre in ("rock", "pop", "jazz")
        for i in range(20)
    ]
    path = write_manifest(tmp_path / "m.csv", rows)
    dataset = manifest(path, bpm="regression", genre="multiclass")
    counts = {split: len(dataset.tracks(split)) for split in SPLITS}
    assert counts == {"train": 42, "validation": 9, "test": 9}
    for split in SPLITS:
        genres = [track.labels["genre"] for track in dataset.tracks(split)]
        assert sorted(set(genres)) == ["jazz", "pop", "rock"]
        assert len(set(genres.count(genre) for genre in set(genres))) == 1
    assert dataset.check(audio=False) == []
    same = manifest(path, bpm="regression", genre="multiclass")
    other = ManifestDataset(path=path, seed=1, tasks={"genre": TaskSpec(type="multiclass")})
    test_ids = [t.id for t in dataset.tracks("test")]
    assert test_ids == [t.id for t in same.tracks("test")]
    assert test_ids != [t.id for t in other.tracks("test")]


def test_random_split_without_a_single_label_task(tmp_path: Path) -> None:
    rows = [{"path": f"{i}.wav", "bpm": str(i)} for i in range(20)]
    dataset = manifest(write_manifest(tmp_path / "m.csv", rows), bpm="regression")
    assert {split: len(dataset.tracks(split)) for split in SPLITS} == {
        "train": 14,
        "validation": 3,
        "test": 3,
    }


def test_ids_audio_root_and_absolute_paths(tmp_path: Path, rng: np.random.Generator) -> None:
    write_wav(tmp_path / "audio" / "one.wav", rng)
    write_wav(tmp_path / "elsewhere.wav", rng)
    rows = [
        {"file": "one.wav", "id": "track-1", "genre": "a", "split": "train"},
        {"file": str(tmp_path / "elsewhere.wav"), "id": "track-2", "genre": "b", "split": "test"},
    ]
    dataset = ManifestDataset(
        path=write_manifest(tmp_path / "m.csv", rows),
        audio_root=tmp_path / "audio",
        audio_column="file",
        id_column="id",
        tasks={"genre": TaskSpec(type="multiclass")},
    )
    tracks = {track.id: track for track in dataset.tracks()}
    assert tracks["track-1"].audio_path == tmp_path / "audio" / "one.wav"
    assert tracks["track-2"].audio_path == tmp_path / "elsewhere.wav"
    assert all(track.audio()[0].size for track in tracks.values())


def test_missing_audio_is_reported_by_check_not_at_load(tmp_path: Path) -> None:
    rows = [{"path": f"{s}.wav", "genre": "a", "split": s} for s in SPLITS]
    dataset = manifest(write_manifest(tmp_path / "m.csv", rows), genre="multiclass")
    problems = [problem for problem in dataset.check() if "not found" in problem]
    assert [problem.split("'")[3] for problem in problems] == [f"{s}.wav" for s in SPLITS]


def test_registry_round_trip(tmp_path: Path) -> None:
    path = write_manifest(tmp_path / "m.csv", [{"path": "a.wav", "genre": "x", "split": "test"}])
    dataset = registry.build(
        "datasets",
        {"type": "manifest", "path": path, "tasks": {"genre": {"type": "multiclass"}}},
        where="datasets[0]",
    )
    assert isinstance(dataset, ManifestDataset)
    assert dataset.tasks["genre"].classes == ["x"]
    assert dataset.citation
    with pytest.raises(ConfigError) as error:
        registry.build(
            "datasets",
            {"type": "manifest", "path": path, "tasks": {"genre": {"type": "multi-class"}}},
            where="datasets[0]",
        )
    assert "datasets[0].tasks.genre.type" in str(error.value)
    assert "did you mean 'multiclass'" in str(error.value)


# Bad input: each error names the file and, where there is one, the line and the column.


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="manifest file not found.*nowhere.csv"):
        manifest(tmp_path / "nowhere.csv", genre="multiclass")


def test_missing_label_column(tmp_path: Path) -> None:
    path = write_manifest(tmp_path / "m.csv", [{"path": "a.wav", "genres": "x"}])
    with pytest.raises(DataError) as error:
        manifest(path, genre="multiclass")
    message = str(error.value)
    assert str(path) in message and "'genre'" in message
    assert "columns: path, genres" in message and "did you mean 'genres'" in message


def test_missing_audio_column(tmp_path: Path) -> None:
    path = write_manifest(tmp_path / "m.csv", [{"file": "a.wav", "genre": "x"}])
    with pytest.raises(DataError, match=r"audio_column reads column 'path'.*columns: file, genre"):
        manifest(path, genre="multiclass")


def test_named_split_column_missing(tmp_path: Path) -> None:
    path = write_manifest(tmp_path / "m.csv", [{"path": "a.wav", "genre": "x", "split": "test"}])
    with pytest.raises(DataError, match="split_column reads column 'fold'"):
        ManifestDataset(
            path=path, split_column="fold", tasks={"genre": TaskSpec(type="multiclass")}
        )


def test_bad_split_value(tmp_path: Path) -> None:
    rows = [{"path": "a.wav", "genre": "x", "split": "train"}]
    rows.append({"path": "b.wav", "genre": "x", "split": "holdout"})
    path = write_manifest(tmp_path / "m.csv", rows)
    with pytest.raises(DataError) as error:
        manifest(path, genre="multiclass")
    message = str(error.value)
    assert str(path) in message and "line 3" in message and "column 'split'" in message
    assert "'holdout'" in message and "train, validation, test" in message


def test_bad_key(tmp_path: Path) -> None:
    rows = [{"path": "a.wav", "tonality": "C major"}, {"path": "b.wav", "tonality": "H dur"}]
    path = write_manifest(tmp_path / "m.csv", rows)
    with pytest.raises(DataError) as error:
        ManifestDataset(path=path, tasks={"key": TaskSpec(type="key", column="tonality")})
    message = str(error.value)
    assert str(path) in message and "line 3" in message and "column 'tonality'" in message
    assert "'H dur' is not a key" in message


@pytest.mark.parametrize("value", ["fast", "nan", "inf"])
def test_bad_number(tmp_path: Path, value: str) -> None:
    path = write_manifest(tmp_path / "m.csv", [{"path": "a.wav", "bpm": value}])
    with pytest.raises(DataError) as error:
        manifest(path, bpm="regression")
    message = str(error.value)
    assert str(path) in message and "line 2" in message and "column 'bpm'" in message
    assert f"'{value}' is not a finite number" in message


def test_duplicate_ids(tmp_path: Path) -> None:
    rows = [{"path": p, "genre": "x"} for p in ("a.wav", "b.wav", "a.wav")]
    path = write_manifest(tmp_path / "m.csv", rows)
    with pytest.raises(DataError) as error:
        manifest(path, genre="multiclass")
    message = str(error.value)
    assert str(path) in message and "'a.wav'" in message and "lines 2 and 4" in message


def test_empty_audio_cell_and_unlabelled_task(tmp_path: Path) -> None:
    path = write_manifest(tmp_path / "m.csv", [{"path": "", "genre": "x"}])
    with pytest.raises(DataError, match="line 2, column 'path'.*audio path is empty"):
        manifest(path, genre="multiclass")
    path = write_manifest(tmp_path / "m.csv", [{"path": "a.wav", "genre": ""}])
    with pytest.raises(DataError, match="task 'genre' has no labels"):
        manifest(path, genre="multiclass")


def test_malformed_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        manifest(empty, genre="multiclass")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("path,genre\na.wav,x,extra\n")
    with pytest.raises(DataError, match="line 2: more cells"):
        manifest(ragged, genre="multiclass")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"path,genre\n\xff\xfe,x\n")
    with pytest.raises(DataError, match="UTF-8"):
        manifest(binary, genre="multiclass")


# JSON Lines, k-fold columns and track options.


def test_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(
        '{"path": "a.wav", "genre": "rock", "tags": ["guitar", " drums", "guitar"], "bpm": 120,'
        ' "split": "train"}\n'
        "\n"
        '{"path": "b.wav", "genre": "pop", "tags": "voice;guitar", "split": "test"}\n'
    )
    dataset = manifest(path, genre="multiclass", tags="multilabel", bpm="regression")
    labels = {track.id: track.labels for track in dataset.tracks()}
    assert labels["a.wav"] == {"genre": "rock", "tags": ["guitar", "drums"], "bpm": 120.0}
    assert labels["b.wav"] == {"genre": "pop", "tags": ["voice", "guitar"]}
    assert [t.id for t in dataset.tracks("test")] == ["b.wav"]

    path.write_text('{"path": "a.wav", "genre": ["rock", "pop"]}\n')
    with pytest.raises(DataError, match="line 1, column 'genre'.*only valid for a multilabel"):
        manifest(path, genre="multiclass")
    path.write_text('{"path": "a.wav"}\n{"path": "b.wav", "genre": }\n')
    with pytest.raises(DataError, match=r"m.jsonl, line 2: not valid JSON"):
        manifest(path, genre="multiclass")


def test_folds(tmp_path: Path) -> None:
    rows = [{"path": f"{i}.wav", "genre": "ab"[i % 2], "fold": str(i % 4)} for i in range(16)]
    path = write_manifest(tmp_path / "m.csv", rows)
    folds = {}
    for test_fold in range(4):
        dataset = ManifestDataset(
            path=path, split=test_fold, tasks={"genre": TaskSpec(type="multiclass")}
        )
        folds[test_fold] = {s: {t.id for t in dataset.tracks(s)} for s in SPLITS}
        assert folds[test_fold]["test"] == {f"{i}.wav" for i in range(test_fold, 16, 4)}
        next_fold = (test_fold + 1) % 4
        assert folds[test_fold]["validation"] == {f"{i}.wav" for i in range(next_fold, 16, 4)}
        assert len(folds[test_fold]["train"]) == 8
    # Every track is tested exactly once over the folds.
    assert sorted(i for f in folds.values() for i in f["test"]) == sorted(r["path"] for r in rows)
    with pytest.raises(DataError, match="fold 4 does not exist; folds are 0..3"):
        ManifestDataset(path=path, split=4, tasks={"genre": TaskSpec(type="multiclass")})
    with pytest.raises(ValueError, match="split: 'all' is expanded by the config"):
        ManifestDataset(path=path, split="all", tasks={"genre": TaskSpec(type="multiclass")})
    no_folds = write_manifest(tmp_path / "n.csv", [{"path": "a.wav", "genre": "a"}])
    with pytest.raises(DataError, match="no 'fold' column"):
        ManifestDataset(path=no_folds, split=0, tasks={"genre": TaskSpec(type="multiclass")})
    rows[3]["fold"] = "third"
    with pytest.raises(DataError, match="line 5, column 'fold': fold 'third' is not a whole"):
        ManifestDataset(
            path=write_manifest(tmp_path / "m.csv", rows),
            split=0,
            tasks={"genre": TaskSpec(type="multiclass")},
        )


def test_max_tracks_clip_and_offset(tmp_path: Path, rng: np.random.Generator) -> None:
    rows = [
        {"path": f"{genre}{i}.wav", "genre": genre, "split": "train"}
        for genre, count in (("rock", 30), ("pop", 10))
        for i in range(count)
    ]
    rows[-1]["split"] = rows[0]["split"] = "test"
    rows[-2]["split"] = rows[1]["split"] = "validation"
    write_wav(tmp_path / "rock0.wav", rng)
    path = write_manifest(tmp_path / "m.csv", rows)
    dataset = ManifestDataset(
        path=path,
        max_tracks=8,
        offset_s=0.05,
        clip_s=0.1,
        tasks={"genre": TaskSpec(type="multiclass")},
    )
    train = [t.labels["genre"] for t in dataset.tracks("train")]
    assert len(train) == 8 and train.count("rock") == 6 and train.count("pop") == 2
    assert len(dataset.tracks("test")) == 2
    track = next(t for t in dataset.tracks("test") if t.id == "rock0.wav")
    audio, rate = track.audio()
    assert audio.shape == (int(0.1 * SAMPLE_RATE),)
    assert track.identity.endswith(":0.05:0.1")
    again = ManifestDataset(path=path, max_tracks=8, tasks={"genre": TaskSpec(type="multiclass")})
    assert [t.id for t in again.tracks("train")] == [t.id for t in dataset.tracks("train")]
    with pytest.raises(ConfigError, match="max_tracks must be at least 1"):
        registry.build(
            "datasets",
            {
                "type": "manifest",
                "path": path,
                "max_tracks": 0,
                "tasks": {"g": {"type": "multiclass"}},
            },
            where="datasets[0]",
        )
