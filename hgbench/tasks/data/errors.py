"""Clear errors for missing or malformed data files."""

from __future__ import annotations

from pathlib import Path


def _how(dataset: str) -> str:
    return f"get it with `hgbench data download {dataset}` (or pass --data-dir / set HGBENCH_DATA)"


class MissingDataError(FileNotFoundError):
    """A required data file does not exist."""

    def __init__(self, path: Path | str, expected: str, dataset: str) -> None:
        self.path, self.dataset = Path(path), dataset
        super().__init__(f"missing data file {path}: expected {expected}; {_how(dataset)}")

    def __str__(self) -> str:
        return str(self.args[0])


class DataFormatError(ValueError):
    """A data file exists but is truncated, malformed or fails its checksum."""

    def __init__(self, path: Path | str, problem: str, expected: str, dataset: str) -> None:
        self.path, self.dataset = Path(path), dataset
        super().__init__(
            f"bad data file {path}: {problem}; expected {expected}. Delete it and {_how(dataset)}"
        )
