"""The KSeF client's own rate budget (limity/limity-api.md), shared by every worker process on the machine.

KSeF counts requests per context and IP address in sliding windows of one second, one minute and one hour, all
three at once, per endpoint. This keeps the time of every request of the last hour per (context, endpoint) in
one SQLite file in the data dir (`DATA_DIR/ksef/rate-budget.sqlite`). A place is taken in a `BEGIN IMMEDIATE`
transaction after counting the three windows, so two processes can never both take the last place; a 429's
Retry-After is written here too (`block`), so the other processes wait it out instead of prolonging the block
(KSeF lengthens a block that is hammered). SQLite rather than a file-locked token bucket: the limit is three
sliding windows at once, which a token bucket only approximates (it over-sends within the hour or under-uses
the second), and sqlite3, in the standard library, already is the cross-process atomic store a lock file would
have to re-implement.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class BudgetSpent(RuntimeError):
    """No place in the budget within the wait allowed; `wait` seconds until one frees."""

    def __init__(self, endpoint: str, wait: float, limits: tuple[int, int, int]):
        self.endpoint, self.wait, self.limits = endpoint, wait, limits
        super().__init__(f"KSeF {endpoint}: our rate budget for this context is spent for {wait:.0f} s more "
                         f"(limity-api.md {limits[0]}/s, {limits[1]}/min, {limits[2]}/h): try later")


class RateBudget:
    """The requests of the last hour per (context, endpoint), in one SQLite file shared by every process on
    the machine (see the module's docstring for why SQLite). `acquire` waits for a place (bounded) and takes
    it; `block` records a 429's Retry-After for everyone."""

    WINDOWS = (1.0, 60.0, 3600.0)

    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.clock, self.sleep = clock, sleep
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            # A budget's record need not survive a power cut (KSeF's own counters do; the first 429 after one
            # tells us again), so a commit need not wait for the disk: WAL with synchronous=NORMAL is still
            # atomic and consistent across processes, and each request's bookkeeping stops costing an fsync.
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS calls (context TEXT NOT NULL, endpoint TEXT NOT NULL, at REAL NOT NULL);"
            "CREATE INDEX IF NOT EXISTS calls_by ON calls (context, endpoint, at);"
            "CREATE TABLE IF NOT EXISTS blocks (context TEXT NOT NULL, endpoint TEXT NOT NULL, until REAL NOT NULL,"
            " PRIMARY KEY (context, endpoint));")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def try_take(self, context: str, endpoint: str, limits: tuple[int, int, int]) -> float:
        """Take a place now and answer 0, or answer how many seconds until one frees (nothing taken)."""
        now = self.clock()
        with self._tx() as db:
            db.execute("DELETE FROM calls WHERE context = ? AND endpoint = ? AND at <= ?",
                       (context, endpoint, now - self.WINDOWS[-1]))
            row = db.execute("SELECT until FROM blocks WHERE context = ? AND endpoint = ?",
                             (context, endpoint)).fetchone()
            if row is not None and row[0] > now:
                return float(row[0]) - now
            wait = 0.0
            for window, limit in zip(self.WINDOWS, limits, strict=True):
                times = [r[0] for r in db.execute(
                    "SELECT at FROM calls WHERE context = ? AND endpoint = ? AND at > ? ORDER BY at DESC LIMIT ?",
                    (context, endpoint, now - window, limit))]
                if len(times) >= limit:  # the oldest of the last `limit` leaves the window at times[-1] + window
                    wait = max(wait, times[-1] + window - now)
            if wait <= 0:
                db.execute("INSERT INTO calls VALUES (?, ?, ?)", (context, endpoint, now))
            return max(wait, 0.0)

    def acquire(self, context: str, endpoint: str, limits: tuple[int, int, int], max_wait: float) -> None:
        waited = 0.0
        while True:
            wait = self.try_take(context, endpoint, limits)
            if wait <= 0:
                return
            if waited + wait > max_wait:
                raise BudgetSpent(endpoint, wait, limits)
            self.sleep(wait)
            waited += wait

    def block(self, context: str, endpoint: str, seconds: float) -> None:
        until = self.clock() + seconds
        with self._tx() as db:
            db.execute("INSERT INTO blocks VALUES (?, ?, ?) ON CONFLICT (context, endpoint) DO UPDATE SET "
                       "until = max(until, excluded.until)", (context, endpoint, until))

    def close(self) -> None:
        self._db.close()
