"""``hgbench bench compare`` end to end on the checkout against itself (1 case, 3 rounds), the
sides (paths, git refs, a side that cannot be imported) and the schedule. No wall-clock
assertions: only the structure of the outputs and the exit statuses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hgbench.bench.ab import rounds, sides
from hgbench.bench.ab.rounds import MIN_ROUNDS, Schedule, worker_env
from hgbench.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_compare_the_checkout_with_itself(tmp_path, capsys):
    out, md = tmp_path / "ab.json", tmp_path / "ab.md"
    argv = ["bench", "compare", str(ROOT), str(ROOT), "--method", "fixed", "--task",
            "sk_diabetes", "--rounds", "3", "--workers", "1", "--json", str(out),
            "--markdown", str(md)]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    assert doc["kind"] == "hgbench-ab" and doc["rounds"] == 3 and doc["threads"] == 1
    for label in ("base", "head"):
        side = doc["sides"][label]
        assert side["hgbench_file"] == str((ROOT / "hgbench" / "__init__.py").resolve())
        assert side["torch_threads"] == 1 and side["source"] == str(ROOT)
    (case,) = doc["cases"]
    assert case["case"] == "fixed@sk_diabetes" and case["process"] == "warm"
    assert len(case["base_s"]) == len(case["head_s"]) == len(case["order"]) == 3
    assert set(case["order"]) <= {"BH", "HB"}
    assert case["verdict"] == "inconclusive" and case["high"] is None  # 3 rounds: no interval
    assert doc["summary"]["inconclusive"] == 1 and doc["skipped"] == []
    table = md.read_text()
    assert "| `fixed@sk_diabetes` | 3 |" in table and "too few rounds" in table
    assert table in capsys.readouterr().out


def test_a_side_that_fails_to_import_is_one_line(tmp_path, capsys):
    broken = tmp_path / "broken"
    (broken / "hgbench" / "bench").mkdir(parents=True)
    (broken / "hgbench" / "__init__.py").write_text("raise RuntimeError('this side is broken')\n")
    (broken / "hgbench" / "bench" / "regression.py").write_text("")
    argv = ["bench", "compare", str(broken), str(ROOT), "--rounds", "1", "--workers", "1",
            "--method", "fixed", "--json", str(tmp_path / "x.json")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "this side is broken" in err and err.startswith("hgbench:")


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip


def test_a_git_ref_is_checked_out_once_and_reused(tmp_path):
    repo = tmp_path / "repo"
    (repo / "hgbench" / "bench").mkdir(parents=True)
    (repo / "hgbench" / "bench" / "regression.py").write_text("# v1\n")
    _git("init", "-q", cwd=repo)
    _git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qam", "v1", "--allow-empty",
         cwd=repo)  # fmt: skip
    _git("add", ".", cwd=repo)
    _git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "v2", cwd=repo)
    cache = tmp_path / "cache"
    side = sides.resolve("base", "HEAD", repo=repo, cache=cache)
    assert side.commit == _git("rev-parse", "HEAD", cwd=repo) and not side.dirty
    assert Path(side.source) == cache / side.commit
    assert (Path(side.source) / "hgbench" / "bench" / "regression.py").read_text() == "# v1\n"
    again = sides.resolve("base", "HEAD", repo=repo, cache=cache)
    assert again == side
    with pytest.raises(ValueError, match="neither a directory nor a git ref"):
        sides.resolve("base", "no-such-ref", repo=repo, cache=cache)
    with pytest.raises(ValueError, match="not a checkout of hgbench"):
        sides.resolve("head", str(tmp_path), repo=repo, cache=cache)
    as_path = sides.resolve("head", str(repo), repo=repo, cache=cache)
    assert as_path.source == str(repo.resolve()) and as_path.commit == side.commit


def test_schedule_stops_by_rounds_or_budget():
    assert Schedule(cases=[], rounds=3).more(2, 1e9) and not Schedule(cases=[], rounds=3).more(3, 0)
    budget = Schedule(cases=[], budget_s=10.0)
    assert budget.more(MIN_ROUNDS - 1, 1e9)  # at least MIN_ROUNDS whatever the budget
    assert budget.more(MIN_ROUNDS, 5.0) and not budget.more(MIN_ROUNDS, 10.0)
    assert Schedule(cases=[], statistic="min").figure([3.0, 1.0, 2.0]) == 1.0
    assert Schedule(cases=[], statistic="median").figure([3.0, 1.0, 2.0]) == 2.0


def test_worker_env_pins_the_threads():
    env = worker_env(2, {"PYTHONPATH": "/elsewhere", "OMP_NUM_THREADS": "8", "HOME": "/h"})
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "2"
    assert "PYTHONPATH" not in env and env["HOME"] == "/h"


class FakeWorker:
    """A worker without a process: head is 10 % slower; ``new@x`` exists on head only."""

    made: list[str] = []

    def __init__(self, side, threads):
        self.side, self.threads, self.hello = side, threads, {}
        self.pending: list[dict] = []
        FakeWorker.made.append(side.label)

    def ready(self):
        self.hello = {"torch_threads": self.threads, "hgbench_file": self.side.source}
        return self

    def send(self, request):
        self.pending.append(request)

    def receive(self):
        request = self.pending.pop(0)
        if request.get("case") == "new@x" and self.side.label == "base":
            raise rounds.WorkerError("base: unknown method 'new'")
        return {"ok": True}

    def burst(self, case, steps):
        return [(1.1 if self.side.label == "head" else 1.0) * 1e-3] * steps

    def quit(self):
        pass

    def close(self):
        pass


def test_rounds_pair_the_sides_skip_a_case_one_side_lacks_and_honour_fresh(monkeypatch):
    monkeypatch.setattr(rounds, "Worker", FakeWorker)
    FakeWorker.made = []
    base = sides.Side("base", "b", "/b", None, False)
    head = sides.Side("head", "h", "/h", None, False)
    schedule = Schedule(cases=["a@x", "new@x", "f@x"], rounds=7, workers=2,
                        modes={"f@x": rounds.FRESH})  # fmt: skip
    samples, skipped, facts = rounds.run(schedule, base, head)
    assert list(skipped) == ["new@x"] and "unknown method" in skipped["new@x"]
    assert sorted(samples) == ["a@x", "f@x"] and len(facts["base"]) == 2
    for cs in samples.values():
        assert len(cs.base) == len(cs.head) == len(cs.order) == 7
        assert all(h / b == pytest.approx(1.1) for b, h in zip(cs.base, cs.head, strict=True))
    assert samples["f@x"].process == rounds.FRESH
    assert len(FakeWorker.made) == 4 + 2 * 7  # the pools, then a fresh pair per round of f@x
