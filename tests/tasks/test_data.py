"""Data location, readers' errors, restricted unpickling, verified download, safe extraction."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import os
import pickle
import tarfile
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from tasks_fixtures import cifar_batch_bytes, idx_bytes, write_ptb

from hgbench.cli import main
from hgbench.tasks import TASKS
from hgbench.tasks.data import DataFormatError, MissingDataError, catalog, resolve_data_dir
from hgbench.tasks.data.download import ChecksumError, UnsafeArchiveError, download
from hgbench.tasks.data.formats import read_cifar_batch, read_idx


def test_resolve_data_dir_precedence():
    env = {"HGBENCH_DATA": "/env/data", "XDG_CACHE_HOME": "/xdg", "HOME": "/home/u"}
    assert resolve_data_dir("/explicit", env) == Path("/explicit")
    assert resolve_data_dir(None, env) == Path("/env/data")
    assert resolve_data_dir(None, {"XDG_CACHE_HOME": "/xdg"}) == Path("/xdg/hgbench")
    assert resolve_data_dir(None, {"HOME": "/home/u"}) == Path("/home/u/.cache/hgbench")


def test_missing_file_names_file_and_command(tmp_path):
    with pytest.raises(MissingDataError, match="hgbench data download fashion_mnist") as e:
        TASKS.get("fashion_mnist")().build(data_dir=str(tmp_path))
    assert "train-images-idx3-ubyte.gz" in str(e.value)
    assert isinstance(e.value, FileNotFoundError)


def test_truncated_and_malformed_idx(tmp_path):
    good = gzip.compress(idx_bytes(np.zeros((5, 28, 28))))
    (tmp_path / "trunc.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataFormatError, match="trunc.gz"):
        read_idx(tmp_path / "trunc.gz", 3)
    (tmp_path / "short.gz").write_bytes(gzip.compress(idx_bytes(np.zeros((5, 28, 28)))[:-10]))
    with pytest.raises(DataFormatError, match="data bytes"):
        read_idx(tmp_path / "short.gz", 3)
    (tmp_path / "magic.gz").write_bytes(gzip.compress(b"\x12\x34\x56\x78" + b"\0" * 20))
    with pytest.raises(DataFormatError, match="magic"):
        read_idx(tmp_path / "magic.gz", 3)


class Boom:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_hostile_cifar_pickle_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": Boom(), "labels": [0]}, protocol=2))
    with pytest.raises(DataFormatError, match="refused to load global (posix|os|nt).system"):
        read_cifar_batch(path)
    assert not (tmp_path / "PWNED").exists()


def test_cifar_reader_roundtrip_and_corruption(tmp_path):
    path = tmp_path / "b"
    path.write_bytes(cifar_batch_bytes(12, 0))
    x, y = read_cifar_batch(path)
    assert x.shape == (12, 3, 32, 32) and x.dtype == np.uint8 and list(y[:3]) == [0, 1, 2]
    path.write_bytes(cifar_batch_bytes(12, 0)[:500])
    with pytest.raises(DataFormatError, match="truncated"):
        read_cifar_batch(path)
    path.write_bytes(pickle.dumps({"labels": [0]}, protocol=2))
    with pytest.raises(DataFormatError, match="'data'"):
        read_cifar_batch(path)


def test_ptb_out_of_vocabulary_is_clear(tmp_path):
    write_ptb(tmp_path)
    (tmp_path / "ptb" / "ptb.test.txt").write_text(" zebra w1 \n")
    with pytest.raises(DataFormatError, match="ptb.test.txt.*zebra"):
        TASKS.get("ptb")().build(data_dir=str(tmp_path))


# ---------------------------------------------------------------- download over local HTTP
@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _use_archive(monkeypatch, archive: bytes) -> None:
    info = catalog.DATASETS["cifar10"]
    src = catalog.Source(
        "cifar-10-python.tar.gz", ("md5", hashlib.md5(archive).hexdigest()), extract=True
    )
    monkeypatch.setitem(
        catalog.DATASETS,
        "cifar10",
        catalog.DatasetInfo(
            info.name,
            info.description,
            info.url_base,
            (src,),
            {
                "cifar-10-batches-py/data_batch_1": None,
                "cifar-10-batches-py/test_batch": None,
            },
            info.check,
        ),
    )


def test_download_verifies_and_extracts(server, tmp_path, monkeypatch):
    www, url = server
    archive = _tar(
        [
            _file("cifar-10-batches-py/data_batch_1", cifar_batch_bytes(20, 0)),
            _file("cifar-10-batches-py/test_batch", cifar_batch_bytes(10, 1)),
        ]
    )
    (www / "cifar-10-python.tar.gz").write_bytes(archive)
    _use_archive(monkeypatch, archive)
    dest = tmp_path / "data"
    assert main(["data", "download", "cifar10", "--data-dir", str(dest), "--url-base", url]) == 0
    assert main(["data", "check", "cifar10", "--data-dir", str(dest)]) == 0
    p = TASKS.get("cifar10")("small", subset=10, val_subset=2, test_subset=5).build(
        data_dir=str(dest)
    )
    assert p.num_examples("train") == 10


def test_download_checksum_mismatch_extracts_nothing(server, tmp_path, monkeypatch):
    www, url = server
    archive = _tar([_file("cifar-10-batches-py/data_batch_1", cifar_batch_bytes(20, 0))])
    _use_archive(monkeypatch, archive)
    (www / "cifar-10-python.tar.gz").write_bytes(archive[:-7] + b"corrupt")
    dest = tmp_path / "data"
    dest.mkdir()
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        download("cifar10", dest, url_base=url)
    assert list(dest.iterdir()) == []
    # through the CLI: a clear error and exit status 2
    assert main(["data", "download", "cifar10", "--data-dir", str(dest), "--url-base", url]) == 2


@pytest.mark.parametrize("kind", ["traversal", "absolute", "symlink", "device"])
def test_hostile_tar_rejected_before_extraction(server, tmp_path, monkeypatch, kind):
    www, url = server
    members = [_file("cifar-10-batches-py/ok", b"fine")]
    if kind == "traversal":
        members.append(_file("../../evil.txt", b"x"))
    elif kind == "absolute":
        members.append(_file(str(tmp_path / "evil.txt"), b"x"))
    elif kind == "symlink":
        link = tarfile.TarInfo("cifar-10-batches-py/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        members.append((link, None))
    else:
        dev = tarfile.TarInfo("cifar-10-batches-py/dev")
        dev.type = tarfile.CHRTYPE
        members.append((dev, None))
    archive = _tar(members)
    (www / "cifar-10-python.tar.gz").write_bytes(archive)
    _use_archive(monkeypatch, archive)
    dest = tmp_path / "d" / "data"
    dest.mkdir(parents=True)
    with pytest.raises(UnsafeArchiveError):
        download("cifar10", dest, url_base=url)
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


def test_plain_file_download_and_check_detects_corruption(server, tmp_path, monkeypatch):
    www, url = server
    write_ptb(www)
    for name in ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"):
        (www / name).write_bytes((www / "ptb" / name).read_bytes())
    sha = {
        n: hashlib.sha256((www / n).read_bytes()).hexdigest()
        for n in ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt")
    }
    info = catalog.DATASETS["ptb"]
    monkeypatch.setitem(
        catalog.DATASETS,
        "ptb",
        catalog.DatasetInfo(
            "ptb",
            info.description,
            info.url_base,
            tuple(catalog.Source(n, ("sha256", s), f"ptb/{n}") for n, s in sha.items()),
            {f"ptb/{n}": s for n, s in sha.items()},
            info.check,
        ),
    )
    dest = tmp_path / "data"
    assert main(["data", "download", "ptb", "--data-dir", str(dest), "--url-base", url]) == 0
    (dest / "ptb" / "ptb.valid.txt").write_text(" tampered \n")
    assert main(["data", "check", "ptb", "--data-dir", str(dest)]) == 1


def test_unknown_dataset_is_clear(tmp_path):
    assert main(["data", "check", "mnist", "--data-dir", str(tmp_path)]) == 2
