"""Probes: agreement with sklearn, early stopping, determinism, and the contract of every probe."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.preprocessing import StandardScaler

from mir_ref.errors import ComponentError, ConfigError
from mir_ref.metrics import compute
from mir_ref.probes.torch_probes import LinearProbe, MLPProbe
from mir_ref.registry import available, build
from mir_ref.tasks import Task
from tests.conftest import imports_in_fresh_interpreter

MULTICLASS = Task("genre", "multiclass", classes=["a", "b", "c", "d", "e"])
MULTILABEL = Task("tags", "multilabel", classes=["t0", "t1", "t2", "t3"])
REGRESSION = Task("tempo", "regression")
KEY = Task("key", "key")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


def blobs(rng: np.random.Generator, n: int, *, dim: int = 20, classes: int = 5):
    """Gaussian blobs, offset and scaled so that standardisation matters."""
    centers = rng.normal(size=(classes, dim)) * 0.5
    y = rng.integers(0, classes, n)
    x = (centers[y] + rng.normal(size=(n, dim)) + 3.0) * 5.0
    return x.astype(np.float32), y


def splits(x: np.ndarray, y: np.ndarray, n_train: int, n_validation: int):
    """(train, validation, test) as consecutive slices."""
    cut = n_train + n_validation
    return (x[:n_train], y[:n_train]), (x[n_train:cut], y[n_train:cut]), (x[cut:], y[cut:])


def data_for(task: Task, rng: np.random.Generator, n: int, dim: int = 8):
    """Small learnable data of ``task``'s type, labels encoded as ``task.encode`` does."""
    x = rng.normal(size=(n, dim)).astype(np.float32)
    if task.type == "regression":
        return x, (x @ rng.normal(size=dim)).astype(np.float32)
    if task.type == "multilabel":
        return x, (x[:, : len(task.classes)] > 0).astype(np.float32)
    return x, rng.integers(0, len(task.classes), n)


def test_linear_agrees_with_logistic_regression(rng):
    x, y = blobs(rng, 1600)
    (x_train, y_train), (x_validation, y_validation), (x_test, y_test) = splits(x, y, 400, 200)
    probe = LinearProbe().fit(
        x_train, y_train, x_validation, y_validation, task=MULTICLASS, learning_rate=1e-2
    )
    ours = compute(MULTICLASS, y_test, probe.predict(x_test))["accuracy"]
    scaler = StandardScaler().fit(x_train)
    reference = (
        LogisticRegression(max_iter=5000)
        .fit(scaler.transform(x_train), y_train)
        .score(scaler.transform(x_test), y_test)
    )
    assert 0.5 < reference < 0.95  # neither trivial nor hopeless, so the comparison means something
    assert abs(ours - reference) <= 0.02


def test_linear_regression_agrees_with_least_squares(rng):
    dim = 30
    x = (rng.normal(size=(1000, dim)) * 3 + 1).astype(np.float32)
    y = (x @ rng.normal(size=dim) + rng.normal(size=1000) * 2 + 120).astype(np.float32)
    (x_train, y_train), (x_validation, y_validation), (x_test, y_test) = splits(x, y, 300, 100)
    probe = LinearProbe().fit(
        x_train, y_train, x_validation, y_validation, task=REGRESSION, learning_rate=1e-2
    )
    prediction = probe.predict(x_test)
    assert prediction.shape == (len(x_test),)
    reference = LinearRegression().fit(x_train, y_train).score(x_test, y_test)
    # Early stopping on 100 validation items stops a little short of the least-squares optimum.
    assert abs(compute(REGRESSION, y_test, prediction)["r2"] - reference) <= 0.01


def test_multilabel_linear_agrees_with_one_logistic_regression_per_tag(rng):
    dim, n_tags = 16, len(MULTILABEL.classes)
    x = rng.normal(size=(1200, dim)).astype(np.float32)
    logits = x @ rng.normal(size=(dim, n_tags)) - 1.0
    y = (rng.random(logits.shape) < 1 / (1 + np.exp(-logits))).astype(np.float32)
    (x_train, y_train), validation, (x_test, y_test) = splits(x, y, 400, 200)
    probe = LinearProbe().fit(x_train, y_train, *validation, task=MULTILABEL, learning_rate=1e-2)
    reference = np.stack(
        [
            LogisticRegression(max_iter=5000)
            .fit(x_train, y_train[:, tag])
            .predict_proba(x_test)[:, 1]
            for tag in range(n_tags)
        ],
        axis=1,
    )
    ours = compute(MULTILABEL, y_test, probe.predict(x_test))
    expected = compute(MULTILABEL, y_test, reference)
    assert abs(ours["roc_auc"] - expected["roc_auc"]) <= 0.02
    assert abs(ours["pr_auc"] - expected["pr_auc"]) <= 0.02


def test_mlp_solves_xor_where_linear_fails(rng):
    task = Task("xor", "multiclass", classes=["same", "different"])
    x = rng.uniform(-1, 1, size=(1200, 2)).astype(np.float32)
    y = ((x[:, 0] > 0) != (x[:, 1] > 0)).astype(np.int64)
    train, validation, (x_test, y_test) = splits(x, y, 600, 200)
    options = dict(task=task, learning_rate=1e-2, epochs=300)
    linear = LinearProbe().fit(*train, *validation, **options)
    mlp = MLPProbe(hidden=[32]).fit(*train, *validation, **options)
    assert compute(task, y_test, linear.predict(x_test))["accuracy"] < 0.7
    assert compute(task, y_test, mlp.predict(x_test))["accuracy"] > 0.9


def test_early_stopping_on_noise_restores_best_weights(rng):
    x = rng.normal(size=(300, 50)).astype(np.float32)
    y = rng.integers(0, 5, 300)
    train, (x_validation, y_validation), _ = splits(x, y, 200, 100)
    probe = MLPProbe(hidden=[64]).fit(
        *train,
        x_validation,
        y_validation,
        task=MULTICLASS,
        epochs=500,
        patience=10,
        learning_rate=1e-2,
    )
    assert probe.n_epochs_ < 500
    assert probe.n_epochs_ == probe.best_epoch_ + 10
    # The kept weights are the best epoch's: their validation loss is the one recorded.
    probabilities = probe.predict(x_validation)
    cross_entropy = -np.log(probabilities[np.arange(len(y_validation)), y_validation]).mean()
    assert cross_entropy == pytest.approx(probe.best_validation_loss_, rel=1e-4)


def test_without_validation_all_epochs_run(rng):
    x, y = data_for(MULTICLASS, rng, 100)
    probe = LinearProbe().fit(x, y, x[:0], y[:0], task=MULTICLASS, epochs=7)
    assert (probe.n_epochs_, probe.best_epoch_) == (7, 7)
    assert np.isnan(probe.best_validation_loss_)


def fit_predict(seed: int, rng_seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(rng_seed)
    x, y = blobs(rng, 900)
    train, validation, (x_test, _) = splits(x, y, 600, 100)
    # Mini-batches (600 > 256) and dropout exercise every use of the seed.
    probe = MLPProbe(hidden=[16], dropout=0.2, batch_size=256)
    return probe.fit(*train, *validation, task=MULTICLASS, seed=seed, epochs=20).predict(x_test)


def test_same_seed_is_bit_identical_and_seeds_differ():
    first = fit_predict(seed=3)
    assert np.array_equal(first, fit_predict(seed=3))
    assert not np.allclose(first, fit_predict(seed=4))


def test_leaves_global_torch_state_alone():
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    threads = torch.get_num_threads()
    fit_predict(seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.get_num_threads() == threads
    # The global seed has no say either.
    torch.manual_seed(999)
    assert np.array_equal(fit_predict(seed=0), fit_predict(seed=0))


def test_concurrent_fits_in_threads_match_sequential_ones():
    threads = torch.get_num_threads()
    with ThreadPoolExecutor(max_workers=3) as pool:
        concurrent = list(pool.map(fit_predict, [0, 1, 0, 1]))
    assert torch.get_num_threads() == threads
    assert np.array_equal(concurrent[0], concurrent[2])
    assert np.array_equal(concurrent[1], fit_predict(seed=1))


def test_nan_embeddings_are_a_component_error(rng):
    x, y = data_for(MULTICLASS, rng, 60)
    x[7, 3] = np.nan
    with pytest.raises(ComponentError, match=r"linear.*x_train.*NaN.*\[7\]"):
        LinearProbe().fit(x, y, x[:10], y[:10], task=MULTICLASS)


def test_diverging_loss_names_probe_and_learning_rate(rng):
    x, y = data_for(REGRESSION, rng, 100)
    with pytest.raises(ComponentError, match=r"mlp-8.*learning_rate=1e\+30"):
        MLPProbe(hidden=[8]).fit(x, y, x, y, task=REGRESSION, learning_rate=1e30, epochs=50)


def test_misuse_is_reported(rng):
    x, y = data_for(MULTICLASS, rng, 40)
    with pytest.raises(ComponentError, match="not fitted"):
        LinearProbe().predict(x)
    probe = LinearProbe().fit(x, y, x, y, task=MULTICLASS, epochs=2)
    with pytest.raises(ComponentError, match=r"shape \[n, 8\]"):
        probe.predict(x[:, :5])
    with pytest.raises(ComponentError, match="task.encode"):
        LinearProbe().fit(x, y[:-1], x, y, task=MULTICLASS)
    with pytest.raises(ComponentError, match="outside"):
        LinearProbe().fit(x, y + 5, x, y, task=MULTICLASS)


def test_labels_and_config():
    assert build("probes", {"type": "linear"}, where="probes[0]").label() == "linear"
    assert build("probes", {"type": "mlp"}, where="probes[1]").label() == "mlp-256"
    mlp = build("probes", {"type": "mlp", "hidden": [512, 128]}, where="probes[2]")
    assert mlp.label() == "mlp-512-128"
    assert MLPProbe(dropout=0.5).label() == "mlp-256-dropout0.5"
    assert MLPProbe(name="wide").label() == "wide"
    with pytest.raises(ConfigError, match="hidden"):
        build("probes", {"type": "linear", "hidden": [8]}, where="probes[0]")
    with pytest.raises(ValueError, match="dropout"):
        MLPProbe(dropout=1.0)
    x, y = data_for(MULTICLASS, np.random.default_rng(0), 10)
    with pytest.raises(ValueError, match="learning_rate"):
        LinearProbe().fit(x, y, x, y, task=MULTICLASS, learning_rate=0)


@pytest.mark.serial
def test_typical_fit_is_fast(rng):
    x, y = blobs(rng, 500, dim=100)
    train, validation, _ = splits(x, y, 400, 100)
    LinearProbe().fit(*train, *validation, task=MULTICLASS, epochs=1)  # one-time torch imports
    start = time.perf_counter()
    LinearProbe().fit(*train, *validation, task=MULTICLASS, epochs=200, patience=200)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("name", sorted(available("probes")))
@pytest.mark.parametrize("task", [MULTICLASS, MULTILABEL, REGRESSION, KEY], ids=lambda t: t.type)
def test_probe_contract(name, task, rng):
    """Every registered probe: fit returns self, predict has the documented shape and range."""
    x, y = data_for(task, rng, 80)
    probe = build("probes", {"type": name}, where="probes[0]")
    assert isinstance(probe.label(), str) and probe.label()
    fitted = probe.fit(x[:50], y[:50], x[50:], y[50:], task=task, seed=0, epochs=5)
    assert fitted is probe
    scores = probe.predict(x)
    if task.type == "regression":
        assert scores.shape == (80,)
    else:
        assert scores.shape == (80, len(task.classes))
        assert np.all((scores >= 0) & (scores <= 1))
    if task.type in ("multiclass", "key"):
        np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)
    assert np.isfinite(scores).all()
    learned = set(vars(probe)) - set(vars(build("probes", {"type": name}, where="probes[0]")))
    assert learned and all(attribute.endswith("_") for attribute in learned)


def mfcc_of_tones(task_name: str):
    """Mean-pooled MFCCs of a small synthetic_tones set: (splits, task)."""
    from mir_ref.datasets.synthetic import SyntheticTones
    from mir_ref.models.handcrafted import Mfcc

    dataset = SyntheticTones(notes_per_class=10, note_duration_s=0.5, tasks=[task_name], seed=0)
    model = Mfcc()
    task = dataset.tasks[task_name]
    out = {}
    for split in ("train", "validation", "test"):
        tracks = dataset.task_tracks(task_name, split)
        x = np.stack(
            [
                model.embed(track.generate(model.sample_rate)[None])[0, 0].mean(axis=0)
                for track in tracks
            ]
        )
        y = task.encode([t.labels[task_name] for t in tracks])
        out[split] = (x.astype(np.float32), y)
    return out, task


@pytest.mark.slow
def test_linear_agrees_with_logistic_regression_on_mfcc_of_tones():
    data, task = mfcc_of_tones("instrument")
    (x_train, y_train), validation, (x_test, y_test) = (
        data["train"],
        data["validation"],
        data["test"],
    )
    # Full batch and enough epochs to converge, as LogisticRegression does.
    probe = LinearProbe(batch_size=None).fit(
        x_train, y_train, *validation, task=task, learning_rate=1e-2, epochs=1000, patience=100
    )
    ours = compute(task, y_test, probe.predict(x_test))["accuracy"]
    scaler = StandardScaler().fit(x_train)
    reference = (
        LogisticRegression(max_iter=5000)
        .fit(scaler.transform(x_train), y_train)
        .score(scaler.transform(x_test), y_test)
    )
    assert len(y_test) >= 90 and 0.5 < reference < 0.95
    assert abs(ours - reference) <= 0.02


def test_hidden_size_shorthands():
    # The original mir_ref's rules (probes/probe_builder.py), worked by hand: 512 inputs, 10
    # classes; infer steps (512 - 10) / (n + 1) down from the input, power_infer grows with
    # (i + 1)²; odd sizes round up.
    assert MLPProbe(hidden="infer").hidden_sizes(512, 10) == [262]
    assert MLPProbe(hidden=["infer", "infer"]).hidden_sizes(512, 10) == [344, 178]
    assert MLPProbe(hidden="power_infer").hidden_sizes(512, 10) == [262]
    assert MLPProbe(hidden=["power_infer"] * 3).hidden_sizes(512, 10) == [136, 512, 1140]
    assert MLPProbe(hidden="infer").hidden_sizes(40, 12) == [26]
    for mixed in (["infer", 8], ["infer", "power_infer"]):
        with pytest.raises(ValueError, match="hidden"):
            MLPProbe(hidden=mixed)
    assert MLPProbe(hidden=[7]).hidden_sizes(512, 10) == [7]
    assert build("probes", {"type": "mlp", "hidden": "infer"}, where="p").label() == "mlp-infer"
    assert MLPProbe(batch_norm=True).label() == "mlp-256-bn"
    with pytest.raises(ConfigError, match="hidden"):
        build("probes", {"type": "mlp", "hidden": "guess"}, where="probes[0]")


def test_batch_norm_mlp_learns_and_is_deterministic(rng):
    x, y = blobs(rng, 700)
    train, validation, (x_test, y_test) = splits(x, y, 400, 100)
    probe = MLPProbe(hidden=[32], batch_norm=True, dropout=0.1, batch_size=64)
    scores = probe.fit(*train, *validation, task=MULTICLASS, learning_rate=1e-2).predict(x_test)
    assert compute(MULTICLASS, y_test, scores)["accuracy"] > 0.5
    again = MLPProbe(hidden=[32], batch_norm=True, dropout=0.1, batch_size=64)
    again.fit(*train, *validation, task=MULTICLASS, learning_rate=1e-2)
    assert np.array_equal(scores, again.predict(x_test))


@pytest.mark.parametrize(
    ("probe", "task"),
    [
        (MLPProbe(hidden=[16], dropout=0.1, batch_size=128), MULTICLASS),
        (MLPProbe(hidden=[16], batch_norm=True, batch_size=None), MULTILABEL),
        (LinearProbe(batch_size=None), REGRESSION),
    ],
    ids=["mlp-dropout-minibatch", "mlp-batchnorm-multilabel", "linear-regression"],
)
def test_batched_grid_equals_sequential_loop(probe, task, rng):
    """One stacked computation selects what fitting each (setting, seed) alone selects."""
    from mir_ref.probes.base import Probe
    from mir_ref.probes.selection import expand_grid, select

    x, y = blobs(rng, 300, dim=12) if task is MULTICLASS else data_for(task, rng, 300, dim=12)
    train, validation, (x_test, y_test) = splits(x, y, 180, 60)
    grid = {"learning_rate": [3e-3, 1e-2, 3e-2], "weight_decay": [0.0, 1e-2], "hidden": [[8], [16]]}
    settings = expand_grid(probe, grid, {"learning_rate": 1e-3, "weight_decay": 0.0})
    assert len(settings) == (6 if isinstance(probe, LinearProbe) else 12)
    options = {"task": task, "settings": settings, "seeds": [0, 1, 2], "epochs": 40, "patience": 5}
    batched = probe.fit_grid(*train, *validation, **options)
    sequential = Probe.fit_grid(probe, *train, *validation, **options)
    winner, values = select(batched, *validation, task=task)
    sequential_winner, sequential_values = select(sequential, *validation, task=task)
    assert winner == sequential_winner
    np.testing.assert_allclose(values, sequential_values, atol=0.005)
    for fitted_batched, fitted_sequential in zip(batched[winner], sequential[winner], strict=True):
        assert fitted_batched.n_epochs_ == fitted_sequential.n_epochs_
        ours = compute(task, y_test, fitted_batched.predict(x_test))
        theirs = compute(task, y_test, fitted_sequential.predict(x_test))
        assert ours == pytest.approx(theirs, abs=0.005)


def test_grid_survives_a_diverging_setting(rng):
    from mir_ref.probes.selection import select

    x, y = data_for(REGRESSION, rng, 120)
    settings = [{"learning_rate": 1e30}, {"learning_rate": 1e-2}]
    fitted = MLPProbe(hidden=[8]).fit_grid(
        x, y, x, y, task=REGRESSION, settings=settings, seeds=[0], epochs=20
    )
    assert fitted[0] == [None] and fitted[1][0] is not None
    assert select(fitted, x, y, task=REGRESSION)[0] == 1


def test_logistic_probe_picks_c_on_validation_and_matches_sklearn(rng):
    from mir_ref.probes.sklearn_probes import LogisticProbe

    x, y = blobs(rng, 900)
    train, validation, (x_test, y_test) = splits(x, y, 400, 200)
    probe = LogisticProbe(C=[0.001, 1.0]).fit(*train, *validation, task=MULTICLASS)
    assert probe.C_ == max(probe.validation_scores_, key=probe.validation_scores_.get)
    scaler = StandardScaler().fit(train[0])
    reference = LogisticRegression(C=probe.C_, max_iter=1000).fit(
        scaler.transform(train[0]), train[1]
    )
    np.testing.assert_allclose(
        probe.predict(x_test), reference.predict_proba(scaler.transform(x_test)), atol=1e-5
    )


def test_knn_probe_is_exact_on_its_training_items_and_learns_blobs(rng):
    from mir_ref.probes.sklearn_probes import KNNProbe

    x, y = blobs(rng, 900)
    train, validation, (x_test, y_test) = splits(x, y, 400, 200)
    one = KNNProbe(k=[1]).fit(*train, *validation, task=MULTICLASS)
    assert np.array_equal(one.predict(train[0]).argmax(axis=1), train[1])
    probe = KNNProbe().fit(*train, *validation, task=MULTICLASS)
    assert probe.k_ in (1, 5, 10, 20)
    assert compute(MULTICLASS, y_test, probe.predict(x_test))["accuracy"] > 0.5
    values = rng.normal(size=len(train[0]))
    regression = KNNProbe(k=[3]).fit(train[0], values, validation[0], values[:200], task=REGRESSION)
    assert regression.predict(x_test).shape == (len(x_test),)


def test_resolving_a_config_does_not_import_torch():
    # Every run resolves its config (probes included); a warm rerun trains nothing, and
    # importing torch would be over a second of it.
    code = (
        "from mir_ref import registry\n"
        "for kind in registry.KINDS:\n"
        "    registry.available(kind)\n"
        "registry.build('probes', {'type': 'mlp', 'hidden': [8]}, where='probes[0]')\n"
    )
    assert not imports_in_fresh_interpreter(code, "torch")
