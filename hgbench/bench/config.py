"""What one run is: its configuration, its hash (``run_id``) and its label.

A :class:`RunConfig` is plain data (picklable, JSON-able) so that it travels to worker
processes and Ray workers unchanged. A :class:`WorkItem` is what one worker executes: one
run, or N paired inits of one method x task trained together (``batch_inits``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Any

import torch

from hgbench.methods import METHODS
from hgbench.methods.core.hyper import InitRanges, sample_initial_hypers
from hgbench.settings import declared, jsonable
from hgbench.spec import InitialHyper, Method
from hgbench.tasks import TASKS, fused


def stable_hash(obj: Any, n: int = 16) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys), first ``n`` hex digits."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def derive_seeds(seed: int, init_index: int) -> dict[str, int]:
    """Separate seeds for data order, weight initialisation and initial hyperparameters.

    Data order depends on the sweep seed only; the initial weights and hyperparameters of
    init ``k`` depend on (seed, k) only, so init k is the same for every method (paired).
    """
    return {"data_seed": seed, "init_seed": seed * 1_000_003 + init_index, "hyper_seed": seed}


def method_defaults(key: str) -> dict[str, Any]:
    """The declared default settings of a registered method."""
    return declared(METHODS.get(key))


def make_label(method: str, settings: dict[str, Any]) -> str:
    """Method key plus the settings given that differ from its declared defaults, e.g.
    ``implicit[variant=wd_lr_m]`` (lists and tuples compare equal)."""
    defaults = {k: jsonable(v) for k, v in method_defaults(method).items()}
    extra = {
        k: v for k, v in sorted(settings.items()) if k not in defaults or jsonable(v) != defaults[k]
    }
    if not extra:
        return method
    return f"{method}[{','.join(f'{k}={v}' for k, v in extra.items())}]"


def build_method(key: str, settings: dict[str, Any]) -> Method:
    """Instantiate a registered method; bad settings get an error naming the method."""
    cls = METHODS.get(key)
    try:
        return cls(**settings)
    except TypeError as exc:
        valid = ", ".join(method_defaults(key)) or "none"
        raise ValueError(f"bad settings for method {key!r}: {exc} (its settings: {valid})") from exc


#: where a run's weights train: the training split, or training + validation rows
TRAIN_SPLITS = ("train", "train+val")


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's result (hashed into ``run_id``) plus bookkeeping.

    The identity (:meth:`hashed`) covers everything that changes a run's numbers: the task's
    resolved configuration and the fingerprint of the data it reads, the method's *resolved*
    settings, the seeds and the initial hyperparameters themselves, budget and cadence, the
    training split, dtype, device, the torch intra-op thread count on CPU (float reductions
    depend on it), batched vs one by one and the batch size, the torch version, and for
    batched CPU runs the gradient's implementation (``hgbench.tasks.fused.identity``: the fused
    kernel's source digest, or ``"autograd"``; recorded for every batched CPU run, since which
    models take the kernel is known only once the task is built: a kernel change re-runs
    batched runs that did not use it, and never reuses one that did), and whether the batched
    step was compiled (``compile_step``). A stored run is reused only when all match.
    """

    task: str
    method: str
    seed: int = 0
    init_index: int = 0
    scale: str = "small"
    task_overrides: dict[str, Any] = field(default_factory=dict)
    method_settings: dict[str, Any] = field(default_factory=dict)
    budget_steps: int | None = None  # None: the task's default at this scale
    eval_every: int | None = None  # None: the task's default
    dtype: str = "float32"
    device: str = "cpu"
    batch_size: int = 1
    threads: int = 1
    #: the batched step compiled with torch.compile (hgbench.bench.compiled); batched runs only
    compile_step: bool = False
    train_split: str = "train"
    #: explicit initial hyperparameters (lr, weight_decay, momentum); None: sampled
    init_values: dict[str, float] | None = None
    #: the paired sampler's ranges (None: Clarke et al.'s, see ``InitRanges``)
    init_ranges: dict[str, tuple[float, float]] | None = None
    #: sha256 over the data files the task reads ("" when it reads none), set by the driver
    data_fingerprint: str = ""
    # bookkeeping, not hashed
    suite: str = ""
    data_dir: str | None = None
    time_limit_s: float | None = None

    def __post_init__(self) -> None:
        if self.train_split not in TRAIN_SPLITS:
            raise ValueError(
                f"train_split must be one of {', '.join(TRAIN_SPLITS)}, got {self.train_split!r}"
            )
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"threads must be an integer >= 1, got {self.threads!r}")
        if self.compile_step and self.batch_size < 2:
            raise ValueError(
                "compile_step compiles the batched step: it needs a batch of paired inits "
                f"(batch_size >= 2, --batch-inits N), got batch_size {self.batch_size}"
            )

    @property
    def seeds(self) -> dict[str, int]:
        return derive_seeds(self.seed, self.init_index)

    @property
    def init_source(self) -> str:
        return "sampled" if self.init_values is None else "explicit"

    def initial_hyper(self) -> InitialHyper:
        """The run's initial natural hyperparameters (explicit, or the paired sampler's)."""
        if self.init_values is not None:
            return InitialHyper(self.init_index, **self.init_values)
        ranges = InitRanges(**self.init_ranges) if self.init_ranges else InitRanges()
        return sample_initial_hypers(self.seeds["hyper_seed"], self.init_index + 1, ranges)[-1]

    def task_config(self) -> dict[str, Any]:
        task = TASKS.get(self.task)(scale=self.scale, **self.task_overrides)
        return task.config()

    @cached_property
    def resolved_settings(self) -> dict[str, Any]:
        """The method's settings with its defaults filled in (what the run really used)."""
        return build_method(self.method, self.method_settings).settings()

    def hashed(self) -> dict[str, Any]:
        """The configuration that identifies the run (stable across machines)."""
        identity = {
            "task": self.task_config(),
            "data": self.data_fingerprint,
            "method": self.method,
            "method_settings": self.resolved_settings,
            "seeds": self.seeds,
            "init_index": self.init_index,
            "init_hyper": self.initial_hyper().as_dict(),
            "budget_steps": self.budget_steps,
            "eval_every": self.eval_every,
            "train_split": self.train_split,
            "dtype": self.dtype,
            "device": self.device,
            "threads": self.threads if self.device == "cpu" else None,
            "batch_size": self.batch_size,
            "torch": torch.__version__,
        }
        if self.batch_size > 1 and self.device == "cpu":  # batched CPU gradients may be fused
            identity["gradient_kernel"] = fused.identity(getattr(torch, self.dtype))
        if self.compile_step:  # only then: the eager runs' identities stay as they were
            identity["step"] = "torch.compile"
        return identity

    @cached_property
    def run_id(self) -> str:
        return stable_hash(self.hashed())

    @property
    def label(self) -> str:
        return make_label(self.method, self.method_settings)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class WorkItem:
    """Runs executed together by one worker: one run, or paired inits of one method x task
    that differ only in ``init_index`` (trained as one vectorised computation)."""

    runs: tuple[RunConfig, ...]

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError("a work item needs at least one run")
        first = self.runs[0]
        paired = {"init_index": first.init_index, "init_values": first.init_values}
        for r in self.runs[1:]:
            same = {**r.as_dict(), **paired} == first.as_dict()
            if not same:
                raise ValueError("runs batched together may differ only in their init")

    @property
    def batch_id(self) -> str | None:
        return stable_hash([r.run_id for r in self.runs]) if len(self.runs) > 1 else None

    @property
    def label(self) -> str:
        return self.runs[0].label


def with_data_fingerprints(runs: Sequence[RunConfig]) -> list[RunConfig]:
    """``runs`` with ``data_fingerprint`` set: the checksums of the files each task reads,
    computed once per task configuration and data directory (per-file digests are cached, so
    this costs nothing once the data were seen). A missing file is the task's clear error."""
    from hgbench.tasks.data.fingerprint import task_fingerprint

    cache: dict[str, str] = {}
    out = []
    for r in runs:
        key = stable_hash([r.task, r.scale, r.task_overrides, r.data_dir])
        if key not in cache:
            task = TASKS.get(r.task)(scale=r.scale, **r.task_overrides)
            cache[key] = task_fingerprint(task, r.data_dir)
        out.append(replace(r, data_fingerprint=cache[key]))
    return out
