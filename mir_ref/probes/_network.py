"""The stacked network: ``C`` fully connected networks of one architecture whose weights are
stacked as ``[C, in, out]`` tensors, so that one batched matrix product runs a step of all of
them. :mod:`mir_ref.probes._stacked` trains it (with autograd, or for plain stacks with the
explicit backward pass of :mod:`mir_ref.probes._backprop`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch

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
