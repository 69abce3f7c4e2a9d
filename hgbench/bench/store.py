"""The results store: one SQLite file (standard library), safe to resume and to kill.

Tables: ``meta`` (schema version), ``runs`` (one row per finished run: configuration, its
hash ``run_id``, status, timings, memory, cost counters, provenance), ``records`` (long
per-step curves: losses, metrics and hyperparameter trajectories) and ``batches`` (wall
time and peak memory of a batch of paired inits trained as one computation).

Each finished run is committed in its own transaction in WAL mode, so a sweep killed at any
moment loses nothing that had finished. Only drivers write (workers send their results back);
several drivers on one store cooperate through claims (:mod:`hgbench.bench.claims`). SQLite's
locking needs a local filesystem: do not share a store over NFS or similar network
filesystems; spread one sweep over several machines with ``--executor ray``, whose single
driver writes the store. Loaders open the file read-only.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from hgbench.bench.schema import (  # noqa: F401 - re-exported for loaders' users
    BATCH_COLUMNS,
    BATCHES,
    BOOL_RUN_COLUMNS,
    EXTRA_RUN_COLUMNS,
    FLOAT_RUN_COLUMNS,
    RECORD_COLUMNS,
    RUN_COLUMNS,
    RUNS,
    RUNS_EXTRA,
    SCHEMA_VERSION,
    sql_type,
)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    {
    ", ".join(
        f"{c.name} {sql_type(c)}" + (" PRIMARY KEY" if c.name == "run_id" else "")
        for c in RUNS + RUNS_EXTRA
    )
}
);
CREATE TABLE IF NOT EXISTS records (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    step INTEGER NOT NULL, time_s REAL, split TEXT NOT NULL, metric TEXT NOT NULL, value REAL
);
CREATE INDEX IF NOT EXISTS records_run ON records(run_id);
CREATE TABLE IF NOT EXISTS batches (
    {
    ", ".join(
        f"{c.name} {sql_type(c)}" + (" PRIMARY KEY" if c.name == "batch_id" else "")
        for c in BATCHES
    )
}
);
"""


_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_results_path(path: str | Path) -> Path:
    """``path`` if a results store can be written there, else a one-line ValueError with the
    fix (checked before any run starts): not a folder, a parent that is a file, a read-only
    folder, an existing file that is not a results store."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(
            f"results path {str(p)!r} is a folder; give a file such as {p / 'results.sqlite'}"
        )
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(
                    f"results path {str(p)!r}: {str(parent)!r} is a file, not a folder"
                )
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ValueError(
                    f"cannot write results under {str(parent)!r} (read-only); choose a "
                    "--results path in a writable folder"
                )
            break
    if p.is_file():
        with open(p, "rb") as f:
            head = f.read(16)
        if head and head != _SQLITE_MAGIC:
            raise ValueError(
                f"{str(p)!r} is not a hgbench results file (not an SQLite database); "
                "use a new --results path"
            )
    return p


def _connect(path: str | Path, *, create: bool) -> sqlite3.Connection:
    """A connection to the store. Writers (``create``) switch it to WAL mode; readers open it
    read-only and change nothing, so a store in a read-only folder can be read."""
    p = Path(path)
    if not create:
        if not p.is_file():
            raise FileNotFoundError(f"results file {str(p)!r} does not exist")
        check_results_path_readable(p)
        uri = f"file:{urllib.parse.quote(str(p.resolve()))}?mode=ro"
        try:
            con = sqlite3.connect(uri, uri=True, timeout=60.0)
            con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.OperationalError:
            # a WAL store in a folder we cannot write: nobody can be writing it either
            con = sqlite3.connect(uri + "&immutable=1", uri=True, timeout=60.0)
        return con
    check_results_path(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = sqlite3.connect(str(p), timeout=60.0)
        con.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"cannot open results file {str(p)!r} for writing: {exc}") from exc
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA foreign_keys=ON")
    return con


def check_results_path_readable(p: Path) -> None:
    with open(p, "rb") as f:
        head = f.read(16)
    if head != _SQLITE_MAGIC:
        raise ValueError(f"{str(p)!r} is not a hgbench results file (not an SQLite database)")


def _check_version(con: sqlite3.Connection, path: str | Path) -> None:
    try:
        row = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{str(path)!r} is not a hgbench results file: {exc}") from exc
    if row is not None and int(row[0]) != SCHEMA_VERSION:
        raise ValueError(
            f"results file {str(path)!r} has schema version {row[0]}, this hgbench writes "
            f"{SCHEMA_VERSION}; use a new --results path"
        )


class ResultsStore:
    """Writer side of a results file (used by the sweep driver only)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.con = _connect(self.path, create=True)
        try:
            self.con.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{str(self.path)!r} is not a hgbench results file: {exc}") from exc
        _check_version(self.con, self.path)
        with self.con:
            self.con.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def statuses(self) -> dict[str, str]:
        """``run_id -> status`` of every stored run."""
        return dict(self.con.execute("SELECT run_id, status FROM runs").fetchall())

    def write(
        self,
        runs: Iterable[Mapping[str, Any]],
        records: Iterable[tuple[str, int, float | None, str, str, float | None]] = (),
        batch: Mapping[str, Any] | None = None,
    ) -> None:
        """Store finished runs (replacing earlier attempts), their records and their batch,
        in one transaction."""
        cols = RUN_COLUMNS + EXTRA_RUN_COLUMNS
        rows = [tuple(_to_sql(r.get(c)) for c in cols) for r in runs]
        with self.con:
            for row in rows:
                self.con.execute("DELETE FROM records WHERE run_id=?", (row[0],))
            self.con.executemany(
                f"INSERT OR REPLACE INTO runs ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' * len(cols))})",
                rows,
            )
            self.con.executemany(
                "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)",
                [tuple(_to_sql(v) for v in rec) for rec in records],
            )
            if batch is not None:
                self.con.execute(
                    f"INSERT OR REPLACE INTO batches VALUES ({', '.join('?' * len(BATCH_COLUMNS))})",
                    tuple(_to_sql(batch.get(c)) for c in BATCH_COLUMNS),
                )


def _to_sql(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return v


def _read(path: str | Path, query: str) -> pd.DataFrame:
    con = _connect(path, create=False)
    try:
        _check_version(con, path)
        return pd.read_sql_query(query, con)
    except pd.errors.DatabaseError as exc:
        raise ValueError(f"{str(path)!r} is not a hgbench results file: {exc}") from exc
    finally:
        con.close()


def load_runs(path: str | Path, *, all_columns: bool = False) -> pd.DataFrame:
    """One row per run with the columns :data:`RUN_COLUMNS` (plus the seeds, full config
    and traceback when ``all_columns``)."""
    cols = RUN_COLUMNS + (EXTRA_RUN_COLUMNS if all_columns else ())
    df = _read(path, f"SELECT {', '.join(cols)} FROM runs ORDER BY rowid")
    for c in BOOL_RUN_COLUMNS:
        df[c] = df[c].astype(bool)
    df["diverged_step"] = df["diverged_step"].astype("Int64")
    for c in FLOAT_RUN_COLUMNS:
        df[c] = df[c].astype(float)
    df["batch_id"] = df["batch_id"].astype(object).where(df["batch_id"].notna(), None)
    return df


def load_records(path: str | Path) -> pd.DataFrame:
    """Long per-step records: ``run_id, step, time_s, split, metric, value``."""
    df = _read(path, "SELECT * FROM records ORDER BY rowid")
    df["value"] = df["value"].astype(float)
    df["time_s"] = df["time_s"].astype(float)
    return df


def load_batches(path: str | Path) -> pd.DataFrame:
    """One row per batch of paired inits trained together (empty when none were)."""
    return _read(path, f"SELECT {', '.join(BATCH_COLUMNS)} FROM batches ORDER BY rowid")


def export_csv(path: str | Path, out_dir: str | Path) -> list[Path]:
    """Write ``runs.csv``, ``records.csv`` and ``batches.csv`` to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, loader in (("runs", load_runs), ("records", load_records),
                         ("batches", load_batches)):  # fmt: skip
        target = out / f"{name}.csv"
        loader(path).to_csv(target, index=False)
        written.append(target)
    return written
