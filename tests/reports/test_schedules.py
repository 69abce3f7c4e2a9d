"""Learned-schedule extraction (reversible learning) against a hand-built table."""

from __future__ import annotations

import json

import pandas as pd

from hgbench.reports.schedules import schedule_figure, schedule_records


def _tables(horizon: int | None = 4):
    settings = json.dumps({"horizon": horizon} if horizon else {})
    runs = pd.DataFrame(
        {"run_id": ["r"], "label": ["reversible"], "method_settings": [settings],
         "steps_done": [8], "task_key": ["t"]}
    )  # fmt: skip
    rows = []
    for step in range(0, 9, 2):  # cadence 2 over 2 meta-iterations of 4 steps
        rows.append(("r", step, 0.0, "hyper", "alpha_l0", 10.0 + step))
        rows.append(("r", step, 0.0, "hyper", "alpha_l1", 20.0 + step))
        rows.append(("r", step, 0.0, "hyper", "lr", 1.0))  # not a per-layer schedule
        rows.append(("r", step, 0.0, "val", "loss", 1.0))
    records = pd.DataFrame(rows, columns=["run_id", "step", "time_s", "split", "metric", "value"])
    return runs, records


def test_first_and_last_meta_iterations_by_position() -> None:
    sched = schedule_records(*_tables())
    assert set(sched["name"]) == {"alpha"} and set(sched["layer"]) == {0, 1}
    first = sched[(sched.meta_iteration == "first") & (sched.layer == 0)]
    last = sched[(sched.meta_iteration == "last") & (sched.layer == 1)]
    assert first.set_index("position")["value"].to_dict() == {0: 10.0, 2: 12.0}
    assert last.set_index("position")["value"].to_dict() == {0: 24.0, 2: 26.0}


def test_figure_only_for_methods_with_a_horizon() -> None:
    assert schedule_figure(*_tables()) is not None
    assert schedule_figure(*_tables(horizon=None)) is None
