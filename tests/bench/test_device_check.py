"""The device check's machinery on the CPU: time boxes, partial results, verdicts, the report.

The whole script's smoke run (``scripts/device_check.py --device cpu --tiny``) is in
``.ci/run``; here it runs two of its steps end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from hgbench.bench.devicecheck.cli import main
from hgbench.bench.devicecheck.cudatests import parse_junit, parse_verbose, pytest_command
from hgbench.bench.devicecheck.orchestrate import Step, run_steps
from hgbench.bench.devicecheck.report import markdown
from hgbench.bench.devicecheck.targets import judge_all


def _sleeps_with_a_child(ctx):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    ctx.save({"child_pid": child.pid, "progress": "started"})
    time.sleep(60)
    return {"never": True}


def _raises(ctx):
    ctx.save({"progress": "half"})
    raise RuntimeError("broken step")


def _fine(ctx):
    return {"value": 42, "soft_deadline_ahead": ctx.time_left() > 0}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie is not running
        return fh.read().split()[2] != "Z"


def test_steps_are_time_boxed_and_each_record_is_kept():
    steps = [Step("slow", 1.0, _sleeps_with_a_child), Step("broken", 1.0, _raises),
             Step("fine", 1.0, _fine), Step("absent", 1.0, _fine, skip="skipped: not here")]  # fmt: skip
    seen = []
    start = time.monotonic()
    records = run_steps(steps, SimpleNamespace(), 18.0, lambda n, r: seen.append(n))
    assert time.monotonic() - start < 25
    assert seen == ["slow", "broken", "fine", "absent"]  # reported as each ends
    slow = records["slow"]
    assert slow["status"] == "timeout" and slow["progress"] == "started"  # partial result kept
    assert slow["limit_s"] == pytest.approx(6.0, abs=0.5)  # a third of the 18 s budget
    time.sleep(0.2)
    assert not _alive(slow["child_pid"]), "the step's subprocess outlived its time box"
    assert records["broken"]["status"] == "failed" and records["broken"]["progress"] == "half"
    assert "RuntimeError: broken step" in records["broken"]["error"]
    assert records["fine"] == {**records["fine"], "status": "ok", "value": 42,
                               "soft_deadline_ahead": True}  # fmt: skip
    assert records["absent"]["status"] == "skipped"


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.cuda.test_a" name="test_ok" time="0.5"/>
<testcase classname="tests.cuda.test_a" name="test_bad" time="1.0">
  <failure message="assert 1 == 2">long traceback</failure></testcase>
<testcase classname="tests.cuda.test_a" name="test_skip" time="0">
  <skipped message="needs a CUDA device"/></testcase>
</testsuite></testsuites>"""


def test_junit_summary_and_command(tmp_path):
    path = tmp_path / "j.xml"
    path.write_text(JUNIT)
    summary = parse_junit(path)
    assert summary["counts"] == {"passed": 1, "failed": 1, "error": 0, "skipped": 1}
    bad = next(t for t in summary["tests"] if t["outcome"] == "failed")
    assert bad["name"] == "tests.cuda.test_a::test_bad" and bad["message"] == "assert 1 == 2"
    cut_short = ("tests/cuda/test_a.py::test_ok PASSED [ 50%]\n"
                 "tests/cuda/test_a.py::test_bad[x y] FAILED [100%]\n")  # fmt: skip
    partial = parse_verbose(cut_short)
    assert partial["counts"] == {"passed": 1, "failed": 1, "error": 0, "skipped": 0}
    assert partial["tests"][1]["name"] == "tests/cuda/test_a.py::test_bad[x y]"
    cmd = pytest_command(path)
    assert cmd[1:3] == ["-m", "pytest"] and cmd[cmd.index("-m", 3) + 1] == "cuda"
    assert "addopts=" in cmd  # no plugin options the device may lack


def _records(**over):
    paper = {"status": "ok", "resident_bytes": 2**28, "floors": {"torch_optim_sgd": {"ms": 10.0}},
             "runs": {"fixed": {"status": "ok", "step_ms": 10.5, "leak_bytes": 0},
                      "tower sgd/sgd": {"status": "ok", "step_ms": 14.0, "leak_bytes": 0},
                      "tower adam/adam": {"status": "ok", "step_ms": 20.0, "leak_bytes": 512},
                      "implicit wd_lr_m": {"status": "ok", "step_ms": 35.0, "leak_bytes": 0,
                                           "peak_memory_bytes": 2**31,
                                           "phases": {"peak_bytes": {"weights": 2**29,
                                                                     "hyperstep": 2**30}}}},
             "implied": {"implicit wd_lr_m": {"measured_over_implied": 1.2,
                                              "measured_ratio": 3.3, "implied_ratio": 2.75,
                                              "units": {"hvp": 2.0}}}}  # fmt: skip
    rows = [{"mode": "one by one", "N": 1, "per_init_s": 1.0},
            {"mode": "batched", "N": 1000, "per_init_s": 0.001, "speedup": 1000.0,
             "speedup_method": 1500.0}]  # fmt: skip
    recs = {"paper_cifar10": paper,
            "batched_inits": {"status": "ok", "methods": {"fixed": rows}},
            "cuda_tests": {"status": "ok", "counts": {"passed": 9, "failed": 0, "error": 0,
                                                     "skipped": 0}, "tests": []}}  # fmt: skip
    recs.update(over)
    return recs


def test_targets_are_judged_from_the_records():
    verdicts = {t["key"]: t for t in judge_all(_records(), smoke=False)}
    assert verdicts["fixed_vs_torch_optim"]["verdict"] == "PASS"  # 1.05
    assert verdicts["fixed_vs_torch_optim"]["value"] == pytest.approx(1.05)
    assert verdicts["tower_sgd_vs_fixed"]["verdict"] == "FAIL"  # 1.33
    assert verdicts["tower_adam_vs_fixed"]["verdict"] == "PASS"  # 1.9
    assert verdicts["implicit_vs_implied"]["verdict"] == "FAIL"  # 1.2
    assert verdicts["implicit_peak_gib"]["value"] == pytest.approx(0.75)  # 1 GiB - 0.25
    assert verdicts["batched_fixed_n1000"]["verdict"] == "PASS"
    assert verdicts["batched_hd_sgd_n1000"]["verdict"] == "not run"
    assert verdicts["nothing_left_allocated"]["verdict"] == "FAIL"
    assert "tower adam/adam 512 B" in verdicts["nothing_left_allocated"]["detail"]
    assert verdicts["cuda_tests"]["verdict"] == "PASS"
    assert verdicts["suite_total_s"]["verdict"] == "not run"
    assert all(t["verdict"] == "not run" for t in judge_all(_records(), smoke=True))
    partial = _records(batched_inits={"status": "timeout", "methods": {"fixed": [
        {"mode": "one by one", "N": 1, "per_init_s": 1.0},
        {"mode": "batched", "N": 100, "per_init_s": 0.01, "speedup": 100.0}]}})  # fmt: skip
    verdict = next(t for t in judge_all(partial, False) if t["key"] == "batched_fixed_n1000")
    assert verdict["verdict"] == "not run" and "at N=100: 100.0x" in verdict["detail"]


def test_report_renders_partial_records():
    records = _records(suite_total={"status": "timeout", "rows": []})
    report = {"command": "scripts/device_check.py --out x", "started_at": "t0", "budget_s": 390,
              "device": "cuda", "smoke": False, "steps": records,
              "targets": judge_all(records, False)}  # fmt: skip
    text = markdown(report)
    assert "| fixed <= 1.1x the torch.optim step (ResNet-18) | 1.050 | <= 1.1 | **PASS** |" in text
    assert "No batch measured (timeout)" in text and "9 passed" in text


def test_the_script_runs_two_steps_end_to_end(tmp_path):
    code = main(["--out", str(tmp_path), "--device", "cpu", "--tiny", "--budget-s", "60",
                 "--only", "environment,paper_uci_energy"])  # fmt: skip
    assert code == 0
    report = json.loads((tmp_path / "device_check.json").read_text())
    assert list(report["steps"]) == ["environment", "paper_uci_energy"]
    runs = report["steps"]["paper_uci_energy"]["runs"]
    assert set(runs) == {"fixed", "hd_sgd", "tower sgd/sgd", "tower adam/adam",
                         "implicit wd_lr_m", "unrolled"}  # fmt: skip
    assert all(r["status"] == "ok" and r["step_ms"] > 0 for r in runs.values())
    assert runs["implicit wd_lr_m"]["counts"]["hvp"] > 0
    assert "## Targets" in (tmp_path / "device_check.md").read_text()
    assert main(["--out", str(tmp_path), "--only", "nonsense"]) == 2
