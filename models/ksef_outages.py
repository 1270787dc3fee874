"""KSeF's announcements of unavailability and failure (#14.3, tryby-offline.md), as the intermediary's operator
records them: KSeF 2.0's API publishes none (the ministry announces them in BIP and the interface software).

One row per announcement: its kind (`offline` niedostępność, `awaryjny` awaria, `awaria-calkowita`), when it
started, when it ended (NULL while it goes on), the operator's note (the BIP reference) and who recorded and who
ended it. Not a customer's: KSeF's, the same for all. The invoices issued in modes `offline` and `awaryjny` hang
on them (domain.ksef.offline.announced_deadline).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from domain.ksef.offline import Announcement
from models.base import Base, Timestamp, as_utc, utcnow


class KsefOutage(Base):
    __tablename__ = "ksef_outages"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(Timestamp())
    ended_at: Mapped[datetime | None] = mapped_column(Timestamp(), nullable=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    recorded_by: Mapped[str] = mapped_column(String(320))  # the user's label (kind:name), as the audit names it
    recorded_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    ended_by: Mapped[str | None] = mapped_column(String(320), nullable=True)


@dataclass
class OutageView:
    """What `GET /ksef/outages` answers for one announcement."""

    id: int
    kind: str
    started: str
    ended: str | None
    note: str
    recorded_by: str
    recorded_at: str
    ended_by: str | None

    @classmethod
    def of(cls, row: KsefOutage) -> OutageView:
        return cls(row.id, row.kind, as_utc(row.started_at).isoformat(),
                   as_utc(row.ended_at).isoformat() if row.ended_at else None, row.note, row.recorded_by,
                   as_utc(row.recorded_at).isoformat(), row.ended_by)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def add(session: Session, kind: str, started: datetime, ended: datetime | None, note: str,
        recorded_by: str) -> KsefOutage:
    row = KsefOutage(kind=kind, started_at=started, ended_at=ended, note=note, recorded_by=recorded_by,
                     recorded_at=utcnow(), ended_by=recorded_by if ended else None)
    session.add(row)
    session.flush()
    return row


def get_for_update(session: Session, outage_id: int) -> KsefOutage | None:
    return session.scalar(select(KsefOutage).where(KsefOutage.id == outage_id).with_for_update())


def all_outages(session: Session) -> list[KsefOutage]:
    return list(session.scalars(select(KsefOutage).order_by(KsefOutage.started_at.desc(), KsefOutage.id.desc())))


def announcements(session: Session) -> list[Announcement]:
    """Every announcement on record, as domain.ksef.offline reads them."""
    return [Announcement(r.kind, as_utc(r.started_at), as_utc(r.ended_at) if r.ended_at else None,
                         f"#{r.id}" + (f" {r.note}" if r.note else ""))
            for r in all_outages(session)]
