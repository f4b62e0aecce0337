"""One contract over every registered dataset, each loaded from its fixture tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from mir_ref import registry
from mir_ref.datasets.base import SPLITS
from mir_ref.datasets.corpus import Corpus
from mir_ref.tasks import Task
from tests.fixtures.corpora import BUILDERS


@pytest.mark.parametrize("name", sorted(registry.available("datasets")))
def test_dataset_contract(name: str, tmp_path: Path) -> None:
    assert name in BUILDERS, f"dataset '{name}' has no fixture builder in tests/fixtures/corpora.py"
    dataset = registry.build("datasets", BUILDERS[name](tmp_path), where=name)
    dataset.name = name
    assert dataset.citation.strip() and registry.describe(type(dataset))
    assert dataset.tasks and all(isinstance(task, Task) for task in dataset.tasks.values())
    assert all(name == task.name for name, task in dataset.tasks.items())

    ids = {split: [track.id for track in dataset.tracks(split)] for split in SPLITS}
    for split, split_ids in ids.items():
        assert split_ids, f"the {split} split is empty"
        assert len(set(split_ids)) == len(split_ids), f"repeated ids in {split}"
    assert not set(ids["train"]) & set(ids["validation"])
    assert not set(ids["train"]) & set(ids["test"])
    assert not set(ids["validation"]) & set(ids["test"])

    for track in dataset.tracks():
        assert set(track.labels) & set(dataset.tasks), f"track '{track.id}' has no labels"
        assert set(track.labels) <= set(dataset.tasks)
    for task in dataset.tasks.values():
        for split in SPLITS:
            tracks = dataset.task_tracks(task.name, split)
            # Every label is in the vocabulary: encoding raises otherwise.
            task.encode([t.labels[task.name] for t in tracks], track_ids=[t.id for t in tracks])
    assert dataset.check() == []


@pytest.mark.parametrize("name", sorted(registry.available("datasets")))
def test_download_metadata(name: str) -> None:
    cls = registry.lookup("datasets", name)
    if not issubclass(cls, Corpus):
        return  # generated or the user's own data: nothing to download
    assert cls.download_hint, f"dataset '{name}' does not say how to get its data"
    lengths = {"md5": 32, "sha1": 40, "sha256": 64}
    for remote in cls.remotes:
        algorithm, _, digest = remote.checksum.partition(":")
        assert len(digest) == lengths[algorithm] and int(digest, 16) >= 0
        assert remote.url.startswith("https://") or remote.url.startswith("http://")
