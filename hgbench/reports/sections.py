"""The report's descriptive sections: what the results are (header) and where they came from
(provenance), and the per-run table."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from hgbench.reports.document import Section
from hgbench.reports.stats import MIN_CI_RUNS
from hgbench.reports.tables import DERIVED, fmt, plain_display
from hgbench.reports.timing import steady_step_time

#: what a built-in suite is, for suites whose results are easy to over-read
SUITE_NOTES = {
    "quick": (
        "The quick suite is a plumbing check: every registered method on the embedded tasks "
        "with {inits} paired init(s) per method and {budget} steps. It shows that every method "
        "runs end to end and what the report looks like; it is not a comparison to draw "
        "conclusions from: {inits} inits are too few to rank methods with confidence{few}. "
        "For conclusions run a paper suite (`hgbench list` names them) or more inits "
        "(`hgbench run --inits 20`)."
    ),
}


def _values(runs: pd.DataFrame, col: str) -> str:
    if col not in runs.columns:
        return "—"
    return ", ".join(sorted({str(v) for v in runs[col].dropna().unique()})) or "—"


def _facts_table(facts: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    table = pd.DataFrame({"": list(facts), "value": list(facts.values())})
    return table, pd.DataFrame("", index=table.index, columns=table.columns)


def about_section(runs: pd.DataFrame, source: str) -> Section:
    """The header: suites, tasks, methods, run counts, inits and budgets, and a warning for
    suites (from the data) that :data:`SUITE_NOTES` describes."""
    section = Section("About these results", anchor="about")
    pairs = runs.groupby("task_key")[["seed", "init_index"]].apply(
        lambda d: len(d.drop_duplicates())
    )
    budgets = runs.groupby("task_key")["budget_steps"].agg(lambda s: "/".join(map(str, sorted(
        set(s.dropna().astype(int))))))  # fmt: skip
    for suite in sorted(set(runs["suite"].dropna().astype(str))):
        note = SUITE_NOTES.get(suite)
        if note is None:
            continue
        mine = runs[runs["suite"] == suite]
        inits = mine.groupby("task_key")[["seed", "init_index"]].apply(
            lambda d: len(d.drop_duplicates())
        )
        few = (
            f" (with fewer than {MIN_CI_RUNS} no confidence interval is shown)"
            if inits.min() < MIN_CI_RUNS
            else ""
        )
        section.callout(
            note.format(
                inits="/".join(map(str, sorted(set(inits)))),
                budget="/".join(map(str, sorted(set(mine["budget_steps"].dropna().astype(int))))),
                few=few,
            )
        )
    n_valid, n_div, n_fail = (int(runs[c].sum()) for c in ("valid", "diverged", "failed"))
    facts = {
        "results": source or "(in memory)",
        "suites": _values(runs, "suite"),
        "runs": f"{len(runs)} ({n_valid} valid, {n_div} diverged, {n_fail} failed)",
        "tasks (paired inits, steps)": ", ".join(
            f"{t} ({pairs[t]}, {budgets[t]})" for t in sorted(pairs.index)
        ),
        "methods": str(runs["label"].nunique()),
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    section.table(*_facts_table(facts))
    return section


def provenance_section(runs: pd.DataFrame) -> Section:
    """Versions, devices, threads and, per task, the data fingerprint and training split."""
    section = Section("Provenance", anchor="provenance")
    facts = {
        "devices": _values(runs, "device"),
        "dtypes": _values(runs, "dtype"),
        "torch threads per worker": _values(runs, "threads"),
        "hgbench versions": _values(runs, "hgbench_version"),
        "git commits": _values(runs, "git_commit"),
        "torch versions": _values(runs, "torch_version"),
        "schema versions": _values(runs, "schema_version"),
        "memory measured as": _values(runs, "memory_kind"),
    }
    section.table(*_facts_table(facts))
    cols = [c for c in ("data_fingerprint", "train_split", "init_source") if c in runs.columns]
    per_task = runs.groupby("task_key").agg(
        runs=("run_id", "size"),
        **{c: (c, lambda s: ", ".join(sorted({str(v) or "(none)" for v in s.dropna()})) or "—")
           for c in cols},
    ).reset_index()  # fmt: skip
    if "data_fingerprint" in per_task:
        per_task["data_fingerprint"] = per_task["data_fingerprint"].map(
            lambda s: ", ".join(f[:16] for f in s.split(", ")) if s != "—" else s
        )
    per_task = per_task.rename(
        columns={"task_key": "task", "data_fingerprint": "data fingerprint (sha256, 16 digits)",
                 "train_split": "trained on", "init_source": "inits"}
    )  # fmt: skip
    section.table(*plain_display(per_task), "Per task")
    return section


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The raw per-run table (initial hyperparameters unpacked from ``init_hyper``)."""
    hyper = pd.DataFrame([json.loads(h) if h else {} for h in runs["init_hyper"]], index=runs.index)
    counted = np.select([runs["failed"], runs["diverged"]], ["failed", "diverged"], "valid")
    time = [
        fmt(t) + (DERIVED if share and np.isfinite(t) else "")
        for t, share in runs[["method_time_s", "time_is_share"]].astype(float).values
    ]
    step_s, _ = steady_step_time(runs)
    optional = {
        "start-up (s)": "startup_time_s",
        "untrained test metric": "untrained_test_metric",
        "init source": "init_source",
    }
    out = pd.DataFrame(
        {
            "method": runs["label"],
            "task": runs["task_key"],
            "seed": runs["seed"],
            "init": runs["init_index"],
            **{f"init {k}": hyper[k] for k in hyper.columns},
            "status": runs["status"],
            "counted as": counted,
            "steps": [f"{fmt(d)}/{fmt(b)}" for d, b in runs[["steps_done", "budget_steps"]].values],
            "final test metric": runs["final_test_metric"],
            "final val loss": runs["final_val_loss"],
            "method time (s)": time,
            "steady step (ms)": step_s * 1e3,
            **{name: runs[col] for name, col in optional.items() if col in runs.columns},
            "peak memory (MiB)": runs["peak_memory_bytes"].astype(float) / 2**20,
            "message": runs["message"].fillna("").astype(str).str.slice(0, 80),
        }
    )
    return out.sort_values(["task", "method", "seed", "init"], kind="stable").reset_index(drop=True)
