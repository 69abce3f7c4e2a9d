"""The built-in paper suites set the papers' protocols: which methods train on train+val,
the Clarke arms and their settings, and the task options of each paper."""

from __future__ import annotations

import pytest

from hgbench.bench.suites import load_suite

CLARKE = ("clarke_uci", "clarke_fmnist", "clarke_ptb", "clarke_cifar10")


def runs_of(suite: str, scale: str = "small"):
    return load_suite(suite).at_scale(scale).expand(inits=1)


@pytest.mark.parametrize("suite", CLARKE)
def test_clarke_baselines_train_on_train_val_and_tuners_on_train(suite):
    """Random and Baydin: the reference configs' validation_proportion 0 (train+val); the
    methods that tune on validation data keep the training split."""
    splits: dict[tuple[str, str], set[str]] = {}
    for run in runs_of(suite):
        key = (run.method, repr(sorted(run.method_settings.items())))
        splits.setdefault(key, set()).add(run.train_split)
    assert splits[("fixed", "[]")] == {"train+val"}
    assert splits[("baydin_loglr", "[]")] == {"train+val"}
    tuners = {k: s for k, s in splits.items() if k[0] in ("lorraine", "unrolled", "implicit")}
    assert len(tuners) == 5 and all(s == {"train"} for s in tuners.values())
    assert splits[("random_search", "[]")] == {"train"}  # Random (3-batched) selects on val


@pytest.mark.parametrize("suite", CLARKE)
def test_clarke_suites_have_every_arm_of_the_paper(suite):
    variants = load_suite(suite).method_variants()
    assert ("random_search", {"n": 1, "stepped_lr": True}) in variants  # Random (xLR)
    assert ("random_search", {}) in variants  # Random (3-batched)
    assert sorted(v["variant"] for k, v in variants if k == "implicit") == [
        "wd_hdlr_m",
        "wd_lr",
        "wd_lr_m",
    ]
    for key in ("fixed", "lorraine", "baydin_loglr", "unrolled"):
        assert (key, {}) in variants


def test_random_xlr_trains_on_train_val():
    """Random (xLR) (``random_search`` with one member) looks at no validation data."""
    runs = runs_of("clarke_uci")
    xlr = {r.train_split for r in runs if r.method_settings == {"n": 1, "stepped_lr": True}}
    assert xlr == {"train+val"}


def test_clarke_fmnist_normalises_per_pixel_and_ptb_runs_the_reference_steps():
    assert {r.task_overrides["normalise"] for r in runs_of("clarke_fmnist", "paper")} == {"pixel"}
    assert {r.budget_steps for r in runs_of("clarke_ptb", "paper")} == {23_910}


def test_other_paper_suites_set_their_papers_data_protocol():
    baydin = runs_of("baydin_alpha0", "paper")
    assert {r.train_split for r in baydin} == {"train+val"}
    assert {r.task_overrides["batch_size"] for r in baydin} == {128}
    towers = runs_of("chandra_towers", "paper")
    assert {r.train_split for r in towers} == {"train+val"}
    want = {"activation": "tanh", "batch_size": 256, "hidden": [128], "normalise": "none"}
    assert all(r.task_overrides == want for r in towers)
    (maclaurin,) = runs_of("maclaurin2015", "paper")
    assert maclaurin.task_overrides["normalise"] == "center"
    assert maclaurin.method_settings["resample_batches"] is True
