"""Seeded stratified splitting: multilabel (iterative), subsets and folds."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from mir_ref.datasets.manifest import ManifestDataset, TaskSpec
from mir_ref.datasets.splitting import fold_splits, iterative_stratified_split, stratified_subset


def tag_sets(rng: np.random.Generator, n: int = 600) -> list[list[str]]:
    frequencies = {"common": 0.5, "medium": 0.2, "rare": 0.03}
    return [[tag for tag, p in frequencies.items() if rng.random() < p] for _ in range(n)]


def test_iterative_split_keeps_every_tag_share(rng: np.random.Generator) -> None:
    items = tag_sets(rng)
    splits = iterative_stratified_split(items, seed=0)
    sizes = Counter(splits)
    assert abs(sizes["train"] - 420) <= 3 and abs(sizes["test"] - 90) <= 3
    for tag in ("common", "medium", "rare"):
        total = sum(tag in tags for tags in items)
        for split, fraction in (("train", 0.7), ("validation", 0.15), ("test", 0.15)):
            count = sum(tag in tags for tags, s in zip(items, splits, strict=True) if s == split)
            assert abs(count - fraction * total) <= 1.0, (tag, split, count, total)
    assert splits == iterative_stratified_split(items, seed=0)
    assert splits != iterative_stratified_split(items, seed=1)


def test_iterative_split_beats_a_random_split_on_rare_tags(rng: np.random.Generator) -> None:
    items = [["rare"] if i % 50 == 0 else ["common"] for i in range(300)]  # 6 rare items
    splits = iterative_stratified_split(items, seed=3)
    rare = Counter(s for tags, s in zip(items, splits, strict=True) if "rare" in tags)
    assert rare["validation"] >= 1 and rare["test"] >= 1


def test_stratified_subset_and_folds() -> None:
    strata = ["a"] * 80 + ["b"] * 18 + ["c"] * 2
    keep = stratified_subset(strata, 10, seed=0)
    assert len(keep) == 10 and keep == sorted(keep)
    assert Counter(strata[i] for i in keep) == {"a": 8, "b": 1, "c": 1}
    assert stratified_subset(strata, 500, seed=0) == list(range(100))
    assert fold_splits([0, 1, 2, 3, 4], 4, 5) == ["validation", "train", "train", "train", "test"]


def test_manifest_with_only_tags_is_split_by_tags(tmp_path: Path, rng: np.random.Generator) -> None:
    items = tag_sets(rng, 200)
    lines = ["path,tags"] + [f"{i}.wav,{';'.join(tags)}" for i, tags in enumerate(items)]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    dataset = ManifestDataset(path=tmp_path / "m.csv", tasks={"tags": TaskSpec(type="multilabel")})
    rare_test = [t for t in dataset.tracks("test") if "rare" in t.labels.get("tags", [])]
    rare_all = [t for t in dataset.tracks() if "rare" in t.labels.get("tags", [])]
    assert abs(len(rare_test) - 0.15 * len(rare_all)) <= 1
