"""Bootstrap intervals, paired comparisons, Holm correction and the results summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mir_ref import metrics
from mir_ref.bootstrap import Resamples, cluster_codes, resampled_values, weighted_values
from mir_ref.registry import available
from mir_ref.stats import (
    bootstrap_ci,
    family_resamples,
    holm,
    paired_bootstrap,
    paired_tests,
    percentile_interval,
    rank_entries,
    rank_intervals,
    robustness,
    seed_intervals,
    summarize_seeds,
)
from mir_ref.tasks import KEYS, Task

MULTICLASS = Task("genre", "multiclass", classes=["a", "b", "c", "d"])


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(11)


def scores_with_accuracy(y_true: np.ndarray, correct: np.ndarray, n_classes: int) -> np.ndarray:
    """``[n, n_classes]`` scores whose argmax is right exactly where ``correct``."""
    predicted = np.where(correct, y_true, (y_true + 1) % n_classes)
    scores = np.full((len(y_true), n_classes), 0.1, dtype=np.float32)
    scores[np.arange(len(y_true)), predicted] = 0.9
    return scores


def test_percentile_intervals_cover_known_accuracy_at_nominal_rate(rng):
    # 200 synthetic classifiers with true accuracy 0.8 on 200 test items each; the 95 %
    # interval should contain 0.8 about 95 % of the time (binomial sd over 200 reps: 1.5 %).
    true_accuracy, n_items, repetitions, n_bootstrap = 0.8, 200, 200, 1000
    correct = rng.random((repetitions, n_items)) < true_accuracy
    (_, weights), *more = Resamples(n_items, n_bootstrap, 0).blocks()
    assert not more and weights.shape == (n_bootstrap, n_items)
    resampled = correct @ weights.T / n_items  # [repetitions, n_bootstrap], vectorised
    low, high = np.percentile(resampled, [2.5, 97.5], axis=1)
    coverage = np.mean((low <= true_accuracy) & (true_accuracy <= high))
    assert 0.90 <= coverage <= 0.99
    # The same computation through the public function, on one repetition.
    y_true = rng.integers(0, 4, n_items)
    scores = scores_with_accuracy(y_true, correct[0], 4)
    assert bootstrap_ci(
        metrics.accuracy, y_true, scores, MULTICLASS, n_bootstrap=n_bootstrap, seed=0
    ) == pytest.approx((low[0], high[0]))


def test_bootstrap_is_seeded_and_brackets_the_value(rng):
    y_true = rng.integers(0, 4, 300)
    scores = rng.random((300, 4)).astype(np.float32)
    first = bootstrap_ci(metrics.f1_macro, y_true, scores, MULTICLASS, n_bootstrap=200, seed=3)
    assert first == bootstrap_ci(
        metrics.f1_macro, y_true, scores, MULTICLASS, n_bootstrap=200, seed=3
    )
    assert first != bootstrap_ci(
        metrics.f1_macro, y_true, scores, MULTICLASS, n_bootstrap=200, seed=4
    )
    value = metrics.f1_macro(y_true, scores, MULTICLASS)
    assert first[0] < value < first[1]
    assert bootstrap_ci(metrics.accuracy, y_true[:0], scores[:0], MULTICLASS)[0] != 0.0


def _example(name: str, rng: np.random.Generator) -> tuple[Task, np.ndarray, np.ndarray]:
    n = 60
    if name in ("accuracy", "balanced_accuracy", "f1_macro"):
        return MULTICLASS, rng.integers(0, 4, n), rng.random((n, 4))
    if name == "mirex_key":
        task = Task("key", "key", classes=list(KEYS))
        return task, rng.integers(0, len(KEYS), n), rng.random((n, len(KEYS)))
    if name in ("r2", "pearson"):
        y = rng.normal(size=n)
        return Task("tempo", "regression"), y, y + rng.normal(size=n)
    task = Task("tags", "multilabel", classes=["x", "y", "z", "rare"])
    y_true = (rng.random((n, 4)) < [0.4, 0.4, 0.4, 0.03]).astype(int)
    return task, y_true, np.round(rng.random((n, 4)), 1)  # rounded: tied scores


@pytest.mark.parametrize("name", sorted(available("metrics")))
def test_vectorised_resampling_equals_recomputing_each_resample(name, rng):
    metric = available("metrics")[name]
    task, y_true, y_score = _example(name, rng)
    indices = rng.integers(0, len(y_true), size=(25, len(y_true)))
    looped = np.array([metric(y_true[rows], y_score[rows], task) for rows in indices])
    np.testing.assert_allclose(
        resampled_values(metric, y_true, y_score, task, indices), looped, atol=1e-9
    )
    # Cluster resamples (of varying length) too: each is its drawn groups' items, repeated.
    groups = [f"g{item % 7}" if item % 5 else None for item in range(len(y_true))]
    (_, weights), *_ = Resamples(len(y_true), 25, 2, cluster_codes(groups)).blocks()
    assert len(set(weights.sum(axis=1))) > 1
    items = np.arange(len(y_true))
    looped = [metric(y_true[drawn], y_score[drawn], task) for drawn in
              (np.repeat(items, row.astype(int)) for row in weights)]  # fmt: skip
    np.testing.assert_allclose(
        weighted_values(metric, y_true, y_score, task, weights), looped, atol=1e-9
    )


def test_paired_bootstrap_separates_better_from_identical_models(rng):
    n = 400
    y_true = rng.integers(0, 4, n)
    weak = [scores_with_accuracy(y_true, rng.random(n) < 0.6, 4) for _ in range(2)]
    strong = [scores_with_accuracy(y_true, rng.random(n) < 0.8, 4) for _ in range(2)]
    difference, p = paired_bootstrap(
        metrics.accuracy, y_true, strong, weak, MULTICLASS, n_bootstrap=1000, seed=0
    )
    assert difference == pytest.approx(0.2, abs=0.06)
    assert p < 0.01
    difference, p = paired_bootstrap(
        metrics.accuracy, y_true, weak, weak, MULTICLASS, n_bootstrap=1000, seed=0
    )
    assert (difference, p) == (0.0, 1.0)
    # Two models of equal skill, different errors: no significant difference, usually.
    other = [scores_with_accuracy(y_true, rng.random(n) < 0.6, 4) for _ in range(2)]
    assert paired_bootstrap(metrics.accuracy, y_true, weak, other, MULTICLASS, seed=0)[1] > 0.05


def test_holm_matches_a_hand_computation():
    p = [0.01, 0.04, 0.03, 0.20, np.nan]
    # sorted: 0.01·4 = 0.04, 0.03·3 = 0.09, 0.04·2 = 0.08 → 0.09 (monotone), 0.20·1 = 0.20
    np.testing.assert_allclose(holm(p), [0.04, 0.09, 0.09, 0.20, np.nan])
    assert holm([0.5, 0.6]).tolist() == [1.0, 1.0]
    assert holm([]).shape == (0,)


def test_percentile_interval_ignores_undefined_resamples():
    assert percentile_interval(np.array([np.nan, 1.0, 1.0])) == (1.0, 1.0)
    assert np.isnan(percentile_interval(np.array([np.nan]))[0])


def _results(rows: list[tuple]) -> pd.DataFrame:
    columns = ["model", "deformation", "strength", "seed", "value"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.assign(
        dataset="tones",
        task="genre",
        layer="x",
        window_s=3.0,
        hop_s=3.0,
        train_fraction=1.0,
        probe="linear",
        metric="accuracy",
        ci_low=frame["value"] - 0.1,
        ci_high=frame["value"] + 0.1,
    )


def test_seed_summary_and_robustness_by_hand():
    results = _results(
        [
            ("m", "none", np.nan, 0, 0.8),
            ("m", "none", np.nan, 1, 1.0),
            ("m", "noise", 20.0, 0, 0.9),
            ("m", "noise", 20.0, 1, 0.9),
            ("m", "noise", 10.0, 0, 0.6),
            ("m", "noise", 10.0, 1, 0.6),
            ("m", "noise", 0.0, 0, 0.3),
            ("m", "noise", 0.0, 1, 0.3),
        ]
    )
    summary = summarize_seeds(results)
    clean = summary[summary["deformation"] == "none"].iloc[0]
    assert (clean["mean"], clean["seeds"]) == (pytest.approx(0.9), 2)
    assert clean["std"] == pytest.approx(np.std([0.8, 1.0], ddof=1))
    table = robustness(results)
    assert table["strength"].tolist() == [0.0, 10.0, 20.0]
    np.testing.assert_allclose(table["relative_drop"], [0.6 / 0.9, 0.3 / 0.9, 0.0], atol=1e-12)
    # trapezoid over 0..20: (0.3+0.6)/2·10 + (0.6+0.9)/2·10 = 12, over a range of 20
    assert table["area"].tolist() == pytest.approx([0.6] * 3)
    assert robustness(results[results["deformation"] == "none"]).empty


# --- groups, many entries, seeds and ranks ------------------------------------------------------


def test_cluster_resamples_draw_whole_groups_and_are_seeded():
    groups = ["a"] * 3 + ["b"] * 5 + [None, None] + ["c"]
    codes = cluster_codes(groups)
    assert codes.tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 2, 3, 4]  # no group: a group of its own
    resamples = Resamples(len(groups), 400, 3, codes)
    assert resamples.units == 5
    weights = np.concatenate([block for _, block in resamples.blocks()])
    assert weights.shape == (400, len(groups))
    # Every item of a group is drawn as often as its group; five groups drawn per resample.
    for members in ([0, 1, 2], [3, 4, 5, 6, 7]):
        assert (weights[:, members] == weights[:, members[:1]]).all()
    per_group = weights[:, [0, 3, 8, 9, 10]]
    assert (per_group.sum(axis=1) == 5).all()
    assert len(set(weights.sum(axis=1))) > 3  # resamples of different lengths
    again = np.concatenate([block for _, block in Resamples(len(groups), 400, 3, codes).blocks()])
    np.testing.assert_array_equal(weights, again)
    assert cluster_codes([None, float("nan")]) is None  # nothing declared: item bootstrap
    # One group cannot tell how results vary between groups: no interval, rather than a point.
    y_true = np.arange(6) % 4
    scores = np.eye(4)[y_true]
    assert np.isnan(
        bootstrap_ci(metrics.accuracy, y_true, scores, MULTICLASS, groups=["x"] * 6)
    ).all()


def test_paired_tests_keep_their_false_positive_rate_under_the_null(rng):
    """Null calibration: three models of equal skill (each item right with probability 0.7,
    independently), 300 simulated test sets of 100 items, each compared as one family (three
    pairs, 1,200 resamples, Holm). One pair alone is called different at alpha = 0.05 in
    4.7 % of the simulations (Monte-Carlo sd 1.3 %); the family makes any false discovery in
    5.3 % of them, within that error of alpha."""
    simulations, n_items, alpha = 300, 100, 0.05
    tolerance = 2.5 * np.sqrt(alpha * (1 - alpha) / simulations)
    single, family = [], []
    for simulation in range(simulations):
        y_true = rng.integers(0, 4, n_items)
        models = {
            name: [scores_with_accuracy(y_true, rng.random(n_items) < 0.7, 4)] for name in "abc"
        }
        table = paired_tests(
            metrics.accuracy, y_true, models, MULTICLASS, n_bootstrap=1000, alpha=alpha,
            seed=simulation,
        )  # fmt: skip
        single.append(table["p_value"].iloc[0] < alpha)
        family.append(bool(table["significant"].any()))
    assert table["resamples"].iloc[0] == family_resamples(1000, comparisons=3, alpha=alpha)
    assert np.mean(single) <= alpha + tolerance
    assert np.mean(family) <= alpha + tolerance
    assert np.mean(single) > 0  # the test can reject at all


def test_a_huge_gap_among_thirteen_entries_is_significant_after_holm(rng):
    """13 entries (78 pairs): one scores 1.0, twelve about 0.5, on 60 items. With a fixed
    1000 resamples no p-value can go below 1/1001, so no Holm-adjusted one below 78/1001 =
    0.078: the gap could never be significant. The family's resamples (31,200) let it be."""
    n_items = 60
    y_true = rng.integers(0, 4, n_items)
    entries = {
        f"layer_{k}": [scores_with_accuracy(y_true, rng.random(n_items) < 0.5, 4)]
        for k in range(12)
    }
    entries["chroma"] = [scores_with_accuracy(y_true, np.ones(n_items, bool), 4)]
    table = paired_tests(
        metrics.accuracy, y_true, entries, MULTICLASS, n_bootstrap=1000, alpha=0.05, seed=0
    )
    assert len(table) == 78 and (table["resamples"] == 31_200).all()
    against_chroma = table[table["model_b"] == "chroma"]
    assert (against_chroma["difference"] < -0.3).all()
    assert against_chroma["significant"].all()
    assert against_chroma["p_holm"].max() < 0.01
    floored = paired_tests(
        metrics.accuracy, y_true, entries, MULTICLASS, n_bootstrap=1000, alpha=0.05, seed=0,
        scale=False,
    )  # fmt: skip
    assert floored["p_holm"].min() >= 78 / 1001 and not floored["significant"].any()


def test_cluster_bootstrap_covers_where_the_track_bootstrap_undercovers(rng):
    """Coverage of 95 % intervals on clustered data: 30 groups (artists, say) of 5 to 15
    tracks; a group's tracks are right with a probability drawn per group from Beta(2.8, 1.2)
    (mean 0.7, intra-group correlation 0.2). Over 300 simulated test sets, the interval that
    resamples groups covers the true accuracy 0.7 in 93.3 % of them; the one that resamples
    tracks, as if they were independent, in 76.0 % (Monte-Carlo sd about 1.4 %)."""
    repetitions, n_groups, a, b = 300, 30, 2.8, 1.2
    sizes = rng.integers(5, 16, n_groups)
    groups = np.repeat(np.arange(n_groups), sizes)
    n_items = len(groups)
    correct = (
        rng.random((repetitions, n_items)) < rng.beta(a, b, (repetitions, n_groups))[:, groups]
    )
    y_true = np.zeros(n_items, dtype=int)
    coverage = {}
    for name, codes in (("cluster", cluster_codes(groups.astype(str))), ("track", None)):
        (_, weights), *_ = Resamples(n_items, 1000, 0, codes).blocks()
        resampled = [
            metrics.accuracy.resampled(y_true, np.stack([~c, c], axis=1), MULTICLASS, weights)
            for c in ~correct  # class 0 is right where `correct`
        ]
        intervals = np.array([percentile_interval(values) for values in resampled])
        coverage[name] = np.mean(
            (intervals[:, 0] <= a / (a + b)) & (a / (a + b) <= intervals[:, 1])
        )
    assert 0.90 <= coverage["cluster"] <= 0.99
    assert coverage["track"] < 0.85
    # The public path resamples groups when given them: wider than the track interval.
    scores = np.stack([correct[0], ~correct[0]], axis=1).astype(np.float32)
    clustered = bootstrap_ci(metrics.accuracy, y_true, scores, MULTICLASS, groups=groups)
    tracks = bootstrap_ci(metrics.accuracy, y_true, scores, MULTICLASS)
    assert clustered[1] - clustered[0] > 1.3 * (tracks[1] - tracks[0])


def test_interval_of_the_seed_mean_includes_the_spread_between_seeds(rng):
    n = 300
    y_true = rng.integers(0, 4, n)
    same = scores_with_accuracy(y_true, rng.random(n) < 0.7, 4)
    per_seed, mean = seed_intervals(
        metrics.accuracy, y_true, [same, same], MULTICLASS, n_bootstrap=1000, seed=0
    )
    assert per_seed[0] == per_seed[1] == pytest.approx(mean)  # identical seeds: no spread
    apart = [scores_with_accuracy(y_true, rng.random(n) < p, 4) for p in (0.55, 0.85)]
    per_seed, mean = seed_intervals(
        metrics.accuracy, y_true, apart, MULTICLASS, n_bootstrap=1000, seed=0
    )
    # Items alone would give an interval as wide as one seed's (about ±0.05); drawing the
    # seeds too spans most of the 0.3 between them.
    assert mean[1] - mean[0] > 0.2 > max(high - low for low, high in per_seed)
    assert mean[0] < 0.7 < mean[1]


def test_rank_intervals_and_the_set_tied_for_first(rng):
    observed = np.array([0.70, 0.71, 0.40])
    resampled = np.array([[0.70, 0.72, 0.69, 0.75], [0.71, 0.70, 0.73, 0.74], [0.4] * 4])
    rank, low, high = rank_intervals(observed, resampled, level=0.5)
    assert rank.tolist() == [2, 1, 3]
    assert low.tolist() == [1, 1, 3] and high.tolist() == [2, 2, 3]

    n = 400
    y_true = rng.integers(0, 4, n)
    good = rng.random(n) < 0.8
    entries = {
        "a": [scores_with_accuracy(y_true, good, 4)],
        "b": [scores_with_accuracy(y_true, rng.permutation(good), 4)],  # as good, elsewhere
        "c": [scores_with_accuracy(y_true, rng.random(n) < 0.5, 4)],
    }
    table = rank_entries(
        metrics.accuracy, y_true, entries, MULTICLASS, n_bootstrap=500, alpha=0.05, seed=0
    ).set_index("model")
    assert set(table.index[table["tied_for_first"]]) == {"a", "b"}
    assert table.loc["c", "rank"] == 3 and table.loc["c", "rank_low"] == 3
    assert table["rank_low"].loc[["a", "b"]].tolist() == [1, 1]
    assert table["resamples"].iloc[0] == 800  # 20 · 2 comparisons / 0.05
    assert np.isnan(table["p_value"].iloc[0]) or table["rank"].iloc[0] != 1


def test_no_resamples_give_empty_p_values_and_intervals(rng):
    y_true = rng.integers(0, 4, 50)
    entries = {name: [scores_with_accuracy(y_true, rng.random(50) < p, 4)] for name, p in
               (("a", 0.9), ("b", 0.3))}  # fmt: skip
    table = paired_tests(
        metrics.accuracy, y_true, entries, MULTICLASS, n_bootstrap=0, alpha=0.05, seed=0
    )
    assert table["difference"].notna().all()
    assert table["p_value"].isna().all() and table["p_holm"].isna().all()
    assert table["significant"].isna().all() and (table["resamples"] == 0).all()
    ranks = rank_entries(
        metrics.accuracy, y_true, entries, MULTICLASS, n_bootstrap=0, alpha=0.05, seed=0
    )
    assert ranks["rank"].tolist() == [1, 2]
    assert ranks[["rank_low", "rank_high", "p_value"]].isna().all().all()
    assert ranks["tied_for_first"].isna().all()
    assert np.isnan(bootstrap_ci(metrics.accuracy, y_true, entries["a"][0], MULTICLASS,
                                 n_bootstrap=0)).all()  # fmt: skip
