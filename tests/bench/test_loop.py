"""The training loop in-process: recording, divergence, batched inits == one by one."""

from __future__ import annotations

import math

import pytest

from hgbench.bench.config import RunConfig, WorkItem
from hgbench.bench.worker import execute


def _cfg(**kw) -> RunConfig:
    base = dict(task="toy_quadratic", method="toy_sgd", dtype="float64")
    base.update(kw)
    return RunConfig(**base)


def _by_run(records):
    out = {}
    for rid, step, _t, split, metric, value in records:
        out.setdefault(rid, []).append((step, split, metric, value))
    return out


def test_single_run_records_and_finals(toys):
    res = execute(WorkItem((_cfg(method_settings={"lr_scale": 100.0}, init_index=0),)))
    (row,) = res["runs"]
    assert row["status"] == "ok", row.get("message")
    assert row["steps_done"] == 40 and row["budget_steps"] == 40
    assert row["cost_gradient"] == 40 and row["cost_hvp"] == 0
    recs = _by_run(res["records"])[row["run_id"]]
    steps = sorted({s for s, *_ in recs})
    assert steps == [0, 10, 20, 30, 40]
    val = {s: v for s, split, m, v in recs if split == "val" and m == "mse"}
    assert val[40] < val[0]  # it trained
    assert {m for _, split, m, _ in recs if split == "hyper"} == {"lr"}
    assert row["final_val_loss"] == pytest.approx(val[40])
    assert row["memory_kind"] == "cpu_run_rss"
    assert 0 <= row["peak_memory_bytes"] < row["process_peak_bytes"]  # torch's own RSS excluded
    assert row["process_peak_bytes"] > 1e7
    assert row["startup_steps"] == 1 and row["startup_time_s"] <= row["method_time_s"]
    assert row["step_time_s"] > 0 and row["step_time_q25_s"] <= row["step_time_q75_s"]
    assert row["metric"] == "mse" and row["lower_is_better"] is True


def test_divergence_is_recorded_at_its_step(toys):
    # init 1's lr is 0.028; scaled by 1e4 it is >> 2/L: the loss overflows float32 quickly
    cfg = _cfg(method_settings={"lr_scale": 1e4}, init_index=1, dtype="float32")
    res = execute(WorkItem((cfg,)))
    (row,) = res["runs"]
    assert row["status"] == "diverged"
    assert 0 < row["diverged_step"] < 40 and row["steps_done"] == row["diverged_step"] + 1
    assert math.isnan(row["final_test_loss"])


def test_failures_become_statuses(toys):
    err = execute(WorkItem((_cfg(method="toy_raise"),)))["runs"][0]
    assert err["status"] == "error" and "toy failure at step 3" in err["message"]
    assert "RuntimeError" in err["traceback"]
    oom = execute(WorkItem((_cfg(method="toy_oom"),)))["runs"][0]
    assert oom["status"] == "oom" and "1 PiB" in oom["message"]


def test_batched_inits_match_one_by_one(toys):
    n = 8
    settings = {"lr_scale": 3000.0}  # inits 0, 1, 3, 4 overflow float32, the others train
    batched = [
        _cfg(init_index=k, batch_size=n, method_settings=settings, dtype="float32")
        for k in range(n)
    ]
    res_b = execute(WorkItem(tuple(batched)))
    assert res_b["batch"]["batch_size"] == n
    singles = [
        execute(WorkItem((_cfg(init_index=k, method_settings=settings, dtype="float32"),)))
        for k in range(n)
    ]
    rows_b = res_b["runs"]
    statuses = [r["status"] for r in rows_b]
    assert statuses == ["diverged", "diverged", "ok", "diverged", "diverged", "ok", "ok", "ok"]
    recs_b = _by_run(res_b["records"])
    for rb, rs in zip(rows_b, singles, strict=True):
        (rs_row,) = rs["runs"]
        assert rb["status"] == rs_row["status"]
        assert rb["diverged_step"] == rs_row["diverged_step"]
        assert rb["time_is_share"] is True and rb["batch_id"] == res_b["batch"]["batch_id"]
        if rb["status"] == "ok":
            assert rb["cost_gradient"] == rs_row["cost_gradient"] == 40
            assert rb["final_test_loss"] == pytest.approx(rs_row["final_test_loss"], rel=1e-5)
            single = _by_run(rs["records"])[rs_row["run_id"]]
            batch = recs_b[rb["run_id"]]
            assert [r[:3] for r in batch] == [r[:3] for r in single]
            assert [r[3] for r in batch] == pytest.approx([r[3] for r in single], rel=1e-5)


def test_not_batchable_runs_one_by_one(toys):
    runs = tuple(
        _cfg(init_index=k, batch_size=2, task_overrides={"batchable": False}) for k in range(2)
    )
    res = execute(WorkItem(runs))
    assert res["batch"] is None
    assert [r["batch_size"] for r in res["runs"]] == [1, 1]
    assert all(r["status"] == "ok" and r["time_is_share"] is False for r in res["runs"])
