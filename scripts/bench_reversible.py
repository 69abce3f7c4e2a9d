"""Measure reversible learning against plain training and naive unrolling, in one run.

Prints (and writes as JSON with ``--out``):

1. time of one meta-iteration (T forward steps + exact reverse pass) of ``reversible`` and of
   ``unrolled_full`` against the same T steps of ``fixed`` (SGD with momentum), as ratios;
2. peak memory of one meta-iteration of ``reversible`` and ``unrolled_full`` as T grows, each
   measured in a fresh subprocess (CPU: peak RSS above the post-setup peak; CUDA:
   ``torch.cuda.max_memory_allocated`` above the post-setup allocation);
3. information-buffer bits per weight per step for several momenta, against log2(1/γ).

Usage::

    python scripts/bench_reversible.py                      # sk_digits, CPU, T = 10 100 1000
    python scripts/bench_reversible.py --device cuda --out rev.json
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time

import torch

from hgbench.methods import METHODS
from hgbench.methods.reversible import Reversible, UnrolledFull
from hgbench.spec import InitialHyper
from hgbench.tasks import TASKS

HYPER = InitialHyper(index=0, lr=0.05, weight_decay=1e-4, momentum=0.9)


def build(task: str, device: str):
    problem = TASKS.get(task)(scale="small").build(device=device, dtype=torch.float32)
    return problem, problem.init_weights(0), problem.init_model_state()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_steps(method, problem, w0, mstate, steps: int, repeats: int, device: str) -> float:
    """Median seconds of ``steps`` consecutive steps (a fresh init per repeat, one warm-up)."""
    times = []
    for r in range(repeats + 1):
        state = method.init(problem, w0, mstate, HYPER)
        sync(device)
        start = time.perf_counter()
        for t in range(steps):
            state, _ = method.step(problem, state, t)
        sync(device)
        if r:  # the first repeat warms up
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_time(args) -> dict:
    problem, w0, mstate = build(args.task, args.device)
    T = args.horizon
    fixed_cls = METHODS.get("fixed")
    out = {"task": args.task, "device": args.device, "T": T, "P": problem.layout.size}
    out["fixed_s"] = time_steps(fixed_cls(), problem, w0, mstate, T, args.repeats, args.device)
    for key, cls in (("reversible", Reversible), ("unrolled_full", UnrolledFull)):
        method = cls(horizon=T, meta_iterations=1)
        out[f"{key}_s"] = time_steps(method, problem, w0, mstate, T, args.repeats, args.device)
        out[f"{key}_ratio"] = out[f"{key}_s"] / out["fixed_s"]
    return out


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak_rss() -> int:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs`` 5) and return the current RSS
    in KiB, the baseline; falls back to the ``getrusage`` peak elsewhere."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _status_kib("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_rss_kib() -> int:
    try:
        return _status_kib("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_memory(task: str, device: str, key: str, horizon: int) -> dict:
    """Runs in a fresh process: one meta-iteration of ``key`` at horizon T."""
    torch.set_num_threads(1)
    problem, w0, mstate = build(task, device)
    warm = METHODS.get(key)(horizon=2, meta_iterations=1)  # every code path once, untimed
    state = warm.init(problem, w0, mstate, HYPER)
    for t in range(2):
        state, _ = warm.step(problem, state, t)
    del state
    method = METHODS.get(key)(horizon=horizon, meta_iterations=1)
    sync(device)
    base_rss = reset_peak_rss()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated()
    state = method.init(problem, w0, mstate, HYPER)
    for t in range(horizon):
        state, _ = method.step(problem, state, t)
    sync(device)
    res = {"method": key, "T": horizon, "peak_rss_mib": None, "peak_cuda_mib": None}
    res["peak_rss_mib"] = (peak_rss_kib() - base_rss) / 1024
    if device.startswith("cuda"):
        res["peak_cuda_mib"] = (torch.cuda.max_memory_allocated() - base_cuda) / 2**20
    res["live_rss_after_trim_mib"] = None
    try:  # memory still held once freed pages go back to the OS (glibc fragmentation aside)
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
        res["live_rss_after_trim_mib"] = (_status_kib("VmRSS") - base_rss) / 1024
    except (OSError, AttributeError):
        pass
    if key == "reversible":
        bits = method.diagnostics(state)["buffer_bits"]
        res["buffer_mib"] = (bits["tail"] + 64 * problem.layout.size) / 8 / 2**20
    return res


def bench_memory(args) -> list[dict]:
    rows = []
    for horizon in args.horizons:
        for key in ("reversible", "unrolled_full"):
            cmd = [
                sys.executable,
                __file__,
                "--child",
                key,
                str(horizon),
                "--task",
                args.task,
                "--device",
                args.device,
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode:
                rows.append({"method": key, "T": horizon, "error": done.stderr.strip()[-300:]})
            else:
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return rows


def bench_bits(args) -> list[dict]:
    problem, w0, mstate = build(args.task, args.device)
    rows, horizon = [], args.bits_horizon
    for gamma in (0.5, 0.9, 0.98):
        method = Reversible(horizon=horizon, meta_iterations=1, gamma=gamma)
        state = method.init(problem, w0, mstate, HYPER)
        for t in range(horizon):
            state, _ = method.step(problem, state, t)
        bits = method.diagnostics(state)["buffer_bits"]
        per = horizon * problem.layout.size
        rows.append(
            {
                "gamma": gamma,
                "T": horizon,
                "ideal_bits_per_weight_step": -math.log2(gamma),
                "information_bits_per_weight_step": bits["information"] / per,
                "stored_tail_bits_per_weight_step": bits["tail"] / per,
                "stored_total_bits_per_weight_step": bits["stored"] / per,
                "vs_float32_per_step": 32 / max(bits["tail"] / per, 1e-12),
                "reversal_exact": method.diagnostics(state)["reversal_exact"],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="sk_digits")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--horizon", type=int, default=100, help="T for the time and bit figures")
    parser.add_argument("--horizons", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--bits-horizon", type=int, default=1000, help="T for the buffer bits")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="also write the figures as JSON here")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "T"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.child:
        print(json.dumps(child_memory(args.task, args.device, args.child[0], int(args.child[1]))))
        return
    result = {"time": bench_time(args), "memory": bench_memory(args), "bits": bench_bits(args)}
    tm = result["time"]
    print(f"task {tm['task']} ({tm['P']} weights) on {tm['device']}, T = {tm['T']}")
    print(
        f"  fixed {tm['fixed_s'] * 1e3:.1f} ms | reversible {tm['reversible_s'] * 1e3:.1f} ms "
        f"({tm['reversible_ratio']:.2f}x) | unrolled_full {tm['unrolled_full_s'] * 1e3:.1f} ms "
        f"({tm['unrolled_full_ratio']:.2f}x)"
    )
    print("  peak memory of one meta-iteration (MiB above setup):")
    for row in result["memory"]:
        if "error" in row:
            print(f"    {row['method']:>13} T={row['T']:<5} error: {row['error']}")
            continue
        extra = f" buffer {row['buffer_mib']:.3f}" if "buffer_mib" in row else ""
        cuda = f" cuda {row['peak_cuda_mib']:.2f}" if row["peak_cuda_mib"] is not None else ""
        live = row.get("live_rss_after_trim_mib")
        live = f" (live after run {live:.2f})" if live is not None else ""
        print(
            f"    {row['method']:>13} T={row['T']:<5} peak rss {row['peak_rss_mib']:.2f}{live}{cuda}{extra}"
        )
    print("  information buffer, bits per weight per step:")
    for row in result["bits"]:
        print(
            f"    gamma {row['gamma']}: ideal {row['ideal_bits_per_weight_step']:.4f}, "
            f"held {row['information_bits_per_weight_step']:.4f}, stored tail "
            f"{row['stored_tail_bits_per_weight_step']:.4f} (incl. heads "
            f"{row['stored_total_bits_per_weight_step']:.4f}); exact {row['reversal_exact']}"
        )
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
