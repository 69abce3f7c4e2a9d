"""Time per weight step of the online methods against ``fixed`` on one small task.

Prints, for a plain ``torch.optim.SGD`` loop over the same loss, ``fixed``, each ``hd_*`` and
towers of height 1-3 (SGD and Adam levels), the median ms per step over repeats (every method once per repeat, in alternating order)
and the ratio to ``fixed``: the median over repeats of the ratio within each repeat (each
repeat times every method once, so machine load that varies between repeats cancels), with
its range. One torch thread; CPU unless ``--device cuda``.

    python scripts/bench_methods.py --task sk_digits --steps 200 --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from hgbench.methods import METHODS
from hgbench.methods.core.hyper import sample_initial_hypers
from hgbench.tasks import TASKS

CONFIGS: list[tuple[str, str, dict]] = [
    ("fixed", "fixed", {}),
    ("fixed adam", "fixed", {"optimizer": "adam"}),
    ("hd_sgd", "hd_sgd", {}),
    ("hd_sgdn", "hd_sgdn", {}),
    ("hd_adam", "hd_adam", {}),
    ("tower sgd h=0", "tower", {"levels": "sgd"}),
    ("tower sgd h=1", "tower", {"levels": "sgd/sgd", "kappa": 1e-5}),
    ("tower sgd h=2", "tower", {"levels": "sgd/sgd/sgd", "kappa": 1e-5}),
    ("tower sgd h=3", "tower", {"levels": "sgd/sgd/sgd/sgd", "kappa": 1e-5}),
    ("tower adam h=1", "tower", {"levels": "adam/adam", "kappa": 1e-5}),
    ("tower adam h=2", "tower", {"levels": "adam/adam/adam", "kappa": 1e-5}),
    ("tower adam h=3", "tower", {"levels": "adam/adam/adam/adam", "kappa": 1e-5}),
]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def method_runner(problem, key: str, settings: dict) -> Callable[[int], None]:
    method = METHODS.get(key)(**settings)
    hyper = sample_initial_hypers(0, 1)[0]
    state = {"s": method.init(problem, problem.init_weights(0), problem.init_model_state(), hyper)}
    clock = {"t": 0}

    def run(n: int) -> None:
        for _ in range(n):
            state["s"], _ = method.step(problem, state["s"], clock["t"])
            clock["t"] += 1

    return run


def torch_sgd_runner(problem) -> Callable[[int], None]:
    hyper = sample_initial_hypers(0, 1)[0]
    p = torch.nn.Parameter(problem.init_weights(0))
    opt = torch.optim.SGD(
        [p], lr=hyper.lr, momentum=hyper.momentum, weight_decay=hyper.weight_decay
    )
    box = {"m": problem.init_model_state(), "t": 0}

    def run(n: int) -> None:
        for _ in range(n):
            opt.zero_grad(set_to_none=True)
            loss, mstate = problem.loss(p, box["m"], problem.train_batch(box["t"]))
            loss.backward()
            if problem.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_([p], problem.grad_clip)
            opt.step()
            box["m"] = {k: v for k, v in mstate.items()}
            box["t"] += 1

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="sk_digits")
    parser.add_argument("--steps", type=int, default=200, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    problem = TASKS.get(args.task)(scale="small").build(
        device=args.device, dtype=getattr(torch, args.dtype), data_seed=0
    )
    runners = {"torch.optim.SGD loop": torch_sgd_runner(problem)}
    runners.update({label: method_runner(problem, k, s) for label, k, s in CONFIGS})
    for run in runners.values():  # warm-up
        run(20)
    times: dict[str, list[float]] = {label: [] for label in runners}
    order = list(runners.items())
    for r in range(args.repeats):  # interleaved, alternating order: load hits every method alike
        for label, run in order if r % 2 == 0 else order[::-1]:
            _sync(problem.device)
            start = time.perf_counter()
            run(args.steps)
            _sync(problem.device)
            times[label].append((time.perf_counter() - start) / args.steps * 1e3)
    med = {label: statistics.median(v) for label, v in times.items()}
    print(
        f"task {args.task} ({problem.layout.size} weights), {args.device} {args.dtype}, "
        f"1 thread, median of {args.repeats} x {args.steps} steps"
    )
    print(f"{'method':<22}{'ms/step':>10}{'x fixed':>10}{'range':>14}")
    for label, ms in med.items():
        paired = [a / b for a, b in zip(times[label], times["fixed"], strict=True)]
        spread = f"{min(paired):.2f}-{max(paired):.2f}"
        print(f"{label:<22}{ms:>10.4f}{statistics.median(paired):>10.3f}{spread:>14}")


if __name__ == "__main__":
    main()
