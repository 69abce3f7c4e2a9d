"""Hyperparameters in transformed space, and the paired initial-hyperparameter sampler.

Methods keep hyperparameters as *raw* tensors in a transformed space (Clarke et al. 2022):
learning rate as log10 (clamped to [-10, 0]), weight decay as log10, momentum as logit; ``raw``
keeps the natural value where a paper used it (Baydin et al.; Chandra et al.'s SGD). A raw
value may be a 0-d tensor (scalar hyperparameter) or shaped like the flat weights
(per-element, "high-dimensional"). :class:`HyperSpace` converts both ways, clamps, validates
and snapshots to JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from hgbench.spec import InitialHyper


@dataclass(frozen=True)
class Transform:
    """A bijection natural <-> raw with optional clamping of the raw value."""

    name: str
    lo: float = -math.inf
    hi: float = math.inf

    def to_raw(self, natural: Tensor) -> Tensor:
        if self.name == "log10":
            return torch.log10(natural)
        if self.name == "logit":
            return torch.logit(natural)
        return natural

    def to_natural(self, raw: Tensor) -> Tensor:
        if self.name == "log10":
            return torch.pow(10.0, raw)
        if self.name == "logit":
            return torch.sigmoid(raw)
        return raw

    def clamp(self, raw: Tensor) -> Tensor:
        if math.isinf(self.lo) and math.isinf(self.hi):
            return raw
        return raw.clamp(self.lo, self.hi)


LOG10_LR = Transform("log10", -10.0, 0.0)
LOG10 = Transform("log10")
LOGIT = Transform("logit")
RAW = Transform("raw")

#: The natural-value domain of each known hyperparameter: (low, high, low_open, high_open).
_DOMAINS: dict[str, tuple[float, float, bool, bool]] = {
    "lr": (0.0, math.inf, True, True),
    "weight_decay": (0.0, math.inf, False, True),
    "momentum": (0.0, 1.0, False, True),
}


def validate_natural(name: str, value: float, *, allow_negative: bool = False) -> float:
    """Reject NaN, infinities and values outside a hyperparameter's domain, clearly."""
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"hyperparameter {name!r} must be finite, got {value!r}")
    if name in _DOMAINS and not allow_negative:
        lo, hi, lo_open, hi_open = _DOMAINS[name]
        bad_lo = v <= lo if lo_open else v < lo
        bad_hi = v >= hi if hi_open else v > hi
        if bad_lo or bad_hi:
            lb = "(" if lo_open else "["
            rb = ")" if hi_open else "]"
            raise ValueError(f"hyperparameter {name!r} must lie in {lb}{lo}, {hi}{rb}, got {v}")
    return v


class HyperSpace:
    """Named hyperparameters with their transforms.

    >>> space = HyperSpace({"lr": LOG10_LR, "momentum": LOGIT})
    >>> raw = space.to_raw({"lr": 0.1, "momentum": 0.9}, dtype=torch.float64)
    >>> round(float(space.natural(raw)["lr"]), 6)
    0.1
    """

    def __init__(self, transforms: Mapping[str, Transform]) -> None:
        self.transforms = dict(transforms)

    @property
    def names(self) -> list[str]:
        return list(self.transforms)

    def to_raw(
        self,
        natural: Mapping[str, float | Tensor],
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        shapes: Mapping[str, tuple[int, ...]] | None = None,
    ) -> dict[str, Tensor]:
        """Raw tensors from natural values (validated; ``shapes`` makes some per-element)."""
        raw = {}
        for name, tf in self.transforms.items():
            value = natural[name]
            if not isinstance(value, Tensor):
                validate_natural(name, value, allow_negative=tf.name == "raw")
            t = torch.as_tensor(value, dtype=dtype, device=device)
            if shapes and name in shapes:
                t = t.expand(shapes[name]).clone()
            raw[name] = tf.clamp(tf.to_raw(t))
        return raw

    def natural(self, raw: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {n: self.transforms[n].to_natural(raw[n]) for n in self.transforms if n in raw}

    def clamp(self, raw: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {n: self.transforms[n].clamp(v) for n, v in raw.items()}

    def snapshot(self, raw: Mapping[str, Tensor]) -> dict[str, float | dict[str, float]]:
        """JSON-able natural values; per-element ones summarised (mean, std, min, max)."""
        out: dict[str, float | dict[str, float]] = {}
        for name, value in self.natural(raw).items():
            v = value.detach().double()
            if v.dim() == 0:
                out[name] = float(v)
            else:
                out[name] = {
                    "mean": float(v.mean()),
                    "std": float(v.std()) if v.numel() > 1 else 0.0,
                    "min": float(v.min()),
                    "max": float(v.max()),
                }
        return out


def summarise(natural: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """0-d summaries for recording: scalars as they are, per-element by mean and std.

    Works on the last dimension only, so it is safe under ``vmap``.
    """
    out: dict[str, Tensor] = {}
    for name, v in natural.items():
        if v.dim() == 0:
            out[name] = v
        else:
            flat = v.reshape(-1)
            out[name] = flat.mean()
            out[f"{name}_std"] = flat.std()
    return out


@dataclass(frozen=True)
class InitRanges:
    """Ranges of the paired initial-hyperparameter sampler (Clarke et al. 2022's by default):
    log10 lr ~ U(log10_lr), log10 wd ~ U(log10_weight_decay), momentum ~ U(momentum)."""

    log10_lr: tuple[float, float] = (-6.0, -1.0)
    log10_weight_decay: tuple[float, float] = (-7.0, -2.0)
    momentum: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        for name in ("log10_lr", "log10_weight_decay", "momentum"):
            value = getattr(self, name)
            if len(value) != 2 or not all(math.isfinite(float(v)) for v in value):
                raise ValueError(f"init range {name} must be two finite numbers, got {value!r}")
            lo, hi = float(value[0]), float(value[1])
            if lo > hi:
                raise ValueError(f"init range {name} must be [low, high] with low <= high")
            object.__setattr__(self, name, (lo, hi))
        lo, hi = self.momentum
        if lo < 0 or hi > 1:
            raise ValueError(f"init range momentum must lie within [0, 1], got {self.momentum}")
        if self.log10_lr[1] > 0:
            raise ValueError(f"init range log10_lr must stay <= 0 (lr <= 1), got {self.log10_lr}")


def sample_initial_hypers(
    seed: int, n: int, ranges: InitRanges | None = None
) -> list[InitialHyper]:
    """The paired initial hyperparameters: init ``k`` is the same for every method.

    log10 lr, log10 wd and momentum uniform on ``ranges`` (default Clarke et al. 2022's:
    U(-6, -1), U(-7, -2), U(0, 1)), drawn from a generator seeded only by ``seed`` and ``k``
    so init ``k`` never depends on ``n``. Momentum is kept below 1 (a draw of exactly 1 is
    outside SGD's domain).
    """
    r = ranges or InitRanges()
    out = []
    for k in range(n):
        rng = np.random.default_rng([seed, k])
        u_lr, u_wd, u_mom = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0, 1)
        log_lr = r.log10_lr[0] + u_lr * (r.log10_lr[1] - r.log10_lr[0])
        log_wd = r.log10_weight_decay[0] + u_wd * (
            r.log10_weight_decay[1] - r.log10_weight_decay[0]
        )
        mom = min(r.momentum[0] + u_mom * (r.momentum[1] - r.momentum[0]), np.nextafter(1.0, 0))
        out.append(InitialHyper(index=k, lr=10.0**log_lr, weight_decay=10.0**log_wd, momentum=mom))
    return out
