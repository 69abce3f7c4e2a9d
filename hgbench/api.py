"""The public API: everything a method author or a notebook user needs, in one place.

Writing a method (see ``docs/method-authors.md`` and ``examples/``)::

    from hgbench.api import Method, setting, training_gradient, sgd, scalar

    class CosineSGD(Method):
        \"\"\"SGD with a cosine learning-rate schedule (Loshchilov & Hutter, ICLR 2017).\"\"\"

        key = "cosine_sgd"
        period: int = setting(100, low=1, doc="steps of one cosine cycle")

        def init(self, problem, w0, mstate, hyper):
            return {"w": w0, "mstate": mstate, "buf": sgd_init(w0)["momentum_buffer"],
                    "lr0": scalar(problem, hyper.lr), "lr": scalar(problem, hyper.lr)}
        ...

Running it::

    import hgbench
    runs = hgbench.run(CosineSGD, "sk_digits", inits=4)     # a pandas DataFrame, one row a run
    runs = hgbench.load_runs("hgbench-results/results.sqlite")
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from hgbench.bench.store import load_batches, load_records, load_runs
from hgbench.methods import METHODS
from hgbench.methods.core.common import scalar, training_gradient
from hgbench.methods.core.diff import forward, hvp, value_and_grad, vjp_through
from hgbench.methods.core.hyper import (
    LOG10,
    LOG10_LR,
    LOGIT,
    RAW,
    HyperSpace,
    Transform,
    sample_initial_hypers,
    summarise,
)
from hgbench.methods.core.optim import (
    OPTIMIZERS,
    FunctionalOptimizer,
    adagrad,
    adam,
    adam_direction,
    adam_init,
    clip_by_global_norm,
    get_optimizer,
    rmsprop,
    sgd,
    sgd_direction,
    sgd_init,
)
from hgbench.settings import setting
from hgbench.spec import (
    Batch,
    BuildContext,
    InitialHyper,
    Method,
    ModelState,
    ParamLayout,
    Problem,
    State,
    Task,
)
from hgbench.tasks import TASKS
from hgbench.tasks.base import ScaledTask, SplitData, SupervisedProblem
from hgbench.tasks.models import mlp
from hgbench.tasks.regression import regression_problem

__all__ = [
    "LOG10", "LOG10_LR", "LOGIT", "METHODS", "OPTIMIZERS", "RAW", "TASKS", "Batch",
    "BuildContext", "FunctionalOptimizer", "HyperSpace", "InitialHyper", "Method", "ModelState",
    "ParamLayout", "Problem", "ScaledTask", "SplitData", "State", "SupervisedProblem", "Task",
    "Transform", "mlp", "regression_problem", "adagrad", "adam", "adam_direction",
    "adam_init", "clip_by_global_norm", "forward", "get_optimizer", "hvp", "load_batches",
    "load_records", "load_runs", "rmsprop", "run", "sample_initial_hypers", "scalar", "setting",
    "sgd", "sgd_direction", "sgd_init", "summarise", "training_gradient", "value_and_grad",
    "vjp_through",
]  # fmt: skip


def _method_key(method: str | type[Method] | Method) -> tuple[str, dict[str, Any]]:
    """The registered key and settings of ``method``, registering a class given directly."""
    if isinstance(method, str):
        METHODS.get(method)
        return method, {}
    cls = method if isinstance(method, type) else type(method)
    if not (isinstance(cls, type) and issubclass(cls, Method)) or not getattr(cls, "key", ""):
        raise ValueError(f"expected a method key or a Method subclass with a key, got {method!r}")
    if cls.key not in METHODS:
        METHODS.register(cls.key)(cls)
    elif METHODS.get(cls.key) is not cls:
        raise ValueError(f"method key {cls.key!r} is registered to another class")
    return cls.key, ({} if isinstance(method, type) else method.settings())


def run(
    method: str | type[Method] | Method,
    task: str,
    *,
    settings: Mapping[str, Any] | None = None,
    scale: str = "small",
    task_overrides: Mapping[str, Any] | None = None,
    inits: int = 1,
    init: Sequence[Mapping[str, float]] | None = None,
    seed: int = 0,
    budget: int | None = None,
    eval_every: int | None = None,
    batch_inits: int = 1,
    dtype: str = "float32",
    device: str = "cpu",
    threads: int = 1,
    data_dir: str | None = None,
    results: str | Path | None = None,
) -> pd.DataFrame:
    """Run ``method`` (a key, a :class:`Method` subclass or an instance) on ``task`` in this
    process, store the runs in ``results`` (a temporary file when None) and return them as
    :func:`load_runs` does; ``.attrs["results"]`` holds the file's path. Inits are paired and
    seeded as in a sweep (``init``: explicit initial hyperparameters instead of ``inits``)."""
    from hgbench.bench import preload  # noqa: F401 - warm imports: start-up measures the run
    from hgbench.bench.config import with_data_fingerprints
    from hgbench.bench.executors import InlineExecutor
    from hgbench.bench.suites import Suite
    from hgbench.bench.sweep import run_sweep

    key, own = _method_key(method)
    suite = Suite(
        name="api", source="hgbench.run", scale=scale, tasks=[task],
        methods=[{"key": key, "settings": {**own, **(settings or {})}}], seeds=[seed],
        inits=inits, budget=budget, eval_every=eval_every, batch_inits=batch_inits, dtype=dtype,
        task_overrides={task: dict(task_overrides or {})}, time_limit_s=None,
    )  # fmt: skip
    runs = with_data_fingerprints(
        suite.expand(explicit_inits=init, device=device, threads=threads, data_dir=data_dir)
    )
    path = Path(results) if results is not None else Path(tempfile.mkdtemp()) / "results.sqlite"
    run_sweep(runs, path, InlineExecutor(), quiet=True)
    out = load_runs(path)
    out.attrs["results"] = str(path)
    return out
