"""Fixed hyperparameters: plain training at the paired initial hyperparameters.

The baseline every method is timed against. One step is one counted training gradient
(clipped to ``problem.grad_clip``) and one update of the functional optimizer core:
SGD with momentum and L2 weight decay in PyTorch's form by default (lr, weight decay and
momentum from :class:`~hgbench.spec.InitialHyper`); Adam, AdaGrad or RMSProp take lr and
weight decay from it and keep ``torch.optim``'s other defaults.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from hgbench.methods import METHODS
from hgbench.methods.core.common import scalar, training_gradient
from hgbench.methods.core.optim import OPTIMIZERS, FunctionalOptimizer, get_optimizer
from hgbench.settings import setting
from hgbench.spec import InitialHyper, Method, ModelState, Problem, State


@METHODS.register("fixed")
class Fixed(Method):
    """Plain training with constant hyperparameters (no hypergradient).

    Settings: ``optimizer`` in ``{"sgd", "adam", "adagrad", "rmsprop"}`` (default ``"sgd"``),
    ``nesterov`` (SGD only, default off).
    """

    key = "fixed"
    uses_validation = False

    optimizer: str = setting("sgd", choices=tuple(OPTIMIZERS), doc="functional optimizer")
    nesterov: bool = setting(False, doc="Nesterov momentum (SGD only)")

    def resolve(self) -> None:
        if self.nesterov and self.optimizer != "sgd":
            raise ValueError(
                f"fixed: nesterov applies to optimizer 'sgd' only, not {self.optimizer!r}"
            )

    @property
    def core(self) -> FunctionalOptimizer:
        return get_optimizer(self.optimizer)

    def init(self, problem: Problem, w0: Tensor, mstate: ModelState, hyper: InitialHyper) -> State:
        natural = hyper.as_dict()
        hypers = {n: scalar(problem, natural[n]) for n in ("lr", *self.core.paired)}
        return {"w": w0, "mstate": mstate, "opt": self.core.init(w0), "hyper": hypers}

    def _kwargs(self) -> dict[str, Any]:
        return {"nesterov": True} if self.nesterov else {}

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        loss, g, mstate = training_gradient(problem, state["w"], state["mstate"], t)
        w, opt = self.core.update(state["w"], g, state["opt"], **state["hyper"], **self._kwargs())
        return {"w": w, "mstate": mstate, "opt": opt, "hyper": state["hyper"]}, loss

    def hyperparameters(self, state: State) -> dict[str, Tensor]:
        return dict(state["hyper"])
