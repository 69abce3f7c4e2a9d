"""SupervisedProblem: functional loss with batch-norm state, data order, evaluation."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import grad, jvp, vmap

from hgbench.tasks.base import SplitData, SupervisedProblem, epoch_permutation
from hgbench.tasks.losses import accuracy, cross_entropy


def bn_model() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))


def make_problem(batch_size: int | None = 8, data_seed: int = 0) -> SupervisedProblem:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 4, generator=g)
    y = torch.randint(0, 3, (60,), generator=g)
    return SupervisedProblem(
        name="toy_bn",
        model_factory=bn_model,
        train=SplitData(x[:36], y[:36]),
        val=SplitData(x[36:48], y[36:48]),
        test=SplitData(x[48:], y[48:]),
        loss_fn=cross_entropy,
        metrics={"accuracy": accuracy},
        metric="accuracy",
        lower_is_better=False,
        batch_size=batch_size,
        val_batch_size=4,
        data_seed=data_seed,
        eval_chunk=5,
    )


def reference_loss(p: SupervisedProblem, w: torch.Tensor, batch) -> tuple[torch.Tensor, dict]:
    """The same computation written out by hand (batch statistics, biased variance)."""
    P = p.layout.unflatten(w)
    h = batch.inputs @ P["0.weight"].T + P["0.bias"]
    mean, var = h.mean(0), h.var(0, unbiased=False)
    h = (h - mean) / torch.sqrt(var + 1e-5) * P["1.weight"] + P["1.bias"]
    out = torch.relu(h) @ P["3.weight"].T + P["3.bias"]
    n = h.shape[0]
    buffers = {
        "1.running_mean": 0.1 * mean.detach(),
        "1.running_var": 0.9 + 0.1 * var.detach() * n / (n - 1),
        "1.num_batches_tracked": torch.tensor(1),
    }
    return cross_entropy(out, batch.targets).mean(), buffers


def test_init_weights_are_default_init_and_seeded():
    p = make_problem()
    torch.manual_seed(3)
    expected = torch.nn.utils.parameters_to_vector(bn_model().parameters())
    assert torch.equal(p.init_weights(3), expected)
    assert not torch.equal(p.init_weights(3), p.init_weights(4))
    assert p.init_weights(0).shape == (p.layout.size,) == (4 * 6 + 6 + 6 + 6 + 6 * 3 + 3,)


def test_init_weights_does_not_touch_global_rng():
    p = make_problem()
    torch.manual_seed(123)
    a = torch.rand(1)
    torch.manual_seed(123)
    p.init_weights(7)
    assert torch.equal(torch.rand(1), a)


def test_loss_matches_module_and_updates_buffers_functionally():
    p = make_problem()
    w, m0 = p.init_weights(0), p.init_model_state()
    batch = p.train_batch(0)
    loss, m1 = p.loss(w, m0, batch, "train")
    ref_loss, ref_buffers = reference_loss(p, w, batch)
    torch.testing.assert_close(loss, ref_loss)
    for name, b in ref_buffers.items():
        torch.testing.assert_close(m1["buffers"][name], b)
    # the incoming state is untouched
    assert torch.equal(m0["buffers"]["1.running_mean"], torch.zeros(6))
    assert int(m0["buffers"]["1.num_batches_tracked"]) == 0
    assert int(m1["buffers"]["1.num_batches_tracked"]) == 1
    # val stream: same loss (training mode), buffers unchanged
    loss_v, mv = p.loss(w, m0, batch, "val")
    torch.testing.assert_close(loss_v, loss)
    assert torch.equal(mv["buffers"]["1.running_mean"], m0["buffers"]["1.running_mean"])


def test_grad_and_hvp_match_autograd():
    p = make_problem()
    w, m = p.init_weights(0), p.init_model_state()
    batch = p.train_batch(1)
    g = grad(lambda w_: p.loss(w_, m, batch)[0])(w)
    w_ref = w.clone().requires_grad_(True)
    ref_g = torch.autograd.grad(reference_loss(p, w_ref, batch)[0], w_ref, create_graph=True)[0]
    torch.testing.assert_close(g, ref_g.detach())
    v = torch.randn(w.shape, generator=torch.Generator().manual_seed(1))
    hv = jvp(grad(lambda w_: p.loss(w_, m, batch)[0]), (w,), (v,))[1]
    ref_hv = torch.autograd.grad(ref_g @ v, w_ref)[0]
    torch.testing.assert_close(hv, ref_hv, rtol=1e-4, atol=1e-5)


def test_vmap_over_inits_matches_per_init():
    p = make_problem()
    ws = torch.stack([p.init_weights(0), p.init_weights(1)])
    m = p.init_model_state()
    ms = {"buffers": {k: torch.stack([v, v]) for k, v in m["buffers"].items()}, "carry": {}}
    batch = p.train_batch(2)

    def step(w, mstate):
        g_, (loss, new) = grad(
            lambda w_: (lambda r: (r[0], r))(p.loss(w_, mstate, batch)), has_aux=True
        )(w)
        return loss, g_, new

    losses, gs, news = vmap(step)(ws, ms)
    for i in range(2):
        loss, new = p.loss(ws[i], m, batch)
        g_ = grad(lambda w_: p.loss(w_, m, batch)[0])(ws[i])
        torch.testing.assert_close(losses[i], loss)
        torch.testing.assert_close(gs[i], g_)
        for k in new["buffers"]:
            torch.testing.assert_close(news["buffers"][k][i], new["buffers"][k])
    # HVP under vmap
    v = torch.ones_like(ws)
    hv = vmap(lambda w, ms_, v_: jvp(grad(lambda x: p.loss(x, ms_, batch)[0]), (w,), (v_,))[1])(
        ws, ms, v
    )
    hv0 = jvp(grad(lambda x: p.loss(x, m, batch)[0]), (ws[0],), (v[0],))[1]
    torch.testing.assert_close(hv[0], hv0, rtol=1e-4, atol=1e-5)
    # evaluate under vmap
    ev = vmap(lambda w, ms_: p.evaluate(w, ms_, "test"))(ws, ms)
    for i in range(2):
        single = p.evaluate(ws[i], m, "test")
        for k in ("loss", "accuracy"):
            torch.testing.assert_close(ev[k][i], single[k])


def test_evaluate_uses_eval_mode_and_running_stats():
    p = make_problem()
    w, m = p.init_weights(0), p.init_model_state()
    _, m1 = p.loss(w, m, p.train_batch(0))
    res = p.evaluate(w, m1, "test")
    ref = bn_model()
    torch.nn.utils.vector_to_parameters(w, ref.parameters())
    ref.load_state_dict({**ref.state_dict(), **m1["buffers"]})
    ref.eval()
    x, y = p._splits["test"].inputs, p._splits["test"].targets
    with torch.no_grad():
        out = ref(x)
    torch.testing.assert_close(res["loss"], cross_entropy(out, y).mean())
    torch.testing.assert_close(res["accuracy"], accuracy(out, y).mean())
    assert res["loss"].dim() == 0 and p.model.training


def test_batches_deterministic_cover_epoch_and_drop_partial():
    p, q = make_problem(data_seed=5), make_problem(data_seed=5)
    assert p.steps_per_epoch == 36 // 8 == 4
    for t in range(9):
        assert torch.equal(p.train_batch(t).inputs, q.train_batch(t).inputs)
    seen = torch.cat([p.train_batch(t).inputs for t in range(4)])
    assert seen.shape == (32, 4)
    assert len({tuple(r.tolist()) for r in seen}) == 32  # no repeats inside an epoch
    perm = epoch_permutation(36, 5, 1)
    assert torch.equal(p.train_batch(4).inputs, p._splits["train"].inputs[perm[:8]])
    assert not torch.equal(p.train_batch(0).inputs, p.train_batch(4).inputs)
    other = make_problem(data_seed=6)
    assert not torch.equal(p.train_batch(0).inputs, other.train_batch(0).inputs)
    assert p.val_batch(0).inputs.shape == (4, 4)


def test_full_batch_returns_cached_object():
    p = make_problem(batch_size=None)
    assert p.train_batch(0) is p.train_batch(17)
    assert p.train_batch(0).inputs.shape[0] == 36 and p.steps_per_epoch == 1


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="batch_size=100"):
        make_problem(batch_size=100)
    p = make_problem()
    with pytest.raises(ValueError, match="split"):
        p.evaluate(p.init_weights(0), p.init_model_state(), "bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=">= 0"):
        p.train_batch(-1)


def test_float64_problem():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(20, 4, generator=g), torch.randint(0, 3, (20,), generator=g)
    p = SupervisedProblem(
        name="f64",
        model_factory=bn_model,
        train=SplitData(x[:10], y[:10]),
        val=SplitData(x[10:15], y[10:15]),
        test=SplitData(x[15:], y[15:]),
        loss_fn=cross_entropy,
        metrics={},
        metric="loss",
        dtype=torch.float64,
    )
    w, m = p.init_weights(0), p.init_model_state()
    assert w.dtype == torch.float64 and m["buffers"]["1.running_var"].dtype == torch.float64
    assert p.loss(w, m, p.train_batch(0))[0].dtype == torch.float64
