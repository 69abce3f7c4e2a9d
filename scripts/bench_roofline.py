"""Roofline of batched ``fixed`` on the UCI MLPs: this CPU's peaks against one init-step.

Measures, on one torch thread:

* this CPU's large-GEMM throughput (``--gemm`` square fp32 matrices, GFLOP/s) and its stream
  bandwidth (a large in-place elementwise op, ``x.mul_(c)`` over ``--stream-mb`` MB: read and
  write, GB/s);
* for each UCI data set at paper scale (MLP [D, 50, 1], full batch, float32) and N = ``--inits``
  paired inits of ``fixed``: the matmul flops of one init-step (counted by
  ``torch.utils.flop_counter`` on one unbatched step), the bytes its new tensors take
  (:func:`hgbench.bench.chunking.step_bytes`), the compute floor (flops at the GEMM
  throughput) and the stream floor (twice the bytes at the stream bandwidth), and the measured
  time per init-step of the batch with the fused gradient kernel (``hgbench.tasks.fused``,
  the default where it applies) and with autograd (``HGBENCH_FUSED=0``), each at its default
  chunk size (and, fused, at each ``--sweep`` chunk size): median of ``--reps`` interleaved
  rounds of ``--steps`` steps;
* with ``--kernel``: the fused gradient kernel alone (its one C call for all inits) against
  the compute floor, per task;
* with ``--compile``: the batched step compiled (``BatchedStepper(compile=True)``, what
  ``hgbench run --compile-step`` runs) against the eager step with autograd and with the
  fused kernel, and the compiled stepper's start-up;
* with ``--fma-peak``: one thread's float32 FMA peak too (a C loop of independent vector
  FMA chains, ``scripts/fma_peak.c``, built like the fused kernel), and each step against the
  floor at that peak: a stricter floor than the GEMM's where the library's GEMM runs below
  the machine's peak (on an AMD EPYC with AVX-512, MKL's at 60-78 % of it);
* with ``--overhead``: where a batched step's time goes around the kernel, ms per step of all
  inits in one call: the step, the kernel alone, ``vmap`` of the identity over the step's state,
  the method's update under ``vmap`` and the same update on the stacked tensors directly.

Usage::

    HGBENCH_DATA=../shared/data python scripts/bench_roofline.py
    HGBENCH_DATA=../shared/data python scripts/bench_roofline.py --tasks uci_naval --reps 3
    HGBENCH_DATA=../shared/data python scripts/bench_roofline.py --tasks uci_energy,uci_yacht --compile --steps 10 --reps 5
    HGBENCH_DATA=../shared/data python scripts/bench_roofline.py --tasks uci_yacht --overhead --reps 9
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from hgbench.bench.allocator import retain_freed_memory
from hgbench.bench.chunking import chunk_budget, last_level_cache, step_bytes
from hgbench.bench.loop import BatchedStepper
from hgbench.methods import METHODS
from hgbench.methods.core.diff import value_and_grad
from hgbench.methods.core.hyper import sample_initial_hypers
from hgbench.methods.core.stacked import vmap_stacked
from hgbench.tasks import TASKS, fused
from hgbench.tasks.fused import mlp1
from hgbench.tasks.fused.build import load

UCI = ["uci_boston", "uci_concrete", "uci_energy", "uci_kin8nm", "uci_naval", "uci_power",
       "uci_wine_red", "uci_yacht"]  # fmt: skip


def _median_time(fn, reps: int) -> float:  # noqa: ANN001
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gemm_gflops(size: int, reps: int) -> float:
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    out = torch.empty(size, size)
    return 2 * size**3 / _median_time(lambda: torch.mm(a, b, out=out), reps) / 1e9


def fma_gflops(reps: int) -> float:
    """One thread's float32 FMA peak (``scripts/fma_peak.c``), GFLOP/s: the best of ``reps``."""
    fn = load(Path(__file__).with_name("fma_peak.c")).hg_fma_flops
    fn.restype, fn.argtypes = ctypes.c_double, [ctypes.c_long]
    best = 0.0
    for _ in range(reps):
        start = time.perf_counter()
        flops = fn(10_000_000)
        best = max(best, flops / (time.perf_counter() - start) / 1e9)
    return best


def stream_gbs(megabytes: int, reps: int) -> float:
    x = torch.ones(megabytes * 2**20 // 4)
    return 2 * x.numel() * 4 / _median_time(lambda: x.mul_(1.0000001), reps) / 1e9


def one_step_figures(problem, method, state) -> tuple[int, int]:  # noqa: ANN001
    """(matmul flops, bytes of new tensors) of one unbatched init-step."""
    one = torch.utils._pytree.tree_map(lambda x: x[0], state)
    counts = problem.counter.as_dict()
    with FlopCounterMode(display=False) as flops:
        method.step(problem, one, 0)
    for k, v in counts.items():
        setattr(problem.counter, k, v)
    return flops.get_total_flops(), step_bytes(problem, method, state, 0)[0]


def measure_task(task: str, args: argparse.Namespace) -> dict:
    problem = TASKS.get(task)(scale="paper").build(data_dir=args.data_dir, dtype=torch.float32)
    method = METHODS.get("fixed")()
    n = args.inits
    hypers = sample_initial_hypers(seed=0, n=n)
    w0s = [problem.init_weights(k) for k in range(n)]
    steppers = {}
    configs = [("fused", None, "1"), ("autograd", None, "0")]
    configs += [(f"C={c}", c, "1") for c in args.sweep]
    for label, chunk, on in configs:
        with fused_switch(on):
            stepper = BatchedStepper(problem, method, n, chunk=chunk)
            state = stepper.init(w0s, problem.init_model_state(), hypers)
            state = stepper.step(state, 0)
        steppers[label] = [stepper, state, on]
    flops, nbytes = one_step_figures(problem, method, steppers["autograd"][1])
    times: dict[str, list[float]] = {k: [] for k in steppers}
    gemm = []
    for r in range(args.reps):
        gemm.append(gemm_gflops(args.gemm, 1))  # the peak again each round: the host is shared
        for label in list(steppers)[:: 1 if r % 2 == 0 else -1]:
            stepper, state, on = steppers[label]
            with fused_switch(on):
                start = time.perf_counter()
                for t in range(args.steps):
                    state = stepper.step(state, t)
                times[label].append((time.perf_counter() - start) / args.steps / n)
            stepper.window = []
            steppers[label][1] = state
    return {"task": task, "rows": problem.num_examples("train"), "flops": flops,
            "bytes": nbytes, "chunk": steppers["fused"][0].chunk,
            "chunk_autograd": steppers["autograd"][0].chunk, "gemm": statistics.median(gemm),
            **{k: statistics.median(v) for k, v in times.items()}}  # fmt: skip


@contextmanager
def fused_switch(on: str):  # noqa: ANN201
    """``HGBENCH_FUSED`` set to ``on`` ("1": the fused kernel where it applies, "0": autograd)."""
    before = os.environ.get(fused.ENV)
    os.environ[fused.ENV] = on
    try:
        yield
    finally:
        if before is None:
            del os.environ[fused.ENV]
        else:
            os.environ[fused.ENV] = before


def kernel_figures(task: str, args: argparse.Namespace) -> tuple[float, float, float]:
    """``(MFLOP, ms per init, GEMM GFLOP/s)`` of the fused gradient kernel alone on ``--inits``
    stacked inits of the task's weights and full training batch (one C call per round, the GEMM
    peak measured in each round; medians)."""
    problem = TASKS.get(task)(scale="paper").build(data_dir=args.data_dir, dtype=torch.float32)
    n = args.inits
    w = torch.stack([problem.init_weights(k) for k in range(n)])
    batch = problem.train_batch(0)
    with FlopCounterMode(display=False) as counter:  # one init's gradient, by autograd
        value_and_grad(problem, w[0], problem.init_model_state(), batch)
    flops = counter.get_total_flops()
    times, gemm = [], []
    mlp1.value_and_grad(w, batch.inputs, batch.targets)  # build and warm up
    for _ in range(args.reps):
        gemm.append(gemm_gflops(args.gemm, 1))
        start = time.perf_counter()
        mlp1.value_and_grad(w, batch.inputs, batch.targets)
        times.append((time.perf_counter() - start) / n)
    return flops / 1e6, statistics.median(times) * 1e3, statistics.median(gemm)


def one_call_batch(task: str, args: argparse.Namespace):  # noqa: ANN201
    """``(problem, method, stepper, state)``: ``--inits`` inits of ``fixed`` on the task at
    paper scale, float32, stepped in one call (no chunks)."""
    problem = TASKS.get(task)(scale="paper").build(data_dir=args.data_dir, dtype=torch.float32)
    method = METHODS.get("fixed")()
    n = args.inits
    stepper = BatchedStepper(problem, method, n, chunk=n)
    state = stepper.init([problem.init_weights(k) for k in range(n)],
                         problem.init_model_state(), sample_initial_hypers(seed=0, n=n))  # fmt: skip
    return problem, method, stepper, state


def interleaved_ms(parts: dict, args: argparse.Namespace, after_round=None) -> dict[str, float]:  # noqa: ANN001
    """Median ms per call of each of ``parts`` (label -> no-argument callable) over ``--reps``
    rounds of ``--steps`` calls, the order reversed every other round."""
    times: dict[str, list[float]] = {k: [] for k in parts}
    for r in range(args.reps):
        for label in list(parts)[:: 1 if r % 2 == 0 else -1]:
            start = time.perf_counter()
            for _ in range(args.steps):
                parts[label]()
            times[label].append((time.perf_counter() - start) / args.steps)
        if after_round is not None:
            after_round()
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}


def compile_figures(task: str, args: argparse.Namespace) -> dict[str, float]:
    """The batched step compiled (``BatchedStepper(compile=True)``, what ``--compile-step``
    runs) against the eager step, for ``--inits`` inits of ``fixed`` in one call: the compiled
    stepper's start-up (its init: compiling and the warm-up), and ms per init-step of the eager
    step with autograd, the compiled step (always autograd) and the eager step with the fused
    kernel, interleaved rounds of ``--steps`` steps."""
    problem = TASKS.get(task)(scale="paper").build(data_dir=args.data_dir, dtype=torch.float32)
    method = METHODS.get("fixed")()
    n = args.inits
    w0s = [problem.init_weights(k) for k in range(n)]
    hypers = sample_initial_hypers(seed=0, n=n)
    runs, startup = {}, 0.0
    for label, compile_step, on in (("eager autograd", False, "0"), ("compiled", True, "0"),
                                    ("eager fused", False, "1")):  # fmt: skip
        with fused_switch(on):
            start = time.perf_counter()
            stepper = BatchedStepper(problem, method, n, chunk=n, compile=compile_step)
            state = stepper.init(w0s, problem.init_model_state(), hypers)
            if compile_step:
                startup = time.perf_counter() - start
            runs[label] = [stepper, stepper.step(state, 0), on, 1]

    def part(label: str):  # noqa: ANN202
        def one() -> None:
            stepper, state, on, t = runs[label]
            with fused_switch(on):
                runs[label][1] = stepper.step(state, t)
            runs[label][3] = t + 1
            stepper.window = []

        return one

    ms = interleaved_ms({label: part(label) for label in runs}, args)
    reason = runs["compiled"][0]._compiled.reason
    return {"startup_s": startup, **{k: v / n for k, v in ms.items()},
            "did_compile": reason is None}  # fmt: skip


def overhead_figures(task: str, args: argparse.Namespace) -> dict[str, float]:
    """ms per step of all ``--inits`` inits in one call, medians of ``--reps`` interleaved rounds
    of ``--steps`` calls: the batched ``fixed`` step (``BatchedStepper.step``), the fused
    kernel alone, ``vmap`` of the identity over the step's state (the stepper's
    :func:`~hgbench.methods.core.stacked.vmap_stacked`, and ``torch.func.vmap`` for comparison), the
    method's optimizer update (``fixed``'s ``core.update``) under ``vmap_stacked``, and that update
    on the stacked tensors with the hyperparameters broadcast by hand."""
    problem, method, stepper, state = one_call_batch(task, args)
    state = stepper.step(state, 0)
    batch = problem.train_batch(0)
    w = state["w"].contiguous()
    g = torch.randn_like(w)

    def update(s, g_, hyper):  # noqa: ANN001, ANN202
        return method.core.update(s["w"], g_, s["opt"], **hyper)  # fixed() is plain SGD

    identity = vmap_stacked(lambda s: s)
    torch_identity = torch.func.vmap(lambda s: s, randomness="same")
    vmapped = vmap_stacked(lambda sg: update(sg[0], sg[1], sg[0]["hyper"]))
    stacked_hyper = {k: v[:, None] for k, v in state["hyper"].items()}
    parts = {
        "step": lambda: stepper.step(state, 1),
        "kernel": lambda: mlp1.value_and_grad(w, batch.inputs, batch.targets),
        "vmap identity": lambda: identity(state),
        "torch.func.vmap identity": lambda: torch_identity(state),
        "update under vmap": lambda: vmapped((state, g)),
        "update stacked": lambda: update(state, g, stacked_hyper),
    }

    def clear_window() -> None:
        stepper.window = []

    return interleaved_ms(parts, args, after_round=clear_window)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(UCI), help="comma list (the 8 UCI sets)")
    parser.add_argument("--inits", type=int, default=200, help="inits per batch (200)")
    parser.add_argument("--steps", type=int, default=5, help="steps per timed round (5)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--sweep", type=lambda s: [int(x) for x in s.split(",") if x], default=[],
                        help="also these chunk sizes, e.g. 1,4,16,32 (a line per task)")  # fmt: skip
    parser.add_argument("--compile", action="store_true",
                        help="also the compiled batched step against eager, per task")  # fmt: skip
    parser.add_argument("--kernel", action="store_true",
                        help="also the fused gradient kernel alone per task (its C call only)")  # fmt: skip
    parser.add_argument("--fma-peak", action="store_true",
                        help="also this CPU's FMA peak and each step against it (x FMA floor)")  # fmt: skip
    parser.add_argument("--overhead", action="store_true",
                        help="also the parts of one batched step around the kernel, per task")  # fmt: skip
    parser.add_argument("--gemm", type=int, default=2048, help="GEMM size (2048)")
    parser.add_argument("--stream-mb", type=int, default=512, help="stream array MB (512)")
    parser.add_argument("--data-dir", default=os.environ.get("HGBENCH_DATA"),
                        help="dataset root (default $HGBENCH_DATA)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.data_dir is None:
        parser.error("the UCI data are needed: set HGBENCH_DATA or pass --data-dir")
    torch.set_num_threads(1)
    retain_freed_memory()  # as a worker does for a batched CPU work item
    gemm = gemm_gflops(args.gemm, 5)
    stream = stream_gbs(args.stream_mb, 5)
    llc, shared = last_level_cache()
    fma = fma_gflops(5) if args.fma_peak else None
    print(f"torch {torch.__version__}, 1 thread; GEMM {args.gemm}^3 fp32: {gemm:.1f} GFLOP/s; "
          f"stream (in-place mul, {args.stream_mb} MB): {stream:.1f} GB/s; last-level cache "
          f"{llc / 2**20:.0f} MiB shared by {shared} CPUs; freed memory kept: "
          f"{retain_freed_memory()}, chunk budget {chunk_budget()}")  # fmt: skip
    if fma is not None:
        print(f"FMA peak (scripts/fma_peak.c, best of 5): {fma:.1f} GFLOP/s; x FMA floor = "
              "fused time / (flops / FMA peak)")  # fmt: skip
    print(
        f"batched fixed, N={args.inits}, float32; per init-step: flops (matmul), bytes of new "
        "tensors, compute floor = flops / GEMM (the GEMM GFLOP/s measured again in each timed "
        "round, median), stream floor = 2 x bytes / stream"
    )
    head = (f"{'task':13s} {'rows':>6s} {'MFLOP':>7s} {'MB':>6s} {'floor ms':>8s} "
            f"{'stream ms':>9s} {'C':>4s} {'fused ms':>9s} {'x floor':>7s} {'% GEMM':>6s} "
            f"{'C':>4s} {'autograd ms':>11s} {'x floor':>7s} {'GEMM':>5s}"
            + (f" {'x FMA':>6s}" if fma is not None else ""))  # fmt: skip
    print(head)
    print("-" * len(head))
    for task in [t.strip() for t in args.tasks.split(",") if t.strip()]:
        r = measure_task(task, args)
        floor = r["flops"] / (r["gemm"] * 1e9)
        streamf = 2 * r["bytes"] / (stream * 1e9)
        print(f"{task:13s} {r['rows']:6d} {r['flops'] / 1e6:7.2f} {r['bytes'] / 1e6:6.2f} "
              f"{floor * 1e3:8.3f} {streamf * 1e3:9.3f} {r['chunk']:4d} "
              f"{r['fused'] * 1e3:9.3f} {r['fused'] / floor:7.2f} "
              f"{100 * floor / r['fused']:6.1f} {r['chunk_autograd']:4d} "
              f"{r['autograd'] * 1e3:11.3f} {r['autograd'] / floor:7.2f} "
              f"{r['gemm']:5.1f}"
              + (f" {r['fused'] * fma * 1e9 / r['flops']:6.2f}" if fma is not None else ""),
              flush=True)  # fmt: skip
        if args.sweep:
            print("  chunk sweep (ms per init-step): " + ", ".join(
                f"C={c} {r[f'C={c}'] * 1e3:.3f}" for c in args.sweep))  # fmt: skip
    if args.kernel:
        print("the fused gradient kernel alone (one C call for all inits), per init:")
        for task in [t.strip() for t in args.tasks.split(",") if t.strip()]:
            mflop, ms, gflops = kernel_figures(task, args)
            floor = mflop / gflops  # ms
            print(f"{task:13s} {ms:.4f} ms, {ms / floor:.2f}x the compute floor "
                  f"(GEMM {gflops:.1f} GFLOP/s)", flush=True)  # fmt: skip
    if args.compile:
        print("the batched step compiled (--compile-step) against eager, fixed, ms per init-step:")
        for task in [t.strip() for t in args.tasks.split(",") if t.strip()]:
            r = compile_figures(task, args)
            print(f"{task:13s} compiled start-up {r['startup_s']:6.1f} s"
                  f"{'' if r['did_compile'] else ' (did not compile: eager)'}; eager autograd "
                  f"{r['eager autograd']:.4f}, compiled {r['compiled']:.4f} "
                  f"({r['eager autograd'] / r['compiled']:.2f}x), eager fused kernel "
                  f"{r['eager fused']:.4f}", flush=True)  # fmt: skip
    if args.overhead:
        print(
            f"one batched fixed step of {args.inits} inits in one call and its parts, ms per step:"
        )
        for task in [t.strip() for t in args.tasks.split(",") if t.strip()]:
            parts = overhead_figures(task, args)
            print(f"{task:13s} " + ", ".join(f"{k} {v:.3f}" for k, v in parts.items()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
