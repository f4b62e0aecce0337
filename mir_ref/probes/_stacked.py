"""Many probe networks of one architecture trained as one batched computation.

A :class:`StackedNetwork` holds ``C`` fully connected networks with their weights stacked as
``[C, in, out]`` tensors, so one batched matrix product runs a step of all of them;
:func:`train_stacked` trains them with Adam, each with its own learning rate, weight decay
and seed, and its own early stopping. A grid of hyper-parameters × seeds then costs about as
many Python-level steps as one training run instead of one run per combination.

With ``attention`` set, each network first pools a bag of windows ``[windows, in]`` into one
vector with learned attention (attention-based multiple-instance learning, Ilse et al. 2018):
weights ``softmax_w(v · tanh(x_w V + c))`` over the bag's windows, padding masked out.

With ``layers`` set, each input item is ``[layers, in]``: several layers of one embedding model,
which each network first mixes into one vector with learned weights ``softmax(a)`` over the
layers (the weighted sum of SUPERB, Yang et al. 2021, and MARBLE), ``a`` starting at zero
(equal weights) and learned with the rest of the network, at
:data:`LAYER_WEIGHT_LEARNING_RATE_SCALE` times its learning rate.

Each network draws its initial weights, batch order and dropout masks from its own
``torch.Generator``, in the same order as a network trained alone, so network ``c`` of a
stack computes what a stack of one with the same setting computes (up to floating-point
summation order).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as functional

from mir_ref.probes import _backprop as backprop
from mir_ref.probes._network import Setting, StackedNetwork
from mir_ref.tasks import TASK_TYPES

# Adam's constants, as torch.optim.Adam's defaults.
_BETA1, _BETA2, _EPSILON = 0.9, 0.999, 1e-8
LAYER_WEIGHT_LEARNING_RATE_SCALE = 10.0
"""How much faster than the rest of a network its layer-mixing logits learn. Adam moves each
logit by at most about the learning rate per step, and putting weight 0.9 on one layer of 13
takes a logit gap of ~4.7: at 1e-3 that is ~5,000 steps, more than a probe's early-stopped
few hundred, so at the network's own rate the weights would say more about the step budget
than about the task (measured on 3 layers of which one holds the label: an MLP probe stopped
early with 0.55-0.6 on that layer at its own rate, 0.96-0.97 at 10 times it)."""


@dataclass
class StackedFit:
    """The outcome of :func:`train_stacked`, per network (arrays of length ``C``)."""

    network: StackedNetwork
    n_epochs: np.ndarray
    best_epoch: np.ndarray
    best_validation_loss: np.ndarray
    diverged: list[tuple[str, float, int] | None]
    """Per network ``None``, or ``(split, loss, epoch)`` of the first non-finite loss."""


def _cross_entropy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``[C]`` mean cross-entropy of logits ``[C, n, classes]`` against ``[n]`` or ``[C, n]``.

    Written out (log-sum-exp minus the target's logit) rather than with
    ``functional.cross_entropy``, whose log-softmax over a short class axis took 5× longer
    than this on CPU and was a sixth of a stack's training time.
    """
    n_networks, n_items, _ = outputs.shape
    # Subtracting the (constant) maximum keeps exp finite; it does not change the gradient.
    shifted = outputs - outputs.detach().amax(dim=2, keepdim=True)
    chosen = shifted.gather(2, targets.expand(n_networks, n_items).unsqueeze(2)).squeeze(2)
    return (shifted.exp().sum(dim=2).log() - chosen).mean(dim=1)


def per_network_loss(task_type: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``(outputs [C, n, out], targets) -> [C]`` mean loss of each network on its items: the
    loss of the task type named ``task_type``."""
    loss = TASK_TYPES[task_type].loss
    if loss == "cross_entropy":
        return _cross_entropy
    if loss == "binary_cross_entropy":
        return lambda outputs, targets: functional.binary_cross_entropy_with_logits(
            outputs, targets.expand_as(outputs), reduction="none"
        ).mean(dim=(1, 2))
    return lambda outputs, targets: ((outputs - targets) ** 2).mean(dim=(1, 2))


def train_stacked(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    validation_inputs: torch.Tensor,
    validation_targets: torch.Tensor,
    *,
    task_type: str,
    sizes: list[int],
    settings: list[Setting],
    dropout: float,
    batch_norm: bool,
    batch_size: int | None,
    epochs: int,
    patience: int,
    attention: int = 0,
    layers: int = 0,
    mask: torch.Tensor | None = None,
    validation_mask: torch.Tensor | None = None,
) -> StackedFit:
    """Train one network per setting with Adam and per-network early stopping.

    Networks that stop (early stopping or a non-finite loss) leave the stack at the end of
    the epoch, so the stack costs no more arithmetic than training each network alone.
    Plain stacks (no batch norm, no attention, no layer mixing) take the hand-written step of
    :mod:`mir_ref.probes._backprop`; the others, autograd.

    Parameters
    ----------
    inputs, validation_inputs : ``[n, in]`` standardised float32 embeddings; with
        ``attention``, ``[n, windows, in]`` bags (zero-padded); with ``layers``, each item or
        window is ``[layers, in]``.
    targets, validation_targets : ``[n]`` int64 classes, or ``[n, out]`` float32 targets.
    task_type : picks the loss (cross-entropy, binary cross-entropy, squared error).
    sizes : ``[in, *hidden, out]``.
    settings : one learning rate, weight decay and seed per network.
    dropout, batch_norm : regularisation between hidden layers.
    batch_size : items per Adam step; ``None`` for full batch.
    epochs, patience : the most passes; a network stops after ``patience`` epochs without a
        lower validation loss and keeps its best epoch's weights. Without validation items all
        epochs run and the last weights are kept.
    attention : units of the attention pooling of bags; 0 for inputs that are vectors.
    layers : input layers mixed with learned softmax weights; 0 for inputs of one layer.
    mask, validation_mask : ``[n, windows]`` bool, the real windows of each bag.

    Returns
    -------
    StackedFit
        A network whose loss became non-finite is marked in ``diverged`` and stops there.
    """
    n_networks, n_train = len(settings), len(inputs)
    all_generators = [torch.Generator().manual_seed(int(s.seed)) for s in settings]
    network = StackedNetwork(
        sizes,
        generators=all_generators,
        dropout=dropout,
        batch_norm=batch_norm,
        attention=attention,
        layers=layers,
    )
    loss_of = per_network_loss(task_type)
    batch_size = min(batch_size or n_train, n_train)
    adam = _Adam(network.flat, settings)
    if layers:
        scale = torch.ones(1, network.flat.shape[1])
        scale[:, network.mixing_columns()] = LAYER_WEIGHT_LEARNING_RATE_SCALE
        adam.learning_rates = adam.learning_rates * scale
    best_state = [t.detach().clone() for t in network.state]
    best_loss = np.full(n_networks, math.inf)
    best_epoch = np.zeros(n_networks, dtype=np.int64)
    n_epochs = np.zeros(n_networks, dtype=np.int64)
    active = np.ones(n_networks, dtype=bool)
    diverged: list[tuple[str, float, int] | None] = [None] * n_networks
    has_validation = len(validation_inputs) > 0
    alive = np.arange(n_networks)  # the setting of each network still in the stack
    epoch = 0
    # Plain networks (no batch norm, attention or mixing) take the hand-written backward pass.
    plain = backprop.is_plain(network)
    for epoch in range(1, epochs + 1):
        network.flat.requires_grad_(not plain)
        if batch_size < n_train:
            orders = torch.stack([torch.randperm(n_train, generator=g) for g in network.generators])
        for start in range(0, n_train, batch_size):
            batch_inputs, batch_targets, batch_mask = inputs, targets, mask
            if batch_size < n_train:
                batch = orders[:, start : start + batch_size]
                batch_inputs, batch_targets = _rows(inputs, batch), _rows(targets, batch)
                batch_mask = None if mask is None else _rows(mask, batch)
            gradient = None
            if plain:
                losses, gradient = backprop.losses_and_gradient(
                    network, batch_inputs, batch_targets, task_type=task_type
                )
            else:
                outputs = network.forward(batch_inputs, mask=batch_mask, training=True)
                losses = loss_of(outputs, batch_targets)
            finite = torch.isfinite(losses)
            if not bool(finite.all()):
                for row in np.flatnonzero(active[alive] & ~finite.numpy()):
                    diverged[alive[row]] = ("training", float(losses[row]), epoch)
                    active[alive[row]], n_epochs[alive[row]] = False, epoch
                if not active[alive].any():
                    break
            if gradient is None:
                # Networks are independent, so the gradient of the summed loss with respect
                # to network c's row of ``flat`` is the gradient of network c's own loss.
                [gradient] = torch.autograd.grad(
                    torch.where(finite, losses, 0.0).sum(), [network.flat]
                )
            with torch.no_grad():
                adam.step(network.flat, gradient)
        if has_validation and active[alive].any():
            with torch.no_grad():
                if plain:
                    outputs = backprop.outputs(network, validation_inputs).transpose(1, 2)
                else:
                    outputs = network.forward(validation_inputs, mask=validation_mask)
                validation = loss_of(outputs, validation_targets)
            validation = validation.numpy()
            for row in np.flatnonzero(active[alive] & ~np.isfinite(validation)):
                diverged[alive[row]] = ("validation", float(validation[row]), epoch)
                active[alive[row]], n_epochs[alive[row]] = False, epoch
            improved = active[alive] & (validation < best_loss[alive])
            if improved.any():
                rows = np.flatnonzero(improved)
                best_loss[alive[rows]], best_epoch[alive[rows]] = validation[rows], epoch
                _save(best_state, network.state, rows, alive[rows])
            exhausted = alive[active[alive] & ~improved & (epoch - best_epoch[alive] >= patience)]
            n_epochs[exhausted], active[exhausted] = epoch, False
        stopped = ~active[alive]
        if stopped.all():
            break
        if stopped.any():
            # The stack's time goes to arithmetic that grows with its size, so a stopped
            # network leaves at once (a few row copies) rather than being carried masked.
            kept = np.flatnonzero(~stopped)
            network.keep(kept)
            adam.keep(kept)
            alive = alive[kept]
    n_epochs[active] = epoch
    if not has_validation:
        best_epoch[:] = n_epochs
        best_loss[:] = math.nan
        still = np.flatnonzero(active[alive])
        _save(best_state, network.state, still, alive[still])
    network.load(best_state, all_generators)
    return StackedFit(network, n_epochs, best_epoch, best_loss, diverged)


def _rows(tensor: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``tensor[index]`` for an ``[C, n]`` index: each network's batch, ``[C, n, ...]``.

    ``index_select`` of the flattened index, which took a quarter of advanced indexing's
    time for 18 networks × 256 items × 40 dimensions.
    """
    rows = torch.index_select(tensor, 0, index.reshape(-1))
    return rows.view(*index.shape, *tensor.shape[1:])


def _save(
    saved: list[torch.Tensor], state: list[torch.Tensor], rows: np.ndarray, settings: np.ndarray
) -> None:
    """Copy stack rows ``rows`` of ``state`` into rows ``settings`` of the full-size ``saved``."""
    with torch.no_grad():
        source, target = torch.from_numpy(rows), torch.from_numpy(settings)
        for full, tensor in zip(saved, state, strict=True):
            full[target] = tensor.detach()[source]


class _Adam:
    """torch.optim.Adam's update (L2 weight decay, bias correction) on a stack's ``[C, P]``
    parameters, with a learning rate and weight decay per network: one fused update for all
    layers of all networks. ``learning_rates`` is ``[C, 1]``, or ``[C, P]`` where some
    parameters learn at another rate."""

    def __init__(self, flat: torch.Tensor, settings: list[Setting]) -> None:
        self.learning_rates = torch.tensor([s.learning_rate for s in settings]).view(-1, 1)
        self.weight_decays = torch.tensor([s.weight_decay for s in settings]).view(-1, 1)
        self.first = torch.zeros_like(flat)
        self.second = torch.zeros_like(flat)
        self.steps = 0
        # Weight decay costs two passes over the parameters; skip them when it is zero.
        self.decays = bool((self.weight_decays > 0).any())

    def step(self, flat: torch.Tensor, gradient: torch.Tensor) -> None:
        """Update ``flat`` in place (call under ``torch.no_grad``)."""
        self.steps += 1
        correction1 = 1 - _BETA1**self.steps
        correction2_sqrt = math.sqrt(1 - _BETA2**self.steps)
        if self.decays:
            gradient = gradient.addcmul_(self.weight_decays, flat)
        self.first.lerp_(gradient, 1 - _BETA1)
        self.second.mul_(_BETA2).addcmul_(gradient, gradient, value=1 - _BETA2)
        denominator = self.second.sqrt().div_(correction2_sqrt).add_(_EPSILON)
        flat.sub_(self.first.div(denominator).mul_(self.learning_rates / correction1))

    def keep(self, rows: np.ndarray) -> None:
        """Keep the state of networks ``rows`` only, as :meth:`StackedNetwork.keep`."""
        index = torch.from_numpy(rows)
        self.first, self.second = self.first[index], self.second[index]
        self.learning_rates = self.learning_rates[index]
        self.weight_decays = self.weight_decays[index]
