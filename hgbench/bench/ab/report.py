"""The outcome of a comparison as a JSON document and as a Markdown table (a PR comment).

JSON (``kind: hgbench-ab``, ``schema: 1``): the settings, both sides (spec, commit, the
``hgbench.__file__`` each worker imported, torch version and threads), one entry per case
(median ratio, interval, verdict, the raw paired per-step times and the order of each round)
and the cases skipped with the reason. :func:`load` reads it back (the history report does).
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hgbench.bench.ab.decide import SLOWER, VERDICTS, decide
from hgbench.bench.ab.rounds import CaseSamples, Schedule
from hgbench.bench.ab.sides import Side

KIND, SCHEMA = "hgbench-ab", 1
_MARK = {"slower": "**slower**", "faster": "**faster**", "no change": "no change",
         "inconclusive": "inconclusive"}  # fmt: skip


def case_entry(cs: CaseSamples, threshold: float, confidence: float) -> dict[str, Any]:
    est, verdict = decide(cs.base, cs.head, threshold, confidence)
    method, task = cs.case.split("@", 1)
    return {
        "case": cs.case, "method": method, "task": task, "process": cs.process,
        "rounds": est.n, "base_step_s": statistics.median(cs.base),
        "head_step_s": statistics.median(cs.head), "ratio": est.median, "low": est.low,
        "high": est.high if math.isfinite(est.high) else None, "coverage": est.coverage,
        "verdict": verdict, "base_s": cs.base, "head_s": cs.head, "order": cs.order,
    }  # fmt: skip


def build(
    schedule: Schedule,
    sides: tuple[Side, Side],
    samples: dict[str, CaseSamples],
    skipped: dict[str, str],
    workers: dict[str, list[dict[str, Any]]],
    *,
    threshold: float,
    confidence: float,
    wall_s: float,
) -> dict[str, Any]:
    """The JSON document of one comparison."""
    cases = [case_entry(samples[c], threshold, confidence) for c in sorted(samples)]
    side_facts = {}
    for side in sides:
        hello = workers.get(side.label, [{}])
        side_facts[side.label] = side.as_dict() | {
            "hgbench_file": hello[0].get("hgbench_file"),
            "torch_version": hello[0].get("torch_version"),
            "torch_threads": hello[0].get("torch_threads"),
        }
    counts = Counter(c["verdict"] for c in cases)
    return {
        "kind": KIND, "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "threshold": threshold, "confidence": confidence, "steps": schedule.steps,
        "statistic": schedule.statistic, "threads": schedule.threads, "workers_per_side": schedule.workers,
        "seed": schedule.seed, "budget_s": schedule.budget_s, "rounds_asked": schedule.rounds,
        "rounds": min((c["rounds"] for c in cases), default=0), "wall_s": wall_s,
        "sides": side_facts, "cases": cases,
        "skipped": [{"case": c, "reason": r} for c, r in sorted(skipped.items())],
        "summary": {v: counts.get(v, 0) for v in VERDICTS},
    }  # fmt: skip


def any_slower(doc: dict[str, Any]) -> bool:
    return any(c["verdict"] == SLOWER for c in doc["cases"])


def _short(side: dict[str, Any]) -> str:
    commit = (side.get("commit") or "no commit")[:10] + ("+dirty" if side.get("dirty") else "")
    return f"`{side['spec']}` ({commit})"


def _interval(case: dict[str, Any]) -> str:
    if case["high"] is None:
        return "— (too few rounds)"
    return f"{case['low']:.3f} – {case['high']:.3f}"


def markdown(doc: dict[str, Any]) -> str:
    """A Markdown table of the verdicts, with what was compared and how, for a PR comment."""
    t = doc["threshold"]
    base, head = doc["sides"]["base"], doc["sides"]["head"]
    lines = [
        "### hgbench bench compare: head against base, interleaved",
        "",
        f"base {_short(base)} against head {_short(head)}: {doc['rounds']} paired rounds per "
        f"case, {doc['steps']} steps per burst ({doc['statistic']} step), "
        f"{doc['threads']} thread(s), "
        f"{doc['wall_s']:.0f} s. Threshold {100 * t:g} %: *slower* when the whole "
        f"{100 * doc['confidence']:g} % interval of the median ratio head/base is above "
        f"{1 + t:.3f}, *faster* when below {1 / (1 + t):.3f}, *no change* when inside.",
        "",
        "| case | rounds | base (ms) | head (ms) | head/base | interval | verdict |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    order = {v: i for i, v in enumerate(VERDICTS)}
    for c in sorted(doc["cases"], key=lambda c: (order[c["verdict"]], c["case"])):
        lines.append(
            f"| `{c['case']}` | {c['rounds']} | {1e3 * c['base_step_s']:.3f} | "
            f"{1e3 * c['head_step_s']:.3f} | {c['ratio']:.3f} | {_interval(c)} | "
            f"{_MARK[c['verdict']]} |"
        )
    summary = ", ".join(f"{n} {v}" for v, n in doc["summary"].items() if n)
    lines += ["", f"Summary: {summary or 'no cases'}."]
    for s in doc["skipped"]:
        lines.append(f"- not compared: `{s['case']}`: {s['reason']}")
    return "\n".join(lines) + "\n"


def write(doc: dict[str, Any], json_path: Path | None, md_path: Path | None) -> None:
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(doc, indent=1) + "\n")
    if md_path is not None:
        md_path.parent.mkdir(parents=True, exist_ok=True)
        md_path.write_text(markdown(doc))


def is_ab(data: Any) -> bool:
    return isinstance(data, dict) and data.get("kind") == KIND


def load(path: str | Path) -> dict[str, Any]:
    """A comparison's JSON document; a ValueError naming the file when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is not a comparison JSON file: {exc}") from exc
    if not is_ab(data) or data.get("schema") != SCHEMA or not isinstance(data.get("cases"), list):
        raise ValueError(f"{str(path)!r} is not a comparison JSON file of schema {SCHEMA}")
    return data
