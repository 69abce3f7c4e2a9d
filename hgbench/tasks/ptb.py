"""Penn Treebank word-level language modelling (Mikolov et al.'s preprocessed PTB; Marcus,
Marcinkiewicz & Santorini, 1993) with an LSTM, truncated BPTT and carried hidden state.

Vocabulary: the 10,000 word types of ``ptb.train.txt`` with ``<eos>`` (ids in order of first
appearance). Each split is batchified into ``streams`` parallel token streams; batch ``t`` is the
``t``-th BPTT window of ``bptt`` tokens (wrapping at the end of an epoch, last partial window
dropped). The LSTM's ``(h, c)`` for each stream is the model-state carry: ``loss`` detaches it on
entry and returns the advanced carry for its stream only. Gradient clipping 0.25 is exposed as
``grad_clip``. Evaluation runs the whole split from a zero carry; metric ``"perplexity"``.

Paper scale (Clarke et al., ICLR 2022): embedding 650, 2-layer LSTM 650, no dropout, 40 streams,
BPTT 70, about 72 epochs. Small scale: 1 layer of 32 units on the first 20k training tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call

from hgbench.spec import (
    Batch,
    BuildContext,
    CostCounter,
    ModelState,
    ParamLayout,
    Problem,
    Split,
    Stream,
)
from hgbench.tasks import TASKS
from hgbench.tasks.base import ScaledTask, take
from hgbench.tasks.data.errors import DataFormatError
from hgbench.tasks.data.formats import PTB_EXPECTED, read_ptb_words, require_file
from hgbench.tasks.data.paths import resolve_data_dir
from hgbench.tasks.lstm import LstmLanguageModel

SPLIT_FILES = {"train": "ptb.train.txt", "val": "ptb.valid.txt", "test": "ptb.test.txt"}


def ptb_files(data_dir: str | Path | None = None) -> list[Path]:
    """The three text files :func:`load_ptb` reads (a clear error if one is missing)."""
    folder = resolve_data_dir(data_dir) / "ptb"
    return [require_file(folder / f, PTB_EXPECTED, "ptb") for f in SPLIT_FILES.values()]


def load_ptb(data_dir: str | Path | None = None) -> tuple[dict[str, int], dict[str, Tensor]]:
    """The vocabulary (word → id, from the training file) and each split as token ids."""
    folder = resolve_data_dir(data_dir) / "ptb"
    words = {s: read_ptb_words(folder / f) for s, f in SPLIT_FILES.items()}
    vocab: dict[str, int] = {}
    for w in words["train"]:
        vocab.setdefault(w, len(vocab))
    ids = {}
    for split, ws in words.items():
        unknown = {w for w in ws if w not in vocab}
        if unknown:
            raise DataFormatError(
                folder / SPLIT_FILES[split],
                f"{len(unknown)} word(s) missing from the training vocabulary, e.g. "
                f"{sorted(unknown)[:3]}",
                "no out-of-vocabulary words (rare words are <unk>)",
                "ptb",
            )
        ids[split] = torch.tensor([vocab[w] for w in ws], dtype=torch.long)
    return vocab, ids


def batchify(tokens: Tensor, streams: int) -> Tensor:
    """``[L, streams]``: the token sequence cut into ``streams`` contiguous columns."""
    length = tokens.numel() // streams
    if length < 2:
        raise ValueError(f"{tokens.numel()} tokens are too few for {streams} streams")
    return tokens[: length * streams].view(streams, length).t().contiguous()


class LanguageModelProblem(Problem):
    """Truncated-BPTT language modelling over batchified token streams (see module doc)."""

    metric = "perplexity"
    lower_is_better = True
    supports_batching = True

    def __init__(
        self,
        *,
        name: str,
        splits: dict[str, Tensor],
        vocab_size: int,
        embed: int,
        hidden: int,
        layers: int,
        streams: int,
        bptt: int,
        grad_clip: float | None = 0.25,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        train_split: str = "train",
    ) -> None:
        if train_split == "train+val":  # the validation text follows the training text
            splits = {**splits, "train": torch.cat([splits["train"], splits["val"]])}
        self.name = name
        self.device, self.dtype = torch.device(device), dtype
        self.counter = CostCounter()
        self.grad_clip = grad_clip
        self.streams, self.bptt = streams, bptt
        self._factory = lambda: LstmLanguageModel(vocab_size, embed, hidden, layers)
        self.model = self._factory().to(self.device, dtype)
        self.layout = ParamLayout.from_module(self.model)
        self._data = {s: batchify(t, streams).to(self.device) for s, t in splits.items()}
        for s, d in self._data.items():
            if d.shape[0] <= bptt:
                raise ValueError(
                    f"{name}: the {s} split has {d.shape[0]} steps per stream, need > {bptt}"
                )

    def init_weights(self, seed: int) -> Tensor:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = self._factory()
        return (
            self.layout.flatten(dict(module.named_parameters()))
            .detach()
            .to(self.device, self.dtype)
        )

    def init_model_state(self) -> ModelState:
        zero = self.model.zero_carry(self.streams, self.device, self.dtype)
        return {"buffers": {}, "carry": {"train": zero, "val": tuple(z.clone() for z in zero)}}

    def windows(self, split: Split) -> int:
        return (self._data[split].shape[0] - 1) // self.bptt

    def _window(self, split: Split, i: int) -> Batch:
        if i < 0:
            raise ValueError(f"batch index must be >= 0, got {i}")
        d = self._data[split]
        s = (i % self.windows(split)) * self.bptt
        return Batch(d[s : s + self.bptt], d[s + 1 : s + 1 + self.bptt])

    def train_batch(self, t: int) -> Batch:
        return self._window("train", t)

    def val_batch(self, i: int) -> Batch:
        return self._window("val", i)

    @property
    def steps_per_epoch(self) -> int:
        return self.windows("train")

    def _run(self, w: Tensor, carry: tuple[Tensor, Tensor], batch: Batch) -> tuple[Tensor, Any]:
        carry = tuple(c.detach() for c in carry)
        logits, new = functional_call(self.model, self.layout.unflatten(w), (batch.inputs, carry))
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.targets.reshape(-1))
        return nll, new

    def loss(
        self, w: Tensor, mstate: ModelState, batch: Batch, stream: Stream = "train"
    ) -> tuple[Tensor, ModelState]:
        nll, new = self._run(w, mstate["carry"][stream], batch)
        return nll, {**mstate, "carry": {**mstate["carry"], stream: new}}

    def evaluate(self, w: Tensor, mstate: ModelState, split: Split) -> dict[str, Tensor]:
        """Mean per-token cross-entropy over the whole split from a zero carry, and exp of it."""
        if split not in self._data:
            raise ValueError(f"unknown split {split!r}; expected train, val or test")
        carry = self.model.zero_carry(self.streams, self.device, self.dtype)
        total = w.new_zeros(())
        for i in range(self.windows(split)):
            nll, carry = self._run(w, carry, self._window(split, i))
            total = total + nll
        loss = (total / self.windows(split)).detach()
        return {"loss": loss, "perplexity": torch.exp(loss)}


@TASKS.register("ptb")
class PennTreebank(ScaledTask):
    """Penn Treebank word-level LSTM language model (see the module docstring)."""

    key: ClassVar[str] = "ptb"
    family: ClassVar[str] = "ptb"
    scales: ClassVar[dict[str, dict[str, Any]]] = {
        "small": {
            "steps": 100,
            "embed": 32,
            "width": 32,
            "layers": 1,
            "streams": 10,
            "bptt": 20,
            "subset": 20_000,
            "val_subset": 5_000,
            "test_subset": 5_000,
        },
        "paper": {
            "steps": 72 * 331,
            "embed": 650,
            "width": 650,
            "layers": 2,
            "streams": 40,
            "bptt": 70,
            "subset": None,
            "val_subset": None,
            "test_subset": None,
        },
    }

    def data_files(self, data_dir: str | None = None) -> list[Path]:
        return ptb_files(data_dir)

    def build_problem(self, ctx: BuildContext) -> Problem:
        vocab, ids = load_ptb(ctx.data_dir)
        p = self.params
        splits = {
            s: t[: take(p[k], t.numel(), k, self.key)]
            for s, t, k in (
                ("train", ids["train"], "subset"),
                ("val", ids["val"], "val_subset"),
                ("test", ids["test"], "test_subset"),
            )
        }
        return LanguageModelProblem(
            name=self.key,
            splits=splits,
            vocab_size=len(vocab),
            embed=p["embed"],
            hidden=p["width"],
            layers=p["layers"],
            streams=p["streams"],
            bptt=p["bptt"],
            device=ctx.device,
            dtype=ctx.dtype,
            train_split=ctx.train_split,
        )
