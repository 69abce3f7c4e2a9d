"""Plain-PyTorch floors of one task: a ``torch.optim.SGD`` step on the task's own
``nn.Module``, and the gradient, Hessian-vector product and forward pass of the problem's
loss through the counted helpers every method uses (``hgbench.methods.core.diff``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hgbench.bench.devicecheck.timing import median_step_ms
from hgbench.methods.core import diff
from hgbench.spec import Problem
from hgbench.tasks.synthetic import PTB_VOCAB, ModelParts

#: the floor's SGD hyperparameters (any fixed values: the cost does not depend on them)
SGD = {"lr": 1e-3, "momentum": 0.9, "weight_decay": 1e-4}


def torch_optim_step(problem: Problem, parts: ModelParts):
    """A step function ``t -> None``: zero_grad, forward of ``parts.factory()``'s module on
    ``problem.train_batch(t)``, backward, (clip), ``torch.optim.SGD.step``."""
    model = parts.factory().to(problem.device, problem.dtype)
    nn.utils.vector_to_parameters(problem.init_weights(0), model.parameters())
    opt = torch.optim.SGD(model.parameters(), **SGD)
    box: dict[str, Any] = {"carry": None}
    if parts.recurrent:
        box["carry"] = model.zero_carry(problem.streams, problem.device, problem.dtype)

    def step(t: int) -> None:
        batch = problem.train_batch(t)
        opt.zero_grad(set_to_none=True)
        if parts.recurrent:
            carry = tuple(c.detach() for c in box["carry"])
            out, box["carry"] = model(batch.inputs, carry)
        else:
            out = model(batch.inputs)
        parts.loss(out, batch.targets).backward()
        if problem.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), problem.grad_clip)
        opt.step()

    return step


class CudnnLanguageModel(nn.Module):
    """PTB's model with ``nn.LSTM`` (cuDNN on a GPU): the fused floor for the LSTM."""

    def __init__(self, embed: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.encoder = nn.Embedding(PTB_VOCAB, embed)
        self.lstm = nn.LSTM(embed, hidden, layers)
        self.decoder = nn.Linear(hidden, PTB_VOCAB)

    def forward(self, tokens, carry):  # noqa: ANN001, ANN201
        out, carry = self.lstm(self.encoder(tokens), carry)
        return self.decoder(out), carry


def cudnn_lstm_step(problem: Problem, params: dict[str, Any]):
    model = CudnnLanguageModel(params["embed"], params["width"], params["layers"])
    model = model.to(problem.device, problem.dtype)
    opt = torch.optim.SGD(model.parameters(), **SGD)
    shape = (params["layers"], problem.streams, params["width"])
    zeros = torch.zeros(shape, device=problem.device, dtype=problem.dtype)
    box = {"carry": (zeros, zeros.clone())}

    def step(t: int) -> None:
        batch = problem.train_batch(t)
        opt.zero_grad(set_to_none=True)
        carry = tuple(c.detach() for c in box["carry"])
        logits, box["carry"] = model(batch.inputs, carry)
        loss = nn.functional.cross_entropy(logits.reshape(-1, PTB_VOCAB), batch.targets.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        opt.step()

    return step


def measure_floors(
    problem: Problem, parts: ModelParts, params: dict[str, Any], *, steps: int, repeats: int
) -> dict[str, dict[str, float]]:
    """Median ms of the floors (see the module docstring); ``cudnn_lstm`` for PTB."""
    dev = problem.device
    w, mstate = problem.init_weights(0), problem.init_model_state()
    batch = problem.train_batch(0)
    v = torch.randn_like(w)
    out = {"torch_optim_sgd": median_step_ms(torch_optim_step(problem, parts), dev,
                                             steps=steps, repeats=repeats)}  # fmt: skip
    if parts.recurrent:
        out["torch_optim_sgd_cudnn_lstm"] = median_step_ms(
            cudnn_lstm_step(problem, params), dev, steps=steps, repeats=repeats
        )
    calls = {
        "gradient": lambda t: diff.value_and_grad(problem, w, mstate, batch),
        "hvp": lambda t: diff.hvp(problem, w, mstate, batch, v),
        "forward": lambda t: diff.forward(problem, w, mstate, batch),
    }
    for name, fn in calls.items():
        out[name] = median_step_ms(fn, dev, steps=max(1, steps // 2), repeats=repeats)
    problem.counter.reset()
    return out
