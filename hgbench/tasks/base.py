"""Reusable building blocks for tasks: an in-memory supervised :class:`Problem` and a
scale-parameterised :class:`Task` base.

:class:`SupervisedProblem` holds train/val/test tensors on the problem's device, a model
*factory* (an ``nn.Module`` is built once as a functional template; its parameters live in the
flat vector ``w``), a per-example loss and per-example metrics. Everything a method calls is a
pure ``torch.func`` composition, so it runs under ``grad``, ``jvp(grad(...))`` and ``vmap`` over a
leading init dimension of ``w`` *and* ``mstate`` (batch-norm buffers must be batched together
with the weights, since the model updates its clones of them in place).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.func import functional_call

from hgbench.spec import Batch, CostCounter, ModelState, ParamLayout, Problem, Split, Stream, Task
from hgbench.tasks import fused
from hgbench.tasks.models import FlatForward, flat_forward

#: ``(outputs, targets) -> per-example values [N]``
PerExample = Callable[[Tensor, Tensor], Tensor]


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from a tuple of values, stable across processes (unlike ``hash``)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def epoch_permutation(n: int, data_seed: int, epoch: int, stream: str = "train") -> Tensor:
    """The example order of one epoch: ``randperm(n)`` from a generator seeded by
    ``(data_seed, stream, epoch)`` (CPU, int64)."""
    gen = torch.Generator().manual_seed(stable_seed(data_seed, stream, epoch))
    return torch.randperm(n, generator=gen, device="cpu")


@dataclass(frozen=True)
class SplitData:
    """Inputs and targets of one split (any device/dtype; moved by the problem)."""

    inputs: Tensor
    targets: Tensor

    def __post_init__(self) -> None:
        if self.inputs.shape[0] != self.targets.shape[0]:
            raise ValueError(
                f"inputs and targets disagree on the number of examples: "
                f"{self.inputs.shape[0]} vs {self.targets.shape[0]}"
            )

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


class SupervisedProblem(Problem):
    """A supervised problem over in-memory tensors (see the module docstring).

    ``loss_fn`` and each metric return per-example values; the training loss is their mean and
    ``evaluate`` averages them over the whole split (chunked by ``eval_chunk`` examples), so a
    metric such as unnormalised MSE folds its scale into the per-example function.
    """

    def __init__(
        self,
        *,
        name: str,
        model_factory: Callable[[], nn.Module],
        train: SplitData,
        val: SplitData,
        test: SplitData,
        loss_fn: PerExample,
        metrics: Mapping[str, PerExample],
        metric: str,
        lower_is_better: bool = True,
        batch_size: int | None = None,
        val_batch_size: int | None = None,
        data_seed: int = 0,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        train_split: str = "train",
        divergence_threshold: float | None = None,
        eval_chunk: int = 10_000,
        grad_clip: float | None = None,
    ) -> None:
        if metric != "loss" and metric not in metrics:
            raise ValueError(f"metric {metric!r} is not among the metrics {sorted(metrics)}")
        for label, split in (("train", train), ("val", val), ("test", test)):
            if len(split) == 0:
                raise ValueError(f"{name}: the {label} split is empty")
        for label, bs, split in (("batch_size", batch_size, train), ("val", val_batch_size, val)):
            if bs is not None and not 1 <= bs <= len(split):
                raise ValueError(f"{name}: {label}={bs} must be in [1, {len(split)}] or None")
        self.name = name
        self.device = torch.device(device)
        self.dtype = dtype
        self.counter = CostCounter()
        self.metric = metric
        self.lower_is_better = lower_is_better
        self.divergence_threshold = divergence_threshold
        self.grad_clip = grad_clip
        self.data_seed = data_seed
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size
        self.eval_chunk = eval_chunk
        self._factory = model_factory
        self._loss_fn = loss_fn
        self._metrics = dict(metrics)
        if train_split not in ("train", "train+val"):
            raise ValueError(
                f"{name}: train_split must be 'train' or 'train+val', got {train_split!r}"
            )
        if train_split == "train+val":  # validation rows join training; val itself unchanged
            train = SplitData(
                torch.cat([train.inputs, val.inputs]), torch.cat([train.targets, val.targets])
            )
        self.train_split = train_split
        self._splits = {
            "train": self._to_device(train),
            "val": self._to_device(val),
            "test": self._to_device(test),
        }
        # The template module: only its structure, training flag and buffer names are used.
        self.model = self._build_model()
        self.layout = ParamLayout.from_module(self.model)
        #: the model family's forward from the flat weights, if it has one (an MLP)
        self._flat_forward: FlatForward | None = flat_forward(self.model, self.layout)
        self._buffer_names = tuple(n for n, _ in self.model.named_buffers())
        #: fused gradient and HVP kernels for batched inits, if they apply (UCI MLP on CPU)
        self._fused = fused.for_mlp(self._flat_forward, loss_fn, self.device, self.dtype)
        self._perm_cache: dict[tuple[str, int], Tensor] = {}
        #: each split as one batch (the same object every call), made here, not on first use:
        #: a compiled step (hgbench.bench.compiled) guards on this dict, and filling it lazily
        #: inside the step recompiled it at the second hyper-step
        self._full: dict[str, Batch] = {
            name: Batch(split.inputs, split.targets) for name, split in self._splits.items()
        }

    # ------------------------------------------------------------------ construction
    def _to_device(self, split: SplitData) -> SplitData:
        x = split.inputs.to(self.device)
        if x.is_floating_point():
            x = x.to(self.dtype)
        y = split.targets.to(self.device)
        if y.is_floating_point():
            y = y.to(self.dtype)
        return SplitData(x, y)

    def _build_model(self) -> nn.Module:
        return self._factory().to(device=self.device, dtype=self.dtype)

    def num_examples(self, split: Split) -> int:
        return len(self._splits[split])

    # ------------------------------------------------------------------ weights and state
    def init_weights(self, seed: int) -> Tensor:
        """The model's default PyTorch initialisation under ``torch.manual_seed(seed)`` (on
        the CPU, then cast), flattened to ``[P]``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = self._factory()
        params = dict(module.named_parameters())
        return self.layout.flatten(params).detach().to(self.device, self.dtype)

    def init_model_state(self) -> ModelState:
        buffers = {
            n: b.detach().clone().to(self.device) for n, b in self._factory().named_buffers()
        }
        buffers = {n: b.to(self.dtype) if b.is_floating_point() else b for n, b in buffers.items()}
        return {"buffers": buffers, "carry": {}}

    # ------------------------------------------------------------------ forward
    def _forward(self, w: Tensor, buffers: Mapping[str, Tensor], x: Tensor, train: bool) -> Tensor:
        """The model's output at flat weights ``w``: its family's flat forward where it has
        one (no buffers, the same in both modes), else ``functional_call`` on the template."""
        if self._flat_forward is not None:
            return self._flat_forward(w, x)
        self.model.train(train)
        params = self.layout.unflatten(w)
        return functional_call(self.model, (params, dict(buffers)), (x,))

    def loss(
        self, w: Tensor, mstate: ModelState, batch: Batch, stream: Stream = "train"
    ) -> tuple[Tensor, ModelState]:
        """Mean per-example loss in training mode. Buffers are cloned and updated by the
        module; the updated clones are returned for ``stream="train"``, the incoming
        buffers for ``stream="val"``."""
        buffers = mstate.get("buffers", {})
        clones = {n: b.clone() for n, b in buffers.items()}
        out = self._forward(w, clones, batch.inputs, train=True)
        loss = self._loss_fn(out, batch.targets).mean()
        new_buffers = clones if stream == "train" else dict(buffers)
        return loss, {**mstate, "buffers": new_buffers}

    def fused_value_and_grad(
        self, w: Tensor, mstate: ModelState, batch: Batch, stream: Stream = "train"
    ) -> tuple[Tensor, Tensor, ModelState] | None:
        """The fused kernel's loss and gradient (``hgbench.tasks.fused``) where it applies to
        this model, loss, batch and machine, else None. The model has no buffers there, so the
        new model state is the one ``loss`` returns for either stream."""
        if self._fused is None or not fused.available(self.dtype):
            return None
        out = self._fused.value_and_grad(w, batch.inputs, batch.targets)
        return None if out is None else (*out, {**mstate, "buffers": {}})

    def fused_hvp(
        self, w: Tensor, mstate: ModelState, batch: Batch, v: Tensor, stream: Stream = "train"
    ) -> Tensor | None:
        """The fused kernel's Hessian-vector product where it applies (as
        :meth:`fused_value_and_grad`), else None."""
        if self._fused is None or not fused.available(self.dtype):
            return None
        return self._fused.hvp(w, v, batch.inputs, batch.targets)

    # ------------------------------------------------------------------ data order
    def _perm(self, stream: str, n: int, epoch: int) -> Tensor:
        key = (stream, epoch)
        perm = self._perm_cache.get(key)
        if perm is None:
            if len(self._perm_cache) >= 4:
                self._perm_cache.pop(next(iter(self._perm_cache)))
            perm = epoch_permutation(n, self.data_seed, epoch, stream).to(self.device)
            self._perm_cache[key] = perm
        return perm

    def _batch(self, stream: Split, bs: int | None, i: int) -> Batch:
        if i < 0:
            raise ValueError(f"batch index must be >= 0, got {i}")
        split = self._splits[stream]
        if bs is None:
            return self._full[stream]
        per_epoch = len(split) // bs
        epoch, j = divmod(i, per_epoch)
        idx = self._perm(stream, len(split), epoch)[j * bs : (j + 1) * bs]
        return Batch(split.inputs[idx], split.targets[idx])

    def train_batch(self, t: int) -> Batch:
        """Batch ``t``: epoch ``t // steps_per_epoch`` in a seeded order, last partial batch
        dropped; the whole training split (the same object every time) when full batch."""
        return self._batch("train", self.batch_size, t)

    def val_batch(self, i: int) -> Batch:
        """Validation batch ``i``, ordered like :meth:`train_batch` on the validation split."""
        return self._batch("val", self.val_batch_size, i)

    @property
    def steps_per_epoch(self) -> int:
        if self.batch_size is None:
            return 1
        return len(self._splits["train"]) // self.batch_size

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, w: Tensor, mstate: ModelState, split: Split) -> dict[str, Tensor]:
        """Mean loss and metrics over the whole split in evaluation mode (chunked)."""
        if split not in self._splits:
            raise ValueError(f"unknown split {split!r}; expected train, val or test")
        data = self._splits[split]
        buffers = mstate.get("buffers", {})
        n = len(data)
        sums: dict[str, Tensor] = {}
        for start in range(0, n, self.eval_chunk):
            x = data.inputs[start : start + self.eval_chunk]
            y = data.targets[start : start + self.eval_chunk]
            out = self._forward(w, buffers, x, train=False)
            values = {"loss": self._loss_fn(out, y)}
            values.update({k: f(out, y) for k, f in self._metrics.items()})
            for k, v in values.items():
                s = v.sum()
                sums[k] = s if k not in sums else sums[k] + s
        self.model.train(True)
        return {k: (v / n).detach() for k, v in sums.items()}


def take(value: int | None, available: int, name: str, key: str) -> int:
    """``value`` examples of ``available`` (all when None), or a clear error if too many."""
    if value is None:
        return available
    if value > available:
        raise ValueError(f"{key}: {name}={value} exceeds the {available} available examples")
    return value


class ScaledTask(Task):
    """A task whose scale parameters are declared as data: ``scales[scale]`` holds every
    parameter's default at that scale; overrides must name known parameters and are
    type-checked against the default (``None`` defaults accept ints; ``*subset`` parameters
    accept ``None`` for "all")."""

    scales: ClassVar[dict[str, dict[str, Any]]]

    def __init__(self, scale: str = "small", **overrides: Any) -> None:
        if scale not in self.scales:
            raise ValueError(
                f"{self.key}: unknown scale {scale!r}; valid scales: {', '.join(self.scales)}"
            )
        defaults = self.scales[scale]
        unknown = sorted(set(overrides) - set(defaults))
        if unknown:
            raise ValueError(
                f"{self.key}: unknown scale parameter(s) {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(defaults))}"
            )
        for k, v in overrides.items():
            self._check(k, v, defaults[k])
        super().__init__(scale, **overrides)
        self.params: dict[str, Any] = {**defaults, **overrides}

    def _check(self, name: str, value: Any, default: Any) -> None:
        if isinstance(default, bool) or isinstance(value, bool):
            ok = isinstance(value, bool) and isinstance(default, bool)
        elif isinstance(default, int) or default is None:
            ok = value is None or isinstance(value, int)
            if ok and value is not None and value < 1:
                raise ValueError(f"{self.key}: {name}={value} must be a positive integer")
            ok = ok and (value is not None or default is None or name.endswith("subset"))
        elif isinstance(default, float):
            ok = isinstance(value, (int, float))
        else:
            ok = isinstance(value, type(default))
        if not ok:
            raise ValueError(
                f"{self.key}: {name}={value!r} has the wrong type; default is {default!r}"
            )

    @property
    def budget_steps(self) -> int:
        return int(self.params["steps"])

    def config(self) -> dict[str, Any]:
        return {"task": self.key, "scale": self.scale, **self.params}
