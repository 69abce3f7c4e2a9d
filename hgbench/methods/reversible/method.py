"""The ``reversible`` method: exact reversible learning of training schedules.

Mapping onto the runner's one-weight-step ``Method.step`` contract: the budget is
``meta_iterations × horizon`` weight steps; ``step(t)`` performs weight step ``k = t % horizon``
of meta-iteration ``m = t // horizon``. Step ``k = 0`` (re)initialises the weights from the
current init scales, and step ``k = horizon - 1`` also computes the meta-objective, runs the
exact reverse pass and takes one Adam step on the hyperparameters. The state's weights are
those of the current training run, so evaluations trace each meta-iteration's training curve.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor

from hgbench.methods import METHODS
from hgbench.methods.core import layout as layout_ids
from hgbench.methods.core.optim import tree_adam_init
from hgbench.methods.reversible import core
from hgbench.methods.reversible import fixedpoint as fx
from hgbench.methods.reversible import schedule as sch
from hgbench.settings import setting
from hgbench.spec import Batch, InitialHyper, Method, ModelState, Problem, State


class ScheduleMethod(Method):
    """Shared settings, hyperparameters and meta-optimizer of ``reversible`` and
    ``unrolled_full`` (see :class:`Reversible` for the settings)."""

    has_phases = True

    def phase(self, t: int) -> str:
        """``"reverse"`` for the last step of a meta-iteration (meta-objective, reverse pass,
        meta-update), else ``"forward"``."""
        return "reverse" if (t + 1) % self.horizon == 0 else "forward"

    key: ClassVar[str] = "_schedule"
    supports_batching: ClassVar[bool] = False

    horizon: int = setting(100, low=1, doc="weight steps T of one training run")
    meta_iterations: int = setting(50, low=1, doc="training runs (meta-iterations)")
    meta_lr: float = setting(0.04, low=0.0, low_open=True, doc="meta-Adam step size")
    alpha: float | None = setting(
        None, low=0.0, low_open=True, doc="initial step size (None: lr/(1-momentum) of the init)"
    )
    gamma: float | None = setting(
        None, low=0.0, high=1.0, low_open=True, high_open=True,
        doc="initial momentum (None: the paired momentum)",
    )  # fmt: skip
    l2: float | None = setting(None, low=0.0, doc="initial L2 (None: the paired weight decay)")
    log_init_scale: float = setting(0.0, doc="initial log scale of the task's default init")
    l2_per_weight: bool = setting(False, doc="one L2 per weight (else per layer)")
    meta_objective: str = setting("train", choices=("train", "val"), doc="meta-objective split")
    meta_batches: int = setting(1, low=1, doc="batches of the meta-objective")
    resample_batches: bool = setting(False, doc="new batches every meta-iteration")
    learn: tuple[str, ...] = setting(
        ("alpha", "gamma", "init_scale", "l2"), doc="learned hyperparameters"
    )
    radix_bits: int = setting(52, doc="fixed-point fraction bits")

    def resolve(self) -> None:
        self.learn = sch.check_learn(self.learn)
        self.radix_bits = fx.check_radix_bits(self.radix_bits)

    @property
    def budget_steps(self) -> int:
        """Weight steps of the whole run: ``meta_iterations × horizon``."""
        return self.meta_iterations * self.horizon

    # ------------------------------------------------------------------ shared pieces
    def _check_problem(self, problem: Problem, mstate: ModelState) -> None:
        if problem.grad_clip is not None:
            raise ValueError(
                f"{self.key}: gradient clipping (task {problem.name!r}, grad_clip="
                f"{problem.grad_clip}) is not supported by exact reversal"
            )
        if torch.utils._pytree.tree_leaves(mstate.get("carry", {})):
            raise ValueError(
                f"{self.key}: task {problem.name!r} carries recurrent state across batches, "
                "which the reverse pass cannot replay"
            )

    def _initial_hyper(self, problem: Problem, hyper: InitialHyper) -> sch.Hyper:
        gamma = self.gamma if self.gamma is not None else hyper.momentum
        sch.check_open_unit("momentum gamma", gamma)
        # PyTorch form b = μb + g, w -= ηb equals the velocity form with γ = μ, α = η/(1-μ)
        alpha = self.alpha if self.alpha is not None else hyper.lr / (1.0 - gamma)
        l2 = self.l2 if self.l2 is not None else hyper.weight_decay
        return sch.initial_hyper(
            horizon=self.horizon,
            num_groups=problem.layout.num_groups,
            num_weights=problem.layout.size,
            alpha=alpha,
            gamma=gamma,
            l2=l2,
            log_init_scale=self.log_init_scale,
            l2_per_weight=self.l2_per_weight,
            dtype=problem.dtype,
            device=problem.device,
        )

    def _batch_of(self, problem: Problem, meta_iteration: int):
        offset = meta_iteration * self.horizon if self.resample_batches else 0
        return lambda k: problem.train_batch(offset + k)

    def _meta_batches(self, problem: Problem) -> list[Batch]:
        get = problem.train_batch if self.meta_objective == "train" else problem.val_batch
        return [get(j) for j in range(self.meta_batches)]

    def _initial_weights(self, problem: Problem, state: State) -> Tensor:
        gid = layout_ids.group_ids(problem)
        scale = sch.natural(state["hyper"])["init_scale"]
        return sch.expand(scale, gid) * state["w_base"]

    def _l2_flat(self, problem: Problem, hyper: sch.Hyper) -> Tensor:
        gid = layout_ids.group_ids(problem)
        return core.l2_flat(sch.natural(hyper)["l2"], gid, self.l2_per_weight)

    def _common_state(self, problem: Problem, w0: Tensor, mstate: ModelState, hyper) -> State:
        self._check_problem(problem, mstate)
        raw = self._initial_hyper(problem, hyper)
        w_base = w0.detach().to(problem.dtype)
        zero = torch.zeros((), dtype=problem.dtype, device=problem.device)
        state: State = {
            "w_base": w_base,
            "mstate": mstate,
            "hyper": raw,
            "adam": tree_adam_init(raw),
            "k": torch.zeros((), dtype=torch.int64, device=problem.device),
            "meta_objective": zero + float("nan"),
        }
        state["w"] = self._initial_weights(problem, state)
        return state

    def _meta_update(self, state: State, nat_grad: dict[str, Tensor], bad: Tensor) -> State:
        raw_grad = sch.raw_gradient(state["hyper"], nat_grad, self.learn)
        new, adam = sch.adam_step(state["hyper"], raw_grad, state["adam"], self.meta_lr)
        # a run that left the representable range gives no usable hypergradient
        new = {k: torch.where(bad, torch.full_like(v, float("nan")), v) for k, v in new.items()}
        hypergrad = {k: v.detach() for k, v in nat_grad.items() if k != "w0"}
        return {**state, "hyper": new, "adam": adam, "hypergrad": hypergrad}

    def hyperparameters(self, state: State) -> dict[str, Tensor]:
        num_groups = state["hyper"]["log_alpha"].shape[1]
        return sch.record(state["hyper"], state["k"], num_groups)


@METHODS.register("reversible")
class Reversible(ScheduleMethod):
    """Reversible learning — Maclaurin, Duvenaud & Adams, "Gradient-based Hyperparameter
    Optimization through Reversible Learning", ICML 2015 (arXiv 1502.03492).

    Trains ``horizon`` steps of SGD with momentum in velocity form with per-step, per-layer
    step sizes and momenta, then recovers the whole trajectory *exactly* in reverse (int64 fixed
    point + an information buffer, :mod:`.fixedpoint`) to compute hypergradients of the final
    meta-objective (training or validation loss on ``meta_batches`` batches) for the
    schedules, the per-layer init scales and the L2 penalty (per layer, or per weight with
    ``l2_per_weight``), and updates them with Adam (``meta_lr`` 0.04) between meta-iterations.
    Memory is O(P) plus ~log2(1/γ) bits per weight per step, instead of O(T·P) floats.

    Settings: ``horizon`` T (100), ``meta_iterations`` (50), ``alpha``/``gamma``/``l2``
    initial values (``None``: from the paired initial hyperparameters, ``α = lr/(1-μ)``,
    ``γ = μ``), ``log_init_scale`` (0: the task's default init), ``learn`` (subset of alpha,
    gamma, init_scale, l2), ``resample_batches`` (False: every meta-iteration replays batches
    ``0..T-1``, as the reference), ``radix_bits`` (52).

    Momenta are applied as rationals ``n/2^16`` (the reference's rounding); hypergradients are
    those of the trajectory actually run. Not batchable over inits (the buffer's tail has
    data-dependent lengths). Gradient clipping and recurrent carries are rejected.

    See also: ``unrolled_full`` (the same hypergradient by storing the float trajectory).
    """

    key: ClassVar[str] = "reversible"
    supports_batching: ClassVar[bool] = False

    def init(self, problem: Problem, w0: Tensor, mstate: ModelState, hyper: InitialHyper) -> State:
        state = self._common_state(problem, w0, mstate, hyper)
        self._check_range(problem, state)
        state["exact"] = core.init_fixed(state["w"], self.radix_bits)
        state["bad"] = torch.zeros((), dtype=torch.bool, device=problem.device)
        state["reversal_exact"] = torch.ones((), dtype=torch.bool, device=problem.device)
        return state

    def _check_range(self, problem: Problem, state: State) -> None:
        """ValueError if the initial weights, or one step's velocity or move, would not fit
        the fixed-point range (checked with the gradient at the initial weights)."""
        limit = fx.fixed_range(self.radix_bits) / 4
        w = state["w"]
        w_max = float(w.abs().max())
        lam = self._l2_flat(problem, state["hyper"])
        _, g, _ = core.train_gradient(problem, w, state["mstate"], problem.train_batch(0), lam)
        g_max = float(g.abs().max())
        a_max = float(sch.natural(state["hyper"])["alpha"].max())
        for what, value in (
            ("initial weight", w_max),
            ("initial gradient (velocity bound)", g_max),
            ("alpha x initial gradient (weight move)", a_max * g_max),
        ):
            if not math.isfinite(value) or value >= limit:
                raise ValueError(
                    f"reversible: {what} magnitude {value:.3g} exceeds the fixed-point range "
                    f"{limit:.3g} for radix_bits={self.radix_bits}; lower radix_bits, the init "
                    "scale or alpha"
                )

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        m, k = divmod(t, self.horizon)
        if k == 0:
            w0 = self._initial_weights(problem, state)
            state = {**state, "exact": core.init_fixed(w0, self.radix_bits)}
            state["w0_int"] = state["exact"]["w_int"]
            state["bad"] = torch.zeros_like(state["bad"])
        nat = sch.natural(state["hyper"])
        gid = layout_ids.group_ids(problem)
        lam = core.l2_flat(nat["l2"], gid, self.l2_per_weight)
        h = core.step_hyper(nat["alpha"], nat["gamma"], k, gid)
        batch_of = self._batch_of(problem, m)
        exact, loss, mstate, bad = core.forward_step(
            problem, state["exact"], state["mstate"], batch_of(k), h, lam, self.radix_bits
        )
        bad = state["bad"] | bad
        w = fx.from_fixed(exact["w_int"], self.radix_bits, problem.dtype)
        state = {**state, "exact": exact, "mstate": mstate, "w": w, "bad": bad}
        state["k"] = torch.full_like(state["k"], k)
        if k == self.horizon - 1:
            state = self._hyper_step(problem, state, batch_of)
        return state, torch.where(bad, torch.full_like(loss, float("nan")), loss)

    def _hyper_step(self, problem: Problem, state: State, batch_of) -> State:
        f, dw = core.meta_objective(
            problem, state["w"], state["mstate"], self._meta_batches(problem)
        )
        nat = sch.natural(state["hyper"])
        bits = fx.buffer_bits(state["exact"]["buffer"])
        bits_t = {
            k: torch.tensor(v, dtype=torch.float64, device=problem.device) for k, v in bits.items()
        }
        state = {**state, "meta_objective": f, "buffer_bits": bits_t}
        if bool(state["bad"]):  # out of range: the integers are garbage, skip the reversal
            zeros = {k: torch.zeros_like(v) for k, v in state["hyper"].items()}
            grads = {
                "alpha": zeros["log_alpha"],
                "gamma": zeros["logit_gamma"],
                "init_scale": zeros["log_init_scale"],
                "l2": zeros["log_l2"],
            }
            return self._meta_update(state, grads, state["bad"])
        start, grads = core.reverse_pass(
            problem,
            state["exact"],
            state["mstate"],
            batch_of,
            nat["alpha"],
            nat["gamma"],
            nat["l2"],
            self.l2_per_weight,
            state["w_base"],
            dw,
            self.radix_bits,
        )
        ok = (start["w_int"] == state["w0_int"]).all() & (start["v_int"] == 0).all()
        ok = (
            ok
            & (start["buffer"]["head"] == fx.HEAD_LOW).all()
            & (len(start["buffer"]["tail"]) == 0)
        )
        state = {**state, "reversal_exact": ok, "recovered": start}
        return self._meta_update(state, grads, state["bad"])

    def diagnostics(self, state: State) -> dict[str, Any]:
        """Figures of the last meta-iteration: meta-objective, whether the reversal recovered
        the initial weights, velocities and an empty buffer bit for bit, and buffer bits."""
        return {
            "meta_objective": float(state["meta_objective"]),
            "reversal_exact": bool(state["reversal_exact"]),
            "buffer_bits": {k: float(v) for k, v in state.get("buffer_bits", {}).items()},
        }


__all__ = ["Reversible", "ScheduleMethod"]
