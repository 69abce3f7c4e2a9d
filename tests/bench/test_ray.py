"""The Ray executor against a local Ray instance started by the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from hgbench.bench.config import RunConfig
from hgbench.bench.store import load_runs
from hgbench.bench.sweep import run_sweep

ray = pytest.importorskip("ray")


@pytest.mark.ray
@pytest.mark.slow
def test_ray_executor_runs_a_sweep_and_driver_writes_store(toys, tmp_path):
    from hgbench.bench.executors import RayExecutor

    # the toys' module must be importable on the cluster, as a user's plugin module would be
    env = {"env_vars": {"PYTHONPATH": str(Path(__file__).parent)}}
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, runtime_env=env)
    try:
        runs = [
            RunConfig(task="toy_quadratic", method="toy_sgd", init_index=k, batch_size=2,
                      method_settings={"lr_scale": 100.0})
            for k in range(2)
        ] + [RunConfig(task="toy_quadratic", method="toy_raise")]  # fmt: skip
        summary = run_sweep(runs, tmp_path / "r.sqlite", RayExecutor(), quiet=True)
    finally:
        ray.shutdown()
    df = load_runs(tmp_path / "r.sqlite")
    assert summary.statuses == {"ok": 1, "diverged": 1, "error": 1}, df.message.tolist()
    df = load_runs(tmp_path / "r.sqlite").set_index("method")
    assert df.loc["toy_sgd", "batch_size"].tolist() == [2, 2]
    assert "toy failure" in df.loc["toy_raise", "message"]
