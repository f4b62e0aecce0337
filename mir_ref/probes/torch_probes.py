"""Linear and MLP probes trained with PyTorch (Adam, early stopping on validation loss).

Both probes share one implementation: a ``linear`` probe is an MLP without hidden layers, and
a single fit is a stack of one network (:mod:`mir_ref.probes._stacked`), so that a grid of
settings × seeds trains as one batched computation with the same code. With ``pool`` set, a
probe learns from whole tracks given as bags of windows, pooled inside the network (mean, or
learned attention). Given several layers of a model per item (``[n, layers, dim]``), a probe
learns softmax weights over the layers with its classifier and reads their weighted sum
(SUPERB's weighted layer sum). Training never touches
global state: weights, dropout masks and batch order all come from a ``torch.Generator``
seeded from ``seed``, so the same seed gives bit-identical predictions on CPU and the caller's
``torch`` random state is left as it was.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mir_ref.errors import ComponentError
from mir_ref.probes.bags import Bags
from mir_ref.probes.base import Probe
from mir_ref.registry import register
from mir_ref.tasks import Task

# torch (and the stack trainer, which needs it) is imported where used: registering the
# probes, as resolving any config does, would otherwise cost every run ~1.3 s, a warm rerun
# included.
if TYPE_CHECKING:
    import torch

    from mir_ref.probes._stacked import Setting

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
# Units of the attention pooling's hidden layer (``pool: attention``), as in Ilse et al. 2018's
# attention-based MIL, where 64 to 128 units serve inputs of a few hundred dimensions.
ATTENTION_UNITS = 64
POOLS = ("mean", "attention")
"""Values of a torch probe's ``pool`` (see :class:`TorchProbe`)."""
HIDDEN_RULES = ("infer", "power_infer")
"""Names of hidden-layer sizes derived from the input and output sizes (see
:meth:`TorchProbe.hidden_sizes`)."""


class OneThread:
    """Context in which torch uses one intra-op thread; the caller's count comes back after.

    Counted, so that probes fitted concurrently in threads of one process restore the count
    only when the last of them leaves (torch's setting is process-wide). Changing the count
    costs ~20 ms (the thread pool is rebuilt), so a caller that fits and predicts many probes
    (the training stage) enters it once around all of them.
    """

    _lock = threading.Lock()
    _depth = 0
    _saved = 1

    def __enter__(self) -> None:
        # Deferred: loads torch, which many runs never need.
        import torch

        with OneThread._lock:
            if OneThread._depth == 0:
                OneThread._saved = torch.get_num_threads()
                if OneThread._saved != _TRAINING_THREADS:
                    torch.set_num_threads(_TRAINING_THREADS)
            OneThread._depth += 1

    def __exit__(self, *exc_info: object) -> None:
        # Deferred: loads torch, which many runs never need.
        import torch

        with OneThread._lock:
            OneThread._depth -= 1
            if OneThread._depth == 0 and torch.get_num_threads() != OneThread._saved:
                torch.set_num_threads(OneThread._saved)


def _diverged(
    probe: str, split: str, loss: float, epoch: int, learning_rate: float
) -> ComponentError:
    return ComponentError(
        f"probe '{probe}': {split} loss became {loss} at epoch {epoch} with "
        f"learning_rate={learning_rate}; lower the learning rate, or check the embeddings "
        "for extreme values"
    )


class TorchProbe(Probe):
    """Shared training of the ``linear`` and ``mlp`` probes (see :mod:`mir_ref.probes._stacked`).

    Subclasses are dataclasses that provide ``hidden``, ``dropout``, ``batch_norm``,
    ``batch_size``, ``pool`` and ``name``.

    ``pool`` (``mean`` or ``attention``; default unset) makes the probe learn from tracks
    given as :class:`~mir_ref.probes.bags.Bags` of windows: it pools each track's
    standardised windows itself (their mean, or attention weights learned with the
    classifier) and predicts one score per track. Unset, every input row is one item.

    Inputs of shape ``[n, layers, dim]`` (several layers of one model per item) make the probe
    learn a weighting of the layers: each layer is standardised on its own (so that a layer's
    scale does not buy it weight), the layers are summed with weights ``softmax(a)``, and
    ``a`` (zero at first: equal weights) is learned with the classifier.

    Learned state after :meth:`fit`: ``network_`` (a stack of one), ``mean_`` and ``std_``
    (``[dim]``, or ``[layers, dim]``, input standardisation), ``layer_weights_`` (``[layers]``
    softmax weights summing to 1; ``None`` for ``[n, dim]`` inputs), ``target_mean_`` and
    ``target_std_`` (regression), ``task_``, ``n_epochs_`` (epochs run), ``best_epoch_``
    (1-based epoch whose weights were kept) and ``best_validation_loss_``.
    """

    hidden: list[int] | str
    dropout: float
    batch_norm: bool
    batch_size: int | None
    pool: str | None
    name: str | None

    grid_parameters = ("learning_rate", "weight_decay")
    learns_layer_weights = True

    def __post_init__(self) -> None:
        hidden = [self.hidden] if isinstance(self.hidden, str) else list(self.hidden)
        rules = {size for size in hidden if isinstance(size, str)}
        mixed = len(rules) > 1 or (rules and not all(isinstance(h, str) for h in hidden))
        if rules - set(HIDDEN_RULES) or mixed:
            raise ValueError(
                f"hidden: must be a list of sizes, or one of "
                f"{', '.join(HIDDEN_RULES)} (alone or repeated once per layer) "
                f"(got {self.hidden!r})"
            )
        if not rules and any(size < 1 for size in hidden):
            raise ValueError(f"hidden: sizes must be >= 1 (got {self.hidden})")
        if self.pool is not None and self.pool not in POOLS:
            raise ValueError(
                f"pool: must be one of {', '.join(POOLS)}, or unset (got {self.pool!r})"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: must be in [0, 1) (got {self.dropout})")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(
                f"batch_size: must be >= 1, or null for full batch (got {self.batch_size})"
            )

    @property
    def takes_bags(self) -> bool:
        """Whether the probe pools windows itself (``pool`` set)."""
        return self.pool is not None

    def _pool_label(self) -> str:
        return {"mean": "-meanpool", "attention": "-attention"}.get(self.pool or "", "")

    def hidden_sizes(self, input_size: int, output_size: int) -> list[int]:
        """The hidden layer sizes for ``input_size`` inputs and ``output_size`` outputs.

        The original mir_ref's rules, for ``n`` layers (``hidden: [infer, infer]`` is two;
        ``hidden: infer`` one), each size rounded up to an even number:
        ``infer``: layer ``i`` (0-based) has ``output + (n - i) (input - output) / (n + 1)``
        units, evenly spaced from the input size down to the output size (``512 → 10``, one
        layer: ``[262]``). ``power_infer``: ``output + (i + 1)² (input - output) / (n + 1)``,
        growing quadratically (``512 → 10``, three layers: ``[136, 512, 1140]``).
        """
        hidden = [self.hidden] if isinstance(self.hidden, str) else list(self.hidden)
        if not hidden or not isinstance(hidden[0], str):
            return [int(size) for size in hidden]
        n = len(hidden)
        step = (input_size - output_size) / (n + 1)
        if hidden[0] == "infer":
            sizes = [int(output_size + (n - i) * step) for i in range(n)]
        else:
            sizes = [int(step * (i + 1) ** 2 + output_size) for i in range(n)]
        # The original rounds odd sizes up; sizes stay positive when input < output.
        return [max(2, size + size % 2) for size in sizes]

    def fit(
        self,
        x_train: np.ndarray | Bags,
        y_train: np.ndarray,
        x_validation: np.ndarray | Bags,
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
        x_train, x_validation : ``[n, dim]`` embeddings, or (with ``pool``) :class:`Bags` of
            ``n`` tracks' windows. Mean and std come from ``x_train`` (its windows). Items of
            ``[layers, dim]`` (``[n, layers, dim]``, or bags of such windows) make the probe
            learn a softmax weighting of the layers (``layer_weights_``).
        y_train, y_validation : labels (one per row, or per bag) as encoded by
            ``task.encode``: ``[n]`` int64 class
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
        # Deferred: loads torch, which many runs never need.
        from mir_ref.probes._stacked import Setting

        setting = Setting(learning_rate, weight_decay, int(seed))
        [fitted] = self._fit_stack(
            x_train,
            y_train,
            x_validation,
            y_validation,
            task=task,
            settings=[setting],
            epochs=epochs,
            patience=patience,
            strict=True,
        )
        vars(self).update(vars(fitted))
        return self

    def fit_grid(
        self,
        x_train: np.ndarray | Bags,
        y_train: np.ndarray,
        x_validation: np.ndarray | Bags,
        y_validation: np.ndarray,
        *,
        task: Task,
        settings: list[dict[str, Any]],
        seeds: list[int],
        epochs: int = 200,
        patience: int = 20,
        workers: int = 1,
    ) -> list[list[Probe | None]]:
        """Every setting × seed, trained as one batched computation per architecture.

        Settings that share the architecture (all keys but ``learning_rate`` and
        ``weight_decay``) form one :func:`~mir_ref.probes._stacked.train_stacked` call; a
        setting whose loss diverged gives ``None``. See :meth:`Probe.fit_grid`.

        With ``workers`` > 1, up to that many architectures' stacks train at once, each in
        its own thread on one intra-op thread (torch releases the GIL inside its operations).
        Each stack holds the same networks whatever ``workers`` is, so results are
        bit-identical across values. Intra-op threads were measured and not used: they pay an
        OpenMP barrier per operation, which made a 2-core run ~30× slower once another process
        used a core. Splitting one architecture's networks over several stacks was measured
        too: slower than intra-op threads on idle cores (the threads contend for the GIL), and
        MKL rounds batched products of other batch sizes differently in the last bits.
        """
        by_architecture: dict[str, list[int]] = {}
        for index, setting in enumerate(settings):
            architecture = {k: v for k, v in setting.items() if k not in self.grid_parameters}
            by_architecture.setdefault(json.dumps(architecture, sort_keys=True), []).append(index)
        # One stack per architecture: a probe variant and its networks' (setting, seed) indices.
        jobs = [
            (
                dataclasses.replace(self, **json.loads(architecture)),
                [(index, seed) for index in members for seed in range(len(seeds))],
            )
            for architecture, members in by_architecture.items()
        ]

        # Deferred: loads torch, which many runs never need.
        from mir_ref.probes._stacked import Setting

        def train(job: tuple[TorchProbe, list[tuple[int, int]]]) -> list[TorchProbe | None]:
            variant, networks = job
            stack = [
                Setting(
                    float(settings[index].get("learning_rate", 1e-3)),
                    float(settings[index].get("weight_decay", 0.0)),
                    int(seeds[seed]),
                )
                for index, seed in networks
            ]
            return variant._fit_stack(
                x_train,
                y_train,
                x_validation,
                y_validation,
                task=task,
                settings=stack,
                epochs=epochs,
                patience=patience,
                strict=False,
            )

        with OneThread():
            if workers == 1:
                results = [train(job) for job in jobs]
            else:
                # The largest stacks first, so that the threads finish together.
                dim = np.shape(self._windows(x_train))[-1]
                order = sorted(
                    range(len(jobs)),
                    key=lambda j: -len(jobs[j][1]) * sum(jobs[j][0].hidden_sizes(dim, dim) or [1]),
                )
                with ThreadPoolExecutor(workers) as pool:
                    done = dict(zip(order, pool.map(train, [jobs[j] for j in order]), strict=True))
                results = [done[j] for j in range(len(jobs))]
        fitted: list[list[Probe | None]] = [[None] * len(seeds) for _ in settings]
        for (_, networks), probes in zip(jobs, results, strict=True):
            for (index, seed), probe in zip(networks, probes, strict=True):
                fitted[index][seed] = probe
        return fitted

    def _fit_stack(
        self,
        x_train: np.ndarray | Bags,
        y_train: np.ndarray,
        x_validation: np.ndarray | Bags,
        y_validation: np.ndarray,
        *,
        task: Task,
        settings: list[Setting],
        epochs: int,
        patience: int,
        strict: bool,
    ) -> list[TorchProbe | None]:
        """One fitted copy of this probe per setting; ``None`` (or, if ``strict``, an error)
        where the loss diverged."""
        # Deferred: loads torch, which many runs never need.
        import torch

        # Deferred: loads torch, which many runs never need.
        from mir_ref.probes._stacked import train_stacked

        probe = self.label()
        for setting in settings:
            if epochs < 1 or patience < 1 or setting.learning_rate <= 0 or setting.weight_decay < 0:
                raise ValueError(
                    f"probe '{probe}': need epochs >= 1, patience >= 1, learning_rate > 0 and "
                    f"weight_decay >= 0 (got epochs={epochs}, patience={patience}, "
                    f"learning_rate={setting.learning_rate}, "
                    f"weight_decay={setting.weight_decay})"
                )
        x_train = self._check_input(x_train, "x_train")
        item_shape = self._windows(x_train).shape[1:]
        dim, layers = item_shape[-1], (item_shape[0] if len(item_shape) == 2 else 0)
        x_validation = self._check_input(x_validation, "x_validation", item_shape=item_shape)
        y_train = self._check_y(y_train, x_train, task, "y_train")
        y_validation = self._check_y(y_validation, x_validation, task, "y_validation")
        if len(x_train) == 0:
            raise ComponentError(f"probe '{probe}': the training set is empty")

        # Statistics in float64: a float32 sum over many rows loses digits.
        mean = self._windows(x_train).mean(axis=0, dtype=np.float64)
        std = self._windows(x_train).std(axis=0, dtype=np.float64)
        std[std < _MIN_STD] = 1.0
        self.mean_ = mean.astype(np.float32)
        self.std_ = std.astype(np.float32)
        self.target_mean_, self.target_std_ = 0.0, 1.0
        if not task.task_type.has_classes:  # values are standardised, as the inputs are
            self.target_mean_ = float(y_train.mean(dtype=np.float64))
            self.target_std_ = float(y_train.std(dtype=np.float64)) or 1.0
        self.task_ = task

        sizes = [dim, *self.hidden_sizes(dim, task.output_size), task.output_size]
        inputs, mask = self._network_input(x_train)
        validation_inputs, validation_mask = self._network_input(x_validation)
        with OneThread():
            result = train_stacked(
                inputs,
                torch.from_numpy(self._encode_targets(y_train, task)),
                validation_inputs,
                torch.from_numpy(self._encode_targets(y_validation, task)),
                task_type=task.type,
                sizes=sizes,
                settings=settings,
                dropout=self.dropout,
                batch_norm=self.batch_norm,
                batch_size=self.batch_size,
                epochs=epochs,
                patience=patience,
                attention=ATTENTION_UNITS if self.pool == "attention" else 0,
                layers=layers,
                mask=mask,
                validation_mask=validation_mask,
            )
        weights = result.network.layer_weights().detach().numpy() if layers else None
        fitted: list[TorchProbe | None] = []
        for index, setting in enumerate(settings):
            failure = result.diverged[index]
            if failure is not None:
                split, loss, epoch = failure
                error = _diverged(probe, split, loss, epoch, setting.learning_rate)
                if strict:
                    raise error
                logger.warning("%s", error)
                fitted.append(None)
                continue
            member = dataclasses.replace(self)
            vars(member).update(
                mean_=self.mean_,
                std_=self.std_,
                target_mean_=self.target_mean_,
                target_std_=self.target_std_,
                task_=task,
                network_=result.network.select(index),
                layer_weights_=None if weights is None else weights[index].astype(np.float64),
                n_epochs_=int(result.n_epochs[index]),
                best_epoch_=int(result.best_epoch[index]),
                best_validation_loss_=float(result.best_validation_loss[index]),
            )
            logger.debug(
                "probe %s, %s: %d epochs, best epoch %d, validation loss %.4g",
                probe,
                setting,
                member.n_epochs_,
                member.best_epoch_,
                member.best_validation_loss_,
            )
            fitted.append(member)
        return fitted

    def predict(self, x: np.ndarray | Bags) -> np.ndarray:
        """Scores for ``[n, dim]`` embeddings, or (with ``pool``) :class:`Bags` of ``n``
        tracks' windows (``[n, dim]`` embeddings are then bags of one window); ``[n, layers,
        dim]`` for a probe fitted on several layers.

        Returns
        -------
        ``[n, classes]`` float32 probabilities (softmax for multiclass and key, sigmoid for
        multilabel) or ``[n]`` float32 values in the units of the training targets
        (regression).
        """
        if not hasattr(self, "network_"):
            raise ComponentError(f"probe '{self.label()}' is not fitted; call fit() first")
        # Deferred: loads torch, which many runs never need.
        import torch

        checked = self._check_input(x, "x", item_shape=self.mean_.shape)
        inputs, mask = self._network_input(checked)
        with torch.no_grad(), OneThread():
            outputs = self.network_.forward(inputs, mask=mask)[0]
        activation = self.task_.task_type.activation
        if activation == "softmax":
            outputs = torch.softmax(outputs, dim=1)
        elif activation == "sigmoid":
            outputs = torch.sigmoid(outputs)
        else:
            outputs = outputs[:, 0] * self.target_std_ + self.target_mean_
        return outputs.numpy().astype(np.float32, copy=False)

    def _check_input(
        self, x: np.ndarray | Bags, what: str, *, item_shape: tuple[int, ...] | None = None
    ) -> np.ndarray | Bags:
        """Checked ``[n, dim]`` (or ``[n, layers, dim]``) embeddings, or with ``pool`` checked
        bags (rows become bags)."""
        if self.pool is None:
            if isinstance(x, Bags):
                raise ComponentError(
                    f"probe '{self.label()}': {what} is bags of windows, which only a probe "
                    f"with pool ({', '.join(POOLS)}) takes"
                )
            return self._check_x(x, what, item_shape=item_shape)
        bags = x if isinstance(x, Bags) else Bags.of_rows(np.asarray(x))
        windows = self._check_x(bags.windows, what, item_shape=item_shape)
        return Bags(windows, np.asarray(bags.owner, np.int64))

    @staticmethod
    def _windows(x: np.ndarray | Bags) -> np.ndarray:
        return x.windows if isinstance(x, Bags) else x

    def _network_input(self, x: np.ndarray | Bags) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Standardised network input and, for attention, the mask of real windows."""
        # Deferred: loads torch, which many runs never need.
        import torch

        if not isinstance(x, Bags):
            return torch.from_numpy(self._standardise(x)), None
        padded, mask = Bags(self._standardise(x.windows), x.owner).padded()
        if self.pool == "attention":
            return torch.from_numpy(padded), torch.from_numpy(mask)
        # Padding is zeros, so the sum over a bag is the sum of its windows.
        counts = np.maximum(mask.sum(axis=1), 1).reshape(-1, *[1] * (padded.ndim - 2))
        means = padded.sum(axis=1, dtype=np.float64) / counts
        return torch.from_numpy(means.astype(np.float32)), None

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean_) / self.std_).astype(np.float32, copy=False)

    def _encode_targets(self, y: np.ndarray, task: Task) -> np.ndarray:
        if task.task_type.one_class:
            return y.astype(np.int64, copy=False)
        if not task.task_type.has_classes:
            return ((y - self.target_mean_) / self.target_std_).astype(np.float32)[:, None]
        return y.astype(np.float32, copy=False)

    def _check_x(
        self, x: np.ndarray, what: str, *, item_shape: tuple[int, ...] | None = None
    ) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim not in (2, 3) or (item_shape is not None and x.shape[1:] != tuple(item_shape)):
            expected = "[n, dim] or [n, layers, dim]"
            if item_shape is not None:
                expected = f"[n, {', '.join(str(size) for size in item_shape)}]"
            raise ComponentError(
                f"probe '{self.label()}': {what} must have shape {expected} (got {x.shape})"
            )
        bad = ~np.isfinite(x).all(axis=tuple(range(1, x.ndim)))
        if bad.any():
            rows = np.flatnonzero(bad)
            raise ComponentError(
                f"probe '{self.label()}': {what} has NaN or infinite values in {len(rows)} "
                f"row(s) (first: {rows[:5].tolist()}); check the embedding model's output"
            )
        return x

    def _check_y(self, y: np.ndarray, x: np.ndarray, task: Task, what: str) -> np.ndarray:
        y = np.asarray(y)
        shape = task.task_type.label_shape(len(x), task.classes)
        if y.shape != shape:
            raise ComponentError(
                f"probe '{self.label()}', task '{task.name}' ({task.type}): {what} must have "
                f"shape {list(shape)} (got {list(y.shape)}); encode labels with task.encode()"
            )
        if task.task_type.one_class and len(y) and (y.min() < 0 or y.max() >= len(task.classes)):
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
    """Multi-layer perceptron (ReLU, optional dropout and batch norm) on standardised embeddings.

    Parameters
    ----------
    hidden : sizes of the hidden layers, e.g. ``[512, 128]``; or the original mir_ref's
        rules ``infer`` / ``power_infer``, alone (one layer) or repeated (``[infer, infer]``:
        two layers), see :meth:`TorchProbe.hidden_sizes`.
    dropout : probability of zeroing a hidden unit while training.
    batch_norm : batch normalisation before each hidden ReLU.
    batch_size : training items per Adam step; ``None`` for full batch.
    pool : ``mean`` or ``attention``: learn from whole tracks given as bags of windows
        (``embedding.pooling: none``), pooling them inside the probe; unset: every input row
        is one training item.
    name : the probe's name in results; ``mlp-<hidden sizes>`` when unset.
    """

    hidden: list[int] | list[Literal["infer", "power_infer"]] | Literal["infer", "power_infer"] = (
        field(default_factory=lambda: [256])
    )
    dropout: float = 0.0
    batch_norm: bool = False
    batch_size: int | None = 256
    pool: Literal["mean", "attention"] | None = None
    name: str | None = None

    def label(self) -> str:
        """``name``, or ``mlp-256``, ``mlp-512-128``, ``mlp-infer`` (``-dropout0.5``, ``-bn``,
        ``-meanpool`` or ``-attention`` appended when set)."""
        if self.name:
            return self.name
        sizes = [self.hidden] if isinstance(self.hidden, str) else self.hidden
        label = "-".join(["mlp", *(str(size) for size in sizes)])
        if self.dropout:
            label += f"-dropout{self.dropout:g}"
        if self.batch_norm:
            label += "-bn"
        return label + self._pool_label()


@register("probes", "linear")
@dataclass
class LinearProbe(TorchProbe):
    """Linear (logistic / softmax / least-squares) model on standardised embeddings.

    Parameters
    ----------
    batch_size : training items per Adam step; ``None`` for full batch.
    pool : ``mean`` or ``attention``, as for ``mlp``.
    name : the probe's name in results; ``linear`` when unset.
    """

    batch_size: int | None = 256
    pool: Literal["mean", "attention"] | None = None
    name: str | None = None
    hidden: list[int] = field(default_factory=list, init=False, repr=False)
    dropout: float = field(default=0.0, init=False, repr=False)
    batch_norm: bool = field(default=False, init=False, repr=False)

    def label(self) -> str:
        """``name``, or ``linear`` (``-meanpool`` or ``-attention`` appended when set)."""
        return self.name or "linear" + self._pool_label()
