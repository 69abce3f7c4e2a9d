"""The fused batched-inits kernel of the UCI MLP (hgbench.tasks.fused): its loss and gradient
against torch.func's (the oracle), its vmap rule, when it is used and when not, and what
happens without a compiler or a writable cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import grad, vmap

from hgbench.bench.config import RunConfig
from hgbench.bench.loop import BatchedStepper, SingleStepper
from hgbench.methods import METHODS
from hgbench.methods.core import diff
from hgbench.methods.core.hyper import sample_initial_hypers
from hgbench.spec import ParamLayout
from hgbench.tasks import fused
from hgbench.tasks.fused import build, mlp1
from hgbench.tasks.losses import cross_entropy, squared_error
from hgbench.tasks.models import flat_forward, mlp
from hgbench.tasks.regression import regression_problem


def _problem(d: int, h: int, n: int, dtype: torch.dtype = torch.float64, seed: int = 0):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n + 8, d)), rng.normal(size=n + 8)
    return regression_problem("t", x, y, n_train=n, n_val=4, width=h, dtype=dtype)


def _inits(problem, k: int) -> torch.Tensor:
    return torch.stack([problem.init_weights(s) for s in range(k)])


def _oracle(problem, ws: torch.Tensor, batch) -> tuple[torch.Tensor, torch.Tensor]:
    ms = problem.init_model_state()

    def f(w):
        return problem.loss(w, ms, batch)[0]

    return torch.stack([f(w) for w in ws]), torch.stack([grad(f)(w) for w in ws])


def _spy_on(monkeypatch, problem, name: str) -> list[bool]:
    """Whether each call of ``problem.<name>`` (a fused kernel) returned a result."""
    taken: list[bool] = []
    real = getattr(problem, name)

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(problem, name, spy)
    return taken


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


@pytest.mark.parametrize("d", [1, 5, 16, 17, 23])
@pytest.mark.parametrize("h", [1, 7, 50])
@pytest.mark.parametrize("n", [1, 7, 33])
def test_kernel_equals_autograd_float64(d: int, h: int, n: int) -> None:
    problem = _problem(d, h, n)
    ws = _inits(problem, 3) * 3.0  # larger weights: some ReLUs on, some off
    batch = problem.train_batch(0)
    loss, g = mlp1.value_and_grad(ws, batch.inputs, batch.targets)
    ref_loss, ref_g = _oracle(problem, ws, batch)
    assert _rel_err(loss, ref_loss) < 1e-12
    assert _rel_err(g, ref_g) < 1e-10


def _hvp_oracle(problem, ws: torch.Tensor, us: torch.Tensor, batch) -> torch.Tensor:
    ms = problem.init_model_state()

    def g(w):
        return grad(lambda w_: problem.loss(w_, ms, batch)[0])(w)

    return torch.stack([torch.func.jvp(g, (w,), (u,))[1] for w, u in zip(ws, us, strict=True)])


@pytest.mark.parametrize("vbytes", ["16", "32", "64"])
@pytest.mark.parametrize("rows", ["4", "5", "6"])
@pytest.mark.parametrize("tail", [0, 1, 2, 3])
def test_every_vector_width_equals_autograd(vbytes: str, rows: str, tail: int) -> None:
    """The rows-in-lanes kernel built for SSE, AVX2 and AVX-512 widths (HG_VBYTES; the default
    follows the compiler's target) and blocks of 4, 5 and 6 row vectors (HG_R: AVX2's, AVX-512's
    and between) gives autograd's gradient and HVP, over one full block and 0-3 row vectors more (a second
    block, padded), the last row vector itself padded."""
    lanes = int(vbytes) // 8  # float64
    problem = _problem(6, 7, lanes * (int(rows) + tail) - 1)
    ws = _inits(problem, 5) * 3.0
    us = torch.randn(ws.shape, dtype=ws.dtype, generator=torch.Generator().manual_seed(1))
    batch = problem.train_batch(0)
    rows_in_lanes = ("HG_IL_MAX_D", "0")  # the gradient too (by default inits in the lanes)
    fns = mlp1.build_kernels(torch.float64, (("HG_VBYTES", vbytes), ("HG_R", rows), rows_in_lanes))
    x, y = batch.inputs.contiguous(), batch.targets.reshape(-1).contiguous()
    loss, g, hv = ws.new_empty(5), torch.empty_like(ws), torch.empty_like(ws)
    mlp1._call(fns.value_and_grad, ws, x, y, loss, g)
    mlp1._call(fns.hvp, ws, x, y, us.contiguous(), hv)
    ref_loss, ref_g = _oracle(problem, ws, batch)
    assert _rel_err(loss, ref_loss) < 1e-12
    assert _rel_err(g, ref_g) < 1e-10
    assert _rel_err(hv, _hvp_oracle(problem, ws, us, batch)) < 1e-10


@pytest.mark.parametrize("vbytes", ["16", "32", "64"])
def test_inits_in_the_lanes_equal_autograd(vbytes: str) -> None:
    """The gradient with the inits in the lanes (D up to 16, the default), at each vector width:
    a group of inits short of the lanes and one past them, rows in one tile and past whole
    tiles of 16 by 0, 1 and 15, D where the tile's sums fill the registers, and a diverged init
    beside finite ones (its lane alone non-finite)."""
    lanes = int(vbytes) // 8  # float64
    fns = mlp1.build_kernels(torch.float64, (("HG_VBYTES", vbytes),))
    for d, n, inits in [(1, 5, 1), (6, 16, lanes + 1), (6, 47, lanes - 1 or 1), (13, 33, 3),
                        (16, 31, lanes + 3), (8, 1, 2)]:  # fmt: skip
        problem = _problem(d, 7, n, seed=d + n)
        ws = _inits(problem, inits) * 3.0
        batch = problem.train_batch(0)
        x, y = batch.inputs.contiguous(), batch.targets.reshape(-1).contiguous()
        loss, g = ws.new_empty(inits), torch.empty_like(ws)
        mlp1._call(fns.value_and_grad, ws, x, y, loss, g)
        ref_loss, ref_g = _oracle(problem, ws, batch)
        assert _rel_err(loss, ref_loss) < 1e-12, (d, n, inits)
        assert _rel_err(g, ref_g) < 1e-10, (d, n, inits)
    ws[-1, 0] = float("nan")
    mlp1._call(fns.value_and_grad, ws, x, y, loss, g)
    assert not torch.isfinite(loss[-1]) and torch.isfinite(loss[:-1]).all()
    assert _rel_err(g[:-1], ref_g[:-1]) < 1e-10


@pytest.mark.parametrize("d", [1, 6, 17])
@pytest.mark.parametrize("h", [1, 7, 50])
@pytest.mark.parametrize("n", [1, 33])
def test_hvp_equals_autograd_float64(d: int, h: int, n: int) -> None:
    problem = _problem(d, h, n)
    ws = _inits(problem, 3) * 3.0
    us = torch.randn(ws.shape, dtype=ws.dtype, generator=torch.Generator().manual_seed(d * h + n))
    batch = problem.train_batch(0)
    hv = mlp1.hvp(ws, us, batch.inputs, batch.targets)
    assert _rel_err(hv, _hvp_oracle(problem, ws, us, batch)) < 1e-10


def test_hvp_under_vmap_and_its_fallbacks(monkeypatch) -> None:
    problem = _problem(8, 50, 40)
    ws, b, ms = _inits(problem, 4), problem.train_batch(0), problem.init_model_state()
    us = torch.randn(ws.shape, dtype=ws.dtype, generator=torch.Generator().manual_seed(1))
    ref = _hvp_oracle(problem, ws, us, b)
    taken = _spy_on(monkeypatch, problem, "fused_hvp")
    hv = vmap(lambda w, u: diff.hvp(problem, w, ms, b, u))(ws, us)
    assert taken == [True] and problem.counter.hvp == 1
    assert _rel_err(hv, ref) < 1e-10
    shared = vmap(lambda w: diff.hvp(problem, w, ms, b, us[0]))(ws)  # u not batched: autograd
    assert taken == [True, False]
    assert _rel_err(shared, _hvp_oracle(problem, ws, us[:1].expand_as(ws), b)) < 1e-10
    diff.hvp(problem, ws[0], ms, b, us[0])  # one by one: autograd, never the kernel
    assert taken == [True, False] and problem.counter.hvp == 3


def test_hvp_float32_close_to_autograd_float64() -> None:
    p64, p32 = _problem(8, 50, 200), _problem(8, 50, 200, dtype=torch.float32)
    ws = _inits(p64, 3)
    us = torch.randn(ws.shape, dtype=ws.dtype, generator=torch.Generator().manual_seed(2))
    b32 = p32.train_batch(0)
    hv = mlp1.hvp(ws.float(), us.float(), b32.inputs, b32.targets)
    assert _rel_err(hv.double(), _hvp_oracle(p64, ws, us, p64.train_batch(0))) < 1e-4


def test_kernel_float32_close_to_autograd_float64() -> None:
    p64, p32 = _problem(8, 50, 200), _problem(8, 50, 200, dtype=torch.float32)
    ws = _inits(p64, 4)
    b32 = p32.train_batch(0)
    loss, g = mlp1.value_and_grad(ws.float(), b32.inputs, b32.targets)
    ref_loss, ref_g = _oracle(p64, ws, p64.train_batch(0))
    assert loss.dtype == torch.float32
    assert _rel_err(loss.double(), ref_loss) < 1e-5
    assert _rel_err(g.double(), ref_g) < 1e-4


def test_leading_dimensions_and_nested_vmap() -> None:
    problem = _problem(5, 7, 20)
    b = problem.train_batch(0)
    ws = _inits(problem, 6).reshape(2, 3, -1)
    loss, g = mlp1.value_and_grad(ws, b.inputs, b.targets)
    ref_loss, ref_g = _oracle(problem, ws.reshape(6, -1), b)
    assert loss.shape == (2, 3) and g.shape == ws.shape
    assert _rel_err(g.reshape(6, -1), ref_g) < 1e-10
    nested = vmap(vmap(lambda w: mlp1.value_and_grad(w, b.inputs, b.targets)))(ws)
    assert _rel_err(nested[1].reshape(6, -1), ref_g) < 1e-10
    assert _rel_err(nested[0].reshape(6), ref_loss) < 1e-12
    flat = ws.reshape(6, -1)
    columns = vmap(lambda w: mlp1.value_and_grad(w, b.inputs, b.targets)[1], in_dims=1)(flat.T)
    assert _rel_err(columns, ref_g) < 1e-10
    scales = torch.arange(1.0, 4.0, dtype=flat.dtype)
    outer_only = vmap(
        lambda w: vmap(lambda z: mlp1.value_and_grad(w, b.inputs, b.targets)[1] * z)(scales)
    )(flat)  # w batched at the outer level only
    assert outer_only.shape == (6, 3, flat.shape[1])
    assert _rel_err(outer_only, ref_g[:, None, :] * scales[None, :, None]) < 1e-10


def test_rows_batched_with_the_inits_keep_autograd() -> None:
    problem = _problem(4, 9, 16)
    ws, ms = _inits(problem, 3), problem.init_model_state()
    b = problem.train_batch(0)
    xs = torch.stack([b.inputs.roll(k, 0) for k in range(3)])
    ys = torch.stack([b.targets.roll(k, 0) for k in range(3)])
    seen = []

    def one(w, x, y):
        seen.append(mlp1.value_and_grad(w, x, y))
        return diff.value_and_grad(problem, w, ms, type(b)(x, y))[1]

    g = vmap(one)(ws, xs, ys)
    assert seen == [None]
    for k in range(3):
        batch = type(b)(xs[k], ys[k])
        assert _rel_err(g[k], _oracle(problem, ws[k : k + 1], batch)[1][0]) < 1e-10


def test_diverged_weights_give_a_non_finite_loss() -> None:
    problem = _problem(6, 10, 12)
    ws = _inits(problem, 3)
    ws[1, 0] = float("nan")
    ws[2] *= 1e200
    b = problem.train_batch(0)
    loss, g = mlp1.value_and_grad(ws, b.inputs, b.targets)
    assert torch.isfinite(loss[0]) and not torch.isfinite(loss[1:]).any()
    assert not torch.isfinite(g[1]).all()
    assert _rel_err(g[0], _oracle(problem, ws[:1], b)[1][0]) < 1e-10


def test_value_and_grad_uses_the_kernel_under_vmap_only(monkeypatch) -> None:
    problem = _problem(8, 50, 40)
    ws, b, ms = _inits(problem, 4), problem.train_batch(0), problem.init_model_state()
    calls = _spy_on(monkeypatch, problem, "fused_value_and_grad")
    loss, g, new_ms = vmap(lambda w: diff.value_and_grad(problem, w, ms, b))(ws)
    assert calls == [True] and problem.counter.gradient == 1
    assert new_ms == {**ms, "buffers": {}}
    ref_loss, ref_g = _oracle(problem, ws, b)
    assert _rel_err(g, ref_g) < 1e-10 and _rel_err(loss, ref_loss) < 1e-12
    diff.value_and_grad(problem, ws[0], ms, b)  # one by one: autograd, never the kernel
    grad(lambda w: diff.value_and_grad(problem, w, ms, b)[0])(ws[0])  # under grad: autograd
    vmap(grad(lambda w: diff.value_and_grad(problem, w, ms, b)[0]))(ws)  # vmap of grad too
    assert calls == [True] and problem.counter.gradient == 4


def test_a_gradient_that_is_differentiated_keeps_autograd() -> None:
    """The hypergradient of a step through its gradient (d loss(w - a g(w)) / d a) is the same
    whether the gradient inside could have been fused or not: the kernel is not used there."""
    problem = _problem(5, 7, 20)
    ws, b, ms = _inits(problem, 3), problem.train_batch(0), problem.init_model_state()

    def after_step(a, w):
        _, g, _ = diff.value_and_grad(problem, w, ms, b)
        return problem.loss(w - a * g, ms, b)[0]

    batched = vmap(grad(after_step), in_dims=(None, 0))(torch.tensor(0.1, dtype=ws.dtype), ws)
    single = torch.stack([grad(after_step)(torch.tensor(0.1, dtype=ws.dtype), w) for w in ws])
    assert _rel_err(batched, single) < 1e-10


@pytest.mark.parametrize("key", ["fixed", "hd_sgd", "implicit", "lorraine"])
def test_batched_runs_take_the_kernel_and_match_one_by_one(monkeypatch, key: str) -> None:
    torch.set_num_threads(1)
    problem = _problem(8, 50, 60)
    method = METHODS.get(key)()
    hypers = sample_initial_hypers(seed=3, n=3)
    w0s = [problem.init_weights(k) for k in range(3)]
    calls, hvp_calls = [], []

    def spy(*args):
        calls.append(1)
        return mlp1.value_and_grad(*args)

    def hvp_spy(*args):
        hvp_calls.append(1)
        return mlp1.hvp(*args)

    monkeypatch.setattr(problem, "_fused", fused.FusedOps(spy, hvp_spy))
    singles = []
    for w0, h in zip(w0s, hypers, strict=True):
        stepper = SingleStepper(problem, method)
        s = stepper.init([w0], problem.init_model_state(), [h])
        for t in range(10):
            s = stepper.step(s, t)
        singles.append(method.weights(s)[0])
    assert calls == [] and hvp_calls == []
    batched = BatchedStepper(problem, method, 3)
    s = batched.init(w0s, problem.init_model_state(), hypers)
    for t in range(10):
        s = batched.step(s, t)
    assert len(calls) >= 10
    assert (len(hvp_calls) > 0) == (key in ("implicit", "lorraine"))
    wb = vmap(lambda st: method.weights(st)[0])(s)
    for i, w in enumerate(singles):
        assert _rel_err(wb[i], w) < 1e-10


def test_structures_the_kernel_does_not_cover() -> None:
    def fwd(module):
        return flat_forward(module, ParamLayout.from_module(module))

    cpu, f64 = torch.device("cpu"), torch.float64
    assert fused.for_mlp(fwd(mlp([8, 50, 1])), squared_error, cpu, f64) is not None
    assert fused.for_mlp(fwd(mlp([8, 50, 1], nn.Tanh)), squared_error, cpu, f64) is None
    assert fused.for_mlp(fwd(mlp([8, 50, 3])), squared_error, cpu, f64) is None
    assert fused.for_mlp(fwd(mlp([8, 20, 20, 1])), squared_error, cpu, f64) is None
    assert fused.for_mlp(fwd(mlp([8, 50, 1])), cross_entropy, cpu, f64) is None
    assert fused.for_mlp(fwd(mlp([8, 50, 1])), squared_error, cpu, torch.float16) is None
    meta = torch.device("meta")
    assert fused.for_mlp(fwd(mlp([8, 50, 1])), squared_error, meta, f64) is None


@pytest.fixture
def fresh_build(monkeypatch, tmp_path):
    """Empty kernel caches (disk and memory) for one test, restored after it."""

    def clear():
        build.load.cache_clear()
        mlp1.kernel.cache_clear()
        mlp1.builds.cache_clear()
        fused.unavailable_reason.cache_clear()
        fused._warn_once.cache_clear()

    clear()
    monkeypatch.setenv("HGBENCH_CACHE", str(tmp_path / "cache"))
    yield tmp_path
    monkeypatch.undo()
    clear()


def _fused_taken(problem) -> bool:
    b, ms = problem.train_batch(0), problem.init_model_state()
    return problem.fused_value_and_grad(_inits(problem, 2), ms, b) is not None


def test_kernel_builds_into_the_cache(fresh_build) -> None:
    assert fused.unavailable_reason(torch.float64) is None
    assert list((fresh_build / "cache" / "kernels").glob("mlp1-*.so"))
    assert fused.identity(torch.float64) == mlp1.digest()


def test_without_a_compiler_runs_keep_autograd(fresh_build, monkeypatch) -> None:
    monkeypatch.setenv("CC", str(fresh_build / "no-such-cc"))
    problem = _problem(4, 5, 10)
    with pytest.warns(UserWarning, match=r"fused gradient kernel off.*no C compiler"):
        assert not _fused_taken(problem)
    assert fused.identity(torch.float64) == "autograd"
    ws, b, ms = _inits(problem, 2), problem.train_batch(0), problem.init_model_state()
    _, g, _ = vmap(lambda w: diff.value_and_grad(problem, w, ms, b))(ws)
    assert _rel_err(g, _oracle(problem, ws, b)[1]) < 1e-10


def test_an_unwritable_cache_is_a_reason_not_a_crash(fresh_build, monkeypatch) -> None:
    blocker = fresh_build / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("HGBENCH_CACHE", str(blocker / "cache"))
    reason = fused.unavailable_reason(torch.float32)
    assert reason is not None and "HGBENCH_CACHE" in reason and "\n" not in reason


def test_a_compiler_that_fails_is_a_reason(fresh_build, monkeypatch) -> None:
    fake = fresh_build / "fake-cc"
    fake.write_text("#!/bin/sh\necho 'fake-cc 1.0'\necho 'mlp1.c:1: error: nope' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CC", str(fake))
    reason = fused.unavailable_reason(torch.float32)
    assert reason is not None and "error: nope" in reason


def test_switched_off_by_the_environment(monkeypatch) -> None:
    problem = _problem(4, 5, 10)
    assert _fused_taken(problem)
    monkeypatch.setenv(fused.ENV, "0")
    assert not _fused_taken(problem)
    assert fused.identity(torch.float32) == "autograd"


def test_batched_cpu_identity_records_the_gradient(monkeypatch) -> None:
    batched = RunConfig(task="sk_diabetes", method="fixed", batch_size=4)
    single = RunConfig(task="sk_diabetes", method="fixed")
    assert "gradient_kernel" not in single.hashed()
    assert batched.hashed()["gradient_kernel"] == mlp1.digest()
    on_id = batched.run_id
    monkeypatch.setenv(fused.ENV, "0")
    off = RunConfig(task="sk_diabetes", method="fixed", batch_size=4)
    assert off.hashed()["gradient_kernel"] == "autograd"
    assert off.run_id != on_id


def test_a_meta_default_device_does_not_reach_the_kernel() -> None:
    """Outputs are made on the weights' device: under ``set_default_device("meta")`` a
    tensor made without one would hand the C kernel a null pointer."""
    problem = _problem(5, 7, 20)
    ws, b = _inits(problem, 3), problem.train_batch(0)
    ref_loss, ref_g = _oracle(problem, ws, b)
    with torch.device("meta"):
        loss, g = mlp1.value_and_grad(ws, b.inputs, b.targets)
    assert loss.device.type == "cpu" and _rel_err(g, ref_g) < 1e-10
    with pytest.raises(ValueError, match="on the CPU"):
        mlp1._call(
            mlp1.kernel(ws.dtype).value_and_grad,
            ws,
            b.inputs,
            b.targets,
            ws.new_empty(3, device="meta"),
            ws,
        )


def test_bad_shapes_are_errors_before_the_kernel() -> None:
    problem = _problem(5, 7, 20)
    ws, b = _inits(problem, 2), problem.train_batch(0)
    with pytest.raises(ValueError, match="rows x"):
        mlp1.value_and_grad(ws, b.inputs, b.targets[:-1])
    with pytest.raises(ValueError, match="MLP"):
        mlp1.value_and_grad(ws[:, :-1], b.inputs, b.targets)
    with pytest.raises(ValueError, match="float32/float64"):
        mlp1.value_and_grad(ws.float(), b.inputs, b.targets)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_each_data_set_takes_the_build_that_pads_its_rows_least(dtype) -> None:
    ks = mlp1.builds(dtype)
    assert ks[0] == mlp1.kernel(dtype) and all(k.block_vectors in (4, 5, 6) for k in ks)
    for n in range(1, 700):
        chosen = mlp1.for_rows(dtype, n)

        def padded(k, n=n):
            return -(-n // k.block_rows) * k.block_rows

        assert padded(chosen) == min(padded(k) for k in ks)
        assert chosen.block_rows == max(k.block_rows for k in ks if padded(k) == padded(chosen))
    if dtype == torch.float32 and ks[0].lanes == 16:  # AVX-512: blocks of 6, 5 and 4 vectors
        chosen = [mlp1.for_rows(dtype, n).block_vectors for n in (222, 364, 614, 8593)]
        assert chosen == [5, 6, 5, 6]
