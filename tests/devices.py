"""Device parameters for tests that run on the CPU and, marked ``cuda``, on a GPU."""

from __future__ import annotations

import pytest
import torch

#: ``@pytest.mark.parametrize("device", CPU_AND_CUDA)``: the CUDA case is marked and skipped
#: without a device
CPU_AND_CUDA = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
        ],
    ),
]
