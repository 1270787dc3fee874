"""The audit trail: who did what, for which customer, through which surface, and how it ended.

Append-only twice over: on PostgreSQL a trigger refuses UPDATE and DELETE (migration 0006), and each entry
carries the SHA-256 of its own content and of the entry before it, so an entry edited or removed behind
the database's back is found by `verify_chain` (`einvoice audit verify`). Appends are serialised (an
advisory lock on PostgreSQL; SQLite has one writer) so that two requests never chain to the same entry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, Text, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, Timestamp, as_utc, utcnow

GENESIS = "0" * 64
SURFACES = ("http", "cli", "starter", "email-link", "sdi", "admin", "panel", "schedule")
_LOCK_KEY = 0x61756469  # "audi": the advisory lock that serialises appends on PostgreSQL


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(Timestamp())
    actor: Mapped[str] = mapped_column(String(300))  # "operator:ops@example.it", "anonymous", "sdi"
    customer_vat: Mapped[str | None] = mapped_column(String(16), index=True)
    surface: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(80))
    target: Mapped[str] = mapped_column(String(300))
    outcome: Mapped[str] = mapped_column(String(300))  # "ok", "refused: ...", "failed: ..."
    detail: Mapped[str] = mapped_column(Text, default="")
    prev_sha256: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)


@dataclass(frozen=True)
class AuditView:
    id: int
    at: datetime
    actor: str
    customer_vat: str | None
    surface: str
    action: str
    target: str
    outcome: str
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "at": self.at.isoformat(), "actor": self.actor, "customer_vat": self.customer_vat,
                "surface": self.surface, "action": self.action, "target": self.target, "outcome": self.outcome,
                "detail": self.detail}


def _digest(prev: str, at: datetime, actor: str, vat: str | None, surface: str, action: str, target: str,
            outcome: str, detail: str) -> str:
    content = json.dumps([prev, as_utc(at).isoformat(timespec="microseconds"), actor, vat, surface, action,
                          target, outcome, detail], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(content.encode()).hexdigest()


def append(session: Session, actor: str, surface: str, action: str, target: str = "", outcome: str = "ok",
           vat: str | None = None, detail: str = "") -> AuditEntry:
    """Add one entry at the end of the chain, in the caller's transaction."""
    if surface not in SURFACES:
        raise ValueError(f"unknown surface {surface!r}")
    if vat is not None and not (len(vat) <= 16 and vat.isascii() and vat.isalnum()):
        detail, vat = f"customer given as {vat[:200]!r}; {detail}", None  # not a VAT number: kept as text only
    if session.get_bind().dialect.name == "postgresql":
        # the lock, then the last entry, in one round trip: two statements of one simple query (psycopg2),
        # each with its own snapshot (READ COMMITTED), so the second reads the chain as the lock leaves it
        last = session.execute(text("SELECT pg_advisory_xact_lock(:k); "
                                    "SELECT sha256 FROM audit_log ORDER BY id DESC LIMIT 1"), {"k": _LOCK_KEY}).scalar()
    else:
        last = session.scalar(select(AuditEntry.sha256).order_by(AuditEntry.id.desc()).limit(1))
    prev = last or GENESIS
    at = utcnow()
    fields = (actor[:300], vat, surface, action[:80], target[:300], outcome[:300], detail[:4000])
    row = AuditEntry(at=at, actor=fields[0], customer_vat=vat, surface=surface, action=fields[3],
                     target=fields[4], outcome=fields[5], detail=fields[6], prev_sha256=prev,
                     sha256=_digest(prev, at, *fields))
    session.add(row)
    session.flush()
    return row


def entries(session: Session, vat: str | None = None, after_id: int = 0, limit: int = 100) -> list[AuditView]:
    """A page of the trail, oldest first; `vat` None: every customer's (operators)."""
    query = select(AuditEntry).where(AuditEntry.id > after_id).order_by(AuditEntry.id).limit(max(1, min(limit, 1000)))
    if vat is not None:
        query = query.where(AuditEntry.customer_vat == vat)
    return [AuditView(r.id, as_utc(r.at), r.actor, r.customer_vat, r.surface, r.action, r.target, r.outcome,
                      r.detail) for r in session.scalars(query)]


def newest_entries(session: Session, vat: str, before_id: int | None = None, limit: int = 50) -> list[AuditView]:
    """A page of one customer's trail, newest first: the entries before `before_id` (None: from the newest)."""
    query = select(AuditEntry).where(AuditEntry.customer_vat == vat)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    query = query.order_by(AuditEntry.id.desc()).limit(max(1, min(limit, 1000)))
    return [AuditView(r.id, as_utc(r.at), r.actor, r.customer_vat, r.surface, r.action, r.target, r.outcome,
                      r.detail) for r in session.scalars(query)]


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    first_bad_id: int | None = None
    problem: str = ""


def verify_chain(session: Session) -> ChainReport:
    """Walk the whole trail (streamed) and recompute every link."""
    prev, count = GENESIS, 0
    for row in session.scalars(select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=1000)):
        count += 1
        if row.prev_sha256 != prev:
            return ChainReport(False, count, row.id, f"entry {row.id} does not follow the entry before it "
                                                     "(an entry was removed or edited before it)")
        expected = _digest(row.prev_sha256, row.at, row.actor, row.customer_vat, row.surface, row.action,
                           row.target, row.outcome, row.detail)
        if row.sha256 != expected:
            return ChainReport(False, count, row.id, f"entry {row.id} was edited (its content does not match "
                                                     "its hash)")
        prev = row.sha256
    return ChainReport(True, count)
