"""Hyperparameter spaces: transforms round-trip, clamping, validation, paired sampling."""

from __future__ import annotations

import math

import pytest
import torch

from hgbench.methods.core.hyper import (
    LOG10,
    LOG10_LR,
    LOGIT,
    RAW,
    HyperSpace,
    sample_initial_hypers,
    summarise,
    validate_natural,
)

SPACE = HyperSpace({"lr": LOG10_LR, "weight_decay": LOG10, "momentum": LOGIT})


def test_round_trip_and_per_element():
    nat = {"lr": 0.01, "weight_decay": 1e-4, "momentum": 0.9}
    raw = SPACE.to_raw(nat, dtype=torch.float64, shapes={"lr": (5,)})
    assert raw["lr"].shape == (5,) and raw["momentum"].shape == ()
    torch.testing.assert_close(raw["lr"], torch.full((5,), -2.0, dtype=torch.float64))
    back = SPACE.natural(raw)
    for k, v in nat.items():
        torch.testing.assert_close(back[k].double().mean(), torch.tensor(v, dtype=torch.float64))
    snap = SPACE.snapshot(raw)
    assert snap["momentum"] == pytest.approx(0.9) and snap["lr"]["mean"] == pytest.approx(0.01)
    summary = summarise(back)
    assert set(summary) == {"lr", "lr_std", "weight_decay", "momentum"}


def test_lr_is_clamped_to_log10_range():
    raw = SPACE.clamp({"lr": torch.tensor([-12.0, 0.5, -3.0])})
    assert raw["lr"].tolist() == [-10.0, 0.0, -3.0]


@pytest.mark.parametrize(
    "name,value,match",
    [
        ("lr", -0.1, "'lr' must lie in"),
        ("lr", 0.0, "'lr' must lie in"),
        ("momentum", 1.0, "'momentum' must lie in"),
        ("momentum", -0.5, "'momentum' must lie in"),
        ("weight_decay", -1e-4, "'weight_decay' must lie in"),
        ("lr", math.nan, "must be finite"),
        ("momentum", math.inf, "must be finite"),
    ],
)
def test_invalid_values_are_rejected(name, value, match):
    with pytest.raises(ValueError, match=match):
        validate_natural(name, value)
    with pytest.raises(ValueError, match=match):
        SPACE.to_raw({"lr": 0.1, "weight_decay": 0.1, "momentum": 0.5, name: value})


def test_raw_transform_allows_negative_values():
    assert validate_natural("lr", -0.1, allow_negative=True) == -0.1
    raw = HyperSpace({"lr": RAW}).to_raw({"lr": -0.5})
    assert float(raw["lr"]) == -0.5
    with pytest.raises(ValueError, match="finite"):
        HyperSpace({"lr": RAW}).to_raw({"lr": math.nan})


def test_paired_sampler_is_paired_and_in_range():
    a, b = sample_initial_hypers(7, 3), sample_initial_hypers(7, 10)
    assert a == b[:3]  # init k does not depend on n
    assert sample_initial_hypers(8, 3) != a
    for h in b:
        assert 1e-6 <= h.lr <= 1e-1 and 1e-7 <= h.weight_decay <= 1e-2 and 0 <= h.momentum < 1
