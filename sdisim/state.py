"""What the local SDI remembers across a restart, in one SQLite file (`DATA_DIR/sdisim/state.sqlite`).

The real SDI does not forget an invoice, nor the DT it owes 15 days after delivery, when it restarts; nor does
this one. Kept: every file received (with its content, so a file not yet checked is checked after a restart),
the keys of the invoices accepted (duplicate invoice 00404), the identificativo SdI and message-id counters (an
id is never given twice), every notification due with its due time and how often it was delivered, and the
outcomes (EC) received. The simulator keeps working copies in memory and writes each change here in one
transaction, before it acts on it. `:memory:` keeps nothing (a simulator run without a data dir).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.sdi.messages import SdiError

SCHEMA_VERSION = 1
IN_MEMORY = ":memory:"

_SCHEMA = """
CREATE TABLE counters (name TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE files (
    sdi_id INTEGER PRIMARY KEY, file_name TEXT NOT NULL, received_at TEXT NOT NULL, size INTEGER NOT NULL,
    sha256 TEXT NOT NULL, recipient_code TEXT, outcome TEXT NOT NULL, errors TEXT NOT NULL,
    content BLOB NOT NULL, duplicate_name INTEGER NOT NULL, recipient_name TEXT, numero TEXT, anno INTEGER);
CREATE TABLE invoice_keys (key TEXT PRIMARY KEY);
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY, sdi_id INTEGER NOT NULL REFERENCES files (sdi_id), position INTEGER NOT NULL,
    kind TEXT NOT NULL, esito TEXT, errors TEXT NOT NULL, due_at REAL NOT NULL, name TEXT, content BLOB,
    delivered INTEGER NOT NULL DEFAULT 0, UNIQUE (sdi_id, position));
CREATE TABLE outcomes (id INTEGER PRIMARY KEY, outcome TEXT NOT NULL);
"""


class StateError(RuntimeError):
    """The state file cannot be used (not SQLite, or written by another version of the simulator)."""


@dataclass
class Due:
    """One notification the simulator owes a file: sent at `due_at` (seconds since the epoch), built then
    (`name`, `content`), and `delivered` that many times (0: still owed, sent again after a restart)."""

    position: int
    kind: str  # RC, NS, MC, NE, DT, AT
    due_at: float
    esito: str | None = None
    errors: tuple[SdiError, ...] = ()
    name: str | None = None
    content: bytes | None = None
    delivered: int = 0
    id: int | None = None


@dataclass
class ReceivedFile:
    sdi_id: int
    file_name: str
    received_at: datetime
    size: int
    sha256: str
    recipient_code: str | None = None
    outcome: str = "checking"  # checking | rejected | scenario | delivered-to-recipient
    errors: list[dict[str, str]] = field(default_factory=list)
    content: bytes = b""
    duplicate_name: bool = False  # its name had been received before (00002), decided when it arrived
    recipient_name: str | None = None  # what the notifications need from the invoice, kept once checked
    numero: str | None = None
    anno: int | None = None
    due: list[Due] = field(default_factory=list)

    @property
    def notifications(self) -> list[Due]:
        """The notifications built so far (each is built when it falls due)."""
        return [d for d in self.due if d.name is not None]


def _errors_json(errors: Iterable[SdiError]) -> str:
    return json.dumps([[e.code, e.description, e.suggestion] for e in errors])


def _errors_of(text: str) -> tuple[SdiError, ...]:
    return tuple(SdiError(code, description, suggestion) for code, description, suggestion in json.loads(text))


class SimState:
    """The simulator's SQLite file. Safe to call from the event loop and from the thread the checks run in."""

    def __init__(self, path: Path | str = IN_MEMORY):
        self.path = str(path)
        if self.path != IN_MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            self._open()
        except sqlite3.DatabaseError as err:
            self._db.close()
            raise StateError(f"the local SDI's state file {self.path} cannot be read: {err}") from err

    def _open(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL" if self.path != IN_MEMORY else "PRAGMA journal_mode=MEMORY")
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version == SCHEMA_VERSION:
            return
        if version != 0 or self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise StateError(f"the local SDI's state file {self.path} has schema version {version}, this simulator "
                             f"reads {SCHEMA_VERSION}: move the file away to start afresh")
        with self._tx() as db:
            db.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """The connection, for one caller at a time."""
        with self._lock:
            yield self._db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: everything in it is written, or nothing."""
        with self._tx() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # ------------------------------------------------------------ counters
    def take(self, counter: str, first: int) -> int:
        """The next value of a counter (identificativo SdI, message id), never given before."""
        with self._write() as db:
            row = db.execute("SELECT next FROM counters WHERE name = ?", (counter,)).fetchone()
            value = first if row is None else max(int(row[0]), first)
            db.execute("INSERT INTO counters (name, next) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET "
                       "next = excluded.next", (counter, value + 1))
        return value

    # ------------------------------------------------------------ files
    def add_file(self, rec: ReceivedFile) -> None:
        with self._write() as db:
            db.execute("INSERT INTO files (sdi_id, file_name, received_at, size, sha256, recipient_code, outcome, "
                       "errors, content, duplicate_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (rec.sdi_id, rec.file_name, rec.received_at.isoformat(), rec.size, rec.sha256,
                        rec.recipient_code, rec.outcome, json.dumps(rec.errors), rec.content,
                        int(rec.duplicate_name)))

    def record_check(self, rec: ReceivedFile, invoice_keys: Iterable[str]) -> None:
        """The outcome of the checks with every notification it makes due, in one transaction: after a crash
        a file is either still to check or fully scheduled."""
        with self._write() as db:
            db.execute("UPDATE files SET recipient_code = ?, outcome = ?, errors = ?, recipient_name = ?, "
                       "numero = ?, anno = ? WHERE sdi_id = ?",
                       (rec.recipient_code, rec.outcome, json.dumps(rec.errors), rec.recipient_name, rec.numero,
                        rec.anno, rec.sdi_id))
            db.executemany("INSERT OR IGNORE INTO invoice_keys (key) VALUES (?)", [(k,) for k in invoice_keys])
            for due in rec.due:
                cur = db.execute("INSERT INTO notifications (sdi_id, position, kind, esito, errors, due_at) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", (rec.sdi_id, due.position, due.kind, due.esito,
                                                               _errors_json(due.errors), due.due_at))
                due.id = cur.lastrowid

    def record_built(self, due: Due) -> None:
        with self._write() as db:
            db.execute("UPDATE notifications SET name = ?, content = ? WHERE id = ?", (due.name, due.content, due.id))

    def record_delivered(self, due: Due) -> None:
        with self._write() as db:
            db.execute("UPDATE notifications SET delivered = ? WHERE id = ?", (due.delivered, due.id))

    def add_outcome(self, outcome: dict[str, Any]) -> None:
        with self._write() as db:
            db.execute("INSERT INTO outcomes (outcome) VALUES (?)", (json.dumps(outcome),))

    # ------------------------------------------------------------ loading
    def files(self) -> list[ReceivedFile]:
        """Every file with its notifications, in the order received."""
        with self._tx() as db:
            rows = db.execute("SELECT sdi_id, file_name, received_at, size, sha256, recipient_code, outcome, errors, "
                              "content, duplicate_name, recipient_name, numero, anno FROM files ORDER BY sdi_id"
                              ).fetchall()
            dues = db.execute("SELECT sdi_id, position, kind, due_at, esito, errors, name, content, delivered, id "
                              "FROM notifications ORDER BY sdi_id, position").fetchall()
        by_id: dict[int, ReceivedFile] = {}
        for r in rows:
            by_id[r[0]] = ReceivedFile(r[0], r[1], datetime.fromisoformat(r[2]), r[3], r[4], r[5], r[6],
                                       json.loads(r[7]), r[8], bool(r[9]), r[10], r[11], r[12])
        for d in dues:
            by_id[d[0]].due.append(Due(d[1], d[2], d[3], d[4], _errors_of(d[5]), d[6], d[7], d[8], d[9]))
        return list(by_id.values())

    def invoice_keys(self) -> set[str]:
        with self._tx() as db:
            return {r[0] for r in db.execute("SELECT key FROM invoice_keys")}

    def outcomes(self) -> list[dict[str, Any]]:
        with self._tx() as db:
            return [json.loads(r[0]) for r in db.execute("SELECT outcome FROM outcomes ORDER BY id")]
