"""``device_check.md``: the targets' verdicts first, then each step's figures as tables."""

from __future__ import annotations

import math
from typing import Any

MIB = 2**20


def _f(x: Any, fmt: str = ".3f") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return format(x, fmt) if isinstance(x, (int, float)) else str(x)


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *["| " + " | ".join(r) + " |" for r in rows], ""]  # fmt: skip


def _paper(name: str, rec: dict[str, Any]) -> list[str]:
    fl = rec.get("floors", {})
    opt = fl.get("torch_optim_sgd", {}).get("ms")
    fixed = rec.get("runs", {}).get("fixed", {}).get("step_ms")
    out = [f"### {rec.get('task', name)} ({_f(rec.get('weights'), 'd')} weights, "
           f"{rec.get('budget_steps')} steps per run, status {rec.get('status')})", ""]  # fmt: skip
    if fl:
        g, h = fl.get("gradient", {}).get("ms"), fl.get("hvp", {}).get("ms")
        parts = [f"{k} {_f(v.get('ms'))} ms" for k, v in fl.items()]
        ratio = f"; HVP / gradient {_f(h / g, '.2f')}" if g and h else ""
        out += ["Floors (median ms per call): " + ", ".join(parts) + ratio, ""]
    rows = []
    for label, r in rec.get("runs", {}).items():
        ph = r.get("phases", {}).get("peak_bytes", {})
        rows.append([
            label, r.get("status", "?"),
            f"{_f(r.get('step_ms'))} ({_f(r.get('step_q25_ms'))}–{_f(r.get('step_q75_ms'))})",
            _f(r["step_ms"] / opt, ".2f") if opt and r.get("step_ms") else "–",
            _f(r["step_ms"] / fixed, ".2f") if fixed and r.get("step_ms") else "–",
            _f(r.get("startup_time_s"), ".2f"),
            _f((r.get("peak_memory_bytes") or 0) / MIB, ".1f") if r.get("peak_memory_bytes") is not None else "–",
            ", ".join(f"{k} {v / MIB:.1f}" for k, v in ph.items()) or "–",
            _f(r.get("leak_bytes"), "d"),
        ])  # fmt: skip
    head = ["config", "status", "ms/step (q25–q75)", "x torch.optim", "x fixed", "start-up s",
            "peak MiB", "phase peaks MiB", "left allocated B"]  # fmt: skip
    out += _table(head, rows)
    for label, imp in (rec.get("implied") or {}).items():
        out.append(f"- {label}: measured {imp['measured_ratio']:.2f}x fixed, counters imply "
                   f"{imp['implied_ratio']:.2f}x, ratio {imp['measured_over_implied']:.2f}")  # fmt: skip
    return [*out, ""]


def _batched(rec: dict[str, Any]) -> list[str]:
    out = [f"Task {rec.get('task')}, {rec.get('steps')} steps per run.", ""]
    rows = []
    for method, entries in rec.get("methods", {}).items():
        for r in entries:
            if "N" not in r:
                rows.append([method, "–", "–", "–", "–", "–", r.get("status", "")])
                continue
            ms = [r.get(k) for k in ("per_init_s", "method_per_init_s")]
            rows.append([method, f"{r.get('mode')} N={r['N']}",
                         *[_f(v * 1e3 if v is not None else None, ".4f") for v in ms],
                         _f(r.get("speedup"), ".1f"), _f(r.get("speedup_method"), ".1f"),
                         r.get("status", "")])  # fmt: skip
    head = ["method", "mode", "ms/init (wall)", "ms/init (training)", "x (wall)",
            "x (training)", "status"]  # fmt: skip
    return out + _table(head, rows)


def _compiled(rec: dict[str, Any]) -> list[str]:
    out = [f"Task {rec.get('task')}: one batch with the eager step, then compiled "
           "(`--compile-step`); steady ms per step of the batch.", ""]  # fmt: skip
    rows = []
    for r in rec.get("rows", []):
        e, c = r.get("eager", {}), r.get("compiled", {})
        rows.append([r["method"], str(r["N"]), _f(e.get("steady_ms_per_step")),
                     _f(c.get("steady_ms_per_step")), _f(r.get("speedup"), ".2f"),
                     _f(e.get("startup_s"), ".1f"), _f(c.get("startup_s"), ".1f"),
                     _f(r.get("max_rel_diff_final_val_loss"), ".1e"),
                     "yes" if c.get("compiled") else f"no: {c.get('reason')}"[:120]])  # fmt: skip
    head = ["method", "N", "eager ms", "compiled ms", "x", "eager start-up s",
            "compiled start-up s", "max rel. diff (final val loss)", "compiled"]  # fmt: skip
    return out + _table(head, rows)


def _suite(rec: dict[str, Any]) -> list[str]:
    if not rec.get("rows"):
        return [f"No batch measured ({rec.get('status')}).", ""]
    total = rec["estimated_s"] if rec.get("complete") else rec.get("extrapolated_total_s")
    out = [f"{rec['measured_batches']} of {rec['expected_batches']} batches of {rec['inits']} "
           f"inits measured at {rec['steps']} steps ({_f(rec['measured_s'], '.1f')} s); "
           f"estimated suite at {rec['full_steps']} steps: {_f(total, '.0f')} s"
           + ("" if rec.get("complete") else " (extrapolated)")
           + (f"; not batchable, not estimated: {', '.join(rec['not_batchable'])}"
              if rec.get("not_batchable") else ""), ""]  # fmt: skip
    rows = [[r["task"], r["method"], _f(r["wall_s"], ".2f"), _f(r["train_s"], ".2f"),
             _f(r["eval_s"], ".2f"), _f(r["estimate_s"], ".1f"), r["status"]]
            for r in rec["rows"]]  # fmt: skip
    return out + _table(["task", "method", "wall s", "train s", "eval s", "est. s", "status"], rows)


def _section(render, *args: Any) -> list[str]:  # noqa: ANN001
    """A section, or a line saying why it could not be rendered (the report always comes)."""
    try:
        return render(*args)
    except Exception as exc:  # noqa: BLE001
        return [f"(could not render this section: {type(exc).__name__}: {exc})", ""]


def markdown(report: dict[str, Any]) -> str:
    env = report["steps"].get("environment", {})
    lines = ["# hgbench device check", "",
             f"`{report['command']}`  ", f"{report['started_at']} → {report.get('finished_at', '…')}, "
             f"budget {report['budget_s']:.0f} s, elapsed {_f(report.get('elapsed_s'), '.0f')} s  ",
             f"device {report['device']}: {env.get('gpu', 'CPU')}, torch {env.get('torch')}, "
             f"CUDA {env.get('cuda', '–')}, commit {env.get('commit', '?')}", ""]  # fmt: skip
    if report["smoke"]:
        lines += ["**Smoke run** (`--device cpu` or `--tiny`): tiny shapes; the figures test the "
                  "script, not the code's speed, and no target is judged.", ""]  # fmt: skip
    lines += ["## Targets", ""]
    lines += _table(["target", "figure", "limit", "verdict", "detail"],
                    [[t["description"], _f(t["value"]), t["target"], f"**{t['verdict']}**",
                      t["detail"]] for t in report["targets"]])  # fmt: skip
    lines += ["## Steps", ""]
    lines += _table(["step", "status", "elapsed s", "limit s", "note"],
                    [[name, r.get("status", "?"), _f(r.get("elapsed_s"), ".1f"),
                      _f(r.get("limit_s"), ".0f"), (r.get("error") or r.get("reason") or "")[:200]]
                     for name, r in report["steps"].items()])  # fmt: skip
    tests = report["steps"].get("cuda_tests", {})
    if tests.get("counts"):
        lines += [
            "## CUDA tests",
            "",
            ", ".join(f"{v} {k}" for k, v in tests["counts"].items()),
            "",
        ]
        lines += [f"- {t['name']}: {t['outcome']} {t['message']}" for t in tests["tests"]
                  if t["outcome"] in ("failed", "error")] + [""]  # fmt: skip
    lines += ["## Paper-scale steps (steady ms per step; start-up apart)", ""]
    for name, rec in report["steps"].items():
        if name.startswith("paper_") and rec.get("runs") is not None:
            lines += _section(_paper, name, rec)
    if report["steps"].get("batched_inits", {}).get("methods"):
        lines += ["## Batched inits against one by one", ""] + _batched(
            report["steps"]["batched_inits"]
        )
    if report["steps"].get("compiled_step", {}).get("rows"):
        lines += ["## The compiled batched step against eager", ""] + _section(
            _compiled, report["steps"]["compiled_step"]
        )
    if "suite_total" in report["steps"]:
        lines += ["## Clarke UCI suite estimate", ""] + _section(
            _suite, report["steps"]["suite_total"]
        )
    return "\n".join(lines) + "\n"
