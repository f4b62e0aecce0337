"""The hand-written training step of plain probe stacks, against autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mir_ref.probes import _backprop as backprop
from mir_ref.probes._stacked import StackedNetwork, per_network_loss


def _targets(task_type: str, n_networks: int, n: int, out: int, generator: torch.Generator):
    if task_type == "multiclass":
        return torch.randint(0, out, (n_networks, n), generator=generator)
    if task_type == "multilabel":
        return (torch.rand(n_networks, n, out, generator=generator) > 0.5).float()
    return torch.randn(n_networks, n, out, generator=generator)


@pytest.mark.parametrize(
    ("task_type", "sizes", "dropout"),
    [
        ("multiclass", [6, 16, 5], 0.0),
        ("multiclass", [6, 16, 8, 5], 0.3),
        ("multilabel", [6, 16, 4], 0.0),
        ("regression", [6, 1], 0.0),
        ("multiclass", [6, 5], 0.0),
    ],
    ids=["mlp", "mlp-2-hidden-dropout", "multilabel", "linear-regression", "linear"],
)
def test_hand_written_gradient_is_autograds(task_type, sizes, dropout):
    """Losses and per-network gradients match autograd on the same network and masks."""
    n_networks, n = 3, 40
    data = torch.Generator().manual_seed(7)
    inputs = torch.randn(n_networks, n, sizes[0], generator=data)
    targets = _targets(task_type, n_networks, n, sizes[-1], data)

    def stack() -> StackedNetwork:
        generators = [torch.Generator().manual_seed(seed) for seed in range(n_networks)]
        return StackedNetwork(sizes, generators=generators, dropout=dropout)

    ours = stack()
    assert backprop.is_plain(ours)
    losses, gradient = backprop.losses_and_gradient(ours, inputs, targets, task_type=task_type)

    reference = stack()
    reference.flat.requires_grad_(True)
    outputs = reference.forward(inputs, training=True)
    expected = per_network_loss(task_type)(outputs, targets)
    [expected_gradient] = torch.autograd.grad(expected.sum(), [reference.flat])

    np.testing.assert_allclose(losses.numpy(), expected.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(gradient.numpy(), expected_gradient.numpy(), atol=1e-6, rtol=1e-4)


def test_a_network_with_a_non_finite_loss_gets_no_gradient():
    sizes = [4, 8, 3]
    generators = [torch.Generator().manual_seed(seed) for seed in range(2)]
    network = StackedNetwork(sizes, generators=generators)
    inputs = torch.randn(2, 10, 4)
    inputs[1, 0, 0] = torch.inf
    targets = torch.zeros(2, 10, dtype=torch.int64)
    losses, gradient = backprop.losses_and_gradient(
        network, inputs, targets, task_type="multiclass"
    )
    assert torch.isfinite(losses[0]) and not torch.isfinite(losses[1])
    assert torch.isfinite(gradient[0]).all() and gradient[0].abs().sum() > 0
    assert (gradient[1] == 0).all()


def test_shared_inputs_give_the_per_network_gradient():
    """Full-batch inputs ``[n, in]`` shared by the stack: as the same inputs per network."""
    generators = [torch.Generator().manual_seed(seed) for seed in range(3)]
    network = StackedNetwork([5, 12, 4], generators=generators)
    inputs = torch.randn(30, 5)
    targets = torch.randint(0, 4, (30,))
    shared = backprop.losses_and_gradient(network, inputs, targets, task_type="multiclass")
    copied = backprop.losses_and_gradient(
        network, inputs.expand(3, 30, 5).contiguous(), targets, task_type="multiclass"
    )
    for ours, theirs in zip(shared, copied, strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-6, rtol=1e-5)


def test_grid_results_do_not_depend_on_workers():
    """Architectures' stacks trained at once in threads give bit for bit what training them
    one after the other gives (``execution.train_threads``); lone fits agree closely."""
    from mir_ref.probes.base import Probe
    from mir_ref.probes.torch_probes import MLPProbe
    from mir_ref.tasks import Task

    task = Task("genre", "multiclass", classes=["a", "b", "c", "d"])
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 240)
    x = (rng.normal(size=(4, 10))[y] + rng.normal(size=(240, 10))).astype(np.float32)
    grid = [
        {"learning_rate": rate, "hidden": hidden}
        for rate in (3e-3, 1e-2)
        for hidden in ([8], [24], [16, 8])
    ]
    options = {"task": task, "settings": grid, "seeds": [0, 1], "epochs": 15, "patience": 4}
    probe = MLPProbe(batch_size=64, dropout=0.2)

    def scores(fitted: list) -> np.ndarray:
        return np.stack([p.predict(x[160:]) for row in fitted for p in row])

    one = scores(probe.fit_grid(x[:160], y[:160], x[160:], y[160:], **options))
    for workers in (2, 3):
        threaded = probe.fit_grid(x[:160], y[:160], x[160:], y[160:], **options, workers=workers)
        assert np.array_equal(scores(threaded), one)
    lone = scores(Probe.fit_grid(probe, x[:160], y[:160], x[160:], y[160:], **options, workers=2))
    np.testing.assert_allclose(lone, one, atol=1e-5)
