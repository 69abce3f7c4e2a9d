"""``higher_unrolled``: truncated Diff-through-Opt written with ``higher``, as Clarke et al.'s
code runs it (an example of :mod:`hgbench.interop.higher`).

Not in the method registry (it needs the optional ``higher`` extra): run it with
``hgbench.run(HigherUnrolled, task)``, or register it from a package of your own with the
entry point ``higher_unrolled = "hgbench.interop.higher_unrolled:HigherUnrolled"``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import ClassVar

import torch
from torch import Tensor

from hgbench.interop.higher import HigherMethod, HigherRun
from hgbench.methods.implicit.common import SGD_SPACE, check_tuned
from hgbench.settings import setting


class HigherUnrolled(HigherMethod):
    """Truncated differentiation through the optimizer ("Diff-through-Opt") — the baseline of
    Clarke, Oldewage & Hernández-Lobato, "Scalable One-Pass Optimisation of High-Dimensional
    Weight-Update Hyperparameters by Implicit Differentiation", ICLR 2022 (arXiv 2110.10461),
    written as their code writes it: ``torch.optim.SGD`` over the model, patched by
    ``higher.innerloop_ctx``; of every ``T`` weight steps the first ``T - k`` run untracked
    (``track_higher_grads=False``), the last ``k`` tracked; the validation loss after the
    window is backpropagated to the raw hyperparameters (log10 lr clamped to [-10, 0], log10
    weight decay, logit momentum, installed as ``override`` tensors each step) and
    ``torch.optim.Adam`` (lr 0.05) takes one step on them, then clamps.

    The same algorithm as ``unrolled`` (reverse mode written by hand over hgbench's functional
    core): the same hypergradients and trajectory, to 1e-10 in float64 (``tests/interop``).
    Counts are approximate (see :mod:`hgbench.interop.higher`): per hyper-step ``T``
    gradients and one forward (the validation loss) are seen, the backward through the window
    (``unrolled`` counts it as one gradient and ``k - 1`` HVPs) is not.

    See also: ``unrolled`` (the hgbench-native implementation).
    """

    key: ClassVar[str] = "higher_unrolled"
    has_phases: ClassVar[bool] = True

    T: int = setting(10, low=1, doc="weight steps per hyper-step")
    k: int = setting(5, low=1, doc="differentiated steps at the end of each T")
    tuned: tuple[str, ...] = setting(
        ("lr", "weight_decay", "momentum"), doc="tuned hyperparameters (subset of lr, wd, momentum)"
    )
    meta_lr: float = setting(0.05, low=0.0, low_open=True, doc="meta-Adam step size")

    def resolve(self) -> None:
        if self.k > self.T:
            raise ValueError(f"{self.key}: k={self.k} must not exceed T={self.T}")
        self.tuned = check_tuned(self.key, self.tuned)

    def phase(self, t: int) -> str:
        """``"hyperstep"`` for the step that backpropagates through the window, else
        ``"weights"``."""
        return "hyperstep" if (t + 1) % self.T == 0 else "weights"

    def loop(self, run: HigherRun) -> Iterator[Tensor]:
        p = run.problem
        raw = SGD_SPACE.to_raw(run.initial.as_dict(), dtype=p.dtype, device=p.device)
        raw = {n: v.requires_grad_(n in self.tuned) for n, v in raw.items()}
        opt = torch.optim.SGD(run.model.parameters(), **run.initial.as_dict())
        tuned = [raw[n] for n in self.tuned]
        meta_opt = torch.optim.Adam(tuned, lr=self.meta_lr)
        for m in itertools.count():
            for tracked, steps in ((False, self.T - self.k), (True, self.k)):
                with run.innerloop_ctx(opt, track_higher_grads=tracked) as (fmodel, diffopt):
                    nat = SGD_SPACE.natural(raw)  # tensors of raw: tracked windows only
                    override = {n: [v if tracked else v.detach()] for n, v in nat.items()}
                    for i in range(steps):
                        loss = fmodel(run.train_batch())
                        diffopt.step(loss, override=override)
                        if not (tracked and i == steps - 1):
                            yield loss
                    if tracked:  # the hyper-step, then the window's last weight step yields
                        meta_opt.zero_grad()
                        fmodel(run.val_batch(m), stream="val").backward(inputs=tuned)
                        meta_opt.step()
                        with torch.no_grad():
                            for n, v in SGD_SPACE.clamp(raw).items():
                                raw[n].copy_(v)
                        run.hypergrad = {n: raw[n].grad.detach().clone() for n in self.tuned}
                        run.hyper = {n: v.detach() for n, v in SGD_SPACE.natural(raw).items()}
                        loss = loss.detach()  # no graph outlives the window
            yield loss
