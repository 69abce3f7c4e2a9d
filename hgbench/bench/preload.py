"""Imported by the local executor's fork server, so every worker starts warm.

Importing this module imports what a run imports lazily (the built-in task and method modules,
scikit-learn's dataset loaders, the ``torch.func`` transforms and what their first call
imports) and runs two steps of a tiny problem through the paths a method takes: eager
gradients, ``vmap`` over inits, Hessian-vector products and vjps. Workers fork from the server
with all of it done, so a run's *start-up* time and *run-owned memory* measure the run itself,
not the ~2 s and ~200 MB of first imports a fresh Python process pays once (measured on this
2-core CPU: first batched ``fixed`` start-up 2.1 s cold, 3 ms warm).
"""

from __future__ import annotations

import torch


def warm_up() -> None:
    """Import and exercise the run path once on a tiny problem (a few milliseconds warm)."""
    import sklearn.datasets  # noqa: F401 - the embedded tasks' loaders

    from hgbench.bench.loop import train
    from hgbench.methods import METHODS
    from hgbench.methods.core.hyper import sample_initial_hypers
    from hgbench.tasks import TASKS
    from hgbench.tasks.base import SplitData, SupervisedProblem
    from hgbench.tasks.losses import squared_error
    from hgbench.tasks.models import mlp

    METHODS.names(), TASKS.names()  # the built-in modules register themselves
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 2, generator=g), torch.randn(8, generator=g)
    split = SplitData(x, y)
    problem = SupervisedProblem(
        name="warm_up", model_factory=lambda: mlp([2, 3, 1]), train=split, val=split,
        test=split, loss_fn=squared_error, metrics={}, metric="loss",
    )  # fmt: skip
    hypers = sample_initial_hypers(0, 2)
    w0s = [problem.init_weights(k) for k in range(2)]
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        for key, settings in (("fixed", {}), ("implicit", {"T": 1, "K": 2})):
            method = METHODS.get(key)(**settings)
            train(problem, method, w0s, hypers, budget=2, eval_every=1, batched=True)
            train(problem, method, w0s[:1], hypers[:1], budget=2, eval_every=1, batched=False)
    finally:
        torch.set_num_threads(previous)


warm_up()
