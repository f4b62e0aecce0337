"""Splitting: seeded, stratified ways to cut a dataset into train, validation and test.

- :func:`stratified_subset`: a smaller sample that keeps each class's share (``max_tracks``);
- :func:`iterative_stratified_split`: a random split of multilabel items that keeps each
  tag's share in every split (Sechidis, Tsoumakas and Vlahavas, 2011);
- :func:`fold_splits`: one round of k-fold evaluation from fold numbers;
- :func:`grouped_split`: a random split that keeps every group (an artist, a singer, a
  song) inside one split, so related tracks never straddle train and test;
- :func:`linked_groups`: groups from lists of names (tracks sharing an artist share a group).

(Single-label stratified splits are :func:`mir_ref.datasets.base.stratified_split`.)
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from mir_ref.errors import DataError

logger = logging.getLogger(__name__)

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


FOLD_CONVENTIONS = {
    "test_k": "split k tests on fold k and validates on fold k+1 (ours)",
    "validation_k": "split k validates on fold k and tests on fold k+1 (the original mir_ref)",
}


def fold_splits(
    folds: list[int], split: int, n_folds: int, *, convention: str = "test_k"
) -> list[str]:
    """The split of each item for round ``split`` of k-fold evaluation.

    With ``convention`` ``test_k`` (ours), fold ``split`` is the test split and the next
    fold (cyclically) the validation split; with ``validation_k`` (the original mir_ref's,
    from mirdata's fold lists), fold ``split`` validates and the next fold tests. The other
    folds train.
    """
    if not 0 <= split < n_folds:
        raise DataError(f"split: fold {split} does not exist; folds are 0..{n_folds - 1}")
    if convention not in FOLD_CONVENTIONS:
        raise DataError(f"fold convention '{convention}' is not one of {list(FOLD_CONVENTIONS)}")
    test_fold, validation_fold = split, (split + 1) % n_folds
    if convention == "validation_k":
        test_fold, validation_fold = validation_fold, test_fold
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


def groups_across_splits(splits: dict[str, Sequence[Any]]) -> dict[str, list[str]]:
    """Groups whose tracks sit in more than one split: group → the splits, in split order.

    ``splits`` maps a split name to its tracks (anything with a ``group``); tracks without
    a group are never counted.
    """
    seen: dict[str, list[str]] = {}
    for split, tracks in splits.items():
        for track in tracks:
            if track.group is not None and split not in seen.setdefault(track.group, []):
                seen[track.group].append(split)
    return {group: names for group, names in seen.items() if len(names) > 1}


def warn_of_groups_across_splits(splits: dict[str, Sequence[Any]], *, where: str) -> None:
    """Log a warning when given splits (a file's, a folder's) put one group in two splits."""
    crossing = groups_across_splits(splits)
    if crossing:
        group, names = next(iter(crossing.items()))
        logger.warning(
            "%s: %d groups have tracks in several splits (first: '%s' in %s); the splits are "
            "kept as given",
            where,
            len(crossing),
            group,
            " and ".join(names),
        )


def linked_groups(names: Sequence[Sequence[str]]) -> list[str | None]:
    """One group per item, shared by items that share a name (case-insensitive), transitively.

    ``names[i]`` are item i's artists (say): tracks by "A", by "A, B" and by "B" form one
    group, so a collaboration cannot carry an artist across splits. The group is named by
    its alphabetically first name (ignoring case); an item without names has no group.
    """
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    spelled: dict[str, str] = {}
    item_keys = []
    for item in names:
        keys = []
        for name in (name.strip() for name in item):
            if name:
                keys.append(name.casefold())
                spelled.setdefault(keys[-1], name)
                parent.setdefault(keys[-1], keys[-1])
        item_keys.append(keys)
        for key in keys[1:]:
            a, b = root(keys[0]), root(key)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return [spelled[root(keys[0])] if keys else None for keys in item_keys]


def grouped_split(
    labels: Sequence[Sequence[Hashable]],
    groups: Sequence[str | None],
    *,
    seed: int,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> list[str]:
    """Assign each item a split so that the items of one group share a split.

    ``labels[i]`` are item i's labels (one class, several tags, or none) and ``groups[i]``
    its group (``None``: the item stands alone). Groups are placed largest first (ties in a
    seeded order), each into the split that most lacks its labels relative to ``fractions``
    (then the split that most lacks items); a split with a positive fraction that ends empty
    takes the smallest group of the fullest split, when there are groups enough.
    """
    rng = np.random.default_rng(seed)
    members: dict[Any, list[int]] = {}
    for index, group in enumerate(groups):
        members.setdefault(("group", group) if group is not None else ("item", index), []).append(
            index
        )
    keys = list(members)
    vocabulary = sorted({label for item in labels for label in item}, key=str)
    column = {label: i for i, label in enumerate(vocabulary)}
    counts = np.zeros((len(keys), len(vocabulary)))
    for g, key in enumerate(keys):
        for index in members[key]:
            for label in set(labels[index]):
                counts[g, column[label]] += 1
    sizes = np.array([len(members[key]) for key in keys], dtype=float)
    shares = np.array(fractions, dtype=float)
    open_splits = np.flatnonzero(shares > 0)
    totals = np.maximum(counts.sum(axis=0), 1)
    wanted_labels = np.outer(shares, counts.sum(axis=0))
    wanted_items = shares * sizes.sum()
    order = rng.permutation(len(keys))
    order = order[np.argsort(-sizes[order], kind="stable")]
    assigned = np.zeros(len(keys), dtype=int)
    for g in order:
        # What each split still lacks of this group's labels, each label by its share.
        label_need = (wanted_labels[open_splits] * counts[g] / totals).sum(axis=1)
        item_need = wanted_items[open_splits] / max(sizes.sum(), 1)
        score = label_need if counts[g].any() else item_need
        best = open_splits[np.flatnonzero(score == score.max())]
        if len(best) > 1:
            best = best[np.flatnonzero(wanted_items[best] == wanted_items[best].max())]
        split = int(rng.choice(best))
        assigned[g] = split
        wanted_labels[split] -= counts[g]
        wanted_items[split] -= sizes[g]
    for split in open_splits:
        in_split = [g for g in range(len(keys)) if assigned[g] == split]
        fullest = max(open_splits, key=lambda s: int((assigned == s).sum()))
        donors = [g for g in range(len(keys)) if assigned[g] == fullest]
        if not in_split and len(donors) > 1:
            assigned[min(donors, key=lambda g: (sizes[g], g))] = split
    out = [""] * len(groups)
    for g, key in enumerate(keys):
        for index in members[key]:
            out[index] = SPLIT_NAMES[assigned[g]]
    return out
