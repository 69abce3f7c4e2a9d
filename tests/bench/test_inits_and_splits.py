"""Explicit initial hyperparameters (--init, [[inits]]) and the train+val split of baselines."""

from __future__ import annotations

import json

import pytest

from hgbench.bench.store import load_runs
from hgbench.bench.suites import parse_suite
from hgbench.cli import main
from hgbench.tasks import TASKS

INIT = {"lr": 5.32e-4, "weight_decay": 2.15e-5, "momentum": 0.675}


def _run(tmp_path, text: str, *extra: str) -> int:
    suite = tmp_path / "s.toml"
    suite.write_text(text)
    return main(["run", str(suite), "--results", str(tmp_path / "r.sqlite"), "--quiet",
                 "--no-report", *extra])  # fmt: skip


def test_cli_inits_start_exactly_there_and_are_paired(toys, tmp_path):
    text = 'tasks = ["toy_quadratic"]\nmethods = ["toy_sgd", "toy_nobatch"]\nbudget = 10\n'
    second = "lr=0.01,weight_decay=0,momentum=0.5"
    assert _run(tmp_path, text, "--init", ",".join(f"{k}={v}" for k, v in INIT.items()),
                "--init", second) == 0  # fmt: skip
    df = load_runs(tmp_path / "r.sqlite")
    assert len(df) == 4 and set(df.init_source) == {"explicit"}
    for _, row in df.iterrows():
        want = INIT if row.init_index == 0 else {"lr": 0.01, "weight_decay": 0.0, "momentum": 0.5}
        assert json.loads(row.init_hyper) == want
    # paired: init k is the same for both methods (and its weights too)
    assert df.groupby("init_index").init_hyper.nunique().eq(1).all()
    assert df.groupby("init_index").final_hyper.nunique().eq(1).all()


def test_suite_inits_table(toys, tmp_path):
    lines = "".join(f"{k} = {v}\n" for k, v in INIT.items())
    text = 'tasks = ["toy_quadratic"]\nmethods = ["toy_sgd"]\nbudget = 10\n[[inits]]\n' + lines
    assert _run(tmp_path, text) == 0
    (row,) = load_runs(tmp_path / "r.sqlite").itertuples()
    assert json.loads(row.init_hyper) == INIT and row.init_source == "explicit"


@pytest.mark.parametrize(
    "init,message",
    [
        ("lr=-1,weight_decay=0,momentum=0.5", "'lr' must lie in (0.0, inf)"),
        ("lr=0.1,weight_decay=0,momentum=1.0", "'momentum' must lie in [0.0, 1.0)"),
        ("lr=0.1,weight_decay=0,momentum=0.5,beta=2", "unknown beta"),
        ("lr=0.1,momentum=0.5", "missing weight_decay"),
        ("lr=fast", "expected NAME=VALUE"),
    ],
)
def test_bad_inits_are_errors_before_any_run(toys, tmp_path, capsys, init, message):
    text = 'tasks = ["toy_quadratic"]\nmethods = ["toy_sgd"]\nbudget = 10\n'
    try:
        rc = _run(tmp_path, text, "--init", init)
    except SystemExit as exc:
        rc = exc.code
    assert rc == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "r.sqlite").exists()


def test_sampled_inits_follow_the_suites_ranges(toys):
    suite = parse_suite(
        'tasks = ["toy_quadratic"]\nmethods = ["toy_sgd"]\ninits = 20\n'
        "init_ranges = { log10_lr = [-2, -1], momentum = [0.5, 0.9] }\n",
        "s",
    )
    hypers = [r.initial_hyper() for r in suite.expand()]
    assert all(1e-2 <= h.lr <= 1e-1 and 0.5 <= h.momentum <= 0.9 for h in hypers)
    assert all(1e-7 <= h.weight_decay <= 1e-2 for h in hypers)  # the default range


def test_baselines_train_on_train_and_val_when_the_suite_says_so(toys):
    suite = parse_suite(
        'tasks = ["sk_diabetes"]\nmethods = ["fixed", "implicit"]\ninits = 1\n'
        'baseline_train_split = "train+val"\n',
        "s",
    )
    by_method = {r.method: r for r in suite.expand()}
    assert by_method["fixed"].train_split == "train+val"  # fixed never looks at validation data
    assert by_method["implicit"].train_split == "train"  # implicit tunes on it
    task = TASKS.get("sk_diabetes")()
    plain, both = task.build(), task.build(train_split="train+val")
    assert both.num_examples("train") == plain.num_examples("train") + plain.num_examples("val")
    assert both.num_examples("val") == plain.num_examples("val")  # validation unchanged
    tr, va = plain.train_batch(0), plain.val_batch(0)
    joined = both.train_batch(0)
    assert (joined.inputs[: len(tr.inputs)] == tr.inputs).all()
    assert (joined.inputs[len(tr.inputs) :] == va.inputs).all()
