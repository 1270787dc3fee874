"""What the local KSeF remembers across a restart, in one SQLite file (`DATA_DIR/ksefsim/state.sqlite`).

Every record (challenge, authentication operation, token, KSeF token, permission, enrollment, certificate,
session, invoice) is a JSON document under its kind and key; invoices keep their decrypted content beside it.
Each change is one transaction, written before the simulator answers. `:memory:` keeps nothing (a simulator run
without a data dir). A file of another schema version, or not SQLite, is refused naming it and left as it is.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
IN_MEMORY = ":memory:"

_SCHEMA = """
CREATE TABLE docs (kind TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, key));
CREATE TABLE blobs (kind TEXT NOT NULL, key TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (kind, key));
"""


class StateError(RuntimeError):
    """The state file cannot be used (not SQLite, or written by another version of the simulator)."""


class KsefState:
    def __init__(self, path: Path | str = IN_MEMORY):
        self.path = str(path)
        if self.path != IN_MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            self._open()
        except sqlite3.DatabaseError as err:
            self._db.close()
            raise StateError(f"the local KSeF's state file {self.path} cannot be read: {err}") from err

    def _open(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL" if self.path != IN_MEMORY else "PRAGMA journal_mode=MEMORY")
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version == SCHEMA_VERSION:
            return
        if version != 0 or self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise StateError(f"the local KSeF's state file {self.path} has schema version {version}, this "
                             f"simulator reads {SCHEMA_VERSION}: move the file away to start afresh")
        self._db.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")

    def close(self) -> None:
        with self.lock:
            self._db.close()

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        with self.lock:
            row = self._db.execute("SELECT body FROM docs WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put(self, kind: str, key: str, body: dict[str, Any], blob: bytes | None = None) -> None:
        with self.lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT INTO docs VALUES (?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET "
                                 "body = excluded.body", (kind, key, json.dumps(body, sort_keys=True)))
                if blob is not None:
                    self._db.execute("INSERT INTO blobs VALUES (?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET "
                                     "data = excluded.data", (kind, key, blob))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def all(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            rows = self._db.execute("SELECT body FROM docs WHERE kind = ? ORDER BY rowid", (kind,)).fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def blob(self, kind: str, key: str) -> bytes | None:
        with self.lock:
            row = self._db.execute("SELECT data FROM blobs WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        return None if row is None else bytes(row[0])
