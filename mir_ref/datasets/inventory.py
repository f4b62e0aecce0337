"""Inventory: what a dataset folder holds (tracks per split, groups per split, class
balance, hours of audio, absent, missing or corrupt files), for ``mir_ref datasets info``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from mir_ref import audio as audio_io
from mir_ref.datasets.base import SPLITS, Dataset
from mir_ref.errors import DataError


@dataclass
class Inventory:
    """A dataset's contents.

    Parameters
    ----------
    name : the dataset.
    tracks : split → number of tracks.
    balance : task → split → label → number of tracks (multilabel: per tag); empty for
        regression tasks.
    duration_s : the total duration of the audio that would be read, in seconds.
    problems : one message per missing or unreadable audio file.
    groups : split → number of groups (artists, singers, songs) among its tracks; empty when
        the dataset has none.
    group_kind : what a group is ("artist", ...).
    ungrouped : split → tracks without a group, when the dataset has groups.
    absent : split → tracks left out because their audio is absent (a partial download).
    """

    name: str
    tracks: dict[str, int]
    balance: dict[str, dict[str, dict[str, int]]]
    duration_s: float
    problems: list[str] = field(default_factory=list)
    groups: dict[str, int] = field(default_factory=dict)
    group_kind: str = ""
    ungrouped: dict[str, int] = field(default_factory=dict)
    absent: dict[str, int] = field(default_factory=dict)

    def lines(self, *, max_labels: int = 30) -> list[str]:
        """A plain-text report, one line per fact."""
        out = [f"dataset {self.name}"]
        out.append(
            "tracks: "
            + ", ".join(f"{split} {self.tracks[split]}" for split in SPLITS)
            + f" (total {sum(self.tracks.values())})"
        )
        if self.groups:
            line = f"groups ({self.group_kind or 'group'}): " + ", ".join(
                f"{split} {self.groups[split]}" for split in SPLITS
            )
            if any(self.ungrouped.values()):
                line += (
                    " (tracks without one: "
                    + ", ".join(f"{split} {self.ungrouped[split]}" for split in SPLITS)
                    + ")"
                )
            out.append(line)
        if any(self.absent.values()):
            out.append(
                "absent (no audio file, left out): "
                + ", ".join(f"{split} {self.absent.get(split, 0)}" for split in SPLITS)
                + "; strict: true refuses a partial download"
            )
        out.append(f"audio: {self.duration_s / 3600:.2f} h ({self.duration_s:.1f} s)")
        for task, by_split in self.balance.items():
            out.append(f"task {task}:")
            labels = sorted({label for counts in by_split.values() for label in counts})
            for label in labels[:max_labels]:
                counts = ", ".join(f"{split} {by_split[split].get(label, 0)}" for split in SPLITS)
                out.append(f"  {label}: {counts}")
            if len(labels) > max_labels:
                out.append(f"  ... and {len(labels) - max_labels} more labels")
        out.append(f"missing or corrupt files: {len(self.problems)}")
        out.extend(f"  {problem}" for problem in self.problems)
        return out


def take_inventory(dataset: Dataset) -> Inventory:
    """Count a dataset's tracks and labels and read every audio file's header (not its audio)."""
    tracks = {split: len(dataset.tracks(split)) for split in SPLITS}
    grouped = any(track.group is not None for track in dataset.tracks())
    groups = {
        split: len({t.group for t in dataset.tracks(split) if t.group is not None})
        for split in SPLITS
    }
    ungrouped = {split: sum(t.group is None for t in dataset.tracks(split)) for split in SPLITS}
    balance: dict[str, dict[str, dict[str, int]]] = {}
    for task in dataset.tasks.values():
        if not task.task_type.has_classes:
            continue
        balance[task.name] = {}
        for split in SPLITS:
            counts: Counter[str] = Counter()
            for track in dataset.task_tracks(task.name, split):
                label = track.labels[task.name]
                counts.update(task.task_type.label_classes(label))
            balance[task.name][split] = dict(counts)
    duration_s, problems = 0.0, []
    for track in dataset.tracks():
        if track.audio_path is None:
            continue
        try:
            length_s = max(0.0, audio_io.probe(track.audio_path) - track.offset_s)
        except DataError as error:
            problems.append(f"{track.id}: {error}")
            continue
        duration_s += length_s if track.duration_s is None else min(length_s, track.duration_s)
    return Inventory(
        dataset.name,
        tracks,
        balance,
        duration_s,
        problems,
        groups=groups if grouped else {},
        group_kind=dataset.group_kind,
        ungrouped=ungrouped if grouped else {},
        absent=dataset.absent_tracks(),
    )
