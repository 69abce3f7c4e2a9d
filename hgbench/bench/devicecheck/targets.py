"""The issue's targets, judged from the check's step records: PASS, FAIL or not run.

Every figure is a ratio or size measured in one run of the check. A target whose figure is
missing (its step failed, timed out or was skipped) is *not run*; so is every target of a
smoke run (``--device cpu`` or ``--tiny``), whose figures are shown but mean nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

GIB = 2**30
Records = dict[str, dict[str, Any]]
#: (value, detail) or (None, why it is missing)
Figure = tuple[float | None, str]


@dataclass(frozen=True)
class Target:
    key: str
    description: str
    limit: float
    at_most: bool  # True: value <= limit passes; False: value >= limit
    figure: Callable[[Records], Figure]

    def judge(self, records: Records, smoke: bool) -> dict[str, Any]:
        try:
            value, detail = self.figure(records)
        except Exception as exc:  # noqa: BLE001 - a partial record never stops the report
            value, detail = None, f"figure missing ({type(exc).__name__}: {exc})"
        if value is not None and not math.isfinite(value):
            value, detail = None, f"figure not finite ({detail})"
        if value is None or smoke:
            verdict = "not run"
            detail = detail if value is None else f"smoke run, no verdict; {detail}"
        else:
            ok = value <= self.limit if self.at_most else value >= self.limit
            verdict = "PASS" if ok else "FAIL"
        op = "<=" if self.at_most else ">="
        return {"key": self.key, "description": self.description, "value": value,
                "target": f"{op} {self.limit:g}", "verdict": verdict, "detail": detail}  # fmt: skip


def _ok(records: Records, step: str) -> dict[str, Any]:
    """A step's record, partial ones (failed, timed out) included."""
    rec = records.get(step) or {}
    if rec.get("status", "missing") in ("missing", "skipped", "not run"):
        raise KeyError(f"step {step} {rec.get('status', 'missing')}")
    return rec


def _run(records: Records, step: str, label: str) -> dict[str, Any]:
    run = _ok(records, step)["runs"][label]
    if run.get("status") != "ok":
        raise KeyError(f"{label} on {step}: {run.get('status')} {run.get('message', '')}")
    return run


def _step_ratio(step: str, label: str, base: str) -> Callable[[Records], Figure]:
    def figure(records: Records) -> Figure:
        a = _run(records, step, label)["step_ms"]
        if base == "torch_optim_sgd":
            b = _ok(records, step)["floors"][base]["ms"]
        else:
            b = _run(records, step, base)["step_ms"]
        return a / b, f"{label} {a:.3f} ms / {base} {b:.3f} ms per step"

    return figure


def _implied(records: Records) -> Figure:
    imp = _ok(records, "paper_cifar10")["implied"]["implicit wd_lr_m"]
    return imp["measured_over_implied"], (
        f"measured {imp['measured_ratio']:.2f}x fixed, counters imply {imp['implied_ratio']:.2f}x "
        f"(HVP = {imp['units']['hvp']:.2f} gradients)"
    )


def _implicit_peak(records: Records) -> Figure:
    rec = _ok(records, "paper_cifar10")
    run = _run(records, "paper_cifar10", "implicit wd_lr_m")
    resident = rec.get("resident_bytes")
    if resident is None:
        return None, "no CUDA allocator figures"
    phases = run["phases"]["peak_bytes"]
    training = max(phases.values()) if phases else run["peak_memory_bytes"]
    return (training - resident) / GIB, (
        f"training peak {training / GIB:.3f} GiB above the run's start, less the problem's "
        f"resident data and model template {resident / GIB:.3f} GiB; run peak with evaluation "
        f"{run['peak_memory_bytes'] / GIB:.3f} GiB"
    )


def _batched(method: str, n: int) -> Callable[[Records], Figure]:
    def figure(records: Records) -> Figure:
        rows = _ok(records, "batched_inits")["methods"][method]
        done = [r for r in rows if r.get("mode") == "batched"]
        row = next((r for r in done if r["N"] == n), None)
        if row is None:
            best = max(done, key=lambda r: r["N"], default=None)
            at = f"; at N={best['N']}: {best['speedup']:.1f}x" if best else ""
            return None, f"N={n} not measured{at}"
        base = rows[0]
        return row["speedup"], (
            f"{base['per_init_s'] * 1e3:.2f} ms per init one by one, "
            f"{row['per_init_s'] * 1e3:.4f} ms batched at N={n} (wall, evaluation included); "
            f"training time only: {row['speedup_method']:.0f}x"
        )

    return figure


def _leaks(records: Records) -> Figure:
    leaks = {}
    for step, rec in records.items():
        for label, run in (rec.get("runs") or {}).items():
            if run.get("leak_bytes") is not None:
                leaks[f"{step}/{label}"] = run["leak_bytes"]
    if not leaks:
        return None, "no run measured on CUDA"
    worst = max(leaks, key=lambda k: abs(leaks[k]))
    bad = [k for k, v in leaks.items() if v != 0]
    return float(abs(leaks[worst])), (
        f"{len(leaks)} runs; left allocated: " + (", ".join(f"{k} {leaks[k]} B" for k in bad)
                                                  if bad else "nothing")
    )  # fmt: skip


def _cuda_tests(records: Records) -> Figure:
    rec = records.get("cuda_tests") or {}
    counts = rec.get("counts")
    if not counts:
        return (
            None,
            f"cuda tests {rec.get('status', 'missing')}: {rec.get('reason') or rec.get('error', '')}",
        )
    bad = counts["failed"] + counts["error"]
    failed = [t["name"] for t in rec["tests"] if t["outcome"] in ("failed", "error")]
    detail = ", ".join(f"{v} {k}" for k, v in counts.items())
    return float(bad if counts["passed"] else max(bad, 1)), detail + (
        f"; failing: {', '.join(failed[:8])}" if failed else ""
    )


def _suite(records: Records) -> Figure:
    rec = _ok(records, "suite_total")
    if not rec.get("rows"):
        raise KeyError("no suite batch measured")
    value = rec["estimated_s"] if rec["complete"] else rec["extrapolated_total_s"]
    how = "all batches measured" if rec["complete"] else (
        f"extrapolated from {rec['measured_batches']} of {rec['expected_batches']} batches")  # fmt: skip
    return value, f"{value / 60:.1f} min at {rec['full_steps']} steps ({how})"


TARGETS = [
    Target("fixed_vs_torch_optim", "fixed <= 1.1x the torch.optim step (ResNet-18)", 1.1, True,
           _step_ratio("paper_cifar10", "fixed", "torch_optim_sgd")),
    Target("tower_sgd_vs_fixed", "tower SGD/SGD <= 1.3x fixed (ResNet-18)", 1.3, True,
           _step_ratio("paper_cifar10", "tower sgd/sgd", "fixed")),
    Target("tower_adam_vs_fixed", "tower Adam/Adam <= 2x fixed (ResNet-18)", 2.0, True,
           _step_ratio("paper_cifar10", "tower adam/adam", "fixed")),
    Target("implicit_vs_implied", "implicit within 1.15x of its counters' cost (ResNet-18)",
           1.15, True, _implied),
    Target("implicit_peak_gib", "implicit training peak <= 1.5 GiB (ResNet-18, batch 100)",
           1.5, True, _implicit_peak),
    *[Target(f"batched_{m}_n1000", f"batched UCI inits >= 500x less time per init at N=1000 "
             f"({m})", 500.0, False, _batched(m, 1000)) for m in ("fixed", "hd_sgd", "implicit")],
    Target("nothing_left_allocated", "nothing left allocated after a run (bytes, worst run)",
           0.0, True, _leaks),
    Target("cuda_tests", "the CUDA-marked tests pass (failures + errors)", 0.0, True,
           _cuda_tests),
    Target("suite_total_s", "the Clarke UCI suite <= 10 minutes on one GPU (seconds)", 600.0,
           True, _suite),
]  # fmt: skip


def judge_all(records: Records, smoke: bool) -> list[dict[str, Any]]:
    return [t.judge(records, smoke) for t in TARGETS]
