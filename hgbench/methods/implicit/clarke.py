"""One-pass implicit differentiation (Clarke et al., 2022) and Lorraine et al. (2020).

See :class:`Implicit` for the algorithm. :class:`Lorraine` is the same machinery tuning only
the weight decay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from torch import Tensor
from torch.func import vjp

from hgbench.methods import METHODS
from hgbench.methods.core.diff import hvp, value_and_grad
from hgbench.methods.core.optim import clip_by_global_norm
from hgbench.methods.implicit import common
from hgbench.settings import setting
from hgbench.spec import InitialHyper, Method, ModelState, Problem, State

#: which hyperparameters each variant tunes and whether its lr is per element
VARIANTS: dict[str, tuple[tuple[str, ...], bool]] = {
    "wd_lr": (("lr", "weight_decay"), False),
    "wd_lr_m": (("lr", "weight_decay", "momentum"), False),
    "wd_hdlr_m": (("lr", "weight_decay", "momentum"), True),
}


def clip_transpose(g: Tensor, max_norm: float | None) -> Callable[[Tensor], Tensor]:
    """``s ↦ J_clip(g)ᵀ s``, the transposed Jacobian of gradient clipping at ``g`` (identity
    without clipping). The update steps along the clipped gradient, so ``∂u/∂w`` is
    ``η(J_clip H + wd·I)``, as the reference differentiates it (its update is a function of
    the weights through the clipped gradient); elementwise work, no counted operation."""
    if max_norm is None:
        return lambda s: s
    _, pullback = vjp(lambda x: clip_by_global_norm(x, max_norm), g)
    return lambda s: pullback(s)[0]


def neumann_hypergradient(
    problem: Problem,
    state: State,
    t: int,
    K: int,
    tuned: Sequence[str],
    val_index: int,
) -> tuple[State, Tensor, dict[str, Tensor]]:
    """The tracked weight step ``t`` and its K-term Neumann hypergradient.

    Takes the SGD step ``w_t = w_{t-1} - u(λ, w_{t-1})`` on train batch ``t``; then
    ``v = p = ∂L_V/∂w_t`` on validation batch ``val_index`` at the *new* weights; K-1 times
    ``v ← v - (∂u/∂w)ᵀ v`` with ``∂u/∂w = η(J_clip H + wd·I)`` (the momentum buffer from
    earlier steps held constant; H the train-batch Hessian at ``w_{t-1}``; ``J_clip`` the
    Jacobian of gradient clipping, the identity on tasks without it) and ``p ← p + v``; finally
    ``g_λ = -(∂u/∂λ)ᵀ p`` as a vjp of the update in the raw hyperparameters.
    Costs one train gradient, one validation gradient and K-1 HVPs.
    Returns the state after the weight step, the train loss and ``{name: g_λ}``.
    """
    batch = problem.train_batch(t)
    w, buf, raw = state["w"], state["momentum_buffer"], state["raw"]
    loss, g, mstate = value_and_grad(problem, w, state["mstate"], batch)
    fixed_raw = {n: v for n, v in raw.items() if n not in tuned}

    def update(tuned_raw: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        return common.sgd_step(w, g, buf, {**fixed_raw, **tuned_raw}, problem.grad_clip)

    (w_new, buf_new), pullback = vjp(update, {n: raw[n] for n in tuned})
    _, v, mstate = value_and_grad(problem, w_new, mstate, problem.val_batch(val_index), "val")
    nat = common.natural(raw)
    lr, wd = nat["lr"], nat["weight_decay"]
    clip_t = clip_transpose(g, problem.grad_clip)
    p = v
    for _ in range(K - 1):
        s = lr * v  # (∂u/∂w)ᵀ v = (H J_clipᵀ + wd·I)(η ⊙ v); η may be per element
        v = v - (hvp(problem, w, state["mstate"], batch, clip_t(s)) + wd * s)
        p = p + v
    (grads,) = pullback((p, buf_new.new_zeros(buf_new.shape)))  # = -(∂u/∂λ)ᵀ p
    new_state = {**state, "w": w_new, "momentum_buffer": buf_new, "mstate": mstate}
    return new_state, loss, grads


class _NeumannMethod(Method):
    """Common driver: T-1 untracked steps, one tracked step with a Neumann hypergradient."""

    has_phases = True

    def phase(self, t: int) -> str:
        """``"hyperstep"`` for the tracked step that ends each round of T, else ``"weights"``."""
        return "hyperstep" if (t + 1) % self.T == 0 else "weights"

    tuned: ClassVar[tuple[str, ...]] = ()
    per_element_lr: ClassVar[bool] = False

    T: int = setting(10, low=1, doc="weight steps per hyper-step")
    K: int = setting(5, low=1, doc="Neumann series terms")
    meta_lr: float = setting(0.05, low=0.0, low_open=True, doc="meta-Adam step size")
    meta_betas: tuple[float, float] = setting(
        (0.9, 0.999), low=0.0, high=1.0, high_open=True, doc="meta-Adam betas"
    )

    def init(self, problem: Problem, w0: Tensor, mstate: ModelState, hyper: InitialHyper) -> State:
        raw = common.initial_raw(hyper, w0, per_element_lr=self.per_element_lr)
        return common.sgd_state(problem, w0, mstate, raw, self.tuned)

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        if (t + 1) % self.T != 0:
            return common.plain_step(problem, state, t)
        new_state, loss, grads = self.hypergradient(problem, state, t)
        count = (t + 1) // self.T
        return common.apply_hypergradient(
            new_state, grads, count, self.meta_lr, self.meta_betas
        ), loss

    def hypergradient(
        self, problem: Problem, state: State, t: int
    ) -> tuple[State, Tensor, dict[str, Tensor]]:
        """The tracked step at ``t`` and the raw hypergradient (no meta-update)."""
        return neumann_hypergradient(problem, state, t, self.K, self.tuned, t // self.T)

    def hyperparameters(self, state: State) -> dict[str, Tensor]:
        return common.sgd_hyperparameters(state)


@METHODS.register("implicit")
class Implicit(_NeumannMethod):
    """One-pass implicit differentiation of weight-update hyperparameters.

    Clarke, Oldewage and Hernández-Lobato, "Scalable One-Pass Optimisation of
    High-Dimensional Weight-Update Hyperparameters by Implicit Differentiation", ICLR 2022
    (arXiv 2110.10461).

    Every ``T`` weight steps (SGD with momentum and L2, PyTorch form) the last one is tracked:
    ``v = p = ∂L_V/∂w_t`` on a validation batch at the new weights; ``K-1`` times
    ``v ← v - (∂u/∂w)ᵀ v``, ``p ← p + v`` with ``∂u/∂w = η(J_clip H + wd·I)`` (momentum buffer
    held constant; ``J_clip`` the Jacobian of gradient clipping, the identity where a task
    does not clip); ``g_λ = -(∂u/∂λ)ᵀ p``; one Adam step (lr ``meta_lr``, ``meta_betas``) in
    the transformed space (log10 lr clamped to [-10, 0], log10 wd, logit momentum); detach.
    Untuned hyperparameters stay at the paired init. Cost per hyper-step: T train gradients,
    one validation gradient, K-1 HVPs. This is ``NeumannHypergradientOptimiser`` of the
    reference code (rmclarke/OptimisingWeightUpdateHyperparameters, camera-ready commit), which
    differentiates its (clipped) update with autograd.

    Variants (``variant``): ``wd_lr`` (Ours_LR: lr and wd), ``wd_lr_m`` (Ours_LR_Momentum:
    lr, wd, momentum), ``wd_hdlr_m`` (Ours_HDLR_Momentum: per-element lr, wd, momentum).
    Defaults T=10, K=5, Adam(0.05, (0.9, 0.999)) are the paper's and the reference configs'.

    The repository's first (submitted) version differed in four ways that its camera-ready
    commit changed, and that hgbench follows in the camera-ready form: it built the update
    as ``new - old = -u``, which flips the sign inside the Neumann series (it summed powers of
    ``I + ∂u/∂w``); it summed ``K + 1`` terms (``range(K)`` after the first; now
    ``range(1, K)``: exactly K); it took ``∂L_V/∂w`` at the previous weights ``w_{t-1}``,
    not at the new ``w_t``; and it tracked the last two weight steps, not one.

    See also: :class:`Lorraine` (wd only), ``unrolled`` (exact truncated backprop),
    ``baydin_loglr`` (every-step training-loss hypergradient).
    """

    key: ClassVar[str] = "implicit"

    variant: str = setting("wd_lr_m", choices=tuple(VARIANTS), doc="which hyperparameters")

    @property
    def tuned(self) -> tuple[str, ...]:  # type: ignore[override]
        return VARIANTS[self.variant][0]

    @property
    def per_element_lr(self) -> bool:  # type: ignore[override]
        return VARIANTS[self.variant][1]


@METHODS.register("lorraine")
class Lorraine(_NeumannMethod):
    """Implicit differentiation of the weight decay with a Neumann-series inverse Hessian.

    Lorraine, Vicol and Duvenaud, "Optimizing Millions of Hyperparameters by Implicit
    Differentiation", AISTATS 2020 (arXiv 1911.02590), run with the machinery and defaults
    of Clarke et al. (2022)'s comparison (T=10, K=5, Adam(0.05) on log10 wd): see
    :class:`Implicit`. Only the weight decay is tuned; lr and momentum stay at the paired init.
    """

    key: ClassVar[str] = "lorraine"
    tuned = ("weight_decay",)
