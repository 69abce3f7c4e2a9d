"""Calibrate ``hgbench bench compare``: how often it flags a case, with and without a slowdown.

(a) The checkout against itself, ``--self-reps`` whole comparisons with the default settings
(every method on the default task, the default budget): how many cases each flags slower or
faster. (b) A head with an injected slowdown of 10 % and 25 % of one method's step (a busy
wait proportional to the step's own time, patched into a throwaway ``git worktree`` outside
the repository, never committed), ``--slow-reps`` comparisons each of that method's case
alone with as many rounds as a default comparison gets (the median of (a), else
``--slow-rounds``), or with ``--slow-in-full`` whole default comparisons (the other cases'
verdicts counted too): how often it is flagged. The verdicts are recomputed from each run's
paired samples at every ``--threshold``. Prints a Markdown table and writes every run's JSON
under ``--out``::

    python scripts/calibrate_ab.py --out /tmp/ab-calibration            # 20 + 2 x 10 runs
    python scripts/calibrate_ab.py --self-reps 2 --slow-reps 2 --out /tmp/ab-quick
    python scripts/calibrate_ab.py --self-reps 0 --slow-reps 6 --slow-in-full --out /tmp/ab-full
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from hgbench.bench.ab.decide import decide

ROOT = Path(__file__).resolve().parents[1]

PATCH = """

# --- injected by scripts/calibrate_ab.py (throwaway worktree): {extra:.0%} slower step
import time as _calibration_time


def _calibration_slowed(step):
    def slowed(self, problem, state, t):
        start = _calibration_time.perf_counter()
        out = step(self, problem, state, t)
        until = _calibration_time.perf_counter() + {extra!r} * (
            _calibration_time.perf_counter() - start
        )
        while _calibration_time.perf_counter() < until:
            pass
        return out

    return slowed


{cls}.step = _calibration_slowed({cls}.step)
"""


def slowed_worktree(method: str, extra: float, where: Path) -> Path:
    """A detached worktree of HEAD under ``where`` whose ``method`` step is ``extra`` slower."""
    from hgbench.methods import METHODS

    cls = METHODS.get(method)
    source = Path(inspect.getsourcefile(cls)).resolve().relative_to(ROOT)
    path = where / f"slow-{method}-{round(100 * extra)}"
    if path.exists():
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False)
    subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=True)
    subprocess.run(["git", "worktree", "add", "-q", "--detach", str(path), "HEAD"], cwd=ROOT,
                   check=True)  # fmt: skip
    with (path / source).open("a") as f:
        f.write(PATCH.format(extra=extra, cls=cls.__name__))
    return path


def compare(base: Path, head: Path, out: Path, extra_args: list[str]) -> tuple[dict, float]:
    """One ``hgbench bench compare`` run: its JSON document and its wall time (s)."""
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "hgbench", "bench", "compare", str(base), str(head),
           "--json", str(out), *extra_args]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    return json.loads(out.read_text()), time.perf_counter() - start


def verdicts(doc: dict, threshold: float) -> dict[str, str]:
    """Each case's verdict at ``threshold``, recomputed from its paired samples."""
    conf = doc["confidence"]
    return {c["case"]: decide(c["base_s"], c["head_s"], threshold, conf)[1] for c in doc["cases"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-reps", type=int, default=20)
    parser.add_argument("--slow-reps", type=int, default=10)
    parser.add_argument("--slowdowns", default="0.10,0.25")
    parser.add_argument("--method", default="hd_sgd", help="the method slowed down")
    parser.add_argument("--task", default="sk_diabetes")
    parser.add_argument("--slow-rounds", type=int, default=60)
    parser.add_argument(
        "--slow-in-full", action="store_true",
        help="run (b) as whole default comparisons (every default case, the default budget) and "
        "count the other cases' verdicts too",
    )  # fmt: skip
    parser.add_argument("--thresholds", default="0.05,0.10")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[str] = []
    self_rounds: list[int] = []
    if args.self_reps:
        walls, flagged = [], {t: Counter() for t in thresholds}
        for rep in range(args.self_reps):
            doc, wall = compare(ROOT, ROOT, args.out / f"self-{rep:02d}.json", ["--seed", str(rep)])
            walls.append(wall)
            self_rounds.append(doc["rounds"])
            for t in thresholds:
                v = Counter(verdicts(doc, t).values())
                flagged[t]["reps with a slower case"] += v["slower"] > 0
                flagged[t]["slower cases"] += v["slower"]
                flagged[t]["faster cases"] += v["faster"]
                flagged[t]["no change cases"] += v["no change"]
                flagged[t]["inconclusive cases"] += v["inconclusive"]
            print(f"self {rep}: {doc['rounds']} rounds, {wall:.0f} s, {doc['summary']}", flush=True)
        n_cases = len(doc["cases"])
        for t in thresholds:
            f = flagged[t]
            rows.append(
                f"| self vs self | {t:.0%} | {args.self_reps} x {n_cases} cases | "
                f"{f['reps with a slower case']}/{args.self_reps} reps with a slower case "
                f"({f['slower cases']} slower, {f['faster cases']} faster, "
                f"{f['no change cases']} no change, {f['inconclusive cases']} inconclusive) | "
                f"{statistics.median(self_rounds)} | {statistics.median(walls):.0f} s |"
            )
    rounds = int(statistics.median(self_rounds)) if self_rounds else args.slow_rounds
    case = f"{args.method}@{args.task}"
    for extra in (float(x) for x in args.slowdowns.split(",") if x):
        head = slowed_worktree(args.method, extra, args.out)
        walls, tally = [], {t: Counter() for t in thresholds}
        ratios = []
        for rep in range(args.slow_reps):
            select = ["--method", args.method, "--task", args.task, "--rounds", str(rounds)]
            name = f"slow{round(100 * extra)}{'-full' if args.slow_in_full else ''}-{rep:02d}"
            doc, wall = compare(ROOT, head, args.out / f"{name}.json",
                                [*([] if args.slow_in_full else select), "--seed", str(rep)])  # fmt: skip
            walls.append(wall)
            ratios.append(next(c["ratio"] for c in doc["cases"] if c["case"] == case))
            for t in thresholds:
                v = verdicts(doc, t)
                tally[t][v.pop(case)] += 1
                tally[t]["others slower"] += sum(x == "slower" for x in v.values())
                tally[t]["others"] += len(v)
            print(f"+{extra:.0%} {rep}: ratio {ratios[-1]:.3f}, {wall:.0f} s", flush=True)
        subprocess.run(["git", "worktree", "remove", "--force", str(head)], cwd=ROOT, check=False)
        for t in thresholds:
            v = tally[t]
            others = f"; others: {v['others slower']}/{v['others']} slower" if v["others"] else ""
            n_cases = 1 + v["others"] // args.slow_reps
            rows.append(
                f"| `{case}` +{extra:.0%} | {t:.0%} | {args.slow_reps} x {n_cases} case(s) | "
                f"{v['slower']}/{args.slow_reps} slower ({v['inconclusive']} inconclusive, "
                f"{v['no change']} no change, {v['faster']} faster){others}; median ratio "
                f"{statistics.median(ratios):.3f} | {rounds if not args.slow_in_full else 'budget'} "
                f"| {statistics.median(walls):.0f} s |"
            )
    print("\n| setting | threshold | runs | flagged | rounds | wall per run |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
