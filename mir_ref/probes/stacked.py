"""Many probe networks of one architecture trained as one batched computation.

A :class:`StackedNetwork` holds ``C`` fully connected networks with their weights stacked as
``[C, in, out]`` tensors, so one ``matmul`` runs a step of all of them; :func:`train_stacked`
trains them with Adam, each with its own learning rate, weight decay and seed, and its own
early stopping. A grid of hyper-parameters × seeds then costs about as many Python-level
steps as one training run instead of one run per combination.

Each network draws its initial weights, batch order and dropout masks from its own
``torch.Generator``, in the same order as a network trained alone, so network ``c`` of a
stack computes what a stack of one with the same setting computes (up to floating-point
summation order).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch
import torch.nn.functional as functional

# Adam's constants, as torch.optim.Adam's defaults.
_BETA1, _BETA2, _EPSILON = 0.9, 0.999, 1e-8
_BATCH_NORM_MOMENTUM, _BATCH_NORM_EPSILON = 0.1, 1e-5


# The tensor lists of a StackedNetwork, in the order of its ``state``.
_TENSOR_LISTS = ("weights", "biases", "scales", "shifts", "running_means", "running_vars")


def _affine(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``x @ weight + bias`` per network: ``[n, in]`` or ``[C, n, in]`` → ``[C, n, out]``."""
    if x.dim() == 3:
        return torch.baddbmm(bias, x, weight)
    # Inputs shared by every network: one wide matrix product [n, in] @ [in, C·out] instead
    # of C narrow ones, which is what makes a stack cheaper than its networks alone.
    n_networks, n_in, n_out = weight.shape
    wide = weight.permute(1, 0, 2).reshape(n_in, n_networks * n_out)
    return (x @ wide).view(len(x), n_networks, n_out).transpose(0, 1) + bias


@dataclass(frozen=True)
class Setting:
    """What differs between the networks of one stack."""

    learning_rate: float
    weight_decay: float
    seed: int


class StackedNetwork:
    """``C`` MLPs of layer sizes ``sizes`` (ReLU; optional dropout and batch norm).

    Learned tensors (``parameters``): per layer a weight ``[C, in, out]`` and bias
    ``[C, 1, out]``; with batch norm, per hidden layer a scale and shift ``[C, 1, out]``.
    Running batch-norm statistics (``buffers``) are used in evaluation mode.
    """

    def __init__(
        self,
        sizes: list[int],
        *,
        generators: list[torch.Generator],
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        self.sizes = list(sizes)
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.generators = generators
        weights, biases = [], []
        for n_in, n_out in pairwise(sizes):
            # PyTorch's default nn.Linear initialisation, U(-1/sqrt(fan_in), +), drawn per
            # network in nn.Linear's [out, in] layout and order (weight, then bias).
            bound = 1.0 / math.sqrt(n_in)
            layer_weights, layer_biases = [], []
            for generator in generators:
                weight = torch.empty(n_out, n_in).uniform_(-bound, bound, generator=generator)
                bias = torch.empty(n_out).uniform_(-bound, bound, generator=generator)
                layer_weights.append(weight.T)
                layer_biases.append(bias[None, :])
            weights.append(torch.stack(layer_weights).contiguous())
            biases.append(torch.stack(layer_biases))
        self.weights, self.biases = weights, biases
        n_networks, hidden = len(generators), sizes[1:-1]
        self.scales = [torch.ones(n_networks, 1, size) for size in hidden] if batch_norm else []
        self.shifts = [torch.zeros(n_networks, 1, size) for size in hidden] if batch_norm else []
        normalised = hidden if batch_norm else []
        self.running_means = [torch.zeros(n_networks, 1, size) for size in normalised]
        self.running_vars = [torch.ones(n_networks, 1, size) for size in normalised]

    @property
    def parameters(self) -> list[torch.Tensor]:
        """Every learned tensor; dimension 0 indexes the network."""
        return [*self.weights, *self.biases, *self.scales, *self.shifts]

    @property
    def buffers(self) -> list[torch.Tensor]:
        """Running batch-norm statistics; dimension 0 indexes the network."""
        return [*self.running_means, *self.running_vars]

    def __len__(self) -> int:
        return len(self.generators)

    def forward(self, inputs: torch.Tensor, *, training: bool = False) -> torch.Tensor:
        """``[n, in]`` (shared) or ``[C, n, in]`` (per network) inputs → ``[C, n, out]``."""
        x = inputs
        last = len(self.weights) - 1
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = _affine(x, weight, bias)
            if index == last:
                break
            if self.batch_norm:
                x = self._normalise(x, index, training=training)
            x = torch.relu(x)
            if training and self.dropout > 0:
                # One mask per network from its own generator, as a lone network draws it.
                shape = x.shape[1:]
                keep = torch.stack(
                    [torch.rand(shape, generator=g) >= self.dropout for g in self.generators]
                )
                x = x * keep / (1.0 - self.dropout)
        return x

    def _normalise(self, x: torch.Tensor, index: int, *, training: bool) -> torch.Tensor:
        if training and x.shape[1] > 1:
            mean = x.mean(dim=1, keepdim=True)
            variance = x.var(dim=1, unbiased=False, keepdim=True)
            with torch.no_grad():
                # As nn.BatchNorm1d: running variance is the unbiased estimate.
                unbiased = variance * x.shape[1] / (x.shape[1] - 1)
                self.running_means[index].lerp_(mean, _BATCH_NORM_MOMENTUM)
                self.running_vars[index].lerp_(unbiased, _BATCH_NORM_MOMENTUM)
        else:
            mean, variance = self.running_means[index], self.running_vars[index]
        x = (x - mean) / torch.sqrt(variance + _BATCH_NORM_EPSILON)
        return x * self.scales[index] + self.shifts[index]

    @property
    def state(self) -> list[torch.Tensor]:
        """Every tensor that defines the networks: :attr:`parameters`, then :attr:`buffers`."""
        return [*self.parameters, *self.buffers]

    def keep(self, rows: np.ndarray) -> None:
        """Drop every network but ``rows`` (new leaf tensors; generators follow)."""
        index = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        for name in _TENSOR_LISTS:
            setattr(self, name, [t.detach()[index] for t in getattr(self, name)])
        self.generators = [self.generators[row] for row in rows]

    def load(self, state: list[torch.Tensor], generators: list[torch.Generator]) -> None:
        """Replace every tensor by ``state`` (in :attr:`state` order) and the generators."""
        tensors = iter(state)
        for name in _TENSOR_LISTS:
            setattr(self, name, [next(tensors) for _ in getattr(self, name)])
        self.generators = generators

    def select(self, index: int) -> StackedNetwork:
        """Network ``index`` alone, as a stack of one (tensors are views, not copies)."""
        single = object.__new__(StackedNetwork)
        single.sizes, single.dropout, single.batch_norm = self.sizes, self.dropout, self.batch_norm
        single.generators = [self.generators[index]]
        for name in _TENSOR_LISTS:
            setattr(single, name, [t[index : index + 1] for t in getattr(self, name)])
        return single


@dataclass
class StackedFit:
    """The outcome of :func:`train_stacked`, per network (arrays of length ``C``)."""

    network: StackedNetwork
    n_epochs: np.ndarray
    best_epoch: np.ndarray
    best_validation_loss: np.ndarray
    diverged: list[tuple[str, float, int] | None]
    """Per network ``None``, or ``(split, loss, epoch)`` of the first non-finite loss."""


def per_network_loss(task_type: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``(outputs [C, n, out], targets) -> [C]`` mean loss of each network on its items."""
    if task_type in ("multiclass", "key"):

        def cross_entropy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            n_networks, n_items, n_classes = outputs.shape
            targets = targets.expand(n_networks, n_items)
            losses = functional.cross_entropy(
                outputs.reshape(-1, n_classes), targets.reshape(-1), reduction="none"
            )
            return losses.view(n_networks, n_items).mean(dim=1)

        return cross_entropy
    if task_type == "multilabel":
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
) -> StackedFit:
    """Train one network per setting with Adam and per-network early stopping.

    Networks that stop (early stopping or a non-finite loss) leave the stack at the end of
    the epoch, so the stack costs no more arithmetic than training each network alone.

    Parameters
    ----------
    inputs, validation_inputs : ``[n, in]`` standardised float32 embeddings.
    targets, validation_targets : ``[n]`` int64 classes, or ``[n, out]`` float32 targets.
    task_type : picks the loss (cross-entropy, binary cross-entropy, squared error).
    sizes : ``[in, *hidden, out]``.
    settings : one learning rate, weight decay and seed per network.
    dropout, batch_norm : regularisation between hidden layers.
    batch_size : items per Adam step; ``None`` for full batch.
    epochs, patience : the most passes; a network stops after ``patience`` epochs without a
        lower validation loss and keeps its best epoch's weights. Without validation items all
        epochs run and the last weights are kept.

    Returns
    -------
    StackedFit
        A network whose loss became non-finite is marked in ``diverged`` and stops there.
    """
    n_networks, n_train = len(settings), len(inputs)
    all_generators = [torch.Generator().manual_seed(int(s.seed)) for s in settings]
    network = StackedNetwork(
        sizes, generators=all_generators, dropout=dropout, batch_norm=batch_norm
    )
    loss_of = per_network_loss(task_type)
    batch_size = min(batch_size or n_train, n_train)
    learning_rates = torch.tensor([s.learning_rate for s in settings]).view(-1, 1, 1)
    weight_decays = torch.tensor([s.weight_decay for s in settings]).view(-1, 1, 1)
    moments = [torch.zeros_like(p) for p in network.parameters for _ in range(2)]
    best_state = [t.detach().clone() for t in network.state]
    best_loss = np.full(n_networks, math.inf)
    best_epoch = np.zeros(n_networks, dtype=np.int64)
    n_epochs = np.zeros(n_networks, dtype=np.int64)
    active = np.ones(n_networks, dtype=bool)
    diverged: list[tuple[str, float, int] | None] = [None] * n_networks
    has_validation = len(validation_inputs) > 0
    alive = np.arange(n_networks)  # the setting of each network still in the stack
    step = epoch = 0
    for epoch in range(1, epochs + 1):
        parameters = network.parameters
        for tensor in parameters:
            tensor.requires_grad_(True)
        if batch_size < n_train:
            orders = torch.stack([torch.randperm(n_train, generator=g) for g in network.generators])
        for start in range(0, n_train, batch_size):
            if batch_size < n_train:
                batch = orders[:, start : start + batch_size]
                losses = loss_of(network.forward(inputs[batch], training=True), targets[batch])
            else:
                losses = loss_of(network.forward(inputs, training=True), targets)
            finite = torch.isfinite(losses)
            for row in np.flatnonzero(active[alive] & ~finite.numpy()):
                diverged[alive[row]] = ("training", float(losses[row]), epoch)
                active[alive[row]], n_epochs[alive[row]] = False, epoch
            if not active[alive].any():
                break
            # Networks are independent, so the gradient of the summed loss with respect to
            # network c's weights is the gradient of network c's own loss.
            gradients = torch.autograd.grad(torch.where(finite, losses, 0.0).sum(), parameters)
            step += 1
            with torch.no_grad():
                _adam_step(
                    parameters,
                    gradients,
                    moments,
                    step=step,
                    learning_rates=learning_rates,
                    weight_decays=weight_decays,
                )
        if has_validation and active[alive].any():
            with torch.no_grad():
                validation = loss_of(network.forward(validation_inputs), validation_targets)
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
            kept = np.flatnonzero(~stopped)
            network.keep(kept)
            index = torch.from_numpy(kept)
            moments = [m[index] for m in moments]
            learning_rates, weight_decays = learning_rates[index], weight_decays[index]
            alive = alive[kept]
    n_epochs[active] = epoch
    if not has_validation:
        best_epoch[:] = n_epochs
        best_loss[:] = math.nan
        still = np.flatnonzero(active[alive])
        _save(best_state, network.state, still, alive[still])
    network.load(best_state, all_generators)
    return StackedFit(network, n_epochs, best_epoch, best_loss, diverged)


def _save(
    saved: list[torch.Tensor], state: list[torch.Tensor], rows: np.ndarray, settings: np.ndarray
) -> None:
    """Copy stack rows ``rows`` of ``state`` into rows ``settings`` of the full-size ``saved``."""
    with torch.no_grad():
        source, target = torch.from_numpy(rows), torch.from_numpy(settings)
        for full, tensor in zip(saved, state, strict=True):
            full[target] = tensor.detach()[source]


def _adam_step(
    parameters: list[torch.Tensor],
    gradients: tuple[torch.Tensor, ...],
    moments: list[torch.Tensor],
    *,
    step: int,
    learning_rates: torch.Tensor,
    weight_decays: torch.Tensor,
) -> None:
    """torch.optim.Adam's update (L2 weight decay, bias correction), per-network rates.

    ``moments`` holds each parameter's first and second moment, interleaved.
    """
    correction1 = 1 - _BETA1**step
    correction2_sqrt = math.sqrt(1 - _BETA2**step)
    for index, (parameter, gradient) in enumerate(zip(parameters, gradients, strict=True)):
        first, second = moments[2 * index], moments[2 * index + 1]
        gradient = gradient + weight_decays * parameter
        first.lerp_(gradient, 1 - _BETA1)
        second.mul_(_BETA2).addcmul_(gradient, gradient, value=1 - _BETA2)
        denominator = (second.sqrt() / correction2_sqrt).add_(_EPSILON)
        parameter.sub_(learning_rates / correction1 * first / denominator)
