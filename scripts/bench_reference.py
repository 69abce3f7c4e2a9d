"""Per-step time of hgbench against the published code it replaces, side by side in one process.

On UCI Energy (MLP 8-50-1, 501 weights, full batch of 614 rows, float64), 100 steps from the
same initial weights with the same hyperparameters on both sides:

* hgbench ``fixed`` (SGD, momentum, L2) against a plain ``torch.optim.SGD`` loop;
* hgbench ``hd_sgd`` against Baydin et al.'s reference ``SGDHD`` (``hypergrad/sgd_hd.py``);
* hgbench ``tower`` ``sgd/sgd`` and ``adam/adam`` against gdtuo's ``SGD(optimizer=SGD())``
  and ``Adam(optimizer=Adam())`` through its ``ModuleWrapper`` (the loop of its README).

Each round times every pair once, the two sides in alternating order (so drift and load hit
both alike); the table gives the median over rounds of the paired time ratio hgbench / other
and its range, and the largest difference between the two trajectories (weights after every
step, and losses), which should be ~1e-12 or less. One torch thread.

The reference code is not part of hgbench; clone it anywhere outside the repository and pass
the folders (the versions measured: gbaydin/hypergradient-descent at 020d608, 2019-02-25, and
kach/gradient-descent-the-ultimate-optimizer at b3b047e, 2022-10-08)::

    git clone https://github.com/gbaydin/hypergradient-descent /tmp/ref/baydin
    git clone https://github.com/kach/gradient-descent-the-ultimate-optimizer /tmp/ref/gdtuo
    HGBENCH_DATA=/path/to/data python scripts/bench_reference.py \\
        --baydin-dir /tmp/ref/baydin --gdtuo-dir /tmp/ref/gdtuo --rounds 21

Needs the real UCI Energy data (``HGBENCH_DATA``, or ``--data-dir``). Pairs whose reference
folder is not given are skipped (``fixed`` needs none).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

import hgbench
from hgbench.methods import METHODS
from hgbench.spec import InitialHyper, Problem
from hgbench.tasks import TASKS

#: a side of a pair: a fresh run of ``steps`` steps; with ``record`` it returns the weights
#: after each step and the losses (timed runs record nothing)
Run = Callable[[int, bool], tuple[list[Tensor], list[Tensor]]]

LR, MOMENTUM, WEIGHT_DECAY = 0.01, 0.9, 1e-4
HD_BETA = 1e-3
KAPPA = {"sgd": 1e-5, "adam": 1e-5}
ADAM_LR = 1e-3


@contextmanager
def default_dtype(dtype: torch.dtype):
    """gdtuo makes its hyperparameters with ``torch.tensor(float)``: in the default dtype."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def hgbench_run(problem: Problem, key: str, settings: dict, hyper: InitialHyper) -> Run:
    method = METHODS.get(key)(**settings)
    w0, m0 = problem.init_weights(0), problem.init_model_state()

    def run(steps: int, record: bool = False):
        state = method.init(problem, w0, m0, hyper)
        ws, losses = [], []
        for t in range(steps):
            state, loss = method.step(problem, state, t)
            if record:
                ws.append(state["w"])
                losses.append(loss)
        return ws, losses

    return run


def torch_module(problem: Problem) -> torch.nn.Module:
    """The task's model with the initial weights hgbench starts from."""
    module = problem._factory().to(problem.dtype)  # type: ignore[attr-defined]
    init = problem.layout.unflatten(problem.init_weights(0))
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(init[name])
    return module


def flat(problem: Problem, params) -> Tensor:
    return torch.cat([params[n].detach().reshape(-1) for n in problem.layout.names])


def optimizer_loop_run(problem: Problem, make_optimizer: Callable[[Any], Any]) -> Run:
    """A plain PyTorch loop: ``nn.Module`` forward, ``backward``, ``make_optimizer(params).step()``."""
    batch = problem.train_batch(0)
    x, y = batch.inputs, batch.targets

    def run(steps: int, record: bool = False):
        model = torch_module(problem)
        opt = make_optimizer(model.parameters())
        ws, losses = [], []
        for _ in range(steps):
            loss = F.mse_loss(model(x).squeeze(1), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if record:
                ws.append(flat(problem, dict(model.named_parameters())))
                losses.append(loss.detach())
        return ws, losses

    return run


def torch_sgd_run(problem: Problem) -> Run:
    return optimizer_loop_run(
        problem,
        lambda ps: torch.optim.SGD(ps, lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY),
    )


def baydin_run(problem: Problem, sgdhd: type) -> Run:
    return optimizer_loop_run(
        problem, lambda ps: sgdhd(ps, lr=LR, weight_decay=WEIGHT_DECAY, hypergrad_lr=HD_BETA)
    )


def gdtuo_run(problem: Problem, gdtuo, level: str) -> Run:
    batch = problem.train_batch(0)
    x, y = batch.inputs, batch.targets

    def run(steps: int, record: bool = False):
        with default_dtype(problem.dtype):
            if level == "sgd":
                opt = gdtuo.SGD(LR, optimizer=gdtuo.SGD(KAPPA["sgd"]))
            else:
                opt = gdtuo.Adam(ADAM_LR, optimizer=gdtuo.Adam(KAPPA["adam"]))
        mw = gdtuo.ModuleWrapper(torch_module(problem), optimizer=opt)
        mw.initialize()
        ws, losses = [], []
        for _ in range(steps):
            mw.begin()
            loss = F.mse_loss(mw.forward(x).squeeze(1), y)
            mw.zero_grad()
            loss.backward(create_graph=True)
            mw.step()
            if record:
                ws.append(flat(problem, mw.parameters))
                losses.append(loss.detach())
        return ws, losses

    return run


def pairs(problem: Problem, args: argparse.Namespace) -> dict[str, tuple[Run, Run]]:
    hyper = InitialHyper(0, lr=LR, weight_decay=WEIGHT_DECAY, momentum=MOMENTUM)
    out = {
        "fixed / torch.optim.SGD loop": (
            hgbench_run(problem, "fixed", {}, hyper),
            torch_sgd_run(problem),
        )
    }
    if args.baydin_dir:
        sys.path.insert(0, str(Path(args.baydin_dir).resolve()))
        from hypergrad import SGDHD  # the reference repository's package

        hd = {"alpha0": LR, "beta": HD_BETA, "weight_decay": WEIGHT_DECAY}
        out["hd_sgd / Baydin SGDHD"] = (
            hgbench_run(problem, "hd_sgd", hd, hyper),
            baydin_run(problem, SGDHD),
        )
    if args.gdtuo_dir:
        sys.path.insert(0, str(Path(args.gdtuo_dir).resolve() / "src"))
        from gradient_descent_the_ultimate_optimizer import gdtuo

        for level, lr in (("sgd", LR), ("adam", ADAM_LR)):
            settings = {"levels": f"{level}/{level}", "kappa": KAPPA[level], "alpha0": lr}
            out[f"tower {level}/{level} / gdtuo {level}/{level}"] = (
                hgbench_run(problem, "tower", settings, hyper),
                gdtuo_run(problem, gdtuo, level),
            )
    return out


def max_diff(a: tuple[list[Tensor], list[Tensor]], b: tuple[list[Tensor], list[Tensor]]):
    dw = max(float((x - y).abs().max()) for x, y in zip(a[0], b[0], strict=True))
    dl = max(float((x - y).abs()) for x, y in zip(a[1], b[1], strict=True))
    return dw, dl


def timed(run: Run, steps: int) -> float:
    start = time.perf_counter()
    run(steps)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("HGBENCH_DATA"))
    parser.add_argument("--baydin-dir", help="a clone of gbaydin/hypergradient-descent")
    parser.add_argument(
        "--gdtuo-dir", help="a clone of kach/gradient-descent-the-ultimate-optimizer"
    )
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error("needs the real UCI Energy data: set HGBENCH_DATA or pass --data-dir")
    warnings.filterwarnings("ignore", category=UserWarning)  # the references' deprecations
    torch.set_num_threads(1)
    problem = TASKS.get("uci_energy")(scale="paper").build(
        data_dir=args.data_dir, dtype=torch.float64
    )
    table = pairs(problem, args)
    diffs = {
        label: max_diff(a(args.steps, True), b(args.steps, True)) for label, (a, b) in table.items()
    }
    ratios: dict[str, list[float]] = {label: [] for label in table}
    ms: dict[str, list[tuple[float, float]]] = {label: [] for label in table}
    for r in range(args.rounds + 1):  # round 0 warms up
        for label, (ours, theirs) in table.items():
            if r % 2:
                t_theirs, t_ours = timed(theirs, args.steps), timed(ours, args.steps)
            else:
                t_ours, t_theirs = timed(ours, args.steps), timed(theirs, args.steps)
            if r:
                ratios[label].append(t_ours / t_theirs)
                ms[label].append((t_ours, t_theirs))
    print(f"hgbench at {Path(hgbench.__file__).parent.parent}; torch {torch.__version__}, 1 thread")
    print(
        f"uci_energy ({problem.layout.size} weights, {problem.num_examples('train')} rows, "
        f"float64), {args.steps} steps per run, {args.rounds} rounds in alternating order"
    )
    print(
        f"{'pair (hgbench / reference)':<40}{'ratio':>8}{'range':>15}"
        f"{'ms/step':>16}{'max |Δw|':>10}{'max |Δloss|':>12}"
    )
    for label, values in ratios.items():
        ours = statistics.median(t for t, _ in ms[label]) / args.steps * 1e3
        theirs = statistics.median(t for _, t in ms[label]) / args.steps * 1e3
        dw, dl = diffs[label]
        print(
            f"{label:<40}{statistics.median(values):>8.3f}"
            f"{f'{min(values):.2f}-{max(values):.2f}':>15}"
            f"{f'{ours:.3f} / {theirs:.3f}':>16}{dw:>10.1e}{dl:>12.1e}"
        )


if __name__ == "__main__":
    main()
