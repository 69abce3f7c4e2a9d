"""What one run is: its configuration, its hash (``run_id``) and its label.

A :class:`RunConfig` is plain data (picklable, JSON-able) so that it travels to worker
processes and Ray workers unchanged. A :class:`WorkItem` is what one worker executes: one
run, or N paired inits of one method x task trained together (``batch_inits``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from hgbench.methods import METHODS
from hgbench.settings import declared, jsonable
from hgbench.spec import Method
from hgbench.tasks import TASKS


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


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's result (hashed into ``run_id``) plus bookkeeping."""

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
    # bookkeeping, not hashed
    suite: str = ""
    data_dir: str | None = None
    time_limit_s: float | None = None

    @property
    def seeds(self) -> dict[str, int]:
        return derive_seeds(self.seed, self.init_index)

    def task_config(self) -> dict[str, Any]:
        task = TASKS.get(self.task)(scale=self.scale, **self.task_overrides)
        return task.config()

    def hashed(self) -> dict[str, Any]:
        """The configuration that identifies the run (stable across machines)."""
        return {
            "task": self.task_config(),
            "method": self.method,
            "method_settings": self.method_settings,
            "seeds": self.seeds,
            "init_index": self.init_index,
            "budget_steps": self.budget_steps,
            "eval_every": self.eval_every,
            "dtype": self.dtype,
            "device": self.device,
            "batch_size": self.batch_size,
        }

    @property
    def run_id(self) -> str:
        return stable_hash(self.hashed())

    @property
    def label(self) -> str:
        return make_label(self.method, self.method_settings)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WorkItem:
    """Runs executed together by one worker: one run, or paired inits of one method x task
    that differ only in ``init_index`` (trained as one vectorised computation)."""

    runs: tuple[RunConfig, ...]

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError("a work item needs at least one run")
        first = self.runs[0]
        for r in self.runs[1:]:
            same = {**r.as_dict(), "init_index": first.init_index} == first.as_dict()
            if not same:
                raise ValueError("runs batched together may differ only in init_index")

    @property
    def batch_id(self) -> str | None:
        return stable_hash([r.run_id for r in self.runs]) if len(self.runs) > 1 else None

    @property
    def label(self) -> str:
        return self.runs[0].label
