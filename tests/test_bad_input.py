"""Bad input: every way the data or the config can be wrong gives a clear error that names the
file, track or config key — all problems at once, before heavy work — or, with
``execution.on_bad_audio: skip``, a recorded skip."""

from __future__ import annotations

import logging
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
import yaml

from mir_ref import audio, preflight, skips
from mir_ref.config import MAX_CONFIG_BYTES
from mir_ref.datasets.base import Track
from mir_ref.errors import AudioError, ComponentError, ConfigError, DataError
from mir_ref.experiment import Experiment, load_config
from mir_ref.plan import extraction_units
from mir_ref.stages import ensure_valid, run_all
from mir_ref.store import Store
from mir_ref.units import process_unit
from tests.conftest import REPO, manifest_config


def _config(manifest: Path, **overrides) -> dict:
    return manifest_config(
        manifest,
        **{
            "name": "bad",
            "models": [{"type": "mfcc", "n_mels": 40}],
            "embedding": {"window_s": 1.0, "hop_s": 1.0},
            "protocol": {"epochs": 20, "patience": 5, "learning_rate": 0.01, "n_bootstrap": 10},
            "execution": {"workers": 1},
            **overrides,
        },
    )


def _skip_policy(manifest: Path, **overrides) -> dict:
    return _config(manifest, execution={"workers": 1, "on_bad_audio": "skip"}, **overrides)


def _problems(config: dict) -> str:
    with pytest.raises(DataError) as raised:
        ensure_valid(Experiment.from_config(config))
    return str(raised.value)


def _audio_file(manifest: Path, name: str) -> Path:
    return manifest.parent / "audio" / name


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _as_mp3(manifest: Path, name: str) -> Path:
    """Re-encode one corpus file as MP3 and point the manifest at it."""
    wav = _audio_file(manifest, name)
    mp3 = wav.with_suffix(".mp3")
    signal, rate = soundfile.read(wav, dtype="float32")
    soundfile.write(mp3, signal, rate, format="MP3")
    manifest.write_text(manifest.read_text().replace(f"audio/{name}", f"audio/{mp3.name}"))
    return mp3


# -- files that are not usable audio: named before any work, all at once -----------------------


def test_every_bad_file_is_named_at_once_before_any_work(manifest_corpus):
    _audio_file(manifest_corpus, "low_00.wav").unlink()  # missing
    _audio_file(manifest_corpus, "high_01.wav").write_bytes(b"")  # zero bytes
    _audio_file(manifest_corpus, "low_02.wav").write_bytes(b"<html>not audio</html>" * 40)
    _truncate(_audio_file(manifest_corpus, "high_03.wav"))  # cut-off WAV
    soundfile.write(_audio_file(manifest_corpus, "low_04.wav"), np.zeros(1), 16000)  # 1 sample
    message = _problems(_config(manifest_corpus))
    assert "5 problem(s)" in message
    for line in (
        "track 'audio/low_00.wav': audio file not found",
        "track 'audio/high_01.wav': cannot decode audio file",
        "high_01.wav: it is empty (0 bytes)",
        "track 'audio/low_02.wav': cannot decode audio file",
        "track 'audio/high_03.wav': audio file",
        "high_03.wav is truncated: its header declares 32000 bytes of audio, the file holds",
        "low_04.wav is too short: 1 sample(s) at 16000 Hz",
    ):
        assert line in message
    assert not (manifest_corpus.parent / "cache").exists()  # nothing was extracted


@pytest.mark.parametrize("rate", [1, 7_000_000])
def test_unsupported_sample_rate_is_named(manifest_corpus, rate):
    path = _audio_file(manifest_corpus, "high_05.wav")
    soundfile.write(path, np.zeros(max(rate // 10, 500), dtype=np.float32), rate)
    message = _problems(_config(manifest_corpus))
    assert f"high_05.wav has a sample rate of {rate} Hz; supported: 4000 to 768000 Hz" in message


def test_truncated_mp3_is_found_by_the_preflight_and_at_decode(manifest_corpus):
    mp3 = _as_mp3(manifest_corpus, "high_07.wav")
    _truncate(mp3)
    experiment = Experiment.from_config(_config(manifest_corpus))
    # The header still declares the whole length: the preflight decodes a few frames near it.
    with pytest.raises(DataError, match=r"high_07.mp3 is truncated: its header declares"):
        ensure_valid(experiment)
    unit = next(u for u in extraction_units(experiment) if u.track.id == "audio/high_07.mp3")
    with pytest.raises(AudioError) as raised:
        process_unit(experiment, Store.of(experiment), unit, {})
    message = str(raised.value)
    assert "dataset 'corpus', track 'audio/high_07.mp3'" in message
    assert "is truncated: it decodes to" in message


def test_nan_and_inf_samples_fail_at_decode_naming_the_file(tmp_path):
    signal = np.full(16000, 0.1, dtype=np.float32)
    signal[8000] = np.nan
    soundfile.write(tmp_path / "nan.wav", signal, 16000, subtype="FLOAT")
    signal[8000] = np.inf
    soundfile.write(tmp_path / "inf.wav", signal, 16000, subtype="FLOAT")
    for name in ("nan.wav", "inf.wav"):
        with pytest.raises(AudioError, match=rf"{name} contains NaN or infinite samples"):
            audio.load(tmp_path / name)


def test_offset_past_the_end_is_named(manifest_corpus):
    config = _config(manifest_corpus)
    config["datasets"][0]["offset_s"] = 5.0  # the tones are 1 s long
    message = _problems(config)
    assert "offset_s=5 is past the end of" in message and "24 problem(s)" in message


# -- with on_bad_audio: skip, bad tracks are left out and recorded ------------------------------


@pytest.mark.slow
def test_skip_policy_records_every_bad_track_and_the_run_completes(manifest_corpus):
    _audio_file(manifest_corpus, "low_00.wav").unlink()
    _audio_file(manifest_corpus, "high_01.wav").write_bytes(b"")
    _audio_file(manifest_corpus, "low_02.wav").write_bytes(b"not audio" * 100)
    _truncate(_audio_file(manifest_corpus, "low_04.wav"))
    mp3 = _as_mp3(manifest_corpus, "high_03.wav")
    _truncate(mp3)  # found only when decoded, during extraction
    results = run_all(Experiment.from_config(_skip_policy(manifest_corpus)))

    run = manifest_corpus.parent / "run"
    skipped = pd.read_csv(run / "skipped.csv")
    assert sorted(skipped.track) == [
        "audio/high_01.wav",
        "audio/high_03.mp3",
        "audio/low_00.wav",
        "audio/low_02.wav",
        "audio/low_04.wav",
    ]
    reasons = dict(zip(skipped.track, skipped.reason, strict=True))
    assert "not found" in reasons["audio/low_00.wav"]
    assert "truncated" in reasons["audio/high_03.mp3"]
    assert set(results.task) == {"genre"} and results.value.notna().any()
    page = (run / "report" / "index.html").read_text()
    assert "Skipped tracks" in page and "audio/high_03.mp3" in page

    # The train stage alone (after extraction) leaves out the same tracks, decode-time ones too.
    from mir_ref.train import train

    again = Experiment.from_config(_skip_policy(manifest_corpus))
    train(again)
    assert len(again.datasets[0].tracks()) == 24 - 5


def test_skip_policy_at_decode_time_records_and_embeds_nothing(manifest_corpus):
    signal = np.full(16000, 0.1, dtype=np.float32)
    signal[100] = np.nan
    soundfile.write(_audio_file(manifest_corpus, "high_09.wav"), signal, 16000, subtype="FLOAT")
    experiment = Experiment.from_config(_skip_policy(manifest_corpus))
    ensure_valid(experiment)
    unit = next(u for u in extraction_units(experiment) if u.track.id == "audio/high_09.wav")
    assert process_unit(experiment, Store.of(experiment), unit, {}) == 0
    (row,) = skips.read_skipped(experiment.output_dir)
    assert row.track == "audio/high_09.wav" and "NaN or infinite samples" in row.reason
    skips.apply_recorded(experiment)
    assert "audio/high_09.wav" not in {t.id for t in experiment.datasets[0].tracks()}


def test_skipping_that_empties_a_split_is_still_an_error(manifest_corpus):
    for name in ("low_20.wav", "high_21.wav", "low_22.wav", "high_23.wav"):  # the test split
        _audio_file(manifest_corpus, name).unlink()
    message = _problems(_skip_policy(manifest_corpus))
    assert "the test split has no tracks once the skipped tracks are left out" in message


def test_on_bad_audio_is_validated_with_a_suggestion(manifest_corpus):
    with pytest.raises(ConfigError, match="execution.on_bad_audio: 'skipp'.*did you mean 'skip'"):
        Experiment.from_config(_config(manifest_corpus, execution={"on_bad_audio": "skipp"}))


# -- audio that is unusual but valid ------------------------------------------------------------


def test_silent_track_is_kept_with_a_warning(manifest_corpus, caplog):
    soundfile.write(_audio_file(manifest_corpus, "low_06.wav"), np.zeros(16000), 16000)
    experiment = Experiment.from_config(_config(manifest_corpus))
    ensure_valid(experiment)
    unit = next(u for u in extraction_units(experiment) if u.track.id == "audio/low_06.wav")
    with caplog.at_level(logging.WARNING):
        assert process_unit(experiment, Store.of(experiment), unit, {}) == 1
    assert "low_06.wav is silent" in caplog.text


class RmsNormalised:
    """A model that divides by the RMS: NaN on silence (used by the test below)."""

    sample_rate = 16000
    frame_hop_s = 1.0

    def embed(self, batch: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            normalised = batch / np.sqrt((batch**2).mean(axis=1, keepdims=True))
        return normalised[None, :, None, :8].astype(np.float32)


def test_a_model_returning_nan_on_silence_names_model_and_track(manifest_corpus):
    soundfile.write(_audio_file(manifest_corpus, "low_06.wav"), np.zeros(16000), 16000)
    model = {"type": "python", "class": "tests.test_bad_input:RmsNormalised", "name": "rms"}
    experiment = Experiment.from_config(_config(manifest_corpus, models=[model]))
    unit = next(u for u in extraction_units(experiment) if u.track.id == "audio/low_06.wav")
    with pytest.raises(ComponentError, match="model 'rms' returned NaN.*track 'audio/low_06.wav'"):
        process_unit(experiment, Store.of(experiment), unit, {})


def test_eight_channels_are_downmixed(tmp_path, rng):
    channels = rng.uniform(-0.5, 0.5, size=(4000, 8)).astype(np.float32)
    soundfile.write(tmp_path / "eight.wav", channels, 8000, subtype="FLOAT")
    mono, rate = audio.load(tmp_path / "eight.wav")
    assert rate == 8000 and mono.shape == (4000,)
    np.testing.assert_allclose(mono, channels.mean(axis=1), atol=1e-6)


def test_one_sample_track_is_refused_at_decode_too(tmp_path):
    soundfile.write(tmp_path / "one.wav", np.ones(1) * 0.1, 16000)
    track = Track("one", {}, audio_path=tmp_path / "one.wav")
    with pytest.raises(AudioError, match="one.wav is too short: 1 sample.*at least 0.01 s"):
        track.audio()
    assert audio.load(tmp_path / "one.wav")[0].shape == (1,)  # e.g. an impulse response


_PEAK_MEMORY = """
import resource, sys
from mir_ref import audio
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
clip, _ = audio.load(sys.argv[1], offset_s=3600.0, duration_s=30.0)
after_clip = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
whole, rate = audio.load(sys.argv[1])
after_whole = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(before, after_clip, after_whole, clip.nbytes, whole.nbytes, rate)
"""


def _sparse_wav(path: Path, *, hours: float, sample_rate: int, channels: int) -> int:
    """A WAV of silence whose data is a hole in the file: huge, but instant to write."""
    frames = int(hours * 3600 * sample_rate)
    data_bytes = frames * channels * 2
    block = channels * 2
    header = b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block, block, 16)
    header += b"data" + struct.pack("<I", data_bytes)
    with open(path, "wb") as file:
        file.write(header)
        file.truncate(len(header) + data_bytes)
    return frames


@pytest.mark.slow
def test_three_hour_multichannel_file_decodes_without_a_memory_blow_up(tmp_path):
    path = tmp_path / "three_hours.wav"
    frames = _sparse_wav(path, hours=3.0, sample_rate=8000, channels=2)
    assert audio.probe(path) == pytest.approx(3 * 3600)  # the preflight reads the header only
    output = subprocess.run(
        [sys.executable, "-c", _PEAK_MEMORY, str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=True,
    ).stdout.split()
    before, after_clip, after_whole, clip_bytes, whole_bytes, rate = map(int, output)
    assert rate == 8000 and whole_bytes == frames * 4 and clip_bytes == 30 * 8000 * 4
    # A 30 s clip of a 3-hour file reads 30 s, not 3 hours.
    assert after_clip - before < 32 * 2**20
    # The whole file costs its mono float32 length plus one block; decoding both channels at
    # once (then averaging) would need three times that.
    assert after_whole - before < 1.2 * whole_bytes + 64 * 2**20


# -- labels, ids, splits and datasets ----------------------------------------------------------


def test_label_outside_the_vocabulary_is_named_for_every_track(manifest_corpus):
    experiment = Experiment.from_config(_config(manifest_corpus))
    experiment.datasets[0].tasks["genre"].classes = ["high"]  # a fixed vocabulary without 'low'
    found = preflight.check(experiment)
    unknown = [p for p in found.problems if "label 'low' is not in the vocabulary (high)" in p]
    assert len(unknown) == 12
    assert "dataset 'corpus', track 'audio/low_00.wav', task 'genre'" in unknown[0]


def test_duplicate_track_ids_are_named(manifest_corpus):
    experiment = Experiment.from_config(_config(manifest_corpus))
    tracks = experiment.datasets[0].tracks()
    tracks[3].id = tracks[0].id
    found = preflight.check(experiment)
    assert any(
        "track ids must be unique; repeated: 'audio/low_00.wav'" in p for p in found.problems
    )
    # A manifest refuses them as it is read, with both line numbers.
    text = manifest_corpus.read_text().replace("audio/high_01.wav", "audio/low_00.wav", 1)
    manifest_corpus.write_text(text)
    with pytest.raises(DataError, match="'audio/low_00.wav' is on lines 2 and 3"):
        Experiment.from_config(_config(manifest_corpus))


def test_train_split_with_one_class_is_an_error_and_test_split_a_warning(manifest_corpus, caplog):
    lines = manifest_corpus.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    rows = [r.replace(",train", ",test") if "high_" in r else r for r in rows]
    manifest_corpus.write_text("\n".join([header, *rows]) + "\n")
    message = _problems(_config(manifest_corpus))
    assert (
        "dataset 'corpus', task 'genre': every track of the train split has the class 'low'"
        in message
    )
    lines = manifest_corpus.read_text().splitlines()
    rows = [r.replace(",test", ",train") if "high_" in r and "_2" not in r else r for r in lines]
    rows = [r for r in rows if not ("low_2" in r and r.endswith(",test"))]
    manifest_corpus.write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING):
        ensure_valid(Experiment.from_config(_config(manifest_corpus)))
    assert "every track of the test split has the class 'high'" in caplog.text


def test_empty_dataset_is_named(manifest_corpus):
    manifest_corpus.write_text("path,genre,split\n")
    with pytest.raises(DataError, match="has a header but no rows"):
        Experiment.from_config(_config(manifest_corpus))
    folder = manifest_corpus.parent / "empty"
    folder.mkdir()
    config = _config(manifest_corpus, datasets=[{"type": "folder", "path": str(folder)}])
    with pytest.raises(DataError, match="folder"):
        ensure_valid(Experiment.from_config(config))


def test_dataset_without_tracks_is_named_by_the_preflight(manifest_corpus):
    experiment = Experiment.from_config(_config(manifest_corpus))
    dataset = experiment.datasets[0]
    dataset.exclude({t.id for t in dataset.tracks()})
    assert preflight.check(experiment).problems == [
        "dataset 'corpus' holds no tracks; check its path (or manifest)"
    ]


# -- the config ---------------------------------------------------------------------------------


def test_typo_in_a_nested_key_suggests_the_right_one(manifest_corpus):
    config = _config(manifest_corpus)
    config["datasets"][0]["tasks"]["genre"]["colum"] = "genre"
    with pytest.raises(ConfigError) as raised:
        Experiment.from_config(config)
    assert "datasets[0].tasks.genre.colum: unknown key; did you mean 'column'?" in str(raised.value)
    config = _config(manifest_corpus, protocol={"learning_rat": 0.1})
    with pytest.raises(ConfigError, match="protocol.learning_rat: unknown key; did you mean"):
        Experiment.from_config(config)


def test_yaml_anchor_bomb_is_refused(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    (tmp_path / "bomb.yml").write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="bomb.yml: its anchors and aliases expand to more than"):
        load_config(tmp_path / "bomb.yml")
    (tmp_path / "loop.yml").write_text("a: &a [1, *a]\n")
    with pytest.raises(ConfigError, match="an alias refers to its own anchor"):
        load_config(tmp_path / "loop.yml")


def test_ordinary_anchors_still_work(manifest_corpus):
    config = _config(manifest_corpus)
    text = yaml.safe_dump(config).replace("learning_rate: 0.01", "learning_rate: &rate 0.01")
    text = text.replace("patience: 5", "patience: 5\n  weight_decay: *rate")
    (manifest_corpus.parent / "anchors.yml").write_text(text)
    assert load_config(manifest_corpus.parent / "anchors.yml").protocol.weight_decay == 0.01


def test_huge_config_file_is_refused(tmp_path):
    path = tmp_path / "huge.yml"
    path.write_text("name: x\n" + "# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    with pytest.raises(ConfigError, match="larger than 1000000 bytes; refused"):
        load_config(path)


def test_diverging_probe_names_dataset_task_model_and_probe(manifest_corpus, caplog):
    config = _config(manifest_corpus, probes=[{"type": "mlp", "hidden": [64]}])
    # Adam and early stopping survive 1e6 on this easy task; 1e30 overflows the weights.
    config["protocol"]["learning_rate"] = 1e30
    with pytest.raises(ComponentError) as raised:
        run_all(Experiment.from_config(config))
    message = str(raised.value)
    assert "dataset 'corpus', task 'genre', model 'mfcc', layer 'output', probe 'mlp-64'" in message
    assert "failed to train" in message and "lower the learning rates" in message
    assert "loss became nan at epoch 1 with learning_rate=1e+30" in caplog.text
