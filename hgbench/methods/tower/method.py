"""Recursive AD towers — Chandra, Xie, Ragan-Kelley and Meijer, "Gradient Descent: The Ultimate
Optimizer", NeurIPS 2022 (arXiv 1909.13371).

Level 1 optimizes the weights with hyperparameters ``h_1``; level ``k + 1`` optimizes ``h_k``
with ``h_{k+1}``; the top level's hyperparameters are constants. Step ``t``:

1. ``g = ∇L_t(w_t)`` (one counted gradient; clipped for the update, L2 folded in);
2. hypergradients ``c_k = ∂L_t(w_t)/∂h_k`` through the *last* update only, by the chain
   ``c_0 = g``, ``c_k = (∂Δ_k/∂h_k)ᵀ(-c_{k-1})`` where ``Δ_k`` is level ``k``'s last update,
   recomputed from its stored inputs (``torch.func.vjp``; zero at ``t = 0``);
3. top-down: ``h_k ← h_k - Δ_{k+1}(c_k)`` for ``k = n-1..1``, then ``w ← w - Δ_1(g)`` with the
   new values — exactly the order of the reference's recursive ``step``.

This is the reference's ``backward(create_graph=True)`` semantics (every level's inputs are
detached, so ``∂L/∂h`` flows through one update per level) computed functionally: nothing but
plain tensors survives a step, so there is no graph to leak, and the step vmaps. At height 1
with SGD levels the hypergradient is ``-g_t · g_{t-1}``: SGD-HD (:mod:`hgbench.methods.hd`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from hgbench.methods import METHODS
from hgbench.methods.core import layout as layout_ids
from hgbench.methods.core.common import scalar
from hgbench.methods.core.diff import value_and_grad, vjp_through
from hgbench.methods.core.hyper import summarise
from hgbench.methods.core.optim import add_scaled, clip_by_global_norm
from hgbench.methods.tower.levels import DEFAULTS, Level, parse_levels
from hgbench.settings import setting
from hgbench.spec import InitialHyper, Method, ModelState, Problem, State


@METHODS.register("tower")
class Tower(Method):
    """Chandra et al. 2022 recursive hyperoptimizer towers of any height.

    Settings: ``levels`` (bottom first, e.g. ``"sgd/sgd"``, ``"adam/adam/sgd"``; height =
    number of levels - 1; names in :data:`~hgbench.methods.tower.levels.LEVELS`), ``kappa``
    (step size of each level above the bottom, bottom-up; a number applies to all; default
    each level's reference default: 0.01 SGD/AdaGrad/RMSProp, 0.001 Adam), ``alpha0``
    (bottom lr; None: the paired initial lr), ``weight_decay`` (constant L2 folded into the
    bottom gradient, 0 as in the reference; None: the paired value). The bottom ``sgdm``
    level starts at the paired momentum; other levels at their reference defaults.
    """

    key = "tower"
    uses_validation = False

    levels: str = setting("sgd/sgd", doc="level optimizers, bottom first, e.g. adam/adam/sgd")
    kappa: float | tuple[float, ...] | None = setting(
        None, low=0.0, doc="step size of each level above the bottom (None: reference defaults)"
    )
    alpha0: float | None = setting(None, doc="bottom lr (None: the paired initial lr)")
    weight_decay: float | None = setting(
        0.0, low=0.0, doc="constant L2 folded into the bottom gradient (None: the paired value)"
    )

    def resolve(self) -> None:
        self.stack: tuple[Level, ...] = parse_levels(self.levels)
        self.levels = "/".join(lv.name for lv in self.stack)
        above = self.stack[1:]
        if self.kappa is None:
            kappas = tuple(lv.default_alpha for lv in above)
        elif isinstance(self.kappa, float):
            kappas = (self.kappa,) * len(above)
        else:
            kappas = tuple(self.kappa)
            if len(kappas) != len(above):
                raise ValueError(
                    f"tower: kappa needs one value per level above the bottom ({len(above)} for "
                    f"levels={self.levels!r}), got {len(kappas)}"
                )
        self.kappa = kappas

    @property
    def height(self) -> int:
        return len(self.stack) - 1

    def _ids(self, problem: Problem, k: int) -> Tensor | None:
        """Tensor index of each entry of the vector level ``k + 1`` optimizes (per-tensor)."""
        if not self.stack[k].per_tensor:
            return None
        if k == 0:
            return layout_ids.tensor_ids(problem)
        return None  # each entry of a hyperparameter vector is its own tensor

    def init(self, problem: Problem, w0: Tensor, mstate: ModelState, hyper: InitialHyper) -> State:
        h: list[Tensor] = []
        for k, lv in enumerate(self.stack):
            if k == 0:
                lr = hyper.lr if self.alpha0 is None else self.alpha0
                natural = {**DEFAULTS, "lr": lr, "momentum": hyper.momentum}
            else:
                natural = {**DEFAULTS, "lr": self.kappa[k - 1]}
            raw = torch.tensor(lv.to_raw(natural), dtype=problem.dtype, device=problem.device)
            if lv.per_tensor:
                n = len(problem.layout.names) if k == 0 else h[k - 1].numel()
                raw = raw.expand(n).clone()
            h.append(raw)
        xs = [w0, *h[:-1]]  # what each level optimizes
        opt = [lv.init_state(x) for lv, x in zip(self.stack, xs, strict=True)]
        wd = hyper.weight_decay if self.weight_decay is None else self.weight_decay
        return {
            "w": w0,
            "mstate": mstate,
            "h": h,
            "opt": opt,
            # inputs of each level's last update, to differentiate it at the next step
            "prev_g": [torch.zeros_like(x) for x in xs[:-1]] if self.height else [],
            "prev_opt": opt[:-1],
            "hypergrad": {f"level{k + 1}": torch.zeros_like(x) for k, x in enumerate(h[:-1])},
            "weight_decay": scalar(problem, wd),
        }

    def _hypergradients(self, problem: Problem, state: State, c0: Tensor, t: int) -> list[Tensor]:
        """``c_k = ∂L_t(w_t)/∂h_k`` through each level's last update, for k = 1..n-1."""
        if t == 0:
            return [torch.zeros_like(x) for x in state["h"][:-1]]
        out, c = [], c0
        for k in range(self.height):
            lv, ids = self.stack[k], self._ids(problem, k)
            g_prev, opt_prev = state["prev_g"][k], state["prev_opt"][k]
            if lv.vjp is not None:
                c = lv.vjp(-c, g_prev, opt_prev, state["opt"][k], state["h"][k])
            else:

                def delta(h: Tensor, lv=lv, g_prev=g_prev, opt_prev=opt_prev, ids=ids) -> Tensor:
                    return lv.delta(g_prev, opt_prev, h, t - 1, ids)[0]

                c = vjp_through(delta, state["h"][k], -c)
            out.append(c)
        return out

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        w = state["w"]
        loss, g_raw, mstate = value_and_grad(problem, w, state["mstate"], problem.train_batch(t))
        wd = state["weight_decay"]
        # the update steps along the clipped gradient; ∂L/∂w is the unclipped one
        g = add_scaled(clip_by_global_norm(g_raw, problem.grad_clip), wd, w)
        c0 = g if problem.grad_clip is None else add_scaled(g_raw, wd, w)
        cs = self._hypergradients(problem, state, c0, t)
        grads = [g, *cs]  # what each level is fed
        h, opt = list(state["h"]), list(state["opt"])
        for k in reversed(range(len(self.stack))):
            lv, ids = self.stack[k], self._ids(problem, k)
            d, opt[k] = lv.delta(grads[k], state["opt"][k], h[k], t, ids)
            if k == 0:
                w = w - d
            else:
                h[k - 1] = h[k - 1] - d
        new = {
            "w": w,
            "mstate": mstate,
            "h": h,
            "opt": opt,
            "prev_g": grads[:-1],
            "prev_opt": list(state["opt"][:-1]),
            "hypergrad": {f"level{k + 1}": c for k, c in enumerate(cs)},
            "weight_decay": wd,
        }
        return new, loss

    def hyperparameters(self, state: State) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for k, lv in enumerate(self.stack):
            prefix = "" if k == 0 else f"level{k + 1}_"
            natural = summarise(lv.natural(state["h"][k]))
            out.update({prefix + name: v for name, v in natural.items()})
        return out
