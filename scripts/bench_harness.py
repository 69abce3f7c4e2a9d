"""Harness overhead: the runner's time per weight step against a bare hand-written loop.

Both drive the same method on the same tiny task in this one process, interleaved over
several repeats in alternating order; the headline figure is the median of the paired ratios.

    python scripts/bench_harness.py [--task sk_diabetes] [--method fixed] [--steps 500]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from hgbench.bench.loop import train
from hgbench.methods import METHODS
from hgbench.methods.core.hyper import sample_initial_hypers
from hgbench.tasks import TASKS


def bare(problem, method, w0, hyper, steps: int) -> float:
    state = method.init(problem, w0, problem.init_model_state(), hyper)
    t0 = time.perf_counter()
    for t in range(steps):
        state, loss = method.step(problem, state, t)
    float(loss)
    return (time.perf_counter() - t0) / steps


def runner(problem, method, w0, hyper, steps: int, eval_every: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    res = train(problem, method, [w0], [hyper], budget=steps, eval_every=eval_every, batched=False)
    wall = time.perf_counter() - t0
    return res.method_time_s / steps, wall / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="sk_diabetes")
    ap.add_argument("--method", default="fixed")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    task = TASKS.get(args.task)(scale="small")
    problem = task.build()
    method = METHODS.get(args.method)()
    w0 = problem.init_weights(0)
    hyper = sample_initial_hypers(0, 1)[0]
    bare(problem, method, w0, hyper, 20)  # warm up
    b, r_method, r_wall = [], [], []
    for k in range(args.repeats):
        # alternate the order (bare first, then runner first) so drift and warm caches
        # favour neither side
        if k % 2 == 0:
            b.append(bare(problem, method, w0, hyper, args.steps))
        m, w = runner(problem, method, w0, hyper, args.steps, task.eval_every)
        r_method.append(m)
        r_wall.append(w)
        if k % 2 == 1:
            b.append(bare(problem, method, w0, hyper, args.steps))
    print(f"task={args.task} method={args.method} steps={args.steps} repeats={args.repeats} "
          f"eval_every={task.eval_every} threads=1 torch={torch.__version__}")  # fmt: skip
    paired = [m / x for m, x in zip(r_method, b, strict=True)]
    print(f"runner method time / bare loop, median of {len(paired)} paired repeats: "
          f"{statistics.median(paired):.3f} (quartiles "
          f"{' / '.join(f'{q:.3f}' for q in statistics.quantiles(paired, n=4))})")  # fmt: skip
    for name, agg in (("median", statistics.median), ("min", min)):
        mb, mm, mw = (agg(x) for x in (b, r_method, r_wall))
        print(f"[{name} of repeats]")
        print(f"  bare loop            {mb * 1e3:8.4f} ms/step")
        print(f"  runner, method time  {mm * 1e3:8.4f} ms/step  ratio {mm / mb:.3f}")
        print(f"  runner, wall (+eval) {mw * 1e3:8.4f} ms/step  ratio {mw / mb:.3f}")


if __name__ == "__main__":
    main()
