"""Data fingerprints: what they depend on, their caches, and the files every task declares."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from hgbench.tasks import TASKS
from hgbench.tasks.data import MissingDataError
from hgbench.tasks.data import fingerprint as fp
from hgbench.tasks.data.fingerprint import data_fingerprint, task_fingerprint

TASKS.get("sk_digits")  # import the built-in modules before collecting names
SMALL = {  # fixture files are tiny: shrink the subsets that exceed them
    "cifar10": {"subset": 100, "val_subset": 20, "test_subset": 30},
    "cifar10_cnn": {"subset": 100, "val_subset": 20, "test_subset": 30},
    "fashion_mnist": {"subset": 60, "val_subset": 50, "batch_size": 10},
    "ptb": {"subset": None, "val_subset": None, "test_subset": None, "streams": 4, "bptt": 5},
}
NOT_IN_FIXTURES = {"uci_kin8nm", "uci_naval", "uci_power", "uci_protein"}


@pytest.fixture
def cache_file(tmp_path, monkeypatch):
    """A fresh on-disk digest cache and an empty in-process cache."""
    path = tmp_path / "cache" / "digests.json"
    monkeypatch.setenv("HGBENCH_DIGEST_CACHE", str(path))
    fp.clear_memory_cache()
    yield path
    fp.clear_memory_cache()


@pytest.fixture
def hash_calls(monkeypatch):
    """The paths whose content is read to hash them, in order."""
    calls: list[Path] = []
    real = fp._hash_file

    def counting(path: Path) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(fp, "_hash_file", counting)
    return calls


def _write(folder: Path, files: dict[str, bytes]) -> list[Path]:
    paths = []
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths


FILES = {"data.txt": b"1 2 3\n4 5 6\n", "index_target.txt": b"2\n", "sub/perm.txt": b"1\n0\n"}


def test_one_byte_changes_the_fingerprint(tmp_path, cache_file):
    paths = _write(tmp_path / "a", FILES)
    before = data_fingerprint(paths)
    assert len(before) == 64 and before == data_fingerprint(paths)
    st = paths[0].stat()
    paths[0].write_bytes(b"1 2 3\n4 5 7\n")  # same size
    os.utime(paths[0], ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime too
    assert data_fingerprint(paths) != before


def test_identical_copies_in_two_folders_agree(tmp_path, cache_file):
    a = _write(tmp_path / "a", FILES)
    b = _write(tmp_path / "elsewhere" / "b", FILES)
    assert data_fingerprint(a) == data_fingerprint(b)
    assert data_fingerprint(reversed(a)) == data_fingerprint(a)  # order does not matter
    renamed = _write(
        tmp_path / "c", {("x" + k if k == "data.txt" else k): v for k, v in FILES.items()}
    )
    assert data_fingerprint(renamed) != data_fingerprint(a)  # the names count
    assert data_fingerprint(a[:2]) != data_fingerprint(a)  # and every file counts
    assert data_fingerprint([]) == ""


def test_digests_are_cached_in_process_and_on_disk(tmp_path, cache_file, hash_calls):
    paths = _write(tmp_path / "data", FILES)
    first = data_fingerprint(paths)
    assert sorted(hash_calls) == sorted(paths)
    hash_calls.clear()
    assert data_fingerprint(paths) == first and hash_calls == []  # in-process cache
    assert cache_file.is_file()
    fp.clear_memory_cache()  # as a new process would start
    assert data_fingerprint(paths) == first and hash_calls == []  # on-disk cache


@pytest.mark.parametrize("change", ["mtime", "size"])
def test_cache_is_invalidated_when_a_file_changes(tmp_path, cache_file, hash_calls, change):
    paths = _write(tmp_path / "data", FILES)
    first = data_fingerprint(paths)
    hash_calls.clear()
    if change == "mtime":
        st = paths[1].stat()
        os.utime(paths[1], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        expected = first  # same content, re-read
    else:
        paths[1].write_bytes(b"20\n")
        expected = None
    got = data_fingerprint(paths)
    assert hash_calls == [paths[1]]
    assert got == expected if expected else got != first
    fp.clear_memory_cache()  # the disk cache holds the new digest, not the old one
    hash_calls.clear()
    assert data_fingerprint(paths) == got and hash_calls == []


def test_unwritable_or_corrupt_cache_is_ignored(tmp_path, monkeypatch, hash_calls):
    paths = _write(tmp_path / "data", FILES)
    expected = data_fingerprint(paths)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("HGBENCH_DIGEST_CACHE", str(blocker / "digests.json"))
    fp.clear_memory_cache()
    assert data_fingerprint(paths) == expected  # no error, only the cost of hashing
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("{not json")
    monkeypatch.setenv("HGBENCH_DIGEST_CACHE", str(corrupt))
    fp.clear_memory_cache()
    hash_calls.clear()
    assert data_fingerprint(paths) == expected and len(hash_calls) == len(paths)
    fp.clear_memory_cache()


def test_nothing_is_written_in_the_data_folder(tmp_path, cache_file):
    data = tmp_path / "data"
    paths = _write(data, FILES)
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    data_fingerprint(paths)
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before
    assert not cache_file.resolve().is_relative_to(data.resolve())


def test_missing_file_is_named(tmp_path, cache_file):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        data_fingerprint([tmp_path / "nope.txt"])


def test_default_cache_location_is_outside_the_default_data_folder():
    from hgbench.tasks.data.paths import resolve_data_dir

    env = {"XDG_CACHE_HOME": "/xdg"}
    cache = fp.digest_cache_path(env)
    assert cache == Path("/xdg/hgbench-digests.json")
    assert not cache.is_relative_to(resolve_data_dir(None, env))
    assert fp.digest_cache_path({"HGBENCH_DIGEST_CACHE": "/c/d.json"}) == Path("/c/d.json")


# ---------------------------------------------------------------- what each task declares
_opened: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _opened is not None and isinstance(args[0], (str, bytes, os.PathLike)):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


def _opened_by_build(task, data_dir: Path) -> set[Path]:
    global _opened
    _opened = []
    try:
        task.build(data_dir=str(data_dir))
        return {Path(os.path.realpath(p)) for p in _opened}
    finally:
        _opened = None


@pytest.mark.parametrize("key", [k for k in TASKS.names() if k not in NOT_IN_FIXTURES])
def test_data_files_are_exactly_what_build_reads(fixture_data, cache_file, key):
    task = TASKS.get(key)("small", **SMALL.get(key, {}))
    declared = {Path(os.path.realpath(p)) for p in task.data_files(str(fixture_data))}
    folders = {Path(os.path.realpath(fixture_data))} | {p.parent for p in declared}
    opened = {  # data files, not the modules imported on the way
        p for p in _opened_by_build(task, fixture_data) if p.is_file() and p.suffix != ".pyc"
    }
    read_data = {p for p in opened if any(p.is_relative_to(f) for f in folders)}
    assert read_data == declared
    assert task_fingerprint(task, fixture_data) == data_fingerprint(declared)
    assert (task_fingerprint(task, fixture_data) == "") == (not declared)


@pytest.mark.parametrize("key", [k for k in TASKS.names() if not TASKS.get(k).embedded])
def test_missing_files_raise_what_build_raises(tmp_path, key):
    task = TASKS.get(key)("small", **SMALL.get(key, {}))
    with pytest.raises(MissingDataError) as from_build:
        task.build(data_dir=str(tmp_path))
    with pytest.raises(MissingDataError) as from_files:
        task.data_files(str(tmp_path))
    assert str(from_files.value) == str(from_build.value)


def test_task_fingerprint_follows_the_data(fixture_data, tmp_path, cache_file):
    task = TASKS.get("uci_energy")()
    copy = tmp_path / "copy"
    shutil.copytree(fixture_data / "uci" / "energy", copy / "uci" / "energy")
    assert task_fingerprint(task, copy) == task_fingerprint(task, fixture_data)
    target = copy / "uci" / "energy" / "index_target.txt"
    target.write_text("2\n")  # another target column, same size
    assert task_fingerprint(task, copy) != task_fingerprint(task, fixture_data)
    (copy / "uci" / "energy" / "n_splits.txt").write_text("5\n")  # not read by the task
    target.write_text("3\n")
    assert task_fingerprint(task, copy) == task_fingerprint(task, fixture_data)


def test_task_without_data_files_has_no_fingerprint():
    class Toy:  # a task written against the abstract spec only
        pass

    assert task_fingerprint(Toy(), None) == ""
    assert task_fingerprint(TASKS.get("quadratic")(), None) == ""
