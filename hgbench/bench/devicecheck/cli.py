"""``scripts/device_check.py``: the options, the run, the two files written after each step."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hgbench.bench.devicecheck.orchestrate import run_steps
from hgbench.bench.devicecheck.report import markdown
from hgbench.bench.devicecheck.steps import all_steps, warm_parent
from hgbench.bench.devicecheck.targets import judge_all

JSON_NAME, MD_NAME = "device_check.json", "device_check.md"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="The CUDA path proven and measured in one time-boxed command: the "
        "CUDA-marked tests, paper-scale step times and peaks against torch.optim, batched "
        "inits, the Clarke UCI suite estimate; writes device_check.json and device_check.md."
    )
    parser.add_argument("--out", required=True, help="folder for the JSON, Markdown and JUnit")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--budget-s", type=float, default=390.0,
                        help="wall-clock budget of all steps together (390)")  # fmt: skip
    parser.add_argument("--tiny", action="store_true",
                        help="tiny shapes and few steps: a smoke test of the script")  # fmt: skip
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads per step (default: 1 on --device cpu, else 4)")  # fmt: skip
    parser.add_argument("--only", default=None,
                        help="comma list of steps to run (default all): environment, "
                        "cuda_tests, paper_<task>, batched_inits, suite_total")  # fmt: skip
    args = parser.parse_args(argv)
    if args.budget_s < 10:
        parser.error(f"--budget-s must be at least 10, got {args.budget_s:g}")
    if args.threads is None:
        args.threads = 1 if args.device == "cpu" else 4
    return args


def write(out: Path, report: dict[str, Any]) -> None:
    """Both files, each replaced atomically."""
    for name, text in ((JSON_NAME, json.dumps(report, indent=1, default=str)),
                       (MD_NAME, markdown(report))):  # fmt: skip
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(out / name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    steps = all_steps(args)
    if args.only:
        wanted = {s.strip() for s in args.only.split(",") if s.strip()}
        unknown = wanted - {s.name for s in steps}
        if unknown:
            print(f"--only: unknown step(s) {', '.join(sorted(unknown))}; valid: "
                  f"{', '.join(s.name for s in steps)}", file=sys.stderr)  # fmt: skip
            return 2
        steps = [s for s in steps if s.name in wanted]
    smoke = args.tiny or args.device != "cuda"
    argv_text = sys.argv[1:] if argv is None else argv
    report: dict[str, Any] = {
        "schema": 1, "command": shlex.join(["scripts/device_check.py", *argv_text]),
        "device": args.device, "tiny": args.tiny, "smoke": smoke, "budget_s": args.budget_s,
        "started_at": _now(), "steps": {}, "targets": judge_all({}, smoke),
    }  # fmt: skip
    start = time.monotonic()
    write(out, report)
    warm_parent()

    def on_record(name: str, record: dict[str, Any]) -> None:
        report["steps"][name] = record
        report["targets"] = judge_all(report["steps"], smoke)
        report["elapsed_s"] = time.monotonic() - start
        write(out, report)
        print(f"[device check] {name}: {record.get('status')} in {record.get('elapsed_s', 0):.1f} s"
              + (f" ({record['error'][:160]})" if record.get("error") else ""), flush=True)  # fmt: skip

    records = run_steps(steps, args, args.budget_s, on_record)
    report["finished_at"] = _now()
    report["elapsed_s"] = time.monotonic() - start
    write(out, report)
    print(markdown(report).split("## Steps")[0], flush=True)
    broken = [n for n, r in records.items() if r.get("status") not in ("ok", "skipped")]
    if broken:  # a target's FAIL is a finding; a step that did not complete is the script's
        print(f"[device check] steps not completed: {', '.join(broken)}", flush=True)
    return 1 if broken else 0
