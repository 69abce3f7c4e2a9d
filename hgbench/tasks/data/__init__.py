"""Data files: location, readers of the public formats, integrity checks and downloads."""

from hgbench.tasks.data.errors import DataFormatError, MissingDataError
from hgbench.tasks.data.paths import resolve_data_dir

__all__ = ["DataFormatError", "MissingDataError", "resolve_data_dir"]
