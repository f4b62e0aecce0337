"""The contract every registered deformation keeps: one loop over the registry.

Each registered deformation needs an entry in ``EXAMPLES`` (a test fails otherwise), so a new
deformation cannot slip in untested: shapes, rates, short input, determinism, config errors
and a hypothesis property test all run over every one of them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mir_ref import registry
from mir_ref.deformations.base import Deformation
from mir_ref.deformations.codecs import MP3_BITRATES_KBPS
from mir_ref.deformations.time_pitch import stretched_length
from mir_ref.errors import ConfigError
from mir_ref.experiment import Experiment
from mir_ref.tasks import LabelChange
from tests.signals import SAMPLE_RATES_HZ

# An example spec per registered deformation; "{recordings}" is a folder of noises and
# impulse responses written by the fixture below.
EXAMPLES = {
    "white_noise": {"snr_db": 10.0},
    "pink_noise": {"snr_db": 10.0},
    "background_noise": {"snr_db": 10.0, "folder": "{recordings}/noises"},
    "gain": {"gain_db": -6.0},
    "mp3": {"bitrate_kbps": 64},
    "ogg_vorbis": {"quality": 2},
    "pitch_shift": {"semitones": 2.0},
    "time_stretch": {"rate": 1.25},
    "low_pass": {"cutoff_hz": 3000.0},
    "high_pass": {"cutoff_hz": 300.0},
    "reverb": {"room_size": 0.7},
    "impulse_response": {"path": "{recordings}/rooms", "wet_level": 0.8},
    "clipping": {"threshold_db": -6.0},
    "clipping_percentile": {"percentile": 10.0},
    "bit_depth": {"bits": 8},
    "resample": {"sample_rate_hz": 8000},
    "compressor": {"threshold_db": -20.0, "ratio": 4.0},
    "chain": {
        "steps": [{"type": "low_pass", "cutoff_hz": 3400.0}, {"type": "white_noise", "snr_db": 20}],
        "sweep": 1,
    },
}
# Deformations whose output depends on the seed (the others ignore it).
RANDOM = {"white_noise", "pink_noise", "background_noise", "impulse_response", "chain"}
# Parameters out of range, one or more per deformation: each must fail at config load.
BAD = [
    ("white_noise", {"snr_db": 101.0}),
    ("white_noise", {"snr_db": float("nan")}),
    ("pink_noise", {"snr_db": -31.0}),
    ("background_noise", {"snr_db": 10.0, "folder": "no/such/folder"}),
    ("background_noise", {"snr_db": 500.0, "folder": "{recordings}/noises"}),
    ("gain", {"gain_db": 61.0}),
    ("mp3", {"bitrate_kbps": 100}),
    ("ogg_vorbis", {"quality": 11}),
    ("ogg_vorbis", {"quality": -1}),
    ("pitch_shift", {"semitones": 13.0}),
    ("time_stretch", {"rate": 0.1}),
    ("time_stretch", {"rate": 5.0}),
    ("low_pass", {"cutoff_hz": 10.0}),
    ("high_pass", {"cutoff_hz": 30000.0}),
    ("reverb", {"room_size": 1.5}),
    ("reverb", {"room_size": 0.5, "wet_level": -0.1}),
    ("impulse_response", {"path": "{recordings}/empty"}),
    ("impulse_response", {"path": "{recordings}/rooms", "wet_level": 2.0}),
    ("clipping", {"threshold_db": 3.0}),
    ("clipping_percentile", {"percentile": 100.0}),
    ("bit_depth", {"bits": 1}),
    ("bit_depth", {"bits": 32}),
    ("resample", {"sample_rate_hz": 500}),
    ("compressor", {"threshold_db": -10.0, "ratio": 0.5}),
    ("compressor", {"threshold_db": 6.0}),
    ("chain", {"steps": []}),
    ("chain", {"steps": [{"type": "white_noise", "snr_db": 500}]}),
    ("chain", {"steps": [{"type": "no_such_thing"}]}),
]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    """Two noise recordings and two impulse responses at 16 kHz, and an empty folder."""
    root = tmp_path_factory.mktemp("recordings")
    rng = np.random.default_rng(5)
    (root / "noises").mkdir()
    (root / "rooms").mkdir()
    (root / "empty").mkdir()
    time_s = np.arange(8000) / 16000
    hum = 0.2 * np.sin(2 * np.pi * 50 * time_s) + 0.05 * rng.standard_normal(8000)
    soundfile.write(root / "noises" / "hum.wav", hum.astype(np.float32), 16000)
    soundfile.write(root / "noises" / "hiss.flac", 0.1 * rng.standard_normal(4000), 16000)
    for name, decay_s in (("small.wav", 0.05), ("large.wav", 0.4)):
        samples = int(4 * decay_s * 16000)
        response = rng.standard_normal(samples) * np.exp(-np.arange(samples) / (decay_s * 16000))
        response[:50] = 0.0  # a pre-delay before the direct sound
        response[50] = 3.0
        soundfile.write(root / "rooms" / name, response.astype(np.float32), 16000)
    return root


def spec_of(name: str, params: dict, recordings: Path) -> dict:
    def fill(value):
        if isinstance(value, str):
            return value.replace("{recordings}", str(recordings))
        if isinstance(value, list):
            return [fill(item) for item in value]
        if isinstance(value, dict):
            return {key: fill(item) for key, item in value.items()}
        return value

    return {"type": name, **fill(params)}


def example(name: str, recordings: Path) -> Deformation:
    return registry.build("deformations", spec_of(name, EXAMPLES[name], recordings), where=name)


def expected_length(name: str, samples: int) -> int:
    rate = EXAMPLES["time_stretch"]["rate"]
    return stretched_length(samples, rate) if name == "time_stretch" else samples


NAMES = sorted(EXAMPLES)


def test_every_registered_deformation_has_an_example():
    assert set(registry.available("deformations")) == set(EXAMPLES)


@pytest.mark.parametrize("name", NAMES)
def test_contract(name, recordings):
    cls = registry.available("deformations")[name]
    assert issubclass(cls, Deformation) and dataclasses.is_dataclass(cls)
    assert registry.describe(cls).endswith(")."), "one line saying what it models, in brackets"
    assert cls.version
    fields = {field.name for field in dataclasses.fields(cls)}
    deformation = example(name, recordings)
    # A chain's strength is its swept step's, set per instance; every other class names a field.
    assert deformation.strength in (fields if name != "chain" else {"snr_db"})
    assert np.isfinite(deformation.strength_value)
    assert registry.parameters(deformation)  # its parameters are part of the cache key
    # Every built-in declares what it does to labels; only pitch and tempo changes move them.
    change = deformation.label_change()
    assert change is not None
    assert (change != LabelChange()) == (name in ("pitch_shift", "time_stretch"))


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_identical_output_and_seeds_matter_only_when_random(name, recordings):
    deformation = example(name, recordings)
    audio = (0.1 * np.random.default_rng(0).standard_normal((2, 8000))).astype(np.float32)
    outputs = [deformation(audio, 16000, seed=seed).tobytes() for seed in (7, 7, 8, 9, 10)]
    assert outputs[0] == outputs[1]
    assert (len(set(outputs)) > 1) == (name in RANDOM)


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES_HZ)
@pytest.mark.parametrize("name", NAMES)
def test_shapes_rates_and_short_input(name, sample_rate, recordings):
    deformation = example(name, recordings)
    tenth = sample_rate // 10
    rng = np.random.default_rng(sample_rate)
    for shape in [(tenth,), (2, tenth), (3, tenth), (1, 1), (3,), (2, 0)]:
        audio = (0.1 * rng.standard_normal(shape)).astype(np.float32)
        out = deformation(audio, sample_rate, seed=0)
        assert out.shape == (*shape[:-1], expected_length(name, shape[-1]))
        assert out.dtype == np.float32
        assert np.all(np.isfinite(out))


@pytest.mark.parametrize(("name", "params"), BAD, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD)])
def test_bad_parameters_fail_at_config_load_naming_the_entry(name, params, recordings):
    config = {
        "datasets": [{"type": "synthetic_tones", "tasks": ["pitch_class"]}],
        "deformations": [
            {"type": "gain", "gain_db": [-6]},
            spec_of(name, params, recordings),
        ],
        "models": [{"type": "mfcc"}],
    }
    with pytest.raises(ConfigError, match=r"deformations\[1\]") as error:
        Experiment.from_config(config)
    # The message names the bad parameter itself (not the whole spec).
    assert any(f"deformations[1].{key}:" in str(error.value) for key in params) or (
        "steps" in str(error.value)
    )


def _strategy(name: str, recordings: Path) -> st.SearchStrategy[Deformation]:
    """Random valid parameters for ``name``."""

    def build(**params):
        return registry.build("deformations", spec_of(name, params, recordings), where=name)

    snr = st.floats(min_value=-30, max_value=100)
    unit = st.floats(min_value=0, max_value=1)
    params = {
        "white_noise": {"snr_db": snr},
        "pink_noise": {"snr_db": snr},
        "background_noise": {"snr_db": snr, "folder": st.just("{recordings}/noises")},
        "gain": {"gain_db": st.floats(min_value=-120, max_value=20)},
        "mp3": {"bitrate_kbps": st.sampled_from(MP3_BITRATES_KBPS)},
        "ogg_vorbis": {"quality": st.integers(0, 10)},
        "pitch_shift": {"semitones": st.floats(min_value=-12, max_value=12)},
        "time_stretch": {"rate": st.floats(min_value=0.25, max_value=4)},
        "low_pass": {"cutoff_hz": st.floats(min_value=20, max_value=24000)},
        "high_pass": {"cutoff_hz": st.floats(min_value=20, max_value=24000)},
        "reverb": {"room_size": unit, "wet_level": unit, "dry_level": unit, "damping": unit},
        "impulse_response": {"path": st.just("{recordings}/rooms"), "wet_level": unit},
        "clipping": {"threshold_db": st.floats(min_value=-60, max_value=0)},
        "clipping_percentile": {"percentile": st.floats(min_value=0, max_value=99.9)},
        "bit_depth": {"bits": st.integers(2, 24)},
        "resample": {"sample_rate_hz": st.integers(1000, 48000)},
        "compressor": {
            "threshold_db": st.floats(min_value=-60, max_value=0),
            "ratio": st.floats(min_value=1, max_value=50),
        },
        "chain": {
            "steps": st.lists(
                st.sampled_from(
                    [
                        {"type": "gain", "gain_db": 6},
                        {"type": "white_noise", "snr_db": 10},
                        {"type": "time_stretch", "rate": 0.8},
                        {"type": "low_pass", "cutoff_hz": 2000},
                    ]
                ),
                min_size=1,
                max_size=3,
            )
        },
    }[name]
    return st.builds(build, **params)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.data(),
    name=st.sampled_from(NAMES),
    sample_rate=st.sampled_from(SAMPLE_RATES_HZ),
    channels=st.integers(min_value=0, max_value=2),
    duration_s=st.floats(min_value=0.0, max_value=0.3),
    amplitude=st.floats(min_value=0.0, max_value=4.0),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_property_finite_float32_documented_length(
    recordings, data, name, sample_rate, channels, duration_s, amplitude, seed
):
    deformation = data.draw(_strategy(name, recordings))
    samples = int(duration_s * sample_rate)
    shape = (samples,) if channels == 0 else (channels, samples)
    audio = (amplitude * np.random.default_rng(seed).uniform(-1, 1, shape)).astype(np.float32)
    out = deformation(audio, sample_rate, seed=seed)
    length = samples
    steps = deformation.steps if name == "chain" else [{"type": name, **vars(deformation)}]
    for step in steps:
        if step["type"] == "time_stretch":
            length = stretched_length(length, step["rate"])
    assert out.shape == (*shape[:-1], length)
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out))
