"""Tests of the quadratic oracle task and the hypergradient-fidelity measurement."""

from __future__ import annotations

import pytest
import torch

from hgbench.analysis.fidelity import measure_fidelity
from hgbench.spec import InitialHyper
from hgbench.tasks import TASKS


@pytest.fixture(scope="module")
def quad():
    torch.set_num_threads(1)
    return TASKS.get("quadratic")().build(dtype=torch.float64)


def test_ridge_solution_is_the_sgd_fixed_point_and_exact_hypergradient_matches_fd(quad):
    wd = 0.05
    w = quad.ridge_solution(wd)
    assert float((quad.grad_full(w) + wd * w).abs().max()) < 1e-12
    eps = 1e-6

    def lv(lam):
        return quad.evaluate(quad.ridge_solution(lam), quad.init_model_state(), "val")["loss"]

    fd = (lv(wd + eps) - lv(wd - eps)) / (2 * eps)
    torch.testing.assert_close(quad.exact_hypergradient(wd)["weight_decay"], fd, rtol=1e-6, atol=0)


def test_quadratic_task_is_registered_and_validates_its_scale():
    assert "quadratic" in TASKS
    p = TASKS.get("quadratic")(dim=4, n_train=20).build()
    assert p.layout.size == 4 and p.num_examples("train") == 20
    with pytest.raises(ValueError, match="condition"):
        TASKS.get("quadratic")(condition=0.5).build()
    with pytest.raises(ValueError, match="unknown scale"):
        TASKS.get("quadratic")(scale="huge")


def test_fidelity_table_improves_with_the_truncation_knob(quad):
    lam_max = float(torch.linalg.eigvalsh(quad.train_hessian()).max())
    hyper = InitialHyper(0, 1.0 / (lam_max + 1e-2), 1e-2, 0.0)
    df = measure_fidelity(quad, "unrolled", [1, 10, 300], hyper)
    assert list(df["value"]) == [1, 10, 300] and set(df["knob"]) == {"k"}
    assert {"cosine", "rel_error", "sign_agree", "hg_weight_decay", "exact_weight_decay"} <= set(df)
    assert df["rel_error"].is_monotonic_decreasing
    assert df["rel_error"].iloc[-1] < 1e-8 and bool(df["sign_agree"].iloc[-1])
    # at a fixed point, k-step unrolling and the k-term Neumann series are the same quantity
    neumann = measure_fidelity(
        quad, "implicit", [1, 10, 300], hyper, settings={"variant": "wd_lr_m"}
    )
    torch.testing.assert_close(
        torch.tensor(neumann["hg_weight_decay"].values),
        torch.tensor(df["hg_weight_decay"].values),
        rtol=1e-9,
        atol=1e-15,
    )


def test_fidelity_rejects_a_problem_without_an_oracle():
    with pytest.raises(ValueError, match="closed-form"):
        measure_fidelity(object(), "implicit", [1], InitialHyper(0, 0.1, 1e-3, 0.0))
