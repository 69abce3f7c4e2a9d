"""The contracts between tasks, methods and the harness, in one readable file.

A *task* (``hgbench.tasks``) is data + model + loss + metric + budget. The harness builds it
into a :class:`Problem` for one device, dtype and data seed; a *method* (``hgbench.methods``)
only ever sees that :class:`Problem`.

Everything a method touches is functional so that N paired initialisations can be stepped
together under ``torch.func.vmap`` (issue "batched inits"):

* weights are one flat vector ``w`` of shape ``[P]`` (:class:`ParamLayout` maps it to the
  model's named tensors as views, so every optimizer update is a handful of whole-vector ops);
* model state (batch-norm running statistics, the LSTM hidden state carried across batches)
  is an explicit pytree :data:`ModelState`, passed in and returned, never mutated in place;
* a method's own state (weights, optimizer buffers, hyperparameters in transformed space,
  whatever it needs) is a pytree :data:`State` of tensors; ``Method.step`` is a pure function
  of it and the Python step index ``t``: no ``.item()``, no branching on tensor values.

Data access is random-access and deterministic given the problem's data seed:
``problem.train_batch(t)`` is the batch of weight step ``t``, so a method may replay batches
(reversible learning does) and batched inits share the same data order.
"""

from __future__ import annotations

import dataclasses
import functools
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

#: A pytree (nested dicts / tuples) of tensors.
Tree = Any
#: Explicit model state: ``{"buffers": {name: tensor}, "carry": {stream: tree}}``.
ModelState = dict[str, Any]
#: A method's whole state: a dict pytree of tensors.
State = dict[str, Any]
#: Which data stream a loss is computed on. Streams keep separate recurrent carries.
Stream = Literal["train", "val"]
#: Evaluation splits.
Split = Literal["train", "val", "test"]


@dataclass(frozen=True)
class Batch:
    """One minibatch: model inputs and targets (already on the problem's device)."""

    inputs: Tensor
    targets: Tensor


@dataclass
class CostCounter:
    """Exact counts of the expensive operations a method performed, per initialisation.

    Counts are incremented in Python when an operation is *issued*, so under ``vmap`` one
    increment stands for the same operation on every init of the batch: the counts are per
    init. ``forward`` counts forward passes that are not part of a counted gradient or HVP.
    """

    forward: int = 0
    gradient: int = 0
    hvp: int = 0

    def add(self, *, forward: int = 0, gradient: int = 0, hvp: int = 0) -> None:
        self.forward += forward
        self.gradient += gradient
        self.hvp += hvp

    def as_dict(self) -> dict[str, int]:
        return {"forward": self.forward, "gradient": self.gradient, "hvp": self.hvp}

    def reset(self) -> None:
        self.forward = self.gradient = self.hvp = 0


@dataclass(frozen=True)
class ParamLayout:
    """Maps a flat weight vector to a model's named parameter tensors (as views).

    ``groups`` assigns each tensor a layer index (weights and bias of one layer share it);
    per-layer hyperparameters are expanded to the flat vector with :meth:`expand`.
    """

    names: tuple[str, ...]
    shapes: tuple[torch.Size, ...]
    groups: tuple[int, ...] = ()

    @classmethod
    def from_module(cls, module: torch.nn.Module) -> ParamLayout:
        names, shapes, groups, layer_of = [], [], [], {}
        for name, p in module.named_parameters():
            names.append(name)
            shapes.append(p.shape)
            owner = name.rsplit(".", 1)[0] if "." in name else name
            groups.append(layer_of.setdefault(owner, len(layer_of)))
        return cls(tuple(names), tuple(shapes), tuple(groups))

    @functools.cached_property
    def numels(self) -> tuple[int, ...]:
        """Number of elements of each tensor (computed once: ``unflatten`` runs every step)."""
        return tuple(int(torch.Size(s).numel()) for s in self.shapes)

    @functools.cached_property
    def size(self) -> int:
        return sum(self.numels)

    @property
    def num_groups(self) -> int:
        return max(self.groups) + 1 if self.groups else 0

    def unflatten(self, w: Tensor) -> dict[str, Tensor]:
        """Views of ``w`` (shape ``[P]``) shaped as the model's parameters."""
        return {
            n: t.view(s)
            for n, t, s in zip(self.names, w.split(self.numels), self.shapes, strict=True)
        }

    def flatten(self, tensors: Mapping[str, Tensor]) -> Tensor:
        return torch.cat([tensors[n].reshape(-1) for n in self.names])

    def tensor_ids(self, device: torch.device | str | None = None) -> Tensor:
        """Index of the tensor each flat element belongs to (shape ``[P]``, int64)."""
        return torch.repeat_interleave(  # output_size: no host read of the counts
            torch.arange(len(self.names), device=device),
            torch.tensor(self.numels, device=device),
            output_size=self.size,
        )

    def group_ids(self, device: torch.device | str | None = None) -> Tensor:
        """Index of the layer each flat element belongs to (shape ``[P]``, int64)."""
        per_tensor = torch.tensor(self.groups, device=device)
        return per_tensor[self.tensor_ids(device)]


class Problem(ABC):
    """A task built for one device, dtype and data seed: all a method may use.

    Implemented by ``hgbench.tasks``; consumed by ``hgbench.methods`` and the harness.
    ``loss`` is pure and vmappable and counts nothing: methods differentiate it through the
    helpers of ``hgbench.methods.core.diff``, which increment ``counter``.
    """

    #: task key, e.g. ``"uci_energy"``
    name: str
    layout: ParamLayout
    counter: CostCounter
    device: torch.device
    dtype: torch.dtype
    #: max global gradient norm applied by the optimizer core (PTB: 0.25), or None
    grad_clip: float | None = None
    #: name of the reported metric in ``evaluate``'s output and whether lower is better
    metric: str = "loss"
    lower_is_better: bool = True
    #: final metric values above this count as diverged in reports (None: only non-finite)
    divergence_threshold: float | None = None
    #: whether ``loss`` may run under ``torch.func.vmap`` (e.g. cuDNN LSTMs may not)
    supports_batching: bool = True

    @abstractmethod
    def init_weights(self, seed: int) -> Tensor:
        """Freshly initialised flat weights ``[P]`` (the model's default init, seeded)."""

    @abstractmethod
    def init_model_state(self) -> ModelState:
        """Initial buffers and zeroed recurrent carries for each stream."""

    @abstractmethod
    def loss(
        self, w: Tensor, mstate: ModelState, batch: Batch, stream: Stream = "train"
    ) -> tuple[Tensor, ModelState]:
        """Mean training-objective loss of ``batch`` at weights ``w`` and the new model state.

        ``stream="train"`` runs the model in training mode and updates buffers and the train
        carry; ``stream="val"`` is for hypergradient objectives: same mode, but it advances only
        the val carry and leaves buffers unchanged. Incoming carries are detached.
        """

    @abstractmethod
    def train_batch(self, t: int) -> Batch:
        """The minibatch of weight step ``t`` (deterministic given the data seed)."""

    @abstractmethod
    def val_batch(self, i: int) -> Batch:
        """The ``i``-th validation minibatch a method may use for hypergradients."""

    @abstractmethod
    def evaluate(self, w: Tensor, mstate: ModelState, split: Split) -> dict[str, Tensor]:
        """Metrics on a whole split in evaluation mode, as 0-d tensors.

        Always includes ``"loss"`` and ``self.metric``. Pure and vmappable when
        ``supports_batching``. Not counted in the cost counters.
        """

    def fused_value_and_grad(
        self, w: Tensor, mstate: ModelState, batch: Batch, stream: Stream = "train"
    ) -> tuple[Tensor, Tensor, ModelState] | None:
        """Optional: ``loss``, its gradient in ``w`` and the new model state from a fused
        kernel, or None where the problem has none (the default) or it does not apply.

        :func:`hgbench.methods.core.diff.value_and_grad` calls it only under ``vmap`` alone
        (no ``grad``/``jvp`` transform active) and on weights nothing differentiates through;
        it must then equal ``torch.func.grad`` of ``loss`` to rounding. The counter is the
        caller's: this counts nothing.
        """
        return None

    def fused_hvp(
        self, w: Tensor, mstate: ModelState, batch: Batch, v: Tensor, stream: Stream = "train"
    ) -> Tensor | None:
        """Optional: the Hessian of ``loss`` at ``w`` times ``v`` from a fused kernel, or None
        (the default). Called by :func:`hgbench.methods.core.diff.hvp` under the same
        conditions as :meth:`fused_value_and_grad` (``v`` also free of autograd history); it
        must equal ``jvp(grad(loss))`` to rounding. Counts nothing."""
        return None

    @property
    def steps_per_epoch(self) -> int:
        return 1


@dataclass(frozen=True)
class InitialHyper:
    """Initial natural hyperparameters of one paired init (the same for every method)."""

    index: int
    lr: float
    weight_decay: float
    momentum: float

    def as_dict(self) -> dict[str, float]:
        return {"lr": self.lr, "weight_decay": self.weight_decay, "momentum": self.momentum}


class Method(ABC):
    """A training algorithm that may tune its own hyperparameters: one pure step at a time.

    **Declaring a method.** Subclass, set ``key`` and a docstring opening with the algorithm's
    name and full citation, declare each setting once as an annotated class attribute (with
    :func:`hgbench.settings.setting` for checks and a doc line), and implement ``init``,
    ``step`` and ``hyperparameters``. Every subclass is made a dataclass: the declarations are
    the constructor's keyword arguments, they are validated on construction (a ``ValueError``
    naming the method and the setting), and :meth:`settings` returns their resolved values,
    which are stored with every run. Cross-setting checks and derived defaults go in
    :meth:`resolve`.

    **The runner's contract** (checked by the runner; a violation is an error naming the
    method and the key):

    * ``init(problem, w0, mstate, hyper)`` returns the state: a dict pytree of tensors on the
      problem's device. For a method with ``supports_batching`` its *structure* (keys,
      nesting, and each leaf's shape and dtype) is fixed: ``step`` must return a state of
      exactly the structure ``init`` made, because N batched inits are stacked leaf by leaf
      and stepped under ``torch.func.vmap``.
    * ``step(problem, state, t)`` is called for ``t = 0 .. budget - 1``; it returns the new
      state and the training loss of the batch it used (a 0-d tensor). It is pure: no
      ``.item()``, no Python branching on tensor values, no in-place updates of its inputs;
      Python branching on ``t`` is fine.
    * ``weights(state)`` returns the flat weights ``[P]`` and model state to evaluate (default:
      ``state["w"]``, ``state["mstate"]``); ``hyperparameters(state)`` returns 0-d tensors.
    * ``state["hypergrad"]``, when present, is a dict ``name -> tensor``: the last
      hypergradient, in the method's raw hyperparameter space.
    * ``budget_steps``: None to run the task's budget, or the weight steps of the whole run when
      the method fixes its own run length (reversible: ``meta_iterations × horizon``).
    * ``finalize(problem, state)`` is called once after the last step.
    """

    key: ClassVar[str]
    #: whether ``step`` may run under ``torch.func.vmap`` over a leading init dimension
    supports_batching: ClassVar[bool] = True
    #: how many weight-training runs one run of this method costs (random search: N)
    runs_per_init: ClassVar[int] = 1
    #: whether the method looks at validation data (if not, a paper protocol may train it on
    #: train+val: the suite key ``baseline_train_split``)
    uses_validation: ClassVar[bool] = True
    #: whether :meth:`phase` names more than one phase (the runner then times each step)
    has_phases: ClassVar[bool] = False
    #: whether the cost counters see every gradient, HVP and forward pass (False: the method
    #: differentiates outside the counted helpers, e.g. through ``higher``; stored per run)
    counts_exact: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        generated = "__init__" not in cls.__dict__
        dataclasses.dataclass(cls, eq=False)
        if generated:  # unknown keywords: an error naming the method and its settings
            from hgbench.settings import reject_unknown

            cls.__init__ = reject_unknown(cls, cls.__init__)  # type: ignore[method-assign]

    def __post_init__(self) -> None:
        from hgbench.settings import check_fields

        check_fields(self, getattr(self, "key", type(self).__name__))
        self.resolve()

    def resolve(self) -> None:
        """Cross-setting checks and derived defaults, after each setting passed its own checks
        (raise ``ValueError`` naming the method; assign resolved values to the fields)."""
        return None

    def settings(self) -> dict[str, Any]:
        """The resolved settings, JSON-able (stored with every run)."""
        from hgbench.settings import jsonable

        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @property
    def budget_steps(self) -> int | None:
        """Weight steps of the whole run when the method fixes its own run length, else None."""
        return None

    @abstractmethod
    def init(self, problem: Problem, w0: Tensor, mstate: ModelState, hyper: InitialHyper) -> State:
        """The initial state from initial weights, model state and paired hyperparameters."""

    @abstractmethod
    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        """One weight update (plus any hypergradient work due at step ``t``).

        Returns the new state (same structure as ``init``'s) and the training loss of the
        batch it used (0-d tensor).
        """

    @abstractmethod
    def hyperparameters(self, state: State) -> dict[str, Tensor]:
        """Natural hyperparameter values for recording: 0-d tensors (per-element ones are
        summarised by their mean; add ``"<name>_std"`` for their spread)."""

    def phase(self, t: int) -> str:
        """The phase weight step ``t`` belongs to, for per-phase time and memory (e.g.
        ``"weights"`` and ``"hyperstep"``). Methods with phases set ``has_phases = True``.
        What the first step of each phase takes beyond the phase's steady per-step time
        counts as start-up (it traces and warms caches)."""
        return "step"

    def weights(self, state: State) -> tuple[Tensor, ModelState]:
        """Weights and model state to evaluate."""
        return state["w"], state["mstate"]

    def finalize(self, problem: Problem, state: State) -> State:
        """Called once after the last step (e.g. random search picks its best member)."""
        return state


class Task(ABC):
    """A benchmark task at one scale: builds :class:`Problem` instances.

    Registered in ``hgbench.tasks.TASKS`` under ``key`` (e.g. ``"uci_energy"``); constructed
    as ``Task(scale="small" | "paper", **overrides)`` where overrides are scale parameters
    (``steps``, ``width``, ``subset``...). Scale is a parameter, never a second code path.
    """

    key: ClassVar[str]
    family: ClassVar[str]
    #: whether its data ships inside an installed dependency (no download needed)
    embedded: ClassVar[bool] = False

    def __init__(self, scale: str = "small", **overrides: Any) -> None:
        self.scale = scale
        self.overrides = overrides

    @property
    @abstractmethod
    def budget_steps(self) -> int:
        """Default number of weight steps at this scale."""

    @property
    def eval_every(self) -> int:
        """Default evaluation cadence in weight steps."""
        return max(1, self.budget_steps // 20)

    def config(self) -> dict[str, Any]:
        """JSON-able description (key, scale, resolved scale parameters) for run hashing."""
        return {"task": self.key, "scale": self.scale, **self.overrides}

    def build(
        self,
        *,
        data_dir: str | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        data_seed: int = 0,
        train_split: TrainSplit = "train",
    ) -> Problem:
        """The problem for one device, dtype and data seed (see :class:`BuildContext`)."""
        ctx = BuildContext(data_dir, torch.device(device), dtype, data_seed, train_split)
        return self.build_problem(ctx)

    @abstractmethod
    def build_problem(self, ctx: BuildContext) -> Problem:
        """Load data (a clear error naming the file if missing or corrupt) and build the
        problem ``ctx`` describes."""

    def data_files(self, data_dir: str | None = None) -> list[Path]:
        """The files :meth:`build_problem` reads with this ``data_dir`` (resolved as it resolves
        it), for the data fingerprint in a run's identity; ``[]`` (the default) when the data
        are generated. A missing file raises the same
        :class:`~hgbench.tasks.data.errors.MissingDataError` as :meth:`build_problem`."""
        return []


#: which rows a problem's weights train on
TrainSplit = Literal["train", "train+val"]


@dataclass(frozen=True)
class BuildContext:
    """Where and how a task builds its problem.

    ``train_split="train+val"`` trains on the training and validation rows together (for
    methods that never look at validation data, as some papers' baselines do); the
    validation split itself is unchanged.
    """

    data_dir: str | None = None
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32
    data_seed: int = 0
    train_split: TrainSplit = "train"

    def __post_init__(self) -> None:
        if self.train_split not in ("train", "train+val"):
            raise ValueError(
                f"train_split must be 'train' or 'train+val', got {self.train_split!r}"
            )

    def problem_args(self) -> dict[str, Any]:
        """Keyword arguments of the in-memory problems in ``hgbench.tasks.base``."""
        return {"device": self.device, "dtype": self.dtype, "data_seed": self.data_seed,
                "train_split": self.train_split}  # fmt: skip
