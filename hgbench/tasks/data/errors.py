"""Clear errors for missing, malformed or unobtainable data files.

Every error here derives from :class:`DataError`, whose message is one line that names the
file and the fix; the ``hgbench`` command prints it as ``hgbench: error: ...`` (exit status 2).
"""

from __future__ import annotations

from pathlib import Path


def _how(dataset: str) -> str:
    return f"get it with `hgbench data download {dataset}` (or pass --data-dir / set HGBENCH_DATA)"


class DataError(Exception):
    """A data problem whose message names the file and the fix (one line)."""


class MissingDataError(DataError, FileNotFoundError):
    """A required data file does not exist."""

    def __init__(self, path: Path | str, expected: str, dataset: str) -> None:
        self.path, self.dataset = Path(path), dataset
        super().__init__(f"missing data file {path}: expected {expected}; {_how(dataset)}")

    def __str__(self) -> str:
        return str(self.args[0])


class DataFormatError(DataError, ValueError):
    """A data file exists but is truncated, malformed or fails its checksum."""

    def __init__(self, path: Path | str, problem: str, expected: str, dataset: str) -> None:
        self.path, self.dataset = Path(path), dataset
        super().__init__(
            f"bad data file {path}: {problem}; expected {expected}. Delete it and {_how(dataset)}"
        )


class DownloadError(DataError, OSError):
    """A download could not be made: the host refused, answered an HTTP error, timed out, or
    the data directory could not be written."""

    def __str__(self) -> str:
        return str(self.args[0])
