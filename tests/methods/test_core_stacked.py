"""``vmap_stacked``: the vmap over stacked states (the batched stepper's, random search's)
equals ``torch.func.vmap`` bit for bit, nested transforms included, and fails clearly."""

from __future__ import annotations

import pytest
import torch
from torch._C._functorch import peek_interpreter_stack
from torch.utils._pytree import tree_leaves

from hgbench.methods.core.stacked import vmap_stacked


def _state(n: int) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "w": torch.randn(n, 7, generator=g, dtype=torch.float64),
        "mstate": {"buffers": {}, "carry": {"h": torch.randn(n, 2, 3, generator=g)}},
        "opt": [torch.randn(n, 7, generator=g, dtype=torch.float64), torch.zeros(n)],
        "hyper": {"lr": torch.rand(n, generator=g, dtype=torch.float64)},
    }


def _step(s: dict) -> tuple[dict, torch.Tensor]:
    """Elementwise, reductions, a random draw, a nested vmap and a gradient inside."""
    w = s["w"]
    noise = torch.rand(w.shape, dtype=w.dtype)  # "same": one draw shared by the inits
    g = torch.func.grad(lambda v: (v.sin() * v).sum())(w)
    rows = torch.func.vmap(lambda r: r * s["hyper"]["lr"])(s["mstate"]["carry"]["h"])
    new_w = torch.addcmul(w, s["hyper"]["lr"], g + noise, value=-1.0)
    new = {
        "w": new_w,
        "mstate": {"buffers": {}, "carry": {"h": rows.tanh()}},
        "opt": [s["opt"][0] * 0.5 + new_w, s["opt"][1] + 1],
        "hyper": {"lr": s["hyper"]["lr"] * 0.9},
    }
    return new, (new_w**2).mean()


def test_equals_torch_func_vmap_bit_for_bit() -> None:
    state = _state(5)
    torch.manual_seed(3)
    expected = torch.func.vmap(_step, randomness="same")(state)
    torch.manual_seed(3)
    got = vmap_stacked(_step)(state)
    assert torch.utils._pytree.tree_structure(got) == torch.utils._pytree.tree_structure(expected)
    for a, b in zip(tree_leaves(got), tree_leaves(expected), strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert torch.equal(a, b)
    assert peek_interpreter_stack() is None


def test_an_output_that_ignores_the_inits_is_stacked_n_times() -> None:
    out = vmap_stacked(lambda s: (s["w"] * 2, torch.ones(3)))(_state(4))
    assert out[1].shape == (4, 3) and torch.equal(out[1], torch.ones(4, 3))


def test_errors_name_the_method_and_leave_no_vmap_level_behind() -> None:
    with pytest.raises(
        ValueError, match=r"vmap over stacked toy: every output must be a tensor, got float"
    ):
        vmap_stacked(lambda s: (s["w"], 1.5), "toy")(_state(3))
    assert peek_interpreter_stack() is None
    with pytest.raises(ZeroDivisionError):
        vmap_stacked(lambda s: 1 / 0)(_state(3))
    assert peek_interpreter_stack() is None
    uneven = {"a": torch.zeros(3, 2), "b": torch.zeros(4)}
    with pytest.raises(ValueError, match=r"dimensions 0 of sizes \[3, 4\]"):
        vmap_stacked(lambda s: s, "toy")(uneven)
    with pytest.raises(ValueError, match="leaf is int"):
        vmap_stacked(lambda s: s, "toy")({"a": torch.zeros(3), "n": 1})
    with pytest.raises(ValueError, match="leaf is a 0-d tensor"):
        vmap_stacked(lambda s: s, "toy")({"a": torch.zeros(())})


def test_flatten_keeps_the_pytree_order_and_rebuilds_any_tree() -> None:
    from collections import namedtuple

    from torch.utils._pytree import tree_flatten, tree_structure

    from hgbench.methods.core.stacked import flatten

    pair = namedtuple("pair", "a b")
    plain = {"z": torch.ones(1), "a": [torch.zeros(2), (torch.ones(3),)], "m": {}}
    other = {"p": pair(torch.ones(1), {"q": torch.zeros(1)}), "r": [torch.ones(2), None]}
    for tree in (plain, other):
        leaves, rebuild = flatten(tree)
        expected, _ = tree_flatten(tree)
        assert len(leaves) == len(expected) and all(
            a is b for a, b in zip(leaves, expected, strict=True)
        )
        new = [x if x is None else x + 1 for x in leaves]
        rebuilt = rebuild(new)
        assert tree_structure(rebuilt) == tree_structure(tree)
        assert all(a is b for a, b in zip(tree_flatten(rebuilt)[0], new, strict=True))
    assert type(rebuild(leaves)["p"]) is pair
    with pytest.raises(ValueError, match="leaf is NoneType"):
        vmap_stacked(lambda s: s, "toy")({"a": torch.zeros(3), "n": None})
