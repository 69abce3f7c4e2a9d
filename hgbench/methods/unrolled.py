"""Truncated differentiation through the optimizer ("Diff-through-Opt")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from torch import Tensor
from torch.func import vjp

from hgbench.methods import METHODS
from hgbench.methods.core.diff import hvp, value_and_grad
from hgbench.methods.implicit import common
from hgbench.settings import setting
from hgbench.spec import InitialHyper, Method, ModelState, Problem, State


def unrolled_hypergradient(
    problem: Problem,
    window: Sequence[dict[str, Any]],
    raw: dict[str, Tensor],
    aw: Tensor,
    tuned: Sequence[str],
) -> dict[str, Tensor]:
    """Exact reverse-mode ``dL_V/dλ`` through the SGD steps recorded in ``window``.

    ``window[i]`` holds the inputs of step i (``w``, ``g``, ``buf``, ``mstate``, ``batch``);
    ``aw = ∂L_V/∂w`` after the last step. Each step is pulled back with a vjp of the core SGD
    update in ``(w, g, buf, λ)`` (elementwise, uncounted) and ``∂g/∂w = H`` by one HVP; the
    first step's inputs are detached, so it needs no HVP: ``len(window) - 1`` HVPs in all.
    """
    fixed_raw = {n: v for n, v in raw.items() if n not in tuned}
    total: dict[str, Tensor] = {}
    ab = aw.new_zeros(aw.shape)
    for i in range(len(window) - 1, -1, -1):
        s = window[i]

        def step(w: Tensor, g: Tensor, b: Tensor, tuned_raw: dict[str, Tensor]):
            return common.sgd_step(w, g, b, {**fixed_raw, **tuned_raw}, problem.grad_clip)

        _, pullback = vjp(step, s["w"], s["g"], s["buf"], {n: raw[n] for n in tuned})
        dw, dg, db, draw = pullback((aw, ab))
        total = {n: total[n] + draw[n] if n in total else draw[n] for n in draw}
        if i > 0:
            aw = dw + hvp(problem, s["w"], s["mstate"], s["batch"], dg)
            ab = db
    return total


@METHODS.register("unrolled")
class Unrolled(Method):
    """Truncated backpropagation through the optimizer ("Diff-through-Opt").

    The baseline of Clarke, Oldewage and Hernández-Lobato, "Scalable One-Pass Optimisation
    of High-Dimensional Weight-Update Hyperparameters by Implicit Differentiation", ICLR 2022
    (arXiv 2110.10461), reference config ``DiffThroughOpt``: of every ``T`` weight steps the
    first ``T - k`` are untracked and the last ``k`` are differentiated exactly (momentum
    buffer included) in the raw hyperparameters; ``L_V`` is taken on a validation batch at
    the weights after the window; one Adam step (lr 0.05) in transformed space; clamp; detach.
    Defaults: T=10, k=5, tuning lr, wd and momentum.

    Implementation: reverse mode by hand over the functional core. The k tracked steps are
    ordinary weight steps whose inputs are recorded; at the window's end the adjoint runs
    back through them (a vjp of the SGD update per step plus one HVP for ``∂g/∂w``).

    Counting rule: each differentiated step costs its forward gradient (the ordinary weight
    step, counted once) plus one HVP in the backward, except the first of the window whose
    incoming weights are detached (no HVP). Per hyper-step: T gradients, 1 validation
    gradient, k-1 HVPs, i.e. the same counts as ``implicit`` with K = k.

    See also: ``implicit`` (Neumann approximation of the same quantity at a fixed point).
    """

    has_phases = True

    def phase(self, t: int) -> str:
        """``"hyperstep"`` for the step that backpropagates through the window, else
        ``"weights"``."""
        return "hyperstep" if (t + 1) % self.T == 0 else "weights"

    key: ClassVar[str] = "unrolled"

    T: int = setting(10, low=1, doc="weight steps per hyper-step")
    k: int = setting(5, low=1, doc="differentiated steps at the end of each T")
    tuned: tuple[str, ...] = setting(
        ("lr", "weight_decay", "momentum"), doc="tuned hyperparameters (subset of lr, wd, momentum)"
    )
    meta_lr: float = setting(0.05, low=0.0, low_open=True, doc="meta-Adam step size")
    meta_betas: tuple[float, float] = setting(
        (0.9, 0.999), low=0.0, high=1.0, high_open=True, doc="meta-Adam betas"
    )

    def resolve(self) -> None:
        if self.k > self.T:
            raise ValueError(
                f"unrolled: k={self.k} must not exceed T={self.T} (k steps of every T)"
            )
        self.tuned = common.check_tuned(self.key, self.tuned)

    def init(self, problem: Problem, w0: Tensor, mstate: ModelState, hyper: InitialHyper) -> State:
        raw = common.initial_raw(hyper, w0)
        state = common.sgd_state(problem, w0, mstate, raw, self.tuned)
        zeros = w0.new_zeros(w0.shape)
        state["window"] = [
            {"w": zeros, "g": zeros, "buf": zeros, "mstate": mstate} for _ in range(self.k)
        ]
        return state

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        r = t % self.T
        first = self.T - self.k
        if r < first:
            return common.plain_step(problem, state, t)
        w, buf, raw = state["w"], state["momentum_buffer"], state["raw"]
        loss, g, mstate = value_and_grad(problem, w, state["mstate"], problem.train_batch(t))
        w_new, buf_new = common.sgd_step(w, g, buf, raw, problem.grad_clip)
        window = list(state["window"])
        window[r - first] = {"w": w, "g": g, "buf": buf, "mstate": state["mstate"]}
        new_state = {**state, "w": w_new, "momentum_buffer": buf_new, "mstate": mstate}
        if r < self.T - 1:
            return {**new_state, "window": window}, loss
        val = problem.val_batch(t // self.T)
        _, aw, mstate = value_and_grad(problem, w_new, mstate, val, "val")
        steps = [
            {**s, "batch": problem.train_batch(t - self.k + 1 + i)} for i, s in enumerate(window)
        ]
        grads = unrolled_hypergradient(problem, steps, raw, aw, self.tuned)
        new_state = {**new_state, "mstate": mstate, "window": window}
        count = (t + 1) // self.T
        return common.apply_hypergradient(
            new_state, grads, count, self.meta_lr, self.meta_betas
        ), loss

    def hyperparameters(self, state: State) -> dict[str, Tensor]:
        return common.sgd_hyperparameters(state)
