"""Folders that mirdata wrote load unchanged, with the tracks and labels mirdata's loaders give.

Each fixture tree (``tests/fixtures/corpora.py``, ``MIRDATA_BUILDERS``) reproduces the paths
of mirdata's index for the dataset and the release's annotation formats. The ``MIRDATA_*``
tables below are what mirdata 1.0's loaders return for those trees, written out by reading
their code (``mirdata/datasets/<name>.py``; mirdata is not installed, mir_ref does not depend
on it):

- gtzan_genre: ``track_id`` is the file name without ``.wav``; ``genre`` its prefix, with
  ``hiphop`` spelled ``hip-hop``;
- giantsteps_key: ``key`` is the key file's first line (``load_key``: ``readline()``); its
  track ids are ordinals of mirdata's index, which the release does not hold, so tracks are
  matched by file;
- beatport_key: ``key`` is the first line split at ``|`` with ``unknown`` → ``x``
  (``load_key``), ``artists`` the names in ``meta/<title>.json`` (``load_artist``), ``None``
  without one; ids are index ordinals, as for GiantSteps;
- mtg_jamendo_autotagging_moodtheme: ids are TRACK_ID; ``tags`` the TAGS cells of
  ``data/autotagging_moodtheme.tsv`` with their ``mood/theme---`` category dropped;
  ``artist_id`` ARTIST_ID; ``get_track_splits(k)`` the ids of split-k's files;
- medley_solos_db: ids are ``uuid4``; ``instrument``, ``subset`` and ``song_id`` the metadata's;
- tinysol: ids are the file names without ``.wav``; ``instrument_full`` and ``pitch`` (e.g.
  ``A#2``) the metadata's; ``split`` the Fold.

Where our spelling differs (keys as ``D#:minor``, hiphop, the tag category), the mapping is
the documented one, applied here explicitly.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mir_ref import registry
from mir_ref.cli import app
from mir_ref.datasets.base import SPLITS
from mir_ref.datasets.giantsteps_key import GiantStepsKey
from mir_ref.datasets.gtzan_genre import GtzanGenre
from mir_ref.datasets.mtg_jamendo import MtgJamendo
from mir_ref.datasets.splitting import groups_across_splits
from mir_ref.datasets.tinysol import TinySol
from mir_ref.errors import DataError
from mir_ref.tasks import normalize_key
from tests.fixtures.corpora import MIRDATA_BUILDERS

MIRDATA_GTZAN = {
    "blues.00029": "blues", "blues.00000": "blues", "blues.00012": "blues",
    "classical.00030": "classical", "classical.00000": "classical",
    "classical.00011": "classical", "country.00019": "country", "country.00000": "country",
    "country.00030": "country", "disco.00005": "disco", "disco.00000": "disco",
    "disco.00001": "disco", "hiphop.00002": "hip-hop", "hiphop.00081": "hip-hop",
    "hiphop.00099": "hip-hop", "jazz.00054": "jazz", "jazz.00002": "jazz", "jazz.00073": "jazz",
    "metal.00002": "metal", "metal.00000": "metal", "metal.00012": "metal", "pop.00002": "pop",
    "pop.00010": "pop", "pop.00000": "pop", "reggae.00000": "reggae", "reggae.00061": "reggae",
    "reggae.00034": "reggae", "rock.00000": "rock", "rock.00038": "rock", "rock.00010": "rock",
}  # fmt: skip
"""mirdata's gtzan_genre: track id → genre (its audio: gtzan_genre/genres/<genre>/<id>.wav)."""

MIRDATA_GIANTSTEPS = {
    "1004923 Kaiserdisco - Carachillo (Original Mix)": "Eb minor\n",
    "10089 Jason Sparks - Close My Eyes feat. J. Little (Original Mix)": "D major\n",
    "1074548 Predator, Hellsystem - 2012 (Original Mix)*": "G minor\n",
    "1075123 Unknown Artist - Unknown Title*": "D major\n",
    "1105632 Butch - Reshef (Gow Remix)": "D major\n",
    "1149778 Erik Sumo Band - Dream Machine (Ferenc Vaspoeri Remix)": "Eb minor\n",
    "1161234 Lusine - Two Dots (Nic Fanciulli Remix)": "Eb minor\n",
    "1194720 SIS - Lola (Original Mix)": "D major\n",
    "1198688 Santos - The Selector (Original Mix)": "Eb minor\n",
    "1234668 Eye-D, SPL - Another Realm (Original Mix)": "Eb minor\n",
    "1234669 Eye-D, SPL - Pyramid Punk (Original Mix)": "D major\n",
    "1234748 Aly & Fila - Rosaires (Original Mix)": "Eb minor\n",
    "1234749 Aly & Fila, Josie - Listening feat. Josie (Original Mix)": "D major\n",
    "1234750 Aly & Fila - Menes (Original Mix)": "F minor | Ab major\n",
}
"""mirdata's giantsteps_key: title (audio/<title>.mp3, keys_gs+/<title>.txt) → ``key``."""

MIRDATA_BEATPORT = {
    "100066 Lindstrom - Monsteer (Original Mix)": (["D minor"], ["Lindstrom"]),
    "1017875 JT Donaldson - UCFWM (Original Mix)": (["Bb minor"], ["JT Donaldson"]),
    "1019315 Guido Sava - Fever (Original Mix)": (["F#_ minor"], None),
    "1019403 Penta - Butter (Original Mix)": (["F minor ", " Ab major"], ["Penta"]),
    "1034722 Scorpio - Ali Ba-Ba (Original Mix)": (["A other"], ["Scorpio"]),
    "10359 Oliver Klein - RheinKraft (Ian Wilkie Remix)": (["x"], ["Oliver Klein", "Ian Wilkie"]),
    "1038248 Geck-O, Sinith - Full Force (Full Mix)": (["D minor"], ["Geck-O", "Sinith"]),
    "103857 Hatstandy Andy - Emerge And See (Dysfunktional Mix)": (["Bb minor"],
                                                                    ["Hatstandy Andy"]),
    "1051007 D-Flected - Sombre (Original Mix)": (["D minor"], ["D-Flected"]),
    "1054705 S-Range - Yellow Base (Atomic Pulse Remix )": (["Bb minor"], None),
    "1056047 Leroy Hanghofer - Bathroomboogie (Chloe Remix)": (["F# minor"],
                                                               ["Leroy Hanghofer", "Chloe"]),
    "1059355 Barbara Lahr - Pretty Bird (Original Mix)": (["D minor"], ["Barbara Lahr"]),
    "1060028 Miltos T - Apollo (Medway Remix)": (["Bb minor"], None),
    "108844 Jason Sparks - Gangsters (Si Begg Remix)": (["F# minor"], ["Jason Sparks", "Si Begg"]),
    "1093726 D-Lux, Jonez - Wahaha (Bangboy Booty Remix)": (["D minor"], ["D-Lux", "Jonez"]),
    "1096228 Robot Needs Oil - Analog Girl In A Digital World (Original Mix)": (["Bb minor"],
                                                                                None),
    "10981 Panic - Tasty Treat Beat (Original Mix)": (["F# minor"], ["Panic"]),
    "110504 Musica Charlista - Juan Y Alex (Original Mix)": (["D minor"], ["Musica Charlista"]),
    "1152124 Sinith - Afrodisium (Groovenatics Remix)": (["Bb minor"], ["Sinith", "Groovenatics"]),
}  # fmt: skip
"""mirdata's beatport_key: title (audio/, keys/, meta/) → (``key``, ``artists``)."""

MIRDATA_MTG_SPLIT_1 = {
    "train": [f"track_{1000 + n:07d}" for n in range(1, 9)],
    "validation": ["track_0001009", "track_0001010"],
    "test": ["track_0001011", "track_0001000"],
}
"""mirdata's ``get_track_splits(1)`` for mtg_jamendo_autotagging_moodtheme."""
# mirdata's tags and artist_id per track: tracks 1000 + n, happy (n even) or sad (n odd),
# film too when n is a multiple of 3, artist n // 2.
MIRDATA_MTG = {
    "track_0001000": (["happy", "film"], "artist_000000"),
    "track_0001001": (["sad"], "artist_000000"),
    "track_0001002": (["happy"], "artist_000001"),
    "track_0001003": (["sad", "film"], "artist_000001"),
    "track_0001004": (["happy"], "artist_000002"),
    "track_0001005": (["sad"], "artist_000002"),
    "track_0001006": (["happy", "film"], "artist_000003"),
    "track_0001007": (["sad"], "artist_000003"),
    "track_0001008": (["happy"], "artist_000004"),
    "track_0001009": (["sad", "film"], "artist_000004"),
    "track_0001010": (["happy"], "artist_000005"),
    "track_0001011": (["sad"], "artist_000005"),
}
"""mirdata's mtg_jamendo_autotagging_moodtheme: track id → (``tags``, ``artist_id``); audio
``audios/<id % 100>/<id>.mp3``."""


def relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def build(name: str, root: Path, **options) -> object:
    spec = {**MIRDATA_BUILDERS[name](root), **options}
    return registry.build("datasets", spec, where=name)


def test_gtzan(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """data_home and the release folder inside it; mirdata's WAV files, a partial copy."""
    MIRDATA_BUILDERS["gtzan_genre"](tmp_path)
    for path in (tmp_path, tmp_path / "gtzan_genre"):
        dataset = GtzanGenre(path=path)
        ours = {t.id: t for t in dataset.tracks()}
        spelled = {"hip-hop": "hiphop"}  # ours keeps the release's folder name
        assert {i: t.labels["genre"] for i, t in ours.items()} == {
            i: spelled.get(genre, genre) for i, genre in MIRDATA_GTZAN.items()
        }
        for track_id, track in ours.items():
            genre = track_id.split(".")[0]
            expected = f"gtzan_genre/genres/{genre}/{track_id}.wav"
            assert relative(track.audio_path, tmp_path) == expected
        # 30 of the filtered split's 930 tracks are there; the rest are counted as absent.
        assert {s: len(dataset.tracks(s)) for s in SPLITS} == dict.fromkeys(SPLITS, 10)
        assert sum(dataset.absent_tracks().values()) == 900
    assert "900 of 930 tracks have no audio file" in caplog.text
    everything = GtzanGenre(path=tmp_path, split="random")
    assert {t.id for t in everything.tracks()} == set(MIRDATA_GTZAN)


def test_giantsteps_zenodo_release_without_train_path(tmp_path: Path) -> None:
    dataset = build("giantsteps_key", tmp_path)
    ours = {t.id: t for t in dataset.tracks()}
    # Every track mirdata gives with one key, under its file's title, key normalised.
    expected = {
        title: normalize_key(key.strip())
        for title, key in MIRDATA_GIANTSTEPS.items()
        if "|" not in key
    }
    assert {i: t.labels["key"] for i, t in ours.items()} == expected
    for title, track in ours.items():
        assert relative(track.audio_path, tmp_path) == f"audio/{title}.mp3"
    # Artists from meta/ (else the title), collaborations linked: Aly & Fila with Josie.
    group = {i: t.group for i, t in ours.items()}
    assert (
        group["1234749 Aly & Fila, Josie - Listening feat. Josie (Original Mix)"]
        == (group["1234748 Aly & Fila - Rosaires (Original Mix)"])
    )
    assert group["1074548 Predator, Hellsystem - 2012 (Original Mix)*"] == "Hellsystem"
    assert group["1075123 Unknown Artist - Unknown Title*"] is None
    # Without train_path, GiantSteps is split three ways by artist.
    assert all(dataset.tracks(s) for s in SPLITS)
    assert groups_across_splits(dataset.splits()) == {}


def test_giantsteps_with_the_beatport_release_as_train_path(tmp_path: Path) -> None:
    test = MIRDATA_BUILDERS["giantsteps_key"](tmp_path / "giantsteps")
    train = MIRDATA_BUILDERS["beatport_key"](tmp_path / "beatport")
    dataset = GiantStepsKey(path=Path(test["path"]), train_path=Path(train["path"]))
    assert {t.id for t in dataset.tracks("test")} == {
        title for title, key in MIRDATA_GIANTSTEPS.items() if "|" not in key
    }
    fit = dataset.tracks("train") + dataset.tracks("validation")
    assert len(fit) == 16 and all(t.id.startswith("mtg/") for t in fit)
    assert dataset.tracks("validation")
    assert groups_across_splits({s: dataset.tracks(s) for s in ("train", "validation")}) == {}


def test_beatport(tmp_path: Path) -> None:
    dataset = build("beatport_key", tmp_path)
    ours = {t.id: t for t in dataset.tracks()}
    # The original mir_ref's rule on mirdata's keys: one key of two words, not 'other';
    # 'F#_' repaired to 'F#'.
    kept = {
        title: normalize_key(keys[0].strip().replace("F#_", "F#"))
        for title, (keys, _) in MIRDATA_BEATPORT.items()
        if len(keys) == 1 and len(keys[0].split(" ")) == 2 and "other" not in keys[0]
    }
    assert {i: t.labels["key"] for i, t in ours.items()} == kept
    assert ours["100066 Lindstrom - Monsteer (Original Mix)"].labels["key"] == "D:minor"
    assert ours["1019315 Guido Sava - Fever (Original Mix)"].labels["key"] == "F#:minor"
    # Groups: mirdata's artists where it has them (the title's otherwise), linked by name.
    group = {i: t.group for i, t in ours.items()}
    assert (
        group["1152124 Sinith - Afrodisium (Groovenatics Remix)"]
        == (group["1038248 Geck-O, Sinith - Full Force (Full Mix)"])
    )
    assert group["1060028 Miltos T - Apollo (Medway Remix)"] == "Miltos T"
    for title, (_, artists) in MIRDATA_BEATPORT.items():
        if title in ours and artists and "Sinith" not in artists:
            assert group[title] == min(artists, key=str.casefold), title
    assert groups_across_splits(dataset.splits()) == {}


def test_mtg_jamendo_audios_folder(tmp_path: Path) -> None:
    dataset = build("mtg_jamendo", tmp_path, split=1)
    assert {s: [t.id for t in dataset.tracks(s)] for s in SPLITS} == MIRDATA_MTG_SPLIT_1
    for track in dataset.tracks():
        tags, artist = MIRDATA_MTG[track.id]
        assert track.labels["tags"] == [f"mood/theme---{tag}" for tag in tags]
        assert track.group == artist
        number = int(track.id.removeprefix("track_"))
        assert relative(track.audio_path, tmp_path) == f"audios/{number % 100:02d}/{number}.mp3"
    shutil.rmtree(tmp_path / "audios")
    with pytest.raises(DataError, match=r"no audio folder; searched .*/audio, .*/audios"):
        MtgJamendo(path=tmp_path, split=1)


def test_medley_solos_db(tmp_path: Path) -> None:
    dataset = build("medley_solos_db", tmp_path)
    # mirdata's metadata: uuid4 → instrument, subset, song_id; as the fixture wrote them.
    instruments = ["clarinet", "distorted electric guitar", "female singer"]
    subsets = {"training": "train", "validation": "validation", "test": "test"}
    for index in range(18):
        uuid = f"{index:08x}-0000-4000-8000-{index:012x}"
        subset = ["training"] * 4 + ["validation", "test"]
        [track] = [t for t in dataset.tracks(subsets[subset[index % 6]]) if t.id == uuid]
        assert track.labels == {"instrument": instruments[index % 3]}
        assert track.group == str(100 + index // 3)
        assert relative(track.audio_path, tmp_path) == (
            f"audio/Medley-solos-DB_{subset[index % 6]}-{index % 3}_{uuid}.wav"
        )


def test_tinysol_and_the_original_fold_convention(tmp_path: Path) -> None:
    MIRDATA_BUILDERS["tinysol"](tmp_path)
    # mirdata's tracks: file name → (instrument_full, pitch, split); pitch A2..C#4.
    names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    folds = {}
    for abbr, full in (("BTb", "Bass Tuba"), ("Vn", "Violin")):
        for fold in range(5):
            for midi in (45 + fold, 57 + fold):
                pitch = f"{names[midi % 12]}{midi // 12 - 1}"
                folds[f"{abbr}-ord-{pitch}-ff-N-N"] = (full, pitch, fold)
    for k in range(5):
        ours = TinySol(path=tmp_path, split=k, fold_convention="validation_k")
        original = TinySol(path=tmp_path, split=k)
        for split, fold in (("validation", k), ("test", (k + 1) % 5)):
            ids = {t.id for t in ours.tracks(split)}
            assert ids == {i for i, (_, _, f) in folds.items() if f == fold}
        # Ours: split k tests on fold k and validates on fold k+1.
        assert {t.id for t in original.tracks("test")} == {
            i for i, (_, _, f) in folds.items() if f == k
        }
        assert {t.id for t in original.tracks("validation")} == {t.id for t in ours.tracks("test")}
        for track in ours.tracks():
            full, pitch, _ = folds[track.id]
            # The original mir_ref's pitch class: mirdata's pitch without its octave.
            assert track.labels == {"instrument": full, "pitch_class": re.sub(r"\d", "", pitch)}
            assert relative(track.audio_path, tmp_path).startswith("audio/")


def balance(output: str) -> dict[str, int]:
    """Label → tracks in all splits, from `datasets info`'s '  <label>: train a, ...' lines."""
    totals = {}
    for label, counts in re.findall(r"^  (.+?): (train \d+, validation \d+, test \d+)$",
                                    output, re.M):  # fmt: skip
        totals[label] = sum(int(n) for n in re.findall(r"\d+", counts))
    return totals


INFO = {
    "gtzan_genre": ({}, 30, {"hiphop": 3, "jazz": 3, "blues": 3}),
    "giantsteps_key": ({}, 13, {"D#:minor": 6, "D:major": 6, "G:minor": 1}),
    "beatport_key": ({}, 16, {"D:minor": 6, "A#:minor": 6, "F#:minor": 4}),
    "mtg_jamendo": ({"split": 1}, 12, {"mood/theme---happy": 6, "mood/theme---film": 4}),
    "medley_solos_db": ({}, 18, {"clarinet": 6, "female singer": 6}),
    "tinysol": ({"fold_convention": "validation_k"}, 20, {"Bass Tuba": 10, "Violin": 10}),
}


@pytest.mark.parametrize("name", sorted(MIRDATA_BUILDERS))
def test_info_on_a_mirdata_folder(name: str, tmp_path: Path) -> None:
    MIRDATA_BUILDERS[name](tmp_path)
    options, total, labels = INFO[name]
    arguments = [f"--set={key}={value}" for key, value in options.items()]
    result = CliRunner().invoke(app, ["datasets", "info", name, str(tmp_path), *arguments])
    assert result.exit_code == 0, result.output
    assert f"(total {total})" in result.output
    found = balance(result.output)
    assert {label: found.get(label) for label in labels} == labels
    assert "missing or corrupt files: 0" in result.output
    groups = {"giantsteps_key": "artist", "beatport_key": "artist", "mtg_jamendo": "artist",
              "medley_solos_db": "song"}  # fmt: skip
    if name in groups:
        assert f"groups ({groups[name]}): train " in result.output
