"""Suite files: expansion, grids, scales, filters and clear errors for bad input."""

from __future__ import annotations

import pytest

from hgbench.bench.suites import builtin_suites, load_suite, parse_suite
from hgbench.methods import METHODS
from hgbench.registry import UnknownNameError

TOY = """
description = "toy"
tasks = ["toy_quadratic"]
methods = ["toy_sgd", {key = "toy_raise", settings = {lr_scale = 2.0}}]
inits = 2
seeds = [0, 1]
budget = 30
batch_inits = 2
[grid]
toy_sgd = {lr_scale = [1.0, 10.0]}
[scales.paper]
inits = 5
"""


def test_expand_product_of_tasks_methods_grid_seeds_inits(toys):
    suite = parse_suite(TOY, "toy")
    runs = suite.expand()
    assert len(runs) == (2 + 1) * 2 * 2
    labels = sorted({r.label for r in runs})
    assert labels == ["toy_raise[lr_scale=2.0]", "toy_sgd", "toy_sgd[lr_scale=10.0]"]
    assert {r.budget_steps for r in runs} == {30} and {r.batch_size for r in runs} == {2}
    assert len({r.run_id for r in runs}) == len(runs)
    paper = suite.at_scale("paper").expand()
    assert len(paper) == 3 * 2 * 5 and {r.scale for r in paper} == {"paper"}
    only = suite.expand(methods=["toy_raise"], inits=1, seeds=[3])
    assert [(r.method, r.seed, r.init_index) for r in only] == [("toy_raise", 3, 0)]


def test_paired_inits_share_seeds_across_methods(toys):
    runs = parse_suite(TOY, "toy").expand()
    by = {(r.method, r.seed, r.init_index): r.seeds for r in runs}
    assert by[("toy_sgd", 1, 1)] == by[("toy_raise", 1, 1)]
    assert by[("toy_sgd", 1, 1)] != by[("toy_sgd", 1, 0)]


@pytest.mark.parametrize(
    "text, match",
    [
        ('tasks = ["toy_quadratic"]\nmethodz = "all"', "unknown key 'methodz'"),
        ('tasks = "toy_quadratic"', "key 'tasks' has the wrong type"),
        ('tasks = ["toy_quadratic"]\ninits = 0', "key 'inits' must be at least 1"),
        (
            'tasks = ["toy_quadratic"]\n[scales.small]\nbudgett = 3',
            r"\[scales.small\]: unknown key 'budgett'",
        ),
        ("tasks = [", "invalid TOML"),
    ],
)
def test_malformed_suite_names_the_bad_key(text, match, toys):
    with pytest.raises(ValueError, match=match):
        parse_suite(text, "bad", "bad.toml").expand()


def test_unknown_names_list_valid_ones(toys):
    with pytest.raises(UnknownNameError, match="Valid tasks: .*toy_quadratic"):
        parse_suite('tasks = ["nope"]', "x").expand()
    with pytest.raises(UnknownNameError, match="Valid methods: .*toy_sgd"):
        parse_suite('tasks = ["toy_quadratic"]\nmethods = ["nope"]', "x").expand()
    with pytest.raises(UnknownNameError, match="Valid suites: .*quick"):
        load_suite("nope")


def test_builtin_suites_parse_and_quick_covers_every_method():
    names = builtin_suites()
    for required in ("quick", "clarke_uci", "clarke_fmnist", "clarke_ptb", "clarke_cifar10",
                     "baydin_alpha0", "chandra_towers"):  # fmt: skip
        assert required in names
    for name in names:
        suite = load_suite(name)
        assert suite.at_scale("small").expand(inits=1)  # every name resolves
    quick = load_suite("quick").expand()
    assert {r.method for r in quick} == set(METHODS.names())
    assert {r.task for r in quick} == {"sk_diabetes", "sk_digits"}


def test_user_suite_file(tmp_path, toys):
    f = tmp_path / "mine.toml"
    f.write_text(TOY)
    suite = load_suite(str(f))
    assert suite.name == "mine" and len(suite.expand()) == 12
    with pytest.raises(FileNotFoundError, match="missing.toml"):
        load_suite(str(tmp_path / "missing.toml"))
