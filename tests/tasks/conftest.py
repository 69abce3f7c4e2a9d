from __future__ import annotations

from pathlib import Path

import pytest
from tasks_fixtures import write_all


@pytest.fixture(scope="session")
def fixture_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding tiny files of every real format."""
    return write_all(tmp_path_factory.mktemp("data"))
