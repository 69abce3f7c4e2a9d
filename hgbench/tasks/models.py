"""Model definitions used by the tasks (built from ``torch.nn`` only, no torchvision), and the
flat-vector forward of the model family that has one.

A task's model is an ``nn.Module`` template whose weights live in one flat vector (see
:class:`~hgbench.spec.ParamLayout`). The generic forward swaps views of that vector into the
module every step (``torch.func.functional_call``); on small models that module walk costs more
than the arithmetic. :func:`flat_forward` gives the MLP family (``nn.Sequential`` of
``Linear`` layers, parameter-free activations and an optional leading ``Flatten``) a forward
straight from the flat vector instead, with the split sizes and shapes computed once. It is a
pure ``torch`` composition, so it runs under ``grad``, double backward and ``vmap``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hgbench.spec import ParamLayout

#: ``(w, x) -> model output``: a forward from the flat weights ``w`` (``[P]``)
FlatForward = Callable[[Tensor, Tensor], Tensor]

#: parameter-free activations the MLP forward applies as functions (same in train and eval)
_ACTIVATIONS: dict[type[nn.Module], Callable[[Tensor], Tensor]] = {
    nn.ReLU: torch.relu,
    nn.Tanh: torch.tanh,
    nn.Sigmoid: torch.sigmoid,
}


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between
    linear layers (none after the last). ``mlp([8, 50, 1])`` has 8*50+50+50+1 = 501 weights."""
    if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
        raise ValueError(f"mlp sizes must be >= 2 positive ints, got {list(sizes)}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        layers.append(nn.Linear(int(a), int(b)))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class FlatMLP:
    """The forward of an MLP from its flat weights: one ``split`` of ``w`` into the layers'
    weight and bias views, then ``linear`` and the activation per layer.

    ``numels`` and ``shapes`` follow the layout's order (weight, then bias if any, per layer);
    ``ops`` is the layer sequence: ``"linear"`` (with bias), ``"linear_nobias"``,
    ``"flatten"`` or an activation function.
    """

    numels: tuple[int, ...]
    shapes: tuple[torch.Size, ...]
    ops: tuple[str | Callable[[Tensor], Tensor], ...]

    def __call__(self, w: Tensor, x: Tensor) -> Tensor:
        parts = w.split(self.numels)
        k, h = 0, x
        for op in self.ops:
            if op == "linear":
                weight = parts[k].view(self.shapes[k])
                h = torch.nn.functional.linear(h, weight, parts[k + 1])
                k += 2
            elif op == "linear_nobias":
                h = torch.nn.functional.linear(h, parts[k].view(self.shapes[k]))
                k += 1
            elif op == "flatten":
                h = h.flatten(1)
            else:
                h = op(h)  # type: ignore[operator]
        return h


def flat_forward(module: nn.Module, layout: ParamLayout) -> FlatForward | None:
    """A forward straight from the flat weights for an MLP-family ``module`` whose parameters
    ``layout`` lists in module order, else None (the caller keeps ``functional_call``).

    The family: exactly ``nn.Sequential`` (not a subclass, whose forward may differ) of
    ``nn.Linear``, ``nn.ReLU``/``nn.Tanh``/``nn.Sigmoid`` and ``nn.Flatten()``
    with its default dimensions, and no buffers.
    """
    if type(module) is not nn.Sequential or any(True for _ in module.buffers()):
        return None
    ops: list[str | Callable[[Tensor], Tensor]] = []
    names: list[str] = []
    for name, child in module.named_children():
        if type(child) is nn.Linear:
            ops.append("linear" if child.bias is not None else "linear_nobias")
            names += [f"{name}.weight"] + ([f"{name}.bias"] if child.bias is not None else [])
        elif type(child) in _ACTIVATIONS:
            ops.append(_ACTIVATIONS[type(child)])
        elif type(child) is nn.Flatten and (child.start_dim, child.end_dim) == (1, -1):
            ops.append("flatten")
        else:
            return None
    if tuple(names) != layout.names:
        return None
    return FlatMLP(layout.numels, layout.shapes, tuple(ops))
