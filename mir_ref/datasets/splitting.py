"""Splitting: seeded, stratified ways to cut a dataset into train, validation and test.

- :func:`stratified_subset`: a smaller sample that keeps each class's share (``max_tracks``);
- :func:`iterative_stratified_split`: a random split of multilabel items that keeps each
  tag's share in every split (Sechidis, Tsoumakas and Vlahavas, 2011);
- :func:`fold_splits`: one round of k-fold evaluation from fold numbers.

(Single-label stratified splits are :func:`mir_ref.datasets.base.stratified_split`.)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from mir_ref.errors import DataError

SPLIT_NAMES = ("train", "validation", "test")


def stratified_subset(strata: list[Any], size: int, *, seed: int) -> list[int]:
    """Indices of at most ``size`` items, keeping each stratum's share (largest remainders).

    Returns the indices in their original order; every stratum keeps at least one item when
    ``size`` allows.
    """
    if size >= len(strata):
        return list(range(len(strata)))
    rng = np.random.default_rng(seed)
    groups: dict[Any, list[int]] = {}
    for index, stratum in enumerate(strata):
        groups.setdefault(stratum, []).append(index)
    keys = sorted(groups, key=str)
    shares = np.array([len(groups[key]) for key in keys], dtype=float) * size / len(strata)
    counts = np.floor(shares).astype(int)
    # Small strata first get one item each, so no class vanishes from a quick run.
    for i in np.argsort(-np.array([len(groups[key]) for key in keys]), kind="stable")[::-1]:
        if counts.sum() >= size:
            break
        if counts[i] == 0:
            counts[i] = 1
    for i in np.argsort(-(shares - np.floor(shares)), kind="stable"):
        if counts.sum() >= size:
            break
        counts[i] += 1
    chosen: list[int] = []
    for key, count in zip(keys, counts, strict=True):
        members = groups[key]
        chosen.extend(members[i] for i in rng.permutation(len(members))[: min(count, len(members))])
    return sorted(chosen)


def fold_splits(folds: list[int], test_fold: int, n_folds: int) -> list[str]:
    """The split of each item for one round of k-fold evaluation.

    ``test_fold`` is the test split, the next fold (cyclically) the validation split, and the
    other folds the train split.
    """
    if not 0 <= test_fold < n_folds:
        raise DataError(f"split: fold {test_fold} does not exist; folds are 0..{n_folds - 1}")
    validation_fold = (test_fold + 1) % n_folds
    return [
        "test" if fold == test_fold else "validation" if fold == validation_fold else "train"
        for fold in folds
    ]


def iterative_stratified_split(
    tag_sets: Sequence[Sequence[Hashable]],
    *,
    seed: int,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> list[str]:
    """Assign each multilabel item a split so that every tag keeps its share in each split.

    Iterative stratification (Sechidis et al., 2011): the rarest tag still unassigned is
    placed first; each of its items goes to the split that most lacks that tag (ties: the
    split that most lacks items, then a seeded coin). Items without tags fill the splits
    that most lack items.
    """
    rng = np.random.default_rng(seed)
    n = len(tag_sets)
    wanted_items = np.array(fractions, dtype=float) * n
    tags = sorted({tag for tags in tag_sets for tag in tags}, key=str)
    index = {tag: i for i, tag in enumerate(tags)}
    item_tags = [sorted({index[tag] for tag in tags}) for tags in tag_sets]
    counts = np.zeros(len(tags))
    for tag_ids in item_tags:
        counts[tag_ids] += 1
    wanted_tags = np.outer(np.array(fractions, dtype=float), counts)  # [splits, tags]
    assignment = [""] * n
    remaining = set(range(n))
    remaining_counts = counts.copy()

    def place(item: int, tag: int | None) -> None:
        need = wanted_tags[:, tag] if tag is not None else wanted_items
        best = np.flatnonzero(need == need.max())
        if len(best) > 1:
            best = best[np.flatnonzero(wanted_items[best] == wanted_items[best].max())]
        split = int(rng.choice(best))
        assignment[item] = SPLIT_NAMES[split]
        wanted_items[split] -= 1
        wanted_tags[split, item_tags[item]] -= 1
        remaining_counts[item_tags[item]] -= 1
        remaining.discard(item)

    while remaining_counts.sum() > 0:
        live = np.flatnonzero(remaining_counts > 0)
        rarest = int(live[np.argmin(remaining_counts[live])])
        items = [i for i in sorted(remaining) if rarest in item_tags[i]]
        for item in rng.permutation(items):
            place(int(item), rarest)
    for item in rng.permutation(sorted(remaining)):
        place(int(item), None)
    return assignment
