"""Random search: the best of N fixed-hyperparameter SGD runs, chosen on validation loss."""

from __future__ import annotations

import zlib
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor
from torch._C._functorch import peek_interpreter_stack
from torch.utils._pytree import tree_map

from hgbench.methods import METHODS
from hgbench.methods.core.diff import value_and_grad
from hgbench.methods.core.optim import clip_by_global_norm, sgd
from hgbench.methods.core.stacked import vmap_stacked
from hgbench.settings import setting
from hgbench.spec import InitialHyper, ModelState, Problem, State
from hgbench.spec import Method as _Method

#: range of the per-run lr multiplier of "Random (×LR)" (Clarke et al., 2022)
MULTIPLIER_RANGE = (0.95, 1.01)
#: natural lr bounds the stepped lr is clamped to (log10 lr in [-10, 0], as every Clarke method)
LR_BOUNDS = (1e-10, 1.0)


def member_hypers(hyper: InitialHyper, n: int, seed: int = 0) -> list[InitialHyper]:
    """Member 0 is the paired init itself; members 1..n-1 are drawn like the paired sampler
    (log10 lr ~ U(-6, -1), log10 wd ~ U(-7, -2), momentum ~ U(0, 1)) from a generator seeded by
    ``(seed, init index, member, the init's values)``, so they follow the paired init."""
    salt = zlib.crc32(repr(sorted(hyper.as_dict().items())).encode())
    out = [hyper]
    for m in range(1, n):
        rng = np.random.default_rng([seed, hyper.index, m, salt])
        log_lr, log_wd, mom = rng.uniform(-6, -1), rng.uniform(-7, -2), rng.uniform(0, 1)
        out.append(InitialHyper(hyper.index, 10.0**log_lr, 10.0**log_wd, mom))
    return out


def _over_members(fn: Any) -> Any:
    """``fn`` of one member vmapped over the stacked members (``torch.func.vmap``'s default
    ``randomness="error"``: a member's step draws nothing)."""
    return vmap_stacked(fn, "random_search members", randomness="error")


def _take(x: Tensor, idx: Tensor) -> Tensor:
    """``x[idx]`` for a 0-d index tensor without reading it on the host (indexing with a
    tensor scalar is an ``.item()``: a device synchronisation every step on a GPU)."""
    return x.index_select(0, idx.reshape(1)).squeeze(0)


def _pick(tree: Any, idx: Tensor) -> Any:
    return torch.utils._pytree.tree_map(lambda x: _take(x, idx), tree)


def _best(values: Tensor) -> Tensor:
    """Index of the smallest finite value (0 when none is finite: that member's non-finite
    value is then reported, so the run is marked diverged)."""
    return torch.where(torch.isfinite(values), values, torch.inf).argmin()


@METHODS.register("random_search")
class RandomSearch(_Method):
    """Random search over SGD hyperparameters, best of N runs by final validation loss.

    Bergstra and Bengio, "Random Search for Hyper-Parameter Optimization", JMLR 13 (2012);
    the "Random", "Random (×LR)" and "Random (3-batched)" baselines of Clarke, Oldewage and
    Hernández-Lobato, ICLR 2022 (arXiv 2110.10461).

    The N members (``n``; member 0 is the paired init, see :func:`member_hypers`) train as one
    vmapped state, each with fixed lr, wd and momentum (SGD, PyTorch form). ``stepped_lr``
    ("Random (×LR)", the reference config ``Random_SteppedLR``): each member draws one lr
    multiplier ``m ~ U(0.95, 1.01)`` at ``init`` (seeded; the reference's override generator
    draws one ``lr_multiplier`` per run) and after every ``T`` weight steps its lr becomes
    ``clamp(lr · m, 1e-10, 1)``, so the lr follows the geometric schedule ``lr_0 m^k``.
    ``finalize`` selects the member with the lowest full validation loss; before that the
    reported loss, weights and hyperparameters are the member with the lowest current train
    loss. Cost: N runs (``runs_per_init = n``; the gradient counter counts all N).

    With ``n = 1`` the method never looks at validation data (``uses_validation`` is False:
    a paper suite trains it on train+val, as the reference's ``Random`` and
    ``Random_SteppedLR`` configs with ``validation_proportion: 0``); with ``n > 1`` it
    selects on validation data and trains on train only, as ``Random_Validation`` behind
    "Random (3-batched)".
    """

    key: ClassVar[str] = "random_search"

    n: int = setting(3, low=1, doc="members (runs) per init")
    stepped_lr: bool = setting(
        False, doc='"Random (×LR)": lr × m every T steps, m ~ U(0.95, 1.01) once per member'
    )
    T: int = setting(10, low=1, doc="weight steps between lr multiplications")
    seed: int = setting(0, doc="seed of the members' hyperparameters and lr multipliers")

    @property
    def uses_validation(self) -> bool:  # type: ignore[override]
        return self.n > 1

    @property
    def runs_per_init(self) -> int:  # type: ignore[override]
        return self.n

    def init(self, problem: Problem, w0: Tensor, mstate: ModelState, hyper: InitialHyper) -> State:
        members = member_hypers(hyper, self.n, self.seed)

        def col(name: str) -> Tensor:
            values = [getattr(h, name) for h in members]
            return torch.tensor(values, dtype=w0.dtype, device=w0.device)

        stack = lambda x: torch.stack([x] * self.n)  # noqa: E731
        state: State = {
            "members": {
                "w": stack(w0.detach()),
                "momentum_buffer": w0.new_zeros((self.n, *w0.shape)),
                "mstate": torch.utils._pytree.tree_map(stack, mstate),
                "lr": col("lr"),
                "weight_decay": col("weight_decay"),
                "momentum": col("momentum"),
            },
            "best": torch.zeros((), dtype=torch.long, device=w0.device),
        }
        if self.stepped_lr:
            rng = np.random.default_rng([self.seed, hyper.index, 0x717])
            draws = rng.uniform(*MULTIPLIER_RANGE, size=self.n)
            state["lr_multiplier"] = torch.tensor(draws, dtype=w0.dtype, device=w0.device)
        return state

    def step(self, problem: Problem, state: State, t: int) -> tuple[State, Tensor]:
        batch = problem.train_batch(t)

        def member(m: dict[str, Any]) -> tuple[Tensor, Tensor, ModelState, Tensor]:
            loss, g, ms = value_and_grad(problem, m["w"], m["mstate"], batch)
            g = clip_by_global_norm(g, problem.grad_clip)
            w, opt = sgd(
                m["w"],
                g,
                {"momentum_buffer": m["momentum_buffer"]},
                m["lr"],
                m["weight_decay"],
                m["momentum"],
            )
            return w, opt["momentum_buffer"], ms, loss

        if peek_interpreter_stack() is None:
            # alone: eager gradients member by member (torch.func.grad costs ~2x on small models)
            pick = lambda i: lambda x: x[i]  # noqa: E731
            outs = [member(tree_map(pick(i), state["members"])) for i in range(self.n)]
            w, buf, ms, losses = tree_map(lambda *xs: torch.stack(xs), *outs)
        else:
            w, buf, ms, losses = _over_members(member)(state["members"])
            problem.counter.add(gradient=self.n - 1)  # one issued, vmapped over n members
        members = {**state["members"], "w": w, "momentum_buffer": buf, "mstate": ms}
        if self.stepped_lr and (t + 1) % self.T == 0:
            members["lr"] = (members["lr"] * state["lr_multiplier"]).clamp(*LR_BOUNDS)
        best = _best(losses)
        return {**state, "members": members, "best": best}, _take(losses, best)

    def finalize(self, problem: Problem, state: State) -> State:
        m = state["members"]
        val = _over_members(lambda wm: problem.evaluate(*wm, "val")["loss"])((m["w"], m["mstate"]))
        return {**state, "best": _best(val)}

    def weights(self, state: State) -> tuple[Tensor, ModelState]:
        m = state["members"]
        return _take(m["w"], state["best"]), _pick(m["mstate"], state["best"])

    def hyperparameters(self, state: State) -> dict[str, Tensor]:
        m = state["members"]
        return {n: _take(m[n], state["best"]) for n in ("lr", "weight_decay", "momentum")}
