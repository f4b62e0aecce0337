"""Synthetic tones: a built-in dataset with real musical structure, generated from a seed.

Three families of tracks, each for its own tasks:

- notes: one note of a pitch class (MIDI 48–83) played by one timbre → ``pitch_class``,
  ``instrument``;
- phrases: a short diatonic phrase (melody over triads, ending on a V–I cadence) in one of the
  24 keys, its onsets on the beat of a tempo in 70–180 BPM → ``key``, ``tempo``;
- mixtures: one to three timbres sounding together → ``tags``.

Each track is a :class:`Score` (notes with onsets, pitches and per-note variation) drawn at
load time; its audio is rendered lazily, at whatever sample rate is asked, by :func:`render`.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from mir_ref.datasets.base import Dataset, Track, stratified_split
from mir_ref.errors import did_you_mean
from mir_ref.registry import register
from mir_ref.tasks import KEYS, PITCH_CLASSES, Task

# Bump when the audio rendered for the same parameters changes, so that caches recompute.
GENERATOR_VERSION = "1"
TIMBRES = ("flute", "clarinet", "strings", "plucked", "bell")
TaskName = Literal["pitch_class", "instrument", "key", "tempo", "tags"]
TASK_NAMES: tuple[str, ...] = get_args(TaskName)
TEMPO_RANGE_BPM = (70.0, 180.0)
LOWEST_MIDI = 48
OCTAVES = 3
_NOTES, _PHRASES, _MIXTURES = 0, 1, 2
_SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 11)}  # harmonic minor
# Melody scale degrees 0..7 (7 is the octave): tonic and dominant come most often.
_MELODY_WEIGHTS = np.array([3.0, 1.0, 2.0, 1.0, 2.5, 1.0, 1.0, 1.5])
_TABLE_SIZE = 2048
_TABLE_PHASE = np.arange(_TABLE_SIZE + 1) / _TABLE_SIZE


@dataclass(frozen=True)
class Note:
    """One note of a :class:`Score`.

    ``tilt`` scales partial ``k`` by ``k ** tilt`` (brightness); ``vibrato`` and ``attack``
    scale the timbre's vibrato depth and attack time.
    """

    onset_s: float
    duration_s: float
    midi: float
    timbre: str
    gain: float = 1.0
    tilt: float = 0.0
    vibrato: float = 1.0
    attack: float = 1.0


@dataclass(frozen=True)
class Score:
    """Everything that determines a synthetic track's audio, independent of sample rate."""

    duration_s: float
    notes: tuple[Note, ...]
    peak: float
    noise_db: float
    noise_seed: int


@dataclass(frozen=True)
class _Layer:
    """Partials (frequency ratios to f0 and amplitudes) sharing one decay time constant."""

    ratios: tuple[float, ...]
    amplitudes: tuple[float, ...]
    decay_s: float | None = None


@dataclass(frozen=True)
class _Timbre:
    layers: tuple[_Layer, ...]
    attack_s: float
    release_s: float
    vibrato_hz: float = 0.0
    vibrato_depth: float = 0.0


def _harmonic(amplitudes: list[float], decay_s: float | None = None) -> _Layer:
    ratios = tuple(float(k) for k in range(1, len(amplitudes) + 1))
    return _Layer(ratios, tuple(float(a) for a in amplitudes), decay_s)


_HARMONICS = np.arange(1, 31)
_TIMBRE_DEFINITIONS = {
    "flute": _Timbre(
        (_harmonic([1.0, 0.35, 0.12, 0.05, 0.02, 0.01]),),
        attack_s=0.09,
        release_s=0.12,
        vibrato_hz=4.8,
        vibrato_depth=0.004,
    ),
    # Odd harmonics only: the hollow sound of a cylindrical bore.
    "clarinet": _Timbre(
        (_harmonic(list(np.where(_HARMONICS[:25] % 2 == 1, 1.0, 0.02) / _HARMONICS[:25])),),
        attack_s=0.04,
        release_s=0.08,
    ),
    "strings": _Timbre(
        (_harmonic(list(1.0 / _HARMONICS)),),
        attack_s=0.15,
        release_s=0.15,
        vibrato_hz=5.8,
        vibrato_depth=0.007,
    ),
    # A bright attack that dies fast over a slowly decaying fundamental.
    "plucked": _Timbre(
        (
            _harmonic(list(np.abs(np.sin(np.pi * _HARMONICS * 0.18)) / _HARMONICS**1.3), 0.25),
            _harmonic([1.0, 0.3, 0.1], 1.2),
        ),
        attack_s=0.004,
        release_s=0.05,
    ),
    # Church-bell partials (hum, prime, tierce, quint, nominal, ...): inharmonic.
    "bell": _Timbre(
        (
            _Layer((0.5, 1.0, 1.19, 1.5, 2.0), (0.5, 1.0, 0.6, 0.4, 0.7), 1.5),
            _Layer((2.52, 2.66, 3.01, 4.1, 5.4), (0.4, 0.3, 0.35, 0.2, 0.15), 0.4),
        ),
        attack_s=0.002,
        release_s=0.05,
    ),
}


def render(score: Score, sample_rate: int) -> np.ndarray:
    """Render a score as ``[samples]`` float32 audio at ``sample_rate``.

    The same score gives the same audio at a given rate; at two rates, the same sound
    sampled twice (partials above the Nyquist frequency are left out).
    """
    length = max(1, int(round(score.duration_s * sample_rate)))
    audio = np.zeros(length, dtype=np.float32)
    for note in score.notes:
        # Notes start between samples alike at every rate: the first sample lags the onset.
        start = int(np.ceil(note.onset_s * sample_rate - 1e-9))
        if start >= length:
            continue
        lag_s = start / sample_rate - note.onset_s
        sound = _render_note(note, sample_rate, lag_s=lag_s)[: length - start]
        audio[start : start + len(sound)] += sound
    # A short fade-out, so notes cut by the end of the track do not click.
    fade = min(length, int(0.02 * sample_rate))
    audio[length - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    # Uniform white noise (unit variance): as white as Gaussian noise and faster to draw.
    noise = np.random.default_rng(score.noise_seed).random(length, dtype=np.float32)
    noise -= 0.5
    noise *= np.sqrt(12.0) * (np.max(np.abs(audio)) or 1.0) * 10.0 ** (score.noise_db / 20.0)
    audio += noise
    audio *= score.peak / max(float(np.max(np.abs(audio))), 1e-12)
    return audio


def _render_note(note: Note, sample_rate: int, *, lag_s: float = 0.0) -> np.ndarray:
    """One note, ``[samples]`` float32 (float32 throughout, but for the phase of partials).

    ``lag_s`` is the time of the first sample after the note's onset (under one sample).
    """
    timbre = _TIMBRE_DEFINITIONS[note.timbre]
    length = max(1, int(round((note.duration_s - lag_s) * sample_rate)))
    time_s = np.arange(length, dtype=np.float64) / sample_rate + lag_s
    f0_hz = 440.0 * 2.0 ** ((note.midi - 69.0) / 12.0)
    depth = timbre.vibrato_depth * note.vibrato
    if depth:
        # Vibrato fades in over the first 0.3 s, as a player's does.
        speed = np.sin((2.0 * np.pi * timbre.vibrato_hz) * time_s)
        speed *= np.minimum(time_s * (depth / 0.3), depth)
        speed += 1.0
        # The phase is the integral of the frequency (left Riemann sum, from the onset).
        cycles = np.cumsum(speed)
        cycles -= speed
        cycles *= f0_hz / sample_rate
        cycles += f0_hz * lag_s
    else:
        cycles = time_s * f0_hz
    time_s = time_s.astype(np.float32)
    # Harmonics repeat with the fundamental's period: only its phase in [0, 1) matters.
    fraction = (cycles - np.floor(cycles)).astype(np.float32)
    nyquist_hz = 0.5 * sample_rate / (1.0 + depth)
    sound = np.zeros(length, dtype=np.float32)
    for layer in timbre.layers:
        ratios = np.asarray(layer.ratios)
        amplitudes = np.asarray(layer.amplitudes) * ratios**note.tilt
        audible = ratios * f0_hz < nyquist_hz
        ratios, amplitudes = ratios[audible], amplitudes[audible]
        part = np.zeros(length, dtype=np.float32)
        if len(ratios) > 8 and np.all(ratios == np.round(ratios)):
            # Many harmonics are cheaper read from one period of their sum.
            table = _wavetable(ratios, amplitudes)
            part += np.interp(fraction, _TABLE_PHASE, table).astype(np.float32)
        else:
            for ratio, amplitude in zip(ratios, amplitudes, strict=True):
                if ratio == round(ratio):
                    phase = fraction * np.float32(ratio)
                else:
                    unwrapped = cycles * ratio
                    phase = (unwrapped - np.floor(unwrapped)).astype(np.float32)
                part += np.float32(amplitude) * np.sin(np.float32(2.0 * np.pi) * phase)
        if layer.decay_s is not None:
            part *= np.exp(time_s * np.float32(-1.0 / layer.decay_s))
        sound += part
    # Linear attack and release ramps (they overlap on notes shorter than both).
    attack_s = timbre.attack_s * note.attack
    attack = min(length, int(attack_s * sample_rate) + 1)
    sound[:attack] *= np.minimum(time_s[:attack] / np.float32(attack_s), 1.0)
    release = min(length, int(timbre.release_s * sample_rate) + 2)
    remaining_s = np.float32(note.duration_s) - time_s[length - release :]
    sound[length - release :] *= np.clip(remaining_s / np.float32(timbre.release_s), 0.0, 1.0)
    sound *= note.gain
    return sound


def _wavetable(harmonics: np.ndarray, amplitudes: np.ndarray) -> np.ndarray:
    """One period (plus its first sample again) of ``sum(a_k sin(2π k x))``, ``[size + 1]``.

    Reading harmonics from a table costs the same however many there are.
    """
    # The inverse FFT of a_k at bins k, in sine phase, is the sum over one period.
    spectrum = np.zeros(_TABLE_SIZE // 2 + 1, dtype=complex)
    spectrum[harmonics.astype(np.int64)] = -0.5j * _TABLE_SIZE * amplitudes
    table = np.fft.irfft(spectrum, _TABLE_SIZE)
    return np.append(table, table[0])


@register("datasets", "synthetic_tones")
@dataclass
class SyntheticTones(Dataset):
    """Synthetic notes, key phrases and timbre mixtures, generated offline from a seed.

    Parameters
    ----------
    seed : draws every note, phrase, mixture and the splits.
    notes_per_class : notes per (pitch class, instrument) pair.
    phrases_per_key : phrases per key (24 keys).
    mixtures : number of mixtures (one to three timbres each).
    instruments : how many of :data:`TIMBRES` to use (the first ones).
    note_duration_s, phrase_duration_s, mixture_duration_s : track lengths in seconds.
    tasks : the tasks to use, a subset of :data:`TASK_NAMES` (all when ``None``). After
        construction this holds the :class:`~mir_ref.tasks.Task` objects by name, as the
        :class:`~mir_ref.datasets.base.Dataset` contract asks.
    """

    seed: int = 0
    notes_per_class: int = 3
    phrases_per_key: int = 6
    mixtures: int = 120
    instruments: int = len(TIMBRES)
    note_duration_s: float = 1.5
    phrase_duration_s: float = 4.0
    mixture_duration_s: float = 2.0
    tasks: list[TaskName] | None = None

    name = "synthetic_tones"
    citation = (
        f"Synthetic tones generated by mir_ref (generator v{GENERATOR_VERSION}): harmonic and "
        "inharmonic timbres, diatonic phrases in 24 keys and timbre mixtures; no external data."
    )
    audio_sample_rate = 22050

    def __post_init__(self) -> None:
        names = list(TASK_NAMES) if self.tasks is None else list(self.tasks)
        unknown = [name for name in names if name not in TASK_NAMES]
        if unknown or not names or len(set(names)) != len(names):
            hint = did_you_mean(unknown[0], TASK_NAMES) if unknown else ""
            raise ValueError(
                f"tasks must be distinct names out of {', '.join(TASK_NAMES)} (got {names}){hint}"
            )
        if self.seed < 0:
            raise ValueError(f"seed must be zero or positive (got {self.seed})")
        if not 2 <= self.instruments <= len(TIMBRES):
            raise ValueError(f"instruments must be in 2..{len(TIMBRES)} (got {self.instruments})")
        # Splits are stratified; a stratum needs three tracks to reach every split.
        if self.notes_per_class < 1 or self.notes_per_class * self.instruments < 3:
            raise ValueError(
                f"notes_per_class must be at least 1 and notes_per_class × instruments at "
                f"least 3, so every split gets every pitch class (got {self.notes_per_class} × "
                f"{self.instruments})"
            )
        if self.phrases_per_key < 3:
            raise ValueError(
                f"phrases_per_key must be at least 3, so every split gets every key "
                f"(got {self.phrases_per_key})"
            )
        if self.mixtures < 3 * self._max_sources:
            raise ValueError(
                f"mixtures must be at least {3 * self._max_sources} (three per number of "
                f"sources, 1..{self._max_sources}) (got {self.mixtures})"
            )
        for field_name, low in (
            ("note_duration_s", 0.2),
            ("phrase_duration_s", 2.0),
            ("mixture_duration_s", 0.2),
        ):
            value = getattr(self, field_name)
            if not low <= value <= 60.0:
                raise ValueError(f"{field_name} must be in [{low}, 60] seconds (got {value})")
        timbres = list(TIMBRES[: self.instruments])
        definitions = {
            "pitch_class": Task(
                "pitch_class", "multiclass", list(PITCH_CLASSES), label_kind="pitch_class"
            ),
            "instrument": Task("instrument", "multiclass", timbres),
            "key": Task("key", "key", list(KEYS)),
            "tempo": Task("tempo", "regression", label_kind="tempo"),
            "tags": Task("tags", "multilabel", timbres),
        }
        self.tasks = {name: definitions[name] for name in TASK_NAMES if name in names}

    @property
    def _max_sources(self) -> int:
        return min(3, self.instruments)

    def _load(self) -> dict[str, list[Track]]:
        wanted = set(self.tasks)
        families = []
        if wanted & {"pitch_class", "instrument"}:
            families.append(self._notes())
        if wanted & {"key", "tempo"}:
            families.append(self._phrases())
        if "tags" in wanted:
            families.append(self._mixtures())
        splits: dict[str, list[Track]] = {"train": [], "validation": [], "test": []}
        for family in families:
            strata = [stratum for stratum, _, _ in family]
            assignment = stratified_split(strata, seed=self.seed)
            for split, (_, track_id, (score, labels)) in zip(assignment, family, strict=True):
                labels = {task: value for task, value in labels.items() if task in wanted}
                splits[split].append(self._track(track_id, score, labels))
        return splits

    def _track(self, track_id: str, score: Score, labels: dict) -> Track:
        # The score holds everything the audio depends on; its digest names the audio.
        digest = hashlib.sha256(repr(score).encode()).hexdigest()[:16]
        return Track(
            id=track_id,
            labels=labels,
            generate=functools.partial(render, score),
            identity=f"synthetic_tones:v{GENERATOR_VERSION}:{track_id}:{digest}",
        )

    def _rng(self, family: int, index: int) -> np.random.Generator:
        # One stream per track: a track does not change when the dataset's size does.
        return np.random.default_rng([self.seed, family, index])

    def _notes(self) -> list[tuple]:
        out = []
        for index in range(12 * self.instruments * self.notes_per_class):
            rng = self._rng(_NOTES, index)
            pitch_class = index % 12
            timbre = TIMBRES[(index // 12) % self.instruments]
            midi = LOWEST_MIDI + pitch_class + 12 * int(rng.integers(OCTAVES))
            onset_s = float(rng.uniform(0.0, 0.1))
            note = _vary(rng, onset_s, self.note_duration_s - onset_s, midi, timbre, 1.0)
            score = _score(rng, self.note_duration_s, [note])
            labels = {"pitch_class": PITCH_CLASSES[pitch_class], "instrument": timbre}
            out.append((pitch_class, f"note-{index:04d}", (score, labels)))
        return out

    def _phrases(self) -> list[tuple]:
        out = []
        for index in range(24 * self.phrases_per_key):
            rng = self._rng(_PHRASES, index)
            key = KEYS[index % 24]
            tempo_bpm = float(np.round(rng.uniform(*TEMPO_RANGE_BPM), 2))
            notes = _phrase(rng, key, tempo_bpm, self.phrase_duration_s, self.instruments)
            score = _score(rng, self.phrase_duration_s, notes)
            labels = {"key": key, "tempo": tempo_bpm}
            out.append((key, f"phrase-{index:04d}", (score, labels)))
        return out

    def _mixtures(self) -> list[tuple]:
        out = []
        for index in range(self.mixtures):
            rng = self._rng(_MIXTURES, index)
            sources = 1 + index % self._max_sources
            chosen = sorted(rng.choice(self.instruments, size=sources, replace=False))
            root = int(rng.integers(12))
            chord = (0, 4, 7) if rng.random() < 0.5 else (0, 3, 7)
            notes = []
            for timbre_index in chosen:
                gain = float(rng.uniform(0.5, 1.0))
                segments = int(rng.integers(1, 3))
                segment_s = self.mixture_duration_s / segments
                for segment in range(segments):
                    midi = LOWEST_MIDI + root + int(rng.choice(chord))
                    midi += 12 * int(rng.integers(OCTAVES - 1))
                    timbre = TIMBRES[timbre_index]
                    notes.append(_vary(rng, segment * segment_s, segment_s, midi, timbre, gain))
            score = _score(rng, self.mixture_duration_s, notes)
            labels = {"tags": [TIMBRES[i] for i in chosen]}
            out.append((sources, f"mixture-{index:04d}", (score, labels)))
        return out


def _vary(
    rng: np.random.Generator, onset_s: float, duration_s: float, midi: int, timbre: str, gain: float
) -> Note:
    """A note with the small random differences between two performances of it."""
    return Note(
        onset_s=float(onset_s),
        duration_s=float(duration_s),
        midi=float(midi + rng.uniform(-0.12, 0.12)),
        timbre=timbre,
        gain=float(gain),
        tilt=float(rng.uniform(-0.35, 0.35)),
        vibrato=float(rng.uniform(0.5, 1.5)),
        attack=float(rng.uniform(0.6, 1.6)),
    )


def _score(rng: np.random.Generator, duration_s: float, notes: list[Note]) -> Score:
    return Score(
        duration_s=float(duration_s),
        notes=tuple(notes),
        peak=float(rng.uniform(0.3, 0.9)),
        noise_db=float(rng.uniform(-60.0, -40.0)),
        noise_seed=int(rng.integers(2**63)),
    )


def _phrase(
    rng: np.random.Generator, key: str, tempo_bpm: float, duration_s: float, instruments: int
) -> list[Note]:
    """A melody on every beat over triads every two beats, ending with a V–I cadence."""
    tonic_name, mode = key.split(":")
    tonic = PITCH_CLASSES.index(tonic_name)
    scale = _SCALES[mode]
    beat_s = 60.0 / tempo_bpm
    beats = int(duration_s / beat_s)
    melody_timbre, chord_timbre = (TIMBRES[i] for i in rng.integers(instruments, size=2))
    # Registers span two octaves, so that pitch height says little about the key.
    melody_tonic = LOWEST_MIDI + tonic + 12 * int(rng.integers(2))
    chord_tonic = LOWEST_MIDI - 12 + tonic + 12 * int(rng.integers(2))

    def pitch(degree: int) -> int:
        return scale[degree % 7] + 12 * (degree // 7)

    degrees = list(rng.choice(8, size=beats, p=_MELODY_WEIGHTS / _MELODY_WEIGHTS.sum()))
    degrees[-1] = int(rng.choice([0, 7]))
    if beats > 1:
        degrees[-2] = int(rng.choice([1, 6, 4]))
    notes = [
        _vary(rng, beat * beat_s, 0.85 * beat_s, melody_tonic + pitch(degree), melody_timbre, 1.0)
        for beat, degree in enumerate(degrees)
    ]
    slots = (beats + 1) // 2
    middle = [3, 5, 1] if mode == "major" else [3, 5]
    roots = [0] + [int(rng.choice(middle)) for _ in range(max(0, slots - 3))] + [4, 0]
    for slot, root in enumerate(roots[-slots:]):
        for step in (0, 2, 4):
            onset_s = slot * 2 * beat_s
            midi = chord_tonic + pitch(root + step)
            gain = float(rng.uniform(0.25, 0.4))
            notes.append(
                _vary(rng, onset_s, min(2 * beat_s, duration_s - onset_s), midi, chord_timbre, gain)
            )
    return notes
