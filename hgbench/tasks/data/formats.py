"""Readers of the standard public file formats, each failing with a clear error.

* idx (``.gz``), LeCun et al.'s MNIST format used by Fashion-MNIST;
* ``cifar-10-batches-py`` pickles, read with a restricted unpickler that admits only the
  numpy reconstruction functions the format needs (a hostile pickle runs nothing);
* Mikolov's PTB text (one sentence per line, ``<eos>`` appended);
* the UCI ``data.txt`` layout of Hernández-Lobato & Adams (2015) / Gal & Ghahramani (2016).
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from hgbench.tasks.data.errors import DataFormatError, MissingDataError

IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


CIFAR_EXPECTED = "a CIFAR-10 python batch (pickled dict with 'data' uint8 [N, 3072] and 'labels')"
PTB_EXPECTED = "Mikolov's PTB text: one sentence per line, words separated by spaces"


def idx_expected(ndim: int) -> str:
    """What an idx file with ``ndim`` dimensions is described as in errors."""
    return f"an idx file with {ndim} dimension(s)"


def require_file(path: Path, expected: str, dataset: str) -> Path:
    """``path``, or :class:`MissingDataError` (naming what it should hold) when it is absent."""
    if not path.is_file():
        raise MissingDataError(path, expected, dataset)
    return path


def read_idx(path: Path, ndim: int, dataset: str = "fashion_mnist") -> np.ndarray:
    """An idx array (gzipped if the name ends in ``.gz``) with ``ndim`` dimensions."""
    expected = idx_expected(ndim)
    require_file(path, expected, dataset)
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataFormatError(path, f"unreadable or truncated ({exc})", expected, dataset) from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise DataFormatError(path, "bad idx magic number", expected, dataset)
    if raw[3] != ndim:
        raise DataFormatError(path, f"has {raw[3]} dimensions", expected, dataset)
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFormatError(path, "truncated header", expected, dataset)
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    need = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != need:
        raise DataFormatError(
            path, f"holds {len(raw) - header} data bytes for dims {dims}", f"{need}", dataset
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    import codecs

    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = _reconstruct
    allowed[("_codecs", "encode")] = codecs.encode  # bytes in Python 3 protocol-2 pickles
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only; any other global is refused."""

    def __init__(self, file: io.BufferedIOBase) -> None:
        super().__init__(file, encoding="bytes")
        self._allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load global {module}.{name}") from None


def _key(d: dict, name: str) -> Any:
    for k in (name, name.encode()):
        if k in d:
            return d[k]
    raise KeyError(name)


def read_cifar_batch(path: Path, dataset: str = "cifar10") -> tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 [N, 3, 32, 32]`` and labels ``int64 [N]`` of one CIFAR-10 batch file."""
    expected = CIFAR_EXPECTED
    require_file(path, expected, dataset)
    try:
        with open(path, "rb") as f:
            obj = RestrictedUnpickler(f).load()  # type: ignore[arg-type]
    except pickle.UnpicklingError as exc:
        raise DataFormatError(path, f"unsafe or corrupt pickle ({exc})", expected, dataset) from exc
    except (EOFError, ValueError, TypeError, IndexError, struct.error) as exc:
        raise DataFormatError(path, f"truncated or corrupt ({exc!r})", expected, dataset) from exc
    try:
        data, labels = _key(obj, "data"), np.asarray(_key(obj, "labels"))
    except (KeyError, TypeError):
        raise DataFormatError(path, "no 'data'/'labels' entries", expected, dataset) from None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise DataFormatError(path, "'data' is not a 2-d uint8 array", expected, dataset)
    if data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise DataFormatError(
            path, f"data {data.shape} vs labels {labels.shape}", expected, dataset
        )
    if labels.dtype.kind not in "iu" or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise DataFormatError(path, "labels outside 0..9", expected, dataset)
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def read_ptb_words(path: Path, dataset: str = "ptb") -> list[str]:
    """The words of a PTB text file with ``<eos>`` after every line."""
    expected = PTB_EXPECTED
    require_file(path, expected, dataset)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, f"not UTF-8 text ({exc})", expected, dataset) from exc
    words = [w for line in text.splitlines() for w in (*line.split(), "<eos>")]
    if not words or "\x00" in text:
        raise DataFormatError(path, "empty or binary", expected, dataset)
    return words


def _read_ints(path: Path, expected: str, dataset: str) -> np.ndarray:
    require_file(path, expected, dataset)
    try:
        return np.loadtxt(path, dtype=np.int64, ndmin=1)
    except ValueError as exc:
        raise DataFormatError(
            path, f"not whitespace-separated integers ({exc})", expected, dataset
        ) from exc


UCI_DATA_EXPECTED = "whitespace-separated floats, one row per example, no header"
UCI_FEATURES_EXPECTED = "0-based feature column indices"
UCI_TARGET_EXPECTED = "one 0-based target column index"


def read_uci(folder: Path, dataset: str = "uci") -> tuple[np.ndarray, np.ndarray]:
    """Features ``[N, D]`` and targets ``[N]`` of a UCI ``data.txt`` folder, selected by its
    ``index_features.txt`` / ``index_target.txt``."""
    data_path = folder / "data.txt"
    expected = UCI_DATA_EXPECTED
    require_file(data_path, expected, dataset)
    try:
        data = np.loadtxt(data_path, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise DataFormatError(data_path, f"unparsable ({exc})", expected, dataset) from exc
    feats_path, target_path = folder / "index_features.txt", folder / "index_target.txt"
    feats = _read_ints(feats_path, UCI_FEATURES_EXPECTED, dataset)
    target = _read_ints(target_path, UCI_TARGET_EXPECTED, dataset)
    if target.size != 1 or target[0] < 0:
        raise DataFormatError(target_path, f"holds {target.tolist()}", UCI_TARGET_EXPECTED, dataset)
    if feats.size == 0 or feats.min() < 0 or int(target[0]) in feats:
        raise DataFormatError(
            feats_path,
            f"holds {feats.tolist()} (target column {int(target[0])})",
            UCI_FEATURES_EXPECTED + ", not including the target column",
            dataset,
        )
    cols, needed = data.shape[1], int(max(feats.max(), target[0])) + 1
    if cols < needed:
        # The index files are tiny and rarely damaged; a data.txt short of columns (a lost
        # target column) is the usual cause. `data check` tells which file differs.
        raise DataFormatError(
            data_path,
            f"has {cols} columns, but {feats_path.name} and {target_path.name} use columns up "
            f"to {needed - 1} (target column {int(target[0])}; `hgbench data check {dataset}` "
            "shows which file differs from the published one)",
            f"at least {needed} columns: the features and the target",
            dataset,
        )
    if not np.isfinite(data).all():
        raise DataFormatError(data_path, "non-finite values", expected, dataset)
    return data[:, feats], data[:, int(target[0])]


def read_permutation(path: Path, n_rows: int, dataset: str = "uci") -> np.ndarray:
    """Clarke et al.'s row order (``permutation_indices.txt``): ``n_rows`` indices < n_rows."""
    expected = f"{n_rows} whitespace-separated row indices in [0, {n_rows})"
    perm = _read_ints(path, expected, dataset)
    if perm.shape != (n_rows,) or perm.min() < 0 or perm.max() >= n_rows:
        raise DataFormatError(path, f"{perm.size} indices, max {perm.max()}", expected, dataset)
    return perm
