"""A word-level LSTM language model (embedding, multi-layer LSTM, linear decoder) written with
explicit matrix products so that it runs under ``torch.func.vmap``, ``grad`` and
``jvp(grad(...))`` (cuDNN's fused LSTM has no double backward and no batching rule).

Parameter names, shapes, gate order (i, f, g, o) and initialisation (uniform ±1/√H) are
those of ``torch.nn.LSTM``, so a state dict moves between the two unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

Carry = tuple[Tensor, Tensor]


class LstmLanguageModel(nn.Module):
    """Embedding(V, E) → ``layers`` × LSTM(H) → Linear(H, V), sequence-first ``[T, S]``."""

    def __init__(self, vocab: int, embed: int, hidden: int, layers: int) -> None:
        super().__init__()
        if min(vocab, embed, hidden, layers) < 1:
            raise ValueError(f"sizes must be positive: {vocab=} {embed=} {hidden=} {layers=}")
        self.hidden, self.layers = hidden, layers
        self.encoder = nn.Embedding(vocab, embed)
        bound = 1.0 / math.sqrt(hidden)
        for k in range(layers):
            cin = embed if k == 0 else hidden
            for name, shape in (
                (f"weight_ih_l{k}", (4 * hidden, cin)),
                (f"weight_hh_l{k}", (4 * hidden, hidden)),
                (f"bias_ih_l{k}", (4 * hidden,)),
                (f"bias_hh_l{k}", (4 * hidden,)),
            ):
                p = nn.Parameter(torch.empty(shape))
                nn.init.uniform_(p, -bound, bound)
                self.register_parameter(name, p)
        self.decoder = nn.Linear(hidden, vocab)

    def zero_carry(self, streams: int, device=None, dtype=None) -> Carry:  # noqa: ANN001
        shape = (self.layers, streams, self.hidden)
        return torch.zeros(shape, device=device, dtype=dtype), torch.zeros(
            shape, device=device, dtype=dtype
        )

    def forward(self, tokens: Tensor, carry: Carry) -> tuple[Tensor, Carry]:
        """Logits ``[T, S, V]`` for tokens ``[T, S]`` and the final ``(h, c)`` per layer."""
        x = self.encoder(tokens)
        h0, c0 = carry
        hs, cs = [], []
        for k in range(self.layers):
            w_ih, w_hh = getattr(self, f"weight_ih_l{k}"), getattr(self, f"weight_hh_l{k}")
            b = getattr(self, f"bias_ih_l{k}") + getattr(self, f"bias_hh_l{k}")
            pre = x @ w_ih.T + b  # all time steps' input projections at once
            h, c = h0[k], c0[k]
            outs = []
            for t in range(tokens.shape[0]):
                i, f, g, o = (pre[t] + h @ w_hh.T).chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                outs.append(h)
            x = torch.stack(outs)
            hs.append(h)
            cs.append(c)
        return self.decoder(x), (torch.stack(hs), torch.stack(cs))
