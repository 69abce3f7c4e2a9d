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
from hgbench.methods.core.common import check_bool, check_choice, scalar, training_gradient
from hgbench.methods.core.optim import OPTIMIZERS, get_optimizer
from hgbench.spec import InitialHyper, Method, ModelState, Problem, State


@METHODS.register("fixed")
class Fixed(Method):
    """Plain training with constant hyperparameters (no hypergradient).

    Settings: ``optimizer`` in ``{"sgd", "adam", "adagrad", "rmsprop"}`` (default ``"sgd"``),
    ``nesterov`` (SGD only, default off).
    """

    key = "fixed"

    def __init__(self, optimizer: str = "sgd", nesterov: bool = False) -> None:
        check_choice("optimizer", optimizer, tuple(OPTIMIZERS))
        check_bool("nesterov", nesterov)
        if nesterov and optimizer != "sgd":
            raise ValueError(f"nesterov applies to optimizer 'sgd' only, not {optimizer!r}")
        self.optimizer = get_optimizer(optimizer)
        self.nesterov = nesterov
        self._settings: dict[str, Any] = {"optimizer": optimizer, "nesterov": nesterov}

    def init(self, problem: Problem, w0: Tensor, mstate: ModelState, hyper: InitialHyper) -> State:
        natural = hyper.as_dict()
        hypers = {n: scalar(problem, natural[n]) for n in ("lr", *self.optimizer.paired)}
        return {"w": w0, "mstate": mstate, "opt": self.optimizer.init(w0), "hyper": hypers}

    def _kwargs(self) -> dict[str, Any]:
        return {"nesterov": True} if self.nesterov else {}

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        loss, g, mstate = training_gradient(problem, state["w"], state["mstate"], t)
        w, opt = self.optimizer.update(
            state["w"], g, state["opt"], **state["hyper"], **self._kwargs()
        )
        return {"w": w, "mstate": mstate, "opt": opt, "hyper": state["hyper"]}, loss

    def hyperparameters(self, state: State) -> dict[str, Tensor]:
        return dict(state["hyper"])
