"""A hostile afternoon, tried as a new user would: no wrong number with exit code 0, no code run
without consent, no finished output lost (issue 18). Each test failed before its fix."""

from __future__ import annotations

import errno
import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
import yaml
from typer.testing import CliRunner

from mir_ref import config as config_module
from mir_ref import registry, stages
from mir_ref.cli import app
from mir_ref.compare import compare_models
from mir_ref.errors import CacheError, ConfigError, DataError
from mir_ref.experiment import Experiment, load_config
from mir_ref.paths import safe_name
from tests.conftest import manifest_config


def _config(manifest: Path, **overrides) -> dict:
    return manifest_config(
        manifest,
        **{
            "name": "adversarial",
            "models": [{"type": "mfcc", "n_mels": 40}],
            "embedding": {"window_s": 1.0, "hop_s": 1.0},
            "probes": [{"type": "linear"}],
            "protocol": {"epochs": 20, "patience": 5, "learning_rate": 0.05, "n_bootstrap": 0},
            "execution": {"workers": 1},
            **overrides,
        },
    )


def _accuracy(results: pd.DataFrame) -> float:
    return float(results.loc[results["metric"] == "accuracy", "value"].mean())


def _swap_test_labels(manifest: Path) -> None:
    """Give every test track the other genre (its audio stays the same)."""
    lines = manifest.read_text().splitlines()
    swapped = {"low": "high", "high": "low"}
    for index, line in enumerate(lines[1:], start=1):
        cells = line.split(",")
        if cells[-1] == "test":
            cells[1] = swapped[cells[1]]
            lines[index] = ",".join(cells)
    manifest.write_text("\n".join(lines) + "\n")


# -- silent wrong results ---------------------------------------------------------------------


def _train_and_evaluate(config: dict) -> pd.DataFrame:
    experiment = Experiment.from_config(config)
    stages.extract(experiment)
    stages.train(experiment)
    return stages.evaluate(experiment)


def test_changed_labels_are_retrained_and_evaluate_refuses_the_stale_ones(manifest_corpus):
    config = _config(manifest_corpus)
    assert _accuracy(_train_and_evaluate(config)) == 1.0

    _swap_test_labels(manifest_corpus)
    # `evaluate` or `compare` alone must not score the old labels stored with the predictions.
    with pytest.raises(DataError, match="other labels, splits"):
        stages.evaluate(Experiment.from_config(config))
    with pytest.raises(DataError, match="other labels, splits"):
        compare_models(Experiment.from_config(config))
    # The same audio, scored against the new labels.
    assert _accuracy(_train_and_evaluate(config)) == 0.0


def test_a_damaged_embedding_stops_training_naming_the_entry(manifest_corpus):
    experiment = Experiment.from_config(_config(manifest_corpus))
    stages.extract(experiment)
    entry = sorted((manifest_corpus.parent / "cache" / "embeddings").rglob("*.npy"))[0]
    data = bytearray(entry.read_bytes())
    data[-3] ^= 0x40  # one bit of one value: same size, still a valid array
    entry.write_bytes(bytes(data))
    with pytest.raises(CacheError, match=f"cache entry {entry} is damaged.*verify --repair"):
        stages.train(Experiment.from_config(_config(manifest_corpus)))


# -- config intent silently dropped ------------------------------------------------------------


def _validate(config_path: Path):
    """``mir_ref validate -c config_path`` in this process."""
    return CliRunner().invoke(app, ["validate", "-c", str(config_path)])


def _yaml_config(manifest: Path, text: str) -> Path:
    """A config file: the manifest corpus config as YAML, then ``text`` appended."""
    config = _config(manifest)
    del config["probes"], config["protocol"]
    path = manifest.parent / "config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False) + text)
    return path


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("probes: [{type: linear}]\nprobes: [{type: mlp}]\n", "probes: the key appears twice"),
        ("protocol:\n  epochs: 5\n  epochs: 50\n", "protocol.epochs: the key appears twice"),
        (
            "probes:\n  - {type: mlp, hidden: [8], hidden: [64]}\n",
            "probes[0].hidden: the key appears twice",
        ),
    ],
    ids=["top-level", "nested", "in-a-list"],
)
def test_a_duplicate_yaml_key_at_any_level_is_refused(manifest_corpus, text, where):
    result = _validate(_yaml_config(manifest_corpus, text))
    assert result.exit_code == 2
    assert where in " ".join(result.output.split())


def test_a_key_merged_from_an_anchor_may_be_overridden(manifest_corpus):
    text = "probes:\n  - &mlp {type: mlp, hidden: [8]}\n  - <<: *mlp\n    hidden: [16]\n"
    experiment = Experiment.from_config(_yaml_config(manifest_corpus, text))
    assert [p.label() for p in experiment.probes] == ["mlp-8", "mlp-16"]


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (
            "{learnig_rate: [0.5, 1.0e-4]}",
            "protocol.grid.learnig_rate: unknown key; did you mean 'learning_rate'?",
        ),
        ("{weight_decy: [0.1]}", "protocol.grid.weight_decy: unknown key; did you mean"),
        ("{learning_rate: [-1]}", "protocol.grid.learning_rate[0]: -1 is not a valid"),
        ("{hidden: [[64], [0]]}", "protocol.grid.hidden[1]: [0] is not a valid hidden"),
        ("{weight_decay: 0.1}", "protocol.grid.weight_decay: Input should be a valid list"),
        ("{hidden: [[64]]}", "protocol.grid.hidden: unknown key"),  # no mlp in this config
    ],
    ids=["misspelled", "misspelled-2", "negative-rate", "zero-hidden", "not-a-list", "no-taker"],
)
def test_validate_refuses_a_bad_grid_naming_the_key(manifest_corpus, grid, message):
    only_linear = grid == "{hidden: [[64]]}"
    probes = "[{type: linear}]" if only_linear else "[{type: linear}, {type: mlp, hidden: [8]}]"
    text = f"probes: {probes}\nprotocol: {{epochs: 5, grid: {grid}}}\n"
    result = _validate(_yaml_config(manifest_corpus, text))
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_a_grid_every_probe_understands_passes(manifest_corpus):
    text = (
        "probes: [{type: linear}, {type: mlp, hidden: [8]}]\n"
        "protocol: {epochs: 5, grid: {learning_rate: [0.1, 0.01], hidden: [[8], infer]}}\n"
    )
    assert _validate(_yaml_config(manifest_corpus, text)).exit_code == 0


@pytest.mark.parametrize(
    ("field", "names"),
    [
        ("models", ["mfcc a", "mfcc_a"]),
        ("models", ["MFCC", "mfcc"]),  # one file on macOS and Windows
        ("probes", ["lin/ear", "lin_ear"]),
        ("datasets", ["corpus:1", "corpus?1"]),
    ],
)
def test_names_that_share_a_file_name_are_refused(manifest_corpus, field, names):
    config = _config(manifest_corpus)
    entry = config[field][0]
    config[field] = [{**entry, "name": name} for name in names]
    with pytest.raises(ConfigError, match="would be stored under one file name") as raised:
        Experiment.from_config(config)
    assert str(raised.value).startswith(f"{field}: the ")
    assert f"'{names[0]}' and '{names[1]}'" in str(raised.value)


def test_task_names_that_share_a_file_name_are_refused(manifest_corpus):
    config = _config(manifest_corpus)
    tasks = config["datasets"][0]["tasks"]
    tasks["genre b"] = tasks["genre_b"] = tasks["genre"]
    with pytest.raises(ConfigError, match="task names 'genre b' and 'genre_b' would"):
        Experiment.from_config(config)


def test_a_repeated_strength_gets_advice_that_fixes_it(manifest_corpus):
    config = _config(manifest_corpus, deformations=[{"type": "white_noise", "snr_db": [10, 10]}])
    with pytest.raises(ConfigError, match=r"deformations\[0\].snr_db: the strength 10 is listed"):
        Experiment.from_config(config)


def test_a_huge_list_is_too_large_not_an_anchor_bomb(tmp_path, monkeypatch):
    # A limit of 1000 values stands for the real one (a 450,000-value list takes seconds).
    monkeypatch.setattr(config_module, "MAX_CONFIG_NODES", 1000)
    path = tmp_path / "huge.yml"
    path.write_text("models: [" + ",".join(["0"] * 4500) + "]\n")
    with pytest.raises(ConfigError, match="too large") as raised:
        load_config(path)
    assert "anchor" not in str(raised.value)


HOSTILE_NAMES = ["..", ".", "../../escaped", "a\\..\\..\\b", "nul\0byte", "/abs/olute", "x" * 300]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=lambda n: repr(n)[:20])
def test_a_name_becomes_one_file_name_inside_its_folder(tmp_path, name):
    folder = tmp_path / "out"
    path = folder / safe_name(name)
    assert path.resolve().parent == folder.resolve()
    assert "\0" not in path.name and len(path.name.encode()) <= 255


def test_no_name_places_a_file_outside_output_dir_or_cache_dir(manifest_corpus):
    """Dataset, task, model, probe and deformation each named to escape; the experiment too."""
    root = manifest_corpus.parent / "deep" / "er"
    root.mkdir(parents=True)
    config = _config(
        manifest_corpus,
        name="../../../escaped",
        output_dir=str(root / "run"),
        cache_dir=str(root / "cache"),
        deformations=[{"type": "gain", "gain_db": [-6], "name": "x" * 300}],
    )
    config["datasets"][0]["name"] = ".."
    config["datasets"][0]["tasks"] = {"../..": {"type": "multiclass", "column": "genre"}}
    config["models"][0]["name"] = "a\\..\\..\\b"
    config["probes"][0]["name"] = "/abs/nul\0"
    before = set(manifest_corpus.parent.rglob("*"))
    stages.run_all(Experiment.from_config(config))
    written = set(manifest_corpus.parent.rglob("*")) - before
    outside = [p for p in written if root not in p.parents]
    assert not outside
    assert any(p.name == "seed0.npz" for p in written)
    default = Experiment.from_config({**config, "output_dir": None}).output_dir
    assert default.parent == (Path.cwd() / "runs").resolve()


# -- code run without consent ------------------------------------------------------------------

_ALL_NAMES_MODEL = '''
from pathlib import Path


class Model:
    """Has the interface; its constructor leaves a trace."""

    sample_rate = 16000
    frame_hop_s = 0.5

    def __init__(self, marker: str):
        Path(marker).write_text("instantiated")

    def embed(self, batch):
        raise AssertionError("never called by validate")
'''


@pytest.mark.parametrize(
    ("target", "params", "message"),
    [
        ("os:system", {"command": "touch {marker}"}, "'os:system' is a builtin_function"),
        ("subprocess:Popen", {"args": ["touch", "{marker}"]}, "lacks a callable embed"),
        ("builtins:eval", {"source": "open('{marker}', 'w')"}, "not a class"),
    ],
)
def test_validate_runs_no_callable_a_python_model_names(manifest_corpus, target, params, message):
    marker = manifest_corpus.parent / "ran.txt"
    params = yaml.safe_load(yaml.safe_dump(params).replace("{marker}", str(marker)))
    path = _yaml_config(manifest_corpus, "")
    config = yaml.safe_load(path.read_text())
    config["models"] = [{"type": "python", "class": target, "params": params}]
    path.write_text(yaml.safe_dump(config))
    result = _validate(path)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not marker.exists()


def test_validate_does_not_instantiate_a_user_model(manifest_corpus, monkeypatch):
    (manifest_corpus.parent / "traced_model.py").write_text(_ALL_NAMES_MODEL)
    monkeypatch.syspath_prepend(str(manifest_corpus.parent))
    marker = manifest_corpus.parent / "instantiated.txt"
    model = {"type": "python", "class": "traced_model:Model", "params": {"marker": str(marker)}}
    path = _yaml_config(manifest_corpus, "")
    config = yaml.safe_load(path.read_text())
    config["models"] = [model]
    path.write_text(yaml.safe_dump(config))
    assert _validate(path).exit_code == 0
    assert not marker.exists()
    bad = {**model, "params": {"marker": str(marker), "extra": 1}}
    config["models"] = [bad]
    path.write_text(yaml.safe_dump(config))
    result = _validate(path)
    assert result.exit_code == 2 and "params of class 'traced_model:Model'" in result.output
    assert not marker.exists()


def _remote_code_folder(folder: Path) -> Path:
    """A saved model folder whose config asks transformers to import its own Python file,
    which leaves a marker when imported."""
    folder.mkdir()
    marker = folder / "code_ran.txt"
    (folder / "config.json").write_text(
        '{"model_type": "evil", "auto_map": {"AutoConfig": "configuration_evil.EvilConfig"}}'
    )
    (folder / "configuration_evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from transformers import PretrainedConfig\n\n\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n"
    )
    return marker


def test_a_presets_trust_in_remote_code_does_not_follow_another_model_id(tmp_path):
    marker = _remote_code_folder(tmp_path / "evil")
    spec = {"type": "mert-v1-95m", "model_id": str(tmp_path / "evil")}
    with pytest.raises(ConfigError, match="the preset trusts only its own repository"):
        registry.build("models", spec, where="models[0]")
    assert not marker.exists()
    # The user's own consent, for this model: its code runs (and then fails to load here).
    with pytest.raises(ConfigError):
        registry.build("models", {**spec, "trust_remote_code": True}, where="models[0]")
    assert marker.exists()


# -- outputs lost ------------------------------------------------------------------------------


def test_a_warm_rerun_restores_missing_and_damaged_outputs(manifest_corpus):
    config = _config(manifest_corpus, report={"plots": False})
    stages.run_all(Experiment.from_config(config))
    run = manifest_corpus.parent / "run"
    results, index = run / "results.csv", run / "report" / "index.html"
    kept = {path: path.read_bytes() for path in (results, run / "summary.csv")}
    page = index.read_bytes()
    results.unlink()
    index.write_bytes(page[: len(page) // 2])  # truncated
    (run / "summary.csv").write_bytes(kept[run / "summary.csv"].replace(b"1.0", b"0.5"))
    stages.run_all(Experiment.from_config(config))
    assert {path: path.read_bytes() for path in kept} == kept
    # The footer's time of writing may have moved on a minute.
    rewritten, page = (
        re.sub(rb"\d{4}-\d\d-\d\d \d\d:\d\d UTC", b"", p) for p in (index.read_bytes(), page)
    )
    assert rewritten.endswith(page[-200:]) and len(rewritten) > len(page) // 2


def _disk_full_on(name: str, monkeypatch) -> None:
    """Writes to files whose name holds ``name`` fail half way with ENOSPC, as on a full disk.

    Every file write goes through ``io.open`` (``open``, ``Path.write_text``, ``os.fdopen``).
    """
    real_open = io.open

    class HalfWritten:
        def __init__(self, file):
            self._file = file

        def write(self, data):
            self._file.write(data[: len(data) // 2])
            self._file.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, attribute):
            return getattr(self._file, attribute)

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            self._file.close()

    def opening(file, mode="r", *args, **kwargs):
        opened = real_open(file, mode, *args, **kwargs)
        target = os.readlink(f"/proc/self/fd/{file}") if isinstance(file, int) else str(file)
        writing = any(flag in mode for flag in "wax+")
        return HalfWritten(opened) if writing and name in Path(target).name else opened

    monkeypatch.setattr(io, "open", opening)


@pytest.mark.parametrize("name", ["index.html", "selection.csv"])
def test_a_full_disk_keeps_the_previous_outputs_and_says_so(manifest_corpus, monkeypatch, name):
    config = _config(manifest_corpus, report={"plots": False})
    stages.run_all(Experiment.from_config(config))
    run = manifest_corpus.parent / "run"
    path = next(run.rglob(name))
    before = path.read_bytes()
    _disk_full_on(name, monkeypatch)
    experiment = Experiment.from_config(config)
    with pytest.raises(CacheError, match=f"the disk holding {path.parent} is full"):
        stages.evaluate(experiment)
        stages.report(experiment)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert not [p for p in run.rglob("*.tmp")]


def test_prune_keep_config_keeps_the_entries_of_audio_that_is_unavailable_now(manifest_corpus):
    two_models = _config(
        manifest_corpus, models=[{"type": "mfcc", "n_mels": 40}, {"type": "chroma"}]
    )
    stages.extract(Experiment.from_config(two_models))
    entries = len(list((manifest_corpus.parent / "cache").rglob("*.npy")))
    assert entries == 48
    keep = manifest_corpus.parent / "keep.yml"
    keep.write_text(yaml.safe_dump(_config(manifest_corpus)))  # mfcc only
    audio = manifest_corpus.parent / "audio"
    audio.rename(audio.with_name("audio_moved"))  # an unmounted disk, a renamed folder

    def prune(*options: str):
        result = CliRunner().invoke(app, ["cache", "prune", "--keep-config", str(keep), *options])
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())

    listed = prune("--dry-run")
    assert "would remove 24 entries" in listed  # chroma's: not in the kept config
    assert "would keep 24 entries of 24 track(s) whose audio is unavailable now" in listed
    assert str(audio) in listed
    assert len(list((manifest_corpus.parent / "cache").rglob("*.npy"))) == entries
    done = prune()
    assert "removed 24 entries" in done and "kept 24 entries of 24 track(s)" in done
    audio.with_name("audio_moved").rename(audio)
    assert stages.extract(Experiment.from_config(_config(manifest_corpus))).computed == 0


# -- one-line errors instead of tracebacks -----------------------------------------------------


@pytest.fixture
def read_only(monkeypatch):
    """``read_only(folder)``: the file system refuses every change under ``folder`` (EROFS),
    as a read-only mount does; the tests run as root here, whom permission bits do not stop."""
    folders: list[Path] = []

    def inside(path) -> bool:
        if isinstance(path, int):
            return False
        resolved = Path(os.fsdecode(path)).resolve()
        return any(resolved == f or f in resolved.parents for f in folders)

    def refusing(function, *, writes_only: bool = False):
        def call(path, *args, **kwargs):
            flags = args[0] if args else kwargs.get("flags", 0)
            changes = not writes_only or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            if inside(path) and changes:
                raise OSError(errno.EROFS, "Read-only file system", os.fsdecode(path))
            return function(path, *args, **kwargs)

        return call

    real_access = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda path, mode, **kw: (
            False if mode & os.W_OK and inside(path) else real_access(path, mode, **kw)
        ),
    )
    monkeypatch.setattr(os, "open", refusing(os.open, writes_only=True))
    for name in ("mkdir", "unlink", "rmdir"):
        monkeypatch.setattr(os, name, refusing(getattr(os, name)))
    return folders.append


def _write_config(manifest: Path, config: dict) -> Path:
    path = manifest.parent / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


def test_a_read_only_cache_that_lacks_embeddings_is_named_by_validate(manifest_corpus, read_only):
    path = _write_config(manifest_corpus, _config(manifest_corpus))
    cache = manifest_corpus.parent / "cache"
    cache.mkdir()
    read_only(cache)
    message = _one_line_error(_validate(path))
    assert f"cache_dir: {cache} is read-only and lacks 24 embedding(s)" in message


def test_a_read_only_cache_is_a_one_line_error_when_written_or_pruned(manifest_corpus, read_only):
    config = _config(manifest_corpus)
    stages.extract(Experiment.from_config(config))
    cache = manifest_corpus.parent / "cache"
    read_only(cache)
    # Everything it needs is there: a read-only cache serves the run.
    assert _validate(_write_config(manifest_corpus, config)).exit_code == 0
    more = _config(manifest_corpus, models=[{"type": "mfcc", "n_mels": 20}])
    with pytest.raises(CacheError, match=f"cannot write in {cache}.*read-only"):
        stages.extract(Experiment.from_config(more))
    result = CliRunner().invoke(app, ["cache", "prune", "--cache", str(cache), "--model", "mfcc"])
    assert "read-only" in _one_line_error(result)


@pytest.mark.parametrize("key", ["output_dir", "cache_dir"])
def test_a_folder_that_is_a_file_is_named_by_validate(manifest_corpus, key):
    blocker = manifest_corpus.parent / "a_file"
    blocker.write_text("not a folder")
    path = _write_config(manifest_corpus, _config(manifest_corpus, **{key: str(blocker / "x")}))
    assert f"{key}: {blocker / 'x'} cannot be a folder: {blocker} is a file" in _one_line_error(
        _validate(path)
    )


def test_a_nan_clip_is_refused_by_validate(manifest_corpus):
    config = _config(manifest_corpus)
    config["datasets"][0]["clip_s"] = float("nan")
    message = _one_line_error(_validate(_write_config(manifest_corpus, config)))
    assert "datasets[0]" in message and "clip_s must be a finite number" in message


@pytest.mark.parametrize("kind", ["garbage", "folder"])
def test_a_bad_onnx_path_is_a_one_line_error(manifest_corpus, kind):
    target = manifest_corpus.parent / "model.onnx"
    if kind == "garbage":
        target.write_bytes(b"\x00\x01 certainly not a protobuf " * 40)
        expected = f"{target} is not a readable ONNX model"
    else:
        target.mkdir()
        expected = f"{target} is a folder; `path` must be a .onnx file"
    config = _config(manifest_corpus, models=[{"type": "onnx", "path": str(target)}])
    assert expected in _one_line_error(_validate(_write_config(manifest_corpus, config)))


# -- deeper validation -------------------------------------------------------------------------


def _recode(manifest: Path, name: str, suffix: str) -> Path:
    """Re-encode one corpus file (FLAC, MP3) and point the manifest at it."""
    wav = manifest.parent / "audio" / name
    target = wav.with_suffix(suffix)
    signal, rate = soundfile.read(wav, dtype="float32")
    soundfile.write(target, signal, rate)
    manifest.write_text(manifest.read_text().replace(f"audio/{name}", f"audio/{target.name}"))
    return target


@pytest.mark.parametrize("suffix", [".flac", ".mp3"])
def test_default_validate_finds_a_compressed_file_cut_short(manifest_corpus, suffix):
    """Its header still declares the whole length: only the end of the file tells."""
    path = _recode(manifest_corpus, "high_07.wav", suffix)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    message = _one_line_error(_validate(_write_config(manifest_corpus, _config(manifest_corpus))))
    assert f"{path} is truncated: its header declares" in message


def test_validate_deep_lists_nan_silent_and_undecodable_tracks_at_once(manifest_corpus):
    audio = manifest_corpus.parent / "audio"
    tone, rate = soundfile.read(audio / "low_02.wav", dtype="float32")
    with_nan = tone.copy()
    with_nan[1000] = np.nan
    soundfile.write(audio / "low_02.wav", with_nan, rate, subtype="FLOAT")
    with_inf = tone.copy()
    with_inf[-10] = np.inf
    soundfile.write(audio / "high_03.wav", with_inf, rate, subtype="FLOAT")
    soundfile.write(audio / "low_04.wav", np.zeros_like(tone), rate)
    broken = _recode(manifest_corpus, "high_05.wav", ".flac")
    data = bytearray(broken.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2000] = np.random.default_rng(0).bytes(2000)
    broken.write_bytes(bytes(data))
    path = _write_config(manifest_corpus, _config(manifest_corpus))

    assert _validate(path).exit_code == 0  # headers and ends are sound: a cheap check passes
    message = _one_line_error(CliRunner().invoke(app, ["validate", "--deep", "-c", str(path)]))
    assert "4 problem(s)" not in message and "3 problem(s)" in message
    assert "low_02.wav contains NaN or infinite samples" in message
    assert "high_03.wav contains NaN or infinite samples" in message
    assert f"cannot decode audio file {broken}" in message
    # A warning, not a problem: silence is valid audio.
    assert "track 'audio/low_04.wav'" in message and "is silent (every sample is 0)" in message
