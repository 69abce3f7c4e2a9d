"""Hypergradient fidelity: a method's hypergradient against the exact IFT one on a quadratic.

On :class:`hgbench.tasks.quadratic.QuadraticProblem` the exact implicit-function-theorem
hypergradient of ``L_V(w*(λ))`` is closed form. :func:`measure_fidelity` starts a method at
the fixed point ``w*(λ)`` of its initial hyperparameters, lets it take one hyper-step's worth
of weight steps, reads the raw hypergradient it computed (``state["hypergrad"]``) and reports
cosine similarity, relative error and sign agreement as its truncation knob grows (``K`` for
``implicit``/``lorraine``, ``k`` for ``unrolled``).

Also here: small drivers (:func:`run_steps`, :func:`run_batched`) to step a method directly,
one init or several vmapped, without the harness.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import torch
from torch import Tensor
from torch.func import vmap
from torch.utils._pytree import tree_map

from hgbench.methods import METHODS
from hgbench.spec import InitialHyper, Method, Problem, State

#: raw hyperparameter -> key of ``QuadraticProblem.exact_hypergradient`` in the same space
_EXACT_KEY = {"weight_decay": "log10_weight_decay", "lr": "lr", "momentum": "momentum"}


def stack_states(states: Sequence[State]) -> State:
    """States of several inits stacked along a new leading dimension (for ``vmap``)."""
    return tree_map(lambda *xs: torch.stack(xs), *states)


def run_steps(
    method: Method, problem: Problem, state: State, steps: Iterable[int]
) -> tuple[State, list[Tensor]]:
    """Step one init through ``steps`` (weight-step indices); returns state and losses."""
    losses = []
    for t in steps:
        state, loss = method.step(problem, state, t)
        losses.append(loss)
    return state, losses


def run_batched(
    method: Method, problem: Problem, state: State, steps: Iterable[int]
) -> tuple[State, list[Tensor]]:
    """Step a stacked state (leading init dimension) through ``steps`` under ``vmap``."""
    losses = []
    for t in steps:
        state, loss = vmap(lambda s, t=t: method.step(problem, s, t))(state)
        losses.append(loss)
    return state, losses


def window_hypergradient(
    method: Method, problem: Problem, state: State, steps_per_hyper: int, t0: int = 0
) -> dict[str, Tensor]:
    """The raw hypergradient a method computes over the ``steps_per_hyper`` weight steps
    from ``t0`` (the window must end on a hyper-step)."""
    state, _ = run_steps(method, problem, state, range(t0, t0 + steps_per_hyper))
    return dict(state["hypergrad"])


def _knob_settings(key: str, knob: str, value: int) -> dict[str, Any]:
    if knob == "K":
        return {"K": value, "T": 1}
    if knob == "k":
        return {"k": value, "T": value}
    raise ValueError(f"unknown truncation knob {knob!r} for {key}; expected 'K' or 'k'")


def measure_fidelity(
    problem: Any,
    method_key: str,
    values: Iterable[int],
    hyper: InitialHyper,
    *,
    knob: str | None = None,
    settings: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Fidelity of ``method_key``'s hypergradient at ``w*(λ)`` for each knob value.

    ``problem`` must offer ``ridge_solution`` and ``exact_hypergradient`` (the ``quadratic``
    task). ``knob`` defaults to ``k`` for ``unrolled`` and ``K`` otherwise. Returns one row per
    knob value: ``method, knob, value, cosine, rel_error, sign_agree`` and, per tuned
    hyperparameter ``h``, ``hg_h`` and ``exact_h`` (raw space: d/dlog10 for lr and wd).
    """
    if not hasattr(problem, "exact_hypergradient"):
        raise ValueError(
            "measure_fidelity needs a problem with a closed-form hypergradient "
            "(the 'quadratic' task)"
        )
    knob = knob or ("k" if method_key == "unrolled" else "K")
    exact_all = problem.exact_hypergradient(hyper.weight_decay)
    rows = []
    for value in values:
        kw = {**(settings or {}), **_knob_settings(method_key, knob, int(value))}
        method = METHODS.get(method_key)(**kw)
        w_star = problem.ridge_solution(hyper.weight_decay)
        state = method.init(problem, w_star, problem.init_model_state(), hyper)
        hg = window_hypergradient(method, problem, state, kw["T"])
        names = sorted(hg)
        got = torch.stack([hg[n].sum() for n in names])
        exact = torch.stack([exact_all[_EXACT_KEY[n]].to(got) for n in names])
        diff = (got - exact).norm() / exact.norm().clamp_min(1e-300)
        cos = (got @ exact) / (got.norm() * exact.norm()).clamp_min(1e-300)
        row: dict[str, Any] = {
            "method": method_key,
            "knob": knob,
            "value": int(value),
            "cosine": float(cos),
            "rel_error": float(diff),
            "sign_agree": bool((torch.sign(got) == torch.sign(exact))[exact != 0].all()),
        }
        for n, g, e in zip(names, got, exact, strict=True):
            row[f"hg_{n}"], row[f"exact_{n}"] = float(g), float(e)
        rows.append(row)
    return pd.DataFrame(rows)


def tiny_mlp_problem(seed: int = 0, dtype: torch.dtype = torch.float64) -> Problem:
    """A tiny nonlinear regression problem (MLP 3-4-1, tanh, 16/8/8 rows) for oracle checks
    such as finite differences, where a quadratic would hide curvature terms."""
    from torch import nn

    from hgbench.tasks.base import SplitData, SupervisedProblem
    from hgbench.tasks.losses import squared_error
    from hgbench.tasks.models import mlp

    gen = torch.Generator().manual_seed(seed)

    def split(n: int) -> SplitData:
        x = torch.randn(n, 3, generator=gen, dtype=torch.float64)
        return SplitData(x, torch.sin(x.sum(-1)) + 0.1 * torch.randn(n, generator=gen))

    return SupervisedProblem(
        name="tiny_mlp",
        model_factory=lambda: mlp([3, 4, 1], nn.Tanh),
        train=split(16),
        val=split(8),
        test=split(8),
        loss_fn=squared_error,
        metrics={},
        metric="loss",
        dtype=dtype,
    )
