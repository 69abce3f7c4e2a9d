"""Hypergradient descent — Baydin, Cornish, Martínez Rubio, Schmidt and Wood, "Online Learning
Rate Adaptation with Hypergradient Descent", ICLR 2018 (arXiv 1703.04782).

Before each weight step the learning rate takes one gradient step on the training loss:
``w_t = w_{t-1} - α u_{t-1}`` gives ``∂L(w_t)/∂α = -g_t · u_{t-1}``, so

    α_t = α_{t-1} + β (g_t · u_{t-1}),     then  w_{t+1} = w_t - α_t u_t,

where ``g`` is the training gradient with L2 weight decay folded in and ``u`` the update
direction the base optimizer stepped along (``u_0 = 0``): the gradient for SGD-HD, the
Nesterov direction ``d + μ b`` for SGDN-HD, and for Adam-HD Adam's step divided by α (see
:class:`AdamHD` for its two forms). This is the reference code's rule
(gbaydin/hypergradient-descent, ``SGDHD`` and ``AdamHD``), one known bug fixed: the dot
product runs over the whole flat weight vector and α is updated **once** per step, where the
reference ``AdamHD`` adds each parameter tensor's share to α inside its loop over tensors, so
every tensor steps with a different α (its ``SGDHD`` already uses one flat dot product).

Options: ``multiplicative`` uses the paper's multiplicative rule
``α_t = α_{t-1} (1 + β cos(g_t, u_{t-1}))`` (the paper writes ``1 - β cos(∇f, ∇_α u)`` with
``∇_α u = -u`` the derivative of the update function; the same rule; not in the reference
code); ``nonnegative`` clamps α at zero (off by default, as in the paper, where α may go
negative).

See also: :mod:`hgbench.methods.tower` (height 1 with SGD levels is SGD-HD).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from hgbench.methods import METHODS
from hgbench.methods.core.common import scalar, training_gradient
from hgbench.methods.core.optim import FunctionalOptimizer, add_scaled, get_optimizer, step_along
from hgbench.settings import setting
from hgbench.spec import InitialHyper, Method, ModelState, Problem, State


class HypergradientDescent(Method):
    """Baydin et al. 2018 hypergradient descent of the learning rate (see module docstring).

    Settings (paper defaults): ``alpha0`` (None: the paired initial lr; the paper used 1e-3),
    ``beta`` (hypergradient step: 1e-3 SGD/SGDN, 1e-7 Adam), ``weight_decay`` (1e-4; None: the
    paired initial value), ``momentum`` (SGDN only: 0.9; None: the paired initial value),
    ``multiplicative`` and ``nonnegative`` (both off).
    """

    base: ClassVar[str]
    nesterov: ClassVar[bool] = False
    uses_validation = False

    alpha0: float | None = setting(None, doc="initial lr (None: the paired initial lr)")
    beta: float = setting(1e-3, low=0.0, doc="hypergradient step size")
    weight_decay: float | None = setting(
        1e-4, low=0.0, doc="L2 weight decay (None: the paired initial value)"
    )
    multiplicative: bool = setting(False, doc="multiplicative rule α(1 + β cos)")
    nonnegative: bool = setting(False, doc="clamp α at zero")

    @property
    def core(self) -> FunctionalOptimizer:
        return get_optimizer(self.base)

    def _momentum(self, hyper: InitialHyper) -> float | None:
        """The constant momentum of the base optimizer (None: it has none)."""
        return None

    def init(self, problem: Problem, w0: Tensor, mstate: ModelState, hyper: InitialHyper) -> State:
        lr = hyper.lr if self.alpha0 is None else self.alpha0
        wd = hyper.weight_decay if self.weight_decay is None else self.weight_decay
        consts = {"weight_decay": scalar(problem, wd)}
        mu = self._momentum(hyper)
        if mu is not None:
            consts["momentum"] = scalar(problem, mu)
        return {
            "w": w0,
            "mstate": mstate,
            "opt": self.core.init(w0),
            "lr": scalar(problem, lr),
            "u": torch.zeros_like(w0),
            "hyper": consts,
            "hypergrad": {"lr": scalar(problem, 0.0)},
        }

    def _direction(self, w: Tensor, d: Tensor, opt: dict[str, Tensor], consts: dict[str, Tensor]):
        if self.base == "sgd":
            return self.core.direction(
                w, d, opt, momentum=consts.get("momentum", 0.0), nesterov=self.nesterov
            )
        return self.core.direction(w, d, opt)

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        w, u, consts = state["w"], state["u"], state["hyper"]
        loss, g, mstate = training_gradient(problem, w, state["mstate"], t)
        d = add_scaled(g, consts["weight_decay"], w)
        h = torch.dot(d, u)
        if self.multiplicative:
            cos = h / (d.norm() * u.norm()).clamp_min(torch.finfo(d.dtype).tiny)
            lr = state["lr"] * (1 + self.beta * cos)
        else:
            lr = torch.add(state["lr"], h, alpha=self.beta)
        if self.nonnegative:
            lr = lr.clamp_min(0.0)
        direction, opt = self._direction(w, d, state["opt"], consts)
        w = step_along(w, lr, direction)
        new = {"w": w, "mstate": mstate, "opt": opt, "lr": lr, "u": direction, "hyper": consts}
        return {**new, "hypergrad": {"lr": -h}}, loss

    def hyperparameters(self, state: State) -> dict[str, Tensor]:
        return {"lr": state["lr"], **state["hyper"]}


@METHODS.register("hd_sgd")
class SGDHD(HypergradientDescent):
    """SGD-HD: Baydin et al. 2018 (ICLR), hypergradient descent on plain SGD's lr."""

    key = "hd_sgd"
    base = "sgd"


@METHODS.register("hd_sgdn")
class SGDNHD(HypergradientDescent):
    """SGDN-HD: Baydin et al. 2018 (ICLR), hypergradient descent on Nesterov SGD's lr."""

    key = "hd_sgdn"
    base = "sgd"
    nesterov = True

    momentum: float | None = setting(
        0.9, low=0.0, high=1.0, high_open=True, doc="Nesterov momentum (None: the paired value)"
    )

    def _momentum(self, hyper: InitialHyper) -> float | None:
        return hyper.momentum if self.momentum is None else self.momentum


@METHODS.register("hd_adam")
class AdamHD(HypergradientDescent):
    """Adam-HD: Baydin et al. 2018 (ICLR), hypergradient descent on Adam's lr (α updated once
    per step from all tensors; the reference's per-tensor update is fixed, see the module
    docstring).

    ``adam_form`` places Adam's ε, and with it the direction ``u`` the hypergradient uses:

    * ``"reference"`` (default): ``w ← w - α √(1-β2^t)/(1-β1^t) · m / (√v + ε)``, the form
      of the reference ``AdamHD`` (and of older ``torch.optim.Adam``; the "more efficient"
      order of computation in Kingma & Ba's Section 2), so
      ``u_t = √(1-β2^t)/(1-β1^t) · m_t / (√v_t + ε)`` and ``h = g_t · u_{t-1}`` is exactly
      the reference's ``h``;
    * ``"torch"``: ``w ← w - α m̂ / (√v̂ + ε)`` (``torch.optim.Adam`` today), ``u = m̂/(√v̂+ε)``.

    They differ from the first step by ε's weight: the reference form equals the torch form
    with ε replaced by ``ε / √(1-β2^t)`` (about 31.6 ε at t = 1).
    """

    key = "hd_adam"
    base = "adam"

    beta: float = setting(1e-7, low=0.0, doc="hypergradient step size")
    adam_form: str = setting(
        "reference",
        choices=("reference", "torch"),
        doc="reference: ε added to √v with the bias corrections in the step size (Baydin et "
        "al.'s AdamHD); torch: ε added to √v̂ (torch.optim.Adam today)",
    )

    def _direction(self, w: Tensor, d: Tensor, opt: dict[str, Tensor], consts: dict[str, Tensor]):
        eps_on = "v" if self.adam_form == "reference" else "v_hat"
        return self.core.direction(w, d, opt, eps_on=eps_on)
