"""Suites: sweeps declared as data in TOML (tasks x methods with grids x seeds x inits).

A suite file (built in under ``hgbench/suites/``, or any user file) has these keys; a
``[scales.<scale>]`` table overrides any of them at that scale (``--scale`` picks one)::

    description = "what this suite measures"
    scale = "small"                 # default scale of the tasks
    tasks = ["sk_diabetes", "sk_digits"]
    methods = "all"                 # every registered method, or a list of keys / tables
    #   methods = ["fixed", {key = "tower", settings = {levels = "sgd/sgd"}}]
    seeds = [0]
    inits = 4                       # paired initial hyperparameters per (task, method, seed)
    budget = 200                    # weight steps (default: the task's budget at the scale)
    eval_every = 20                 # default: the task's cadence
    batch_inits = 1                 # >1: train that many paired inits as one vmapped batch
    dtype = "float32"
    time_limit_s = 1800             # per work item
    baseline_train_split = "train"  # "train+val": methods with uses_validation = False train on
                                    # train+val (Clarke et al.'s Random and Baydin arms)
    init_ranges = {log10_lr = [-6, -1], log10_weight_decay = [-7, -2], momentum = [0, 1]}
    [grid]                          # parameter grids per method (cartesian product)
    implicit = {variant = ["wd_lr", "wd_lr_m", "wd_hdlr_m"]}
    [task_overrides]                # scale parameters per task
    sk_digits = {subset = 500}
    [[inits]]                       # explicit paired inits instead of `inits = N` (repeatable)
    lr = 5.32e-4
    weight_decay = 2.15e-5
    momentum = 0.675
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from hgbench.bench.config import TRAIN_SPLITS, RunConfig, build_method
from hgbench.methods import METHODS
from hgbench.methods.core.hyper import InitRanges, validate_natural
from hgbench.registry import UnknownNameError
from hgbench.tasks import TASKS

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

_TYPES: dict[str, type | tuple[type, ...]] = {
    "description": str, "scale": str, "tasks": list, "methods": (str, list), "seeds": list,
    "inits": (int, list), "budget": int, "eval_every": int, "batch_inits": int, "dtype": str,
    "time_limit_s": (int, float), "grid": dict, "task_overrides": dict,
    "baseline_train_split": str, "init_ranges": dict,
}  # fmt: skip
#: the natural hyperparameters an explicit init sets
INIT_NAMES = ("lr", "weight_decay", "momentum")
_TOP_ONLY = {"scales"}


@dataclass
class Suite:
    """A parsed suite; :meth:`expand` turns it into run configs."""

    name: str
    source: str
    description: str = ""
    scale: str = "small"
    tasks: list[str] = field(default_factory=list)
    methods: str | list[Any] = "all"
    seeds: list[int] = field(default_factory=lambda: [0])
    #: paired inits: a number to sample, or explicit ``[[inits]]`` tables
    inits: int | list[dict[str, float]] = 3
    budget: int | None = None
    eval_every: int | None = None
    batch_inits: int = 1
    dtype: str = "float32"
    time_limit_s: float | None = 1800.0
    grid: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    task_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: training rows of methods that use no validation data ("train+val": as Clarke et al.)
    baseline_train_split: str = "train"
    #: ranges of the paired sampler (keys of ``InitRanges``); empty: Clarke et al.'s
    init_ranges: dict[str, list[float]] = field(default_factory=dict)
    scales: dict[str, dict[str, Any]] = field(default_factory=dict)

    def at_scale(self, scale: str | None) -> Suite:
        """This suite with ``[scales.<scale>]`` applied (``None``: its default scale)."""
        scale = scale or self.scale
        over = self.scales.get(scale, {})
        if scale not in self.scales and self.scales and scale != self.scale:
            raise ValueError(
                f"suite {self.name!r} has no scale {scale!r}; valid: {', '.join(self.scales)}"
            )
        return replace(self, **over, scale=scale)

    def method_variants(self) -> list[tuple[str, dict[str, Any]]]:
        """(method key, settings) for every method entry and grid point."""
        entries: list[tuple[str, dict[str, Any]]] = []
        if self.methods == "all":
            entries = [(k, {}) for k in METHODS.names()]
        elif isinstance(self.methods, str):
            raise ValueError(f'suite {self.name!r}: methods must be "all" or a list')
        else:
            for m in self.methods:
                if isinstance(m, str):
                    entries.append((m, {}))
                elif isinstance(m, dict) and set(m) <= {"key", "settings"} and "key" in m:
                    entries.append((m["key"], dict(m.get("settings", {}))))
                else:
                    raise ValueError(
                        f"suite {self.name!r}: bad methods entry {m!r}; use a key or "
                        "{key = ..., settings = {...}}"
                    )
        out = []
        for key, settings in entries:
            METHODS.get(key)  # unknown names: the registry's error lists the valid ones
            grid = self.grid.get(key, {})
            names = sorted(grid)
            for values in itertools.product(*(grid[n] for n in names)):
                out.append((key, {**settings, **dict(zip(names, values, strict=True))}))
        for key in self.grid:
            METHODS.get(key)
        return out

    def expand(
        self,
        *,
        tasks: Sequence[str] | None = None,
        methods: Sequence[str] | None = None,
        inits: int | None = None,
        explicit_inits: Sequence[dict[str, float]] | None = None,
        seeds: Sequence[int] | None = None,
        batch_inits: int | None = None,
        device: str = "cpu",
        threads: int = 1,
        data_dir: str | None = None,
        compile_step: bool = False,
    ) -> list[RunConfig]:
        """Run configs of this suite (at its current scale), optionally filtered.

        Everything is validated here, in the driver, before any worker starts: task and
        method names, every method variant's settings (built once; the run keeps the
        resolved settings), explicit inits, the training split and the sampler's ranges.
        """
        for t in list(tasks or []) + list(self.tasks):
            TASKS.get(t)
        task_keys = list(tasks) if tasks else list(self.tasks)
        variants = self.method_variants()
        if methods:
            for m in methods:
                METHODS.get(m)
            variants = [v for v in variants if v[0] in methods] or [(m, {}) for m in methods]
        # a bad setting is an error now, not in every worker; the instance says whether it
        # looks at validation data (random search does only with more than one member)
        uses_val = {repr((k, sorted(st.items()))): build_method(k, st).uses_validation
                    for k, st in variants}  # fmt: skip
        if self.baseline_train_split not in TRAIN_SPLITS:
            raise ValueError(
                f"suite {self.name!r}: baseline_train_split must be one of "
                f"{', '.join(TRAIN_SPLITS)}, got {self.baseline_train_split!r}"
            )
        ranges = self._ranges()
        init_values = self._inits(inits, explicit_inits)
        batch = batch_inits if batch_inits is not None else self.batch_inits
        runs = []
        for task, (method, settings), seed, k in itertools.product(
            task_keys, variants, seeds if seeds is not None else self.seeds, range(len(init_values))
        ):
            baseline = not uses_val[repr((method, sorted(settings.items())))]
            runs.append(
                RunConfig(
                    task=task,
                    method=method,
                    seed=int(seed),
                    init_index=k,
                    scale=self.scale,
                    task_overrides=dict(self.task_overrides.get(task, {})),
                    method_settings=settings,
                    budget_steps=self.budget,
                    eval_every=self.eval_every,
                    dtype=self.dtype,
                    device=device,
                    batch_size=max(1, min(batch, len(init_values))),
                    threads=threads,
                    compile_step=compile_step,
                    train_split=self.baseline_train_split if baseline else "train",
                    init_values=init_values[k],
                    init_ranges=ranges,
                    suite=self.name,
                    data_dir=data_dir,
                    time_limit_s=self.time_limit_s,
                )  # fmt: skip
            )
        return runs

    def _ranges(self) -> dict[str, tuple[float, float]] | None:
        if not self.init_ranges:
            return None
        try:
            ranges = InitRanges(**{k: tuple(v) for k, v in self.init_ranges.items()})
        except TypeError as exc:
            valid = ", ".join(f.name for f in dataclasses.fields(InitRanges))
            raise ValueError(
                f"suite {self.name!r}: bad init_ranges ({exc}); keys: {valid}"
            ) from exc
        return {f.name: getattr(ranges, f.name) for f in dataclasses.fields(ranges)}

    def _inits(
        self, n: int | None, explicit: Sequence[dict[str, float]] | None
    ) -> list[dict[str, float] | None]:
        """Per paired init: explicit values (checked) or None (sampled)."""
        given = list(explicit) if explicit else None
        if given is None and isinstance(self.inits, list):
            given = self.inits
        if given is None:
            count = n if n is not None else self.inits
            return [None] * int(count)  # type: ignore[arg-type]
        if n is not None and n != len(given):
            raise ValueError(f"--inits {n} disagrees with the {len(given)} explicit inits given")
        return [check_init(v, f"suite {self.name!r} init {k}") for k, v in enumerate(given)]


def check_init(values: Any, where: str) -> dict[str, float]:
    """An explicit initial hyperparameter table: exactly lr, weight_decay and momentum, each
    in its domain (lr > 0, weight decay >= 0, 0 <= momentum < 1); else a clear ValueError."""
    if not isinstance(values, dict):
        raise ValueError(f"{where}: an init must be a table of {', '.join(INIT_NAMES)}")
    unknown = sorted(set(values) - set(INIT_NAMES))
    missing = [n for n in INIT_NAMES if n not in values]
    if unknown or missing:
        parts = ([f"unknown {', '.join(unknown)}"] if unknown else []) + (
            [f"missing {', '.join(missing)}"] if missing else []
        )
        raise ValueError(f"{where}: {'; '.join(parts)} (an init sets {', '.join(INIT_NAMES)})")
    out = {}
    for name in INIT_NAMES:
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: {name} must be a number, got {value!r}")
        try:
            out[name] = validate_natural(name, float(value))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from exc
    return out


def _validate(data: dict[str, Any], where: str) -> dict[str, Any]:
    for key, value in data.items():
        if key not in _TYPES:
            raise ValueError(
                f"{where}: unknown key {key!r}; valid keys: {', '.join(sorted(_TYPES))}"
            )
        if not isinstance(value, _TYPES[key]) or isinstance(value, bool):
            raise ValueError(f"{where}: key {key!r} has the wrong type ({type(value).__name__})")
    for key in ("inits", "batch_inits", "budget", "eval_every"):
        if key in data and isinstance(data[key], int) and data[key] < 1:
            raise ValueError(f"{where}: key {key!r} must be at least 1, got {data[key]}")
    for method, grid in data.get("grid", {}).items():
        if not isinstance(grid, dict) or not all(isinstance(v, list) for v in grid.values()):
            raise ValueError(f"{where}: grid.{method} must map setting names to lists")
    return data


def parse_suite(text: str, name: str, source: str = "<string>") -> Suite:
    """Parse a suite from TOML text; errors name the file and the bad key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"suite {source}: invalid TOML: {exc}") from exc
    scales = data.pop("scales", {})
    if not isinstance(scales, dict):
        raise ValueError(f"suite {source}: key 'scales' must be a table of tables")
    _validate(data, f"suite {source}")
    for scale, over in scales.items():
        if not isinstance(over, dict):
            raise ValueError(f"suite {source}: scales.{scale} must be a table")
        _validate(over, f"suite {source} [scales.{scale}]")
    return Suite(name=name, source=source, scales=scales, **data)


def builtin_suites() -> list[str]:
    files = resources.files("hgbench.suites").iterdir()
    return sorted(f.name[: -len(".toml")] for f in files if f.name.endswith(".toml"))


def load_suite(name_or_path: str) -> Suite:
    """A built-in suite by name, or a suite file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"suite file {str(path)!r} does not exist")
        return parse_suite(path.read_text(), path.stem, str(path))
    names = builtin_suites()
    if name_or_path not in names:
        raise UnknownNameError(
            f"unknown suite {name_or_path!r}. Valid suites: {', '.join(names)} "
            "(or a path to a .toml file)"
        )
    text = resources.files("hgbench.suites").joinpath(f"{name_or_path}.toml").read_text()
    return parse_suite(text, name_or_path, f"{name_or_path}.toml")
