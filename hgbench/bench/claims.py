"""Work queues: which work item a driver starts next, so several drivers on one store split a
sweep instead of repeating it.

A :class:`ClaimQueue` claims the runs of an item in the results store (table ``claims``: run
id, owner, lease expiry) in one ``BEGIN IMMEDIATE`` transaction before the item starts. An item
whose runs are finished, or claimed by another driver whose lease has not expired, is skipped
for now and looked at again later; a driver that dies stops renewing its leases, so after
``lease_s`` its runs are claimed by whoever asks next (at once when the dead driver ran on the
same machine: its process id is checked). Claims are dropped once the item's results
are stored. A driver killed while claiming leaves nothing behind (the transaction rolls back).

SQLite's locking needs a local filesystem: on NFS and similar network filesystems several
drivers on one file may corrupt it. To spread one sweep over several machines use
``--executor ray``, whose single driver writes the store.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
import uuid
from collections import deque
from collections.abc import Iterable
from typing import Protocol

from hgbench.bench.config import WorkItem
from hgbench.bench.schema import FAILED_STATUSES

#: seconds a claim lasts without renewal; renewed every ``lease_s / 4`` while running
DEFAULT_LEASE_S = 120.0

CLAIMS_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    run_id TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL
);
"""


def owner_alive(owner: str) -> bool:
    """Whether the driver ``host:pid:token`` may still be running: a driver on this host is
    checked directly (a dead one's claims are free at once); one elsewhere is trusted until
    its lease expires."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkQueue(Protocol):
    def take(self) -> WorkItem | None:
        """The next item to start (claimed), or None when none can start now."""

    def finished(self) -> bool:
        """Whether nothing is left to start, here or (for now) elsewhere."""

    def wait(self) -> None:
        """Block a little: other drivers hold the remaining items."""

    def renew(self) -> None:
        """Extend the leases of the items this driver is running."""

    def release(self, item: WorkItem) -> None:
        """The item's results are stored (or it will not run): drop its claims."""


class ListQueue:
    """Items in order, no claims: one driver, or an executor used without a store."""

    def __init__(self, items: Iterable[WorkItem]) -> None:
        self.items = deque(items)

    def take(self) -> WorkItem | None:
        return self.items.popleft() if self.items else None

    def finished(self) -> bool:
        return not self.items

    def wait(self) -> None:  # pragma: no cover - never called: finished() when take() is None
        time.sleep(0.1)

    def renew(self) -> None:
        pass

    def release(self, item: WorkItem) -> None:
        pass


def as_queue(items: Iterable[WorkItem] | WorkQueue) -> WorkQueue:
    return items if hasattr(items, "take") else ListQueue(items)  # type: ignore[arg-type]


class ClaimQueue:
    """Items claimed in the store before they start (see the module docstring)."""

    def __init__(
        self,
        path: str,
        items: Iterable[WorkItem],
        *,
        rerun_failed: bool = False,
        lease_s: float = DEFAULT_LEASE_S,
        poll_s: float = 1.0,
    ) -> None:
        # autocommit mode: every transaction here is explicit (BEGIN IMMEDIATE ... COMMIT)
        self.con = sqlite3.connect(path, timeout=60.0, isolation_level=None)
        self.finished_sql = (
            f"status NOT IN ({', '.join(map(repr, FAILED_STATUSES))})" if rerun_failed else "1"
        )
        self.pending = deque(items)
        self.lease_s, self.poll_s = lease_s, poll_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.mine: dict[str, WorkItem] = {}
        self.last_renew = time.monotonic()
        self.skipped_elsewhere = 0
        self.con.executescript(CLAIMS_SCHEMA)

    def close(self) -> None:
        self.con.close()

    def _try_claim(self, item: WorkItem) -> str:
        """'claimed', 'done' (every run stored) or 'busy' (claimed by a live driver)."""
        ids = [r.run_id for r in item.runs]
        marks = ",".join("?" * len(ids))
        now = time.time()
        self.con.execute("BEGIN IMMEDIATE")
        try:
            stored = {
                rid for (rid,) in self.con.execute(
                    f"SELECT run_id FROM runs WHERE run_id IN ({marks}) AND {self.finished_sql}",
                    ids,
                )
            }  # fmt: skip
            if stored >= set(ids):
                self.con.execute("COMMIT")
                return "done"
            owners = {
                owner for (owner,) in self.con.execute(
                    f"SELECT owner FROM claims WHERE run_id IN ({marks}) AND owner != ? "
                    "AND expires > ?",
                    [*ids, self.owner, now],
                )
            }  # fmt: skip
            if any(owner_alive(o) for o in owners):
                self.con.execute("COMMIT")
                return "busy"
            self.con.executemany(
                "INSERT OR REPLACE INTO claims VALUES (?, ?, ?)",
                [(rid, self.owner, now + self.lease_s) for rid in ids],
            )
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.mine[ids[0]] = item
        return "claimed"

    def take(self) -> WorkItem | None:
        busy: list[WorkItem] = []
        try:
            while self.pending:
                item = self.pending.popleft()
                outcome = self._try_claim(item)
                if outcome == "claimed":
                    return item
                if outcome == "busy":
                    busy.append(item)
                else:
                    self.skipped_elsewhere += len(item.runs)
            return None
        finally:
            self.pending.extendleft(reversed(busy))

    def finished(self) -> bool:
        return not self.pending

    def wait(self) -> None:
        time.sleep(self.poll_s)

    def renew(self) -> None:
        if not self.mine or time.monotonic() - self.last_renew < self.lease_s / 4:
            return
        self.last_renew = time.monotonic()
        with self.con:
            self.con.execute(
                "UPDATE claims SET expires = ? WHERE owner = ?",
                (time.time() + self.lease_s, self.owner),
            )

    def release(self, item: WorkItem) -> None:
        self.mine.pop(item.runs[0].run_id, None)
        ids = [r.run_id for r in item.runs]
        with self.con:
            self.con.execute(
                f"DELETE FROM claims WHERE owner = ? AND run_id IN ({','.join('?' * len(ids))})",
                [self.owner, *ids],
            )
