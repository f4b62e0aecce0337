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
from itertools import pairwise

import numpy as np
import torch
import torch.nn.functional as functional

from mir_ref.probes import _backprop as backprop
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
_BATCH_NORM_MOMENTUM, _BATCH_NORM_EPSILON = 0.1, 1e-5


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

    Every learned number of network ``c`` lives in row ``c`` of one ``[C, P]`` tensor,
    :attr:`flat`, so that an Adam update, a restack or a copy of the best state costs a
    handful of tensor operations whatever the number of layers. Views of it give, per layer,
    a weight ``[C, in, out]`` and bias ``[C, 1, out]``; with batch norm, per hidden layer a
    scale and shift ``[C, 1, out]``; with ``layers``, the layer-mixing logits ``[C, 1,
    layers]``; with ``attention`` units, the attention pooling's ``V [C, in, attention]``,
    ``c [C, 1, attention]`` and ``v [C, attention, 1]``. Running batch-norm statistics
    (``buffers``) are used in evaluation mode.
    """

    def __init__(
        self,
        sizes: list[int],
        *,
        generators: list[torch.Generator],
        dropout: float = 0.0,
        batch_norm: bool = False,
        attention: int = 0,
        layers: int = 0,
    ) -> None:
        self.sizes = list(sizes)
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.attention = attention
        self.layers = layers
        self.generators = generators
        n_networks, hidden = len(generators), sizes[1:-1]
        # (offset, rows, columns) of each learned tensor in a row of ``flat``: weights,
        # biases, batch-norm scales and shifts, the layer-mixing logits, then the attention
        # pooling's V, c and v (always last).
        shapes = [*pairwise(sizes), *((1, n_out) for n_out in sizes[1:])]
        if batch_norm:
            shapes += [(1, size) for size in hidden] * 2
        self._mix_index = len(shapes)
        if layers:
            shapes.append((1, layers))
        if attention:
            shapes += [(sizes[0], attention), (1, attention), (attention, 1)]
        self._layout: list[tuple[int, int, int]] = []
        offset = 0
        for rows, columns in shapes:
            self._layout.append((offset, rows, columns))
            offset += rows * columns
        self.flat = torch.empty(n_networks, offset)
        if layers:
            # Equal weights to start, as SUPERB's featurizer; nothing is drawn, so the
            # generators give the other weights what they give a network without mixing.
            self._views(self._mix_index, 1)[0].zero_()
        if attention:
            # As nn.Linear(in, attention) then nn.Linear(attention, 1, bias=False), drawn first
            # because the pooling comes first.
            projection, bias, vector = self._views(len(self._layout) - 3, 3)
            for row, generator in enumerate(generators):
                bound = 1.0 / math.sqrt(sizes[0])
                drawn = torch.empty(attention, sizes[0]).uniform_(
                    -bound, bound, generator=generator
                )
                projection[row] = drawn.T
                bias[row, 0] = torch.empty(attention).uniform_(-bound, bound, generator=generator)
                bound = 1.0 / math.sqrt(attention)
                vector[row, :, 0] = torch.empty(attention).uniform_(
                    -bound, bound, generator=generator
                )
        for weight, bias, (n_in, n_out) in zip(
            self.weights, self.biases, pairwise(sizes), strict=True
        ):
            # PyTorch's default nn.Linear initialisation, U(-1/sqrt(fan_in), +), drawn per
            # network in nn.Linear's [out, in] layout and order (weight, then bias).
            bound = 1.0 / math.sqrt(n_in)
            for row, generator in enumerate(generators):
                drawn = torch.empty(n_out, n_in).uniform_(-bound, bound, generator=generator)
                weight[row] = drawn.T
                bias[row, 0] = torch.empty(n_out).uniform_(-bound, bound, generator=generator)
        for scale, shift in zip(self.scales, self.shifts, strict=True):
            scale.fill_(1.0)
            shift.fill_(0.0)
        normalised = hidden if batch_norm else []
        self.running_means = [torch.zeros(n_networks, 1, size) for size in normalised]
        self.running_vars = [torch.ones(n_networks, 1, size) for size in normalised]

    def _views(
        self, first: int, count: int, flat: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        flat = self.flat if flat is None else flat
        return [
            flat[:, offset : offset + rows * columns].view(len(flat), rows, columns)
            for offset, rows, columns in self._layout[first : first + count]
        ]

    @property
    def weights(self) -> list[torch.Tensor]:
        """Per layer ``[C, in, out]`` (views of :attr:`flat`)."""
        return self.weights_of(self.flat)

    @property
    def biases(self) -> list[torch.Tensor]:
        """Per layer ``[C, 1, out]`` (views of :attr:`flat`)."""
        return self.biases_of(self.flat)

    def weights_of(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """:attr:`weights`' views of another ``[C, P]`` tensor laid out as :attr:`flat`
        (e.g. its gradient)."""
        return self._views(0, len(self.sizes) - 1, flat)

    def biases_of(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """:attr:`biases`' views of another ``[C, P]`` tensor laid out as :attr:`flat`."""
        return self._views(len(self.sizes) - 1, len(self.sizes) - 1, flat)

    @property
    def scales(self) -> list[torch.Tensor]:
        """Per hidden layer ``[C, 1, out]`` with batch norm, else none (views of :attr:`flat`)."""
        hidden = len(self.sizes) - 2 if self.batch_norm else 0
        return self._views(2 * (len(self.sizes) - 1), hidden)

    @property
    def shifts(self) -> list[torch.Tensor]:
        """Per hidden layer ``[C, 1, out]`` with batch norm, else none (views of :attr:`flat`)."""
        hidden = len(self.sizes) - 2 if self.batch_norm else 0
        return self._views(2 * (len(self.sizes) - 1) + hidden, hidden)

    @property
    def buffers(self) -> list[torch.Tensor]:
        """Running batch-norm statistics; dimension 0 indexes the network."""
        return [*self.running_means, *self.running_vars]

    def __len__(self) -> int:
        return len(self.generators)

    def forward(
        self, inputs: torch.Tensor, *, mask: torch.Tensor | None = None, training: bool = False
    ) -> torch.Tensor:
        """``[n, in]`` (shared) or ``[C, n, in]`` (per network) inputs → ``[C, n, out]``.

        With attention pooling, inputs are bags: ``[n, windows, in]`` or ``[C, n, windows,
        in]``, and ``mask`` (``[n, windows]`` or ``[C, n, windows]``) marks the real windows.
        With ``layers``, each item (or window) is ``[layers, in]`` instead of ``[in]``.
        """
        x = self._mix(inputs) if self.layers else inputs
        x = self._attend(x, mask) if self.attention else x
        weights, biases = self.weights, self.biases
        scales, shifts = self.scales, self.shifts
        last = len(weights) - 1
        for index, (weight, bias) in enumerate(zip(weights, biases, strict=True)):
            if last == 0 and x.dim() == 3:
                # A linear network on per-network inputs: its narrow output (a few classes)
                # computed as [C, out, n] runs ~2x faster, gradients included (measured; for
                # an MLP's last layer the transposed gradient slowed the ReLU's backward).
                transposed = weight.transpose(1, 2), x.transpose(1, 2)
                return torch.baddbmm(bias.transpose(1, 2), *transposed).transpose(1, 2)
            x = _affine(x, weight, bias)
            if index == last:
                break
            if self.batch_norm:
                x = self._normalise(x, index, training=training)
                x = x * scales[index] + shifts[index]
            x = torch.relu(x)
            if training and self.dropout > 0:
                # One mask per network from its own generator, as a lone network draws it.
                shape = x.shape[1:]
                keep = torch.stack(
                    [torch.rand(shape, generator=g) >= self.dropout for g in self.generators]
                )
                x = x * keep / (1.0 - self.dropout)
        return x

    def mixing_columns(self) -> slice:
        """The columns of :attr:`flat` that hold the layer-mixing logits (empty without
        ``layers``)."""
        offset, rows, columns = self._layout[self._mix_index] if self.layers else (0, 0, 0)
        return slice(offset, offset + rows * columns)

    def layer_weights(self) -> torch.Tensor:
        """``[C, layers]`` each network's softmax weights over the input layers."""
        return torch.softmax(self._views(self._mix_index, 1)[0][:, 0, :], dim=1)

    def _mix(self, inputs: torch.Tensor) -> torch.Tensor:
        """Items of ``[layers, in]`` → per-network ``[C, ..., in]``, the weighted sum of the
        layers."""
        weights = self.layer_weights()
        shared = inputs.dim() == 3 + bool(self.attention)
        if shared:
            return torch.einsum("cl,...ld->c...d", weights, inputs)
        return torch.einsum("cl,c...ld->c...d", weights, inputs)

    def _attend(self, bags: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Bags → ``[C, n, in]``, each the attention-weighted mean of its real windows."""
        projection, bias, vector = self._views(len(self._layout) - 3, 3)
        *leading, n_windows, n_in = bags.shape
        windows = bags.reshape(*leading[:-1], -1, n_in)  # [(C,) n·windows, in]
        hidden = torch.tanh(_affine(windows, projection, bias))  # [C, n·windows, attention]
        scores = torch.bmm(hidden, vector).view(len(self.flat), -1, n_windows)
        if mask is not None:
            scores = scores.masked_fill(~mask, -math.inf)
        weights = torch.softmax(scores, dim=2)
        if bags.dim() == 3:
            return torch.einsum("cnw,nwd->cnd", weights, bags)
        return torch.einsum("cnw,cnwd->cnd", weights, bags)

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
        return (x - mean) / torch.sqrt(variance + _BATCH_NORM_EPSILON)

    @property
    def state(self) -> list[torch.Tensor]:
        """Every tensor that defines the networks: :attr:`flat`, then :attr:`buffers`."""
        return [self.flat, *self.buffers]

    def keep(self, rows: np.ndarray) -> None:
        """Drop every network but ``rows`` (new leaf tensors; generators follow)."""
        index = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        self.load([t.detach()[index] for t in self.state], [self.generators[r] for r in rows])

    def load(self, state: list[torch.Tensor], generators: list[torch.Generator]) -> None:
        """Replace every tensor by ``state`` (in :attr:`state` order) and the generators."""
        self.flat, *buffers = state
        half = len(buffers) // 2
        self.running_means, self.running_vars = buffers[:half], buffers[half:]
        self.generators = generators

    def select(self, index: int) -> StackedNetwork:
        """Network ``index`` alone, as a stack of one (tensors are views, not copies)."""
        single = object.__new__(StackedNetwork)
        single.sizes, single.dropout, single.batch_norm = self.sizes, self.dropout, self.batch_norm
        single.attention, single._layout = self.attention, self._layout
        single.layers, single._mix_index = self.layers, self._mix_index
        single.load([t[index : index + 1] for t in self.state], [self.generators[index]])
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
