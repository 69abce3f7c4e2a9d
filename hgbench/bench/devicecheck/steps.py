"""The device check's steps (each runs in its own forked child, see :mod:`.orchestrate`)."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import torch

from hgbench.bench.devicecheck import batched, paper
from hgbench.bench.devicecheck.cudatests import run_cuda_tests
from hgbench.bench.devicecheck.orchestrate import Step, StepContext
from hgbench.bench.suites import load_suite
from hgbench.tasks.synthetic import register_synthetic_tasks, synthetic_key

REPO = Path(__file__).resolve().parents[3]
#: batched inits: sizes, steps and single runs (full / --tiny)
BATCH_SIZES, TINY_BATCH_SIZES = [1, 10, 100, 1000], [1, 2, 10]
BATCH_STEPS, TINY_BATCH_STEPS = 200, 10
#: suite estimate: steps measured per batch, inits per batch (the suite's 200)
SUITE_STEPS, TINY_SUITE_STEPS = 100, 4
SUITE_FULL_STEPS = 4000


def _prepare(ctx: StepContext) -> None:
    torch.set_num_threads(ctx.options.threads)
    register_synthetic_tasks()


def environment(ctx: StepContext) -> dict[str, Any]:
    """What ran: the device, torch, CUDA and cuDNN, the code's commit where known."""
    _prepare(ctx)
    out: dict[str, Any] = {
        "python": platform.python_version(), "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(), "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(), "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
    }  # fmt: skip
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        out.update(gpu=props.name, gpu_memory_bytes=props.total_memory,
                   capability=f"{props.major}.{props.minor}", cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version())  # fmt: skip
    try:
        out["commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10,
            check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        out["commit"] = "unknown (no git checkout)"
    if ctx.options.device == "cuda" and not torch.cuda.is_available():
        out["status"] = "failed"
        out["error"] = "--device cuda but torch sees no CUDA device"
    return out


def cuda_tests(ctx: StepContext) -> dict[str, Any]:
    junit = Path(ctx.options.out).resolve() / "cuda_tests.xml"
    return run_cuda_tests(junit, max(5.0, ctx.time_left()), REPO)


def paper_task(task: str, ctx: StepContext) -> dict[str, Any]:
    _prepare(ctx)
    return paper.measure_task(task, device=ctx.options.device, tiny=ctx.options.tiny,
                              record=ctx.save, deadline=ctx.deadline)  # fmt: skip


def batched_inits(ctx: StepContext) -> dict[str, Any]:
    """Batched inits on the UCI Energy shapes at each N against one by one."""
    _prepare(ctx)
    tiny = ctx.options.tiny
    sizes = TINY_BATCH_SIZES if tiny else BATCH_SIZES
    steps = TINY_BATCH_STEPS if tiny else BATCH_STEPS
    out: dict[str, Any] = {"task": synthetic_key("uci_energy"), "steps": steps, "sizes": sizes,
                           "methods": {}}  # fmt: skip
    for method, settings in batched.METHOD_SETTINGS.items():
        if ctx.time_left() < 0:
            out["methods"][method] = [{"status": "not run: time box reached"}]
            continue
        out["methods"][method] = batched.batched_vs_one_by_one(
            synthetic_key("uci_energy"), method, settings, sizes, steps=steps,
            one_by_one=2 if tiny else 3, device=ctx.options.device,
        )  # fmt: skip
        ctx.save(out)
    return out


#: the compiled batched step against eager: inits and steps (full / --tiny)
COMPILED_N, TINY_COMPILED_N = 100, 4
COMPILED_STEPS, TINY_COMPILED_STEPS = 100, 6
#: the methods compiled (--tiny: fixed alone): the plain step and the one with HVPs
COMPILED_METHODS = ("fixed", "implicit")


def compiled_step(ctx: StepContext) -> dict[str, Any]:
    """The batched step compiled (``torch.compile``) against eager on the UCI Energy shapes."""
    _prepare(ctx)
    tiny = ctx.options.tiny
    n, steps = (TINY_COMPILED_N, TINY_COMPILED_STEPS) if tiny else (COMPILED_N, COMPILED_STEPS)
    out: dict[str, Any] = {"task": synthetic_key("uci_energy"), "rows": []}
    methods = [(m, batched.METHOD_SETTINGS[m]) for m in (("fixed",) if tiny else COMPILED_METHODS)]
    for method, settings in methods:
        if ctx.time_left() < 0:
            break
        out["rows"].append(batched.compiled_vs_eager(
            synthetic_key("uci_energy"), method, settings, n, steps=steps,
            device=ctx.options.device))  # fmt: skip
        ctx.save(out)
    return out


def suite_total(ctx: StepContext) -> dict[str, Any]:
    """The Clarke UCI suite estimated as ``scripts/bench_batched.py --suite-total`` does it."""
    _prepare(ctx)
    tiny = ctx.options.tiny
    suite = load_suite("clarke_uci").at_scale("paper")
    variants, skipped = batched.batchable_variants(suite.method_variants())
    tasks = [synthetic_key(t) for t in suite.tasks[: 2 if tiny else None]]
    inits, steps = (4, TINY_SUITE_STEPS) if tiny else (suite.inits, SUITE_STEPS)
    out: dict[str, Any] = {"tasks": tasks, "inits": inits, "steps": steps,
                           "full_steps": SUITE_FULL_STEPS, "not_batchable": skipped,
                           "expected_batches": len(tasks) * len(variants), "rows": []}  # fmt: skip
    batched.warm_variants(tasks[0], variants, device=ctx.options.device)
    for task in tasks:
        for key, settings in variants:
            if ctx.time_left() < 0:
                break
            out["rows"].append(batched.suite_batch_estimate(
                task, key, settings, inits=inits, steps=steps, full_steps=SUITE_FULL_STEPS,
                device=ctx.options.device))  # fmt: skip
            summarise_suite(out)
            ctx.save(out)
    summarise_suite(out)
    return out


def summarise_suite(out: dict[str, Any]) -> None:
    rows = out["rows"]
    out["measured_batches"] = len(rows)
    out["measured_s"] = sum(r["wall_s"] for r in rows)
    out["estimated_s"] = sum(r["estimate_s"] for r in rows)
    out["complete"] = len(rows) == out["expected_batches"]
    missing = out["expected_batches"] - len(rows)
    mean = out["estimated_s"] / len(rows) if rows else float("nan")
    out["extrapolated_total_s"] = out["estimated_s"] + missing * mean


#: shares of the budget (GPU: by the expected cost; --tiny: about even)
WEIGHTS = {"uci_energy": 4.0, "fashion_mnist": 5.0, "cifar10": 15.0, "ptb": 20.0,
           "batched_inits": 10.0, "compiled_step": 10.0, "suite_total": 18.0}  # fmt: skip
TINY_WEIGHTS = {"uci_energy": 3.0, "fashion_mnist": 3.0, "cifar10": 5.0, "ptb": 5.0,
                "batched_inits": 4.0, "compiled_step": 4.0, "suite_total": 6.0}  # fmt: skip


def warm_parent() -> None:
    """Before any fork, on the CPU with one thread (no CUDA, no thread pool to inherit): the
    imports and first calls every step would pay again (the runner's path; ``torch.optim``'s
    first step imports the compiler stack, seconds)."""
    import hgbench.bench.preload  # noqa: F401

    torch.set_num_threads(1)
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(3, 2)).sum().backward()
    opt.step()


def all_steps(options: Any) -> list[Step]:
    """The check's steps in order, with their weights of the budget."""
    no_cuda = None if options.device == "cuda" else "skipped: no CUDA (--device cpu)"
    steps = [Step("environment", 1.0, environment), Step("cuda_tests", 20.0, cuda_tests, no_cuda)]
    w = TINY_WEIGHTS if options.tiny else WEIGHTS
    steps += [Step(f"paper_{t}", w[t], partial(paper_task, t)) for t in paper.TASK_KEYS]
    steps += [Step("batched_inits", w["batched_inits"], batched_inits),
              Step("compiled_step", w["compiled_step"], compiled_step),
              Step("suite_total", w["suite_total"], suite_total)]  # fmt: skip
    return steps
