"""``vmap`` over the leading dimension of stacked states (paired inits, random-search members),
without ``torch.func.vmap``'s per-call Python.

A batched step calls ``vmap`` once per step (per chunk of inits), and a random search once more
inside it, over its members. ``torch.func.vmap``'s wrapper costs 0.15-0.4 ms a call before any
batched op runs (its in/out-dims checks and pytree broadcasts, and a scan of the dispatch mode
stack for export on every call): on UCI Yacht's 200 inits a tenth of a whole ``fixed`` step.
:func:`vmap_stacked` makes the same ``torch._C._functorch`` calls ``torch.func.vmap`` makes, for
the one case these need (every leaf batched along dimension 0 in and out), and walks plain
dict/list/tuple states itself (:func:`flatten`). Measured side by side in one process (200
inits): the identity over ``fixed``'s state 39-85 µs against 266-440 µs under
``torch.func.vmap``, a whole batched ``fixed`` step 8-16 % faster on yacht, energy and boston,
a batched random search of 3 members 11-15 % on yacht (``scripts/bench_roofline.py --overhead``
prints the first). The batched tensors inside are ``vmap``'s own, so everything that runs under
``torch.func.vmap`` runs the same under it, nested transforms included; its outputs are equal
bit for bit (tested).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from torch import Tensor
from torch._C._functorch import (
    _add_batch_dim,
    _remove_batch_dim,
    _vmap_decrement_nesting,
    _vmap_increment_nesting,
)
from torch._functorch.vmap import lazy_load_decompositions
from torch.utils._pytree import tree_flatten, tree_unflatten

#: what ``torch.func.vmap`` calls on every call (it registers vmap's decompositions), once
_load_decompositions = functools.cache(lazy_load_decompositions)


def vmap_stacked(
    fn: Callable[[Any], Any], what: str = "inits", randomness: str = "same"
) -> Callable[[Any], Any]:
    """``fn`` of one item's state, made a function of the stacked states of n items (every
    tensor leaf with the items along dimension 0, all of one size n) returning its outputs
    stacked the same way: ``torch.func.vmap(fn, randomness=randomness)`` for that case. A leaf
    that is not a tensor, or leaves of unequal counts, is a ValueError naming ``what``."""

    def batched(tree: Any) -> Any:
        _load_decompositions()
        leaves, rebuild = flatten(tree)
        n = _count(leaves, what)
        level = _vmap_increment_nesting(n, randomness)
        try:
            out_leaves, out_rebuild = flatten(
                fn(rebuild([_add_batch_dim(x, 0, level) for x in leaves]))
            )
            for x in out_leaves:
                if not isinstance(x, Tensor):
                    raise ValueError(
                        f"vmap over stacked {what}: every output must be a tensor, got "
                        f"{type(x).__name__}"
                    )
            stacked = [_remove_batch_dim(x, level, n, 0) for x in out_leaves]
        finally:
            _vmap_decrement_nesting()
        return out_rebuild(stacked)

    return batched


def _count(leaves: list[Any], what: str) -> int:
    """The common size of the leaves' dimension 0 (a ValueError where they differ)."""
    sizes = set()
    for x in leaves:
        if not isinstance(x, Tensor) or x.dim() == 0:
            kind = type(x).__name__ if not isinstance(x, Tensor) else "a 0-d tensor"
            raise ValueError(f"vmap over stacked {what}: a stacked state's leaf is {kind}")
        sizes.add(x.shape[0])
    if len(sizes) != 1:
        detail = "no tensors" if not sizes else f"dimensions 0 of sizes {sorted(sizes)}"
        raise ValueError(f"vmap over stacked {what}: the stacked state has {detail}")
    return sizes.pop()


class _NotPlain(Exception):
    """A node that is not a dict, list, tuple or tensor: torch's pytree takes the tree."""


_LEAF = object()


def flatten(tree: Any) -> tuple[list[Any], Callable[[list[Any]], Any]]:
    """``(leaves, rebuild)``: the tree's leaves in ``torch.utils._pytree`` order and a function
    making the same structure from new leaves. A plain walk for trees of dicts, lists, tuples
    and tensors (a state's: about a third of the pytree's time on ``fixed``'s state),
    ``torch.utils._pytree`` for any other node (named tuples, registered classes)."""
    leaves: list[Any] = []
    try:
        spec = _plain_spec(tree, leaves)
    except _NotPlain:
        leaves, treespec = tree_flatten(tree)
        return leaves, lambda new: tree_unflatten(new, treespec)
    return leaves, lambda new: _plain_build(spec, iter(new))


def _plain_spec(tree: Any, leaves: list[Any]) -> Any:
    if isinstance(tree, Tensor):
        leaves.append(tree)
        return _LEAF
    kind = type(tree)
    if kind is dict:
        return kind, tuple(tree), tuple(_plain_spec(v, leaves) for v in tree.values())
    if kind is list or kind is tuple:
        return kind, None, tuple(_plain_spec(v, leaves) for v in tree)
    raise _NotPlain


def _plain_build(spec: Any, leaves: Any) -> Any:
    if spec is _LEAF:
        return next(leaves)
    kind, keys, children = spec
    if kind is dict:
        return {k: _plain_build(c, leaves) for k, c in zip(keys, children, strict=True)}
    return kind(_plain_build(c, leaves) for c in children)
