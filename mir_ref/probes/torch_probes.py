"""Linear and MLP probes trained with PyTorch (Adam, early stopping on validation loss).

Both probes share one implementation: a ``linear`` probe is an MLP without hidden layers.
Training never touches global state: weights, dropout masks and batch order all come from one
``torch.Generator`` seeded from ``seed``, so the same seed gives bit-identical predictions on
CPU and the caller's ``torch`` random state is left as it was.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import torch
from torch import nn

from mir_ref.errors import ComponentError, ConfigError
from mir_ref.probes.base import Probe
from mir_ref.registry import register
from mir_ref.tasks import Task

logger = logging.getLogger(__name__)

# A feature whose training std is below this is constant; it is centred but not scaled, as in
# sklearn's StandardScaler, so that test values cannot be blown up by a near-zero divisor.
_MIN_STD = 1e-8
# Probes train on one intra-op thread. Each of the many small ops of a step (Adam's updates
# included) pays an OpenMP barrier, which costs milliseconds once other processes share the
# cores: with 2 threads on 2 busy cores a 300 x [100, 512, 128] MLP trained 8x slower and a
# 2500 x [1024, 512] one 20x slower than on one thread. Parallelism comes from running several
# probes at once instead.
_TRAINING_THREADS = 1


class _Network(nn.Module):
    """Fully connected layers with ReLU and (optional) dropout between them."""

    def __init__(self, sizes: list[int], *, dropout: float, generator: torch.Generator) -> None:
        super().__init__()
        # skip_init builds the layers without drawing from the global RNG; they are initialised
        # below from ``generator`` with PyTorch's default scheme, U(-1/sqrt(fan_in), +).
        self.layers = nn.ModuleList(
            nn.utils.skip_init(nn.Linear, n_in, n_out) for n_in, n_out in pairwise(sizes)
        )
        with torch.no_grad():
            for layer in self.layers:
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)
        self.dropout = dropout
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
            if self.training and self.dropout > 0:
                # nn.Dropout would draw from the global RNG.
                keep = torch.rand(x.shape, generator=self.generator) >= self.dropout
                x = x * keep / (1.0 - self.dropout)
        return self.layers[-1](x)


class _OneThread:
    """Context in which torch uses one intra-op thread; the caller's count comes back after.

    Counted, so that probes fitted concurrently in threads of one process restore the count
    only when the last of them leaves (torch's setting is process-wide).
    """

    _lock = threading.Lock()
    _depth = 0
    _saved = 1

    def __enter__(self) -> None:
        with _OneThread._lock:
            if _OneThread._depth == 0:
                _OneThread._saved = torch.get_num_threads()
                if _OneThread._saved != _TRAINING_THREADS:
                    torch.set_num_threads(_TRAINING_THREADS)
            _OneThread._depth += 1

    def __exit__(self, *exc_info: object) -> None:
        with _OneThread._lock:
            _OneThread._depth -= 1
            if _OneThread._depth == 0 and torch.get_num_threads() != _OneThread._saved:
                torch.set_num_threads(_OneThread._saved)


def _diverged(
    probe: str, split: str, loss: float, epoch: int, learning_rate: float
) -> ComponentError:
    return ComponentError(
        f"probe '{probe}': {split} loss became {loss} at epoch {epoch} with "
        f"learning_rate={learning_rate}; lower the learning rate, or check the embeddings "
        "for extreme values"
    )


def _loss_function(task: Task) -> nn.Module:
    if task.type in ("multiclass", "key"):
        return nn.CrossEntropyLoss()
    if task.type == "multilabel":
        return nn.BCEWithLogitsLoss()
    return nn.MSELoss()


class TorchProbe(Probe):
    """Shared training loop of the ``linear`` and ``mlp`` probes.

    Subclasses are dataclasses that provide ``hidden``, ``dropout``, ``batch_size`` and
    ``name``. Learned state after :meth:`fit`: ``network_``, ``mean_`` and ``std_`` (``[dim]``
    input standardisation), ``target_mean_`` and ``target_std_`` (regression), ``task_``,
    ``n_epochs_`` (epochs run), ``best_epoch_`` (1-based epoch whose weights were kept) and
    ``best_validation_loss_``.
    """

    hidden: list[int]
    dropout: float
    batch_size: int | None
    name: str | None

    def __post_init__(self) -> None:
        if any(size < 1 for size in self.hidden):
            raise ConfigError(
                f"probe '{self.label()}': hidden sizes must be >= 1 (got {self.hidden})"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(
                f"probe '{self.label()}': dropout must be in [0, 1) (got {self.dropout})"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(
                f"probe '{self.label()}': batch_size must be >= 1, or null for full batch "
                f"(got {self.batch_size})"
            )

    def fit(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_validation: np.ndarray,
        y_validation: np.ndarray,
        *,
        task: Task,
        seed: int = 0,
        epochs: int = 200,
        patience: int = 20,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> TorchProbe:
        """Train on standardised embeddings; stop when validation loss stops improving.

        Parameters
        ----------
        x_train, x_validation : ``[n, dim]`` embeddings. Mean and std come from ``x_train``.
        y_train, y_validation : labels as encoded by ``task.encode``: ``[n]`` int64 class
            indices (multiclass, key), ``[n, classes]`` 0/1 (multilabel), ``[n]`` values
            (regression, standardised with the training mean and std for the loss).
        task : the task; its type picks the loss (cross-entropy, binary cross-entropy, MSE).
        seed : seeds weight initialisation, dropout and batch order.
        epochs : the most passes over the training set.
        patience : stop after this many epochs without a lower validation loss; the weights of
            the best epoch are restored. With an empty validation set all epochs run.
        learning_rate, weight_decay : Adam's step size and L2 penalty.

        Returns
        -------
        self

        Raises
        ------
        ComponentError
            Non-finite embeddings or labels, mismatched shapes, or a loss that diverged.
        """
        probe = self.label()
        if epochs < 1 or patience < 1 or learning_rate <= 0 or weight_decay < 0:
            raise ConfigError(
                f"probe '{probe}': need epochs >= 1, patience >= 1, learning_rate > 0 and "
                f"weight_decay >= 0 (got epochs={epochs}, patience={patience}, "
                f"learning_rate={learning_rate}, weight_decay={weight_decay})"
            )
        x_train = self._check_x(x_train, "x_train")
        x_validation = self._check_x(x_validation, "x_validation", dim=x_train.shape[1])
        y_train = self._check_y(y_train, x_train, task, "y_train")
        y_validation = self._check_y(y_validation, x_validation, task, "y_validation")
        if len(x_train) == 0:
            raise ComponentError(f"probe '{probe}': the training set is empty")

        # Statistics in float64: a float32 sum over many rows loses digits.
        mean = x_train.mean(axis=0, dtype=np.float64)
        std = x_train.std(axis=0, dtype=np.float64)
        std[std < _MIN_STD] = 1.0
        self.mean_ = mean.astype(np.float32)
        self.std_ = std.astype(np.float32)
        self.target_mean_, self.target_std_ = 0.0, 1.0
        if task.type == "regression":
            self.target_mean_ = float(y_train.mean(dtype=np.float64))
            self.target_std_ = float(y_train.std(dtype=np.float64)) or 1.0
        self.task_ = task

        inputs = torch.from_numpy(self._standardise(x_train))
        targets = torch.from_numpy(self._encode_targets(y_train, task))
        validation_inputs = torch.from_numpy(self._standardise(x_validation))
        validation_targets = torch.from_numpy(self._encode_targets(y_validation, task))

        generator = torch.Generator().manual_seed(int(seed))
        sizes = [x_train.shape[1], *self.hidden, task.output_size]
        network = _Network(sizes, dropout=self.dropout, generator=generator)
        optimizer = torch.optim.Adam(
            network.parameters(), lr=learning_rate, weight_decay=weight_decay
        )
        loss_function = _loss_function(task)
        n_train = len(inputs)
        batch_size = min(self.batch_size or n_train, n_train)

        best_loss, best_epoch, best_state = math.inf, 0, None
        epoch = 0
        with _OneThread():
            for epoch in range(1, epochs + 1):
                network.train()
                order = (
                    torch.randperm(n_train, generator=generator)
                    if batch_size < n_train
                    else torch.arange(n_train)
                )
                for start in range(0, n_train, batch_size):
                    batch = order[start : start + batch_size]
                    loss = loss_function(network(inputs[batch]), targets[batch])
                    if not torch.isfinite(loss):
                        raise _diverged(probe, "training", loss.item(), epoch, learning_rate)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                if len(validation_inputs) == 0:
                    continue
                network.eval()
                with torch.no_grad():
                    validation_loss = loss_function(
                        network(validation_inputs), validation_targets
                    ).item()
                if not math.isfinite(validation_loss):
                    raise _diverged(probe, "validation", validation_loss, epoch, learning_rate)
                if validation_loss < best_loss:
                    best_loss, best_epoch = validation_loss, epoch
                    best_state = {k: v.clone() for k, v in network.state_dict().items()}
                elif epoch - best_epoch >= patience:
                    break
        if best_state is not None:
            network.load_state_dict(best_state)
        else:
            best_epoch = epoch
        network.eval()
        self.network_ = network
        self.n_epochs_ = epoch
        self.best_epoch_ = best_epoch
        self.best_validation_loss_ = best_loss if best_state is not None else math.nan
        logger.debug(
            "probe %s: %d epochs, best epoch %d, validation loss %.4g",
            probe,
            self.n_epochs_,
            self.best_epoch_,
            self.best_validation_loss_,
        )
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scores for ``[n, dim]`` embeddings.

        Returns
        -------
        ``[n, classes]`` float32 probabilities (softmax for multiclass and key, sigmoid for
        multilabel) or ``[n]`` float32 values in the units of the training targets
        (regression).
        """
        if not hasattr(self, "network_"):
            raise ComponentError(f"probe '{self.label()}' is not fitted; call fit() first")
        x = self._check_x(x, "x", dim=len(self.mean_))
        inputs = torch.from_numpy(self._standardise(x))
        with torch.no_grad(), _OneThread():
            outputs = self.network_(inputs)
        if self.task_.type in ("multiclass", "key"):
            outputs = torch.softmax(outputs, dim=1)
        elif self.task_.type == "multilabel":
            outputs = torch.sigmoid(outputs)
        else:
            outputs = outputs[:, 0] * self.target_std_ + self.target_mean_
        return outputs.numpy().astype(np.float32, copy=False)

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean_) / self.std_).astype(np.float32, copy=False)

    def _encode_targets(self, y: np.ndarray, task: Task) -> np.ndarray:
        if task.type in ("multiclass", "key"):
            return y.astype(np.int64, copy=False)
        if task.type == "regression":
            return ((y - self.target_mean_) / self.target_std_).astype(np.float32)[:, None]
        return y.astype(np.float32, copy=False)

    def _check_x(self, x: np.ndarray, what: str, *, dim: int | None = None) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or (dim is not None and x.shape[1] != dim):
            expected = f"[n, {dim}]" if dim is not None else "[n, dim]"
            raise ComponentError(
                f"probe '{self.label()}': {what} must have shape {expected} (got {x.shape})"
            )
        bad = ~np.isfinite(x).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise ComponentError(
                f"probe '{self.label()}': {what} has NaN or infinite values in {len(rows)} "
                f"row(s) (first: {rows[:5].tolist()}); check the embedding model's output"
            )
        return x

    def _check_y(self, y: np.ndarray, x: np.ndarray, task: Task, what: str) -> np.ndarray:
        y = np.asarray(y)
        shapes = {
            "multiclass": (len(x),),
            "key": (len(x),),
            "multilabel": (len(x), len(task.classes)),
            "regression": (len(x),),
        }
        if y.shape != shapes[task.type]:
            raise ComponentError(
                f"probe '{self.label()}', task '{task.name}' ({task.type}): {what} must have "
                f"shape {list(shapes[task.type])} (got {list(y.shape)}); encode labels with "
                "task.encode()"
            )
        if (
            task.type in ("multiclass", "key")
            and len(y)
            and (y.min() < 0 or y.max() >= len(task.classes))
        ):
            raise ComponentError(
                f"probe '{self.label()}', task '{task.name}': {what} has class indices outside "
                f"[0, {len(task.classes)})"
            )
        if not np.isfinite(y).all():
            raise ComponentError(
                f"probe '{self.label()}', task '{task.name}': {what} has NaN or infinite values"
            )
        return y


@register("probes", "mlp")
@dataclass
class MLPProbe(TorchProbe):
    """Multi-layer perceptron (ReLU, optional dropout) on standardised embeddings.

    Parameters
    ----------
    hidden : sizes of the hidden layers, e.g. ``[512, 128]``.
    dropout : probability of zeroing a hidden unit while training.
    batch_size : training items per Adam step; ``None`` for full batch.
    name : the probe's name in results; ``mlp-<hidden sizes>`` when unset.
    """

    hidden: list[int] = field(default_factory=lambda: [256])
    dropout: float = 0.0
    batch_size: int | None = 256
    name: str | None = None

    def label(self) -> str:
        """``name``, or ``mlp-256``, ``mlp-512-128`` (``-dropout0.5`` appended if set)."""
        if self.name:
            return self.name
        label = "-".join(["mlp", *(str(size) for size in self.hidden)])
        return f"{label}-dropout{self.dropout:g}" if self.dropout else label


@register("probes", "linear")
@dataclass
class LinearProbe(TorchProbe):
    """Linear (logistic / softmax / least-squares) model on standardised embeddings.

    Parameters
    ----------
    batch_size : training items per Adam step; ``None`` for full batch.
    name : the probe's name in results; ``linear`` when unset.
    """

    batch_size: int | None = 256
    name: str | None = None
    hidden: list[int] = field(default_factory=list, init=False, repr=False)
    dropout: float = field(default=0.0, init=False, repr=False)

    def label(self) -> str:
        """``name``, or ``linear``."""
        return self.name or "linear"
