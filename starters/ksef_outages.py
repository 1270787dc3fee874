"""KSeF's announcements of unavailability and failure (#14.3), from Python and the HTTP API: record one, end
one, list them.

KSeF 2.0's API has no endpoint for them: the ministry announces an unavailability (niedostępność, art. 106nh,
mode `offline`), a failure (awaria, art. 106nf, mode `awaryjny`) or a total failure (awaria całkowita) in BIP and
in the interface software, and the intermediary's operator records it here (`ksef.outage.record`, operators
only); every logged-in user may read them (`ksef.outage.read`). An invoice sent in mode `offline` or `awaryjny`
must fall (its P_1) within one of its kind, whose end gives its deadline; the deadline watch of the invoice
workflow reads them again when a deadline comes (a failure announced meanwhile moves it).

Bad input (an unknown kind, an end before the start, a start or end in the future, ending one that has ended)
is refused with InvalidInput or Conflict, and nothing is written.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.db import session_scope
from core.settings import Settings
from domain.errors import Conflict, InvalidInput, NotFound
from domain.ksef.offline import EMERGENCY, OFFLINE, TOTAL_FAILURE
from domain.policy import Principal
from models import ksef_outages as db
from models.base import as_utc, utcnow
from starters.acting import STARTER, acting

KINDS = (OFFLINE, EMERGENCY, TOTAL_FAILURE)
MAX_NOTE = 500


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidInput.one(name, "a date and time with its offset (e.g. 2026-12-07T09:00+01:00)")
    when = value.astimezone(UTC)
    if when > utcnow():
        raise InvalidInput.one(name, f"{value.isoformat()} is in the future: record what KSeF announced has "
                                     "happened (an announced end is recorded when it comes)")
    return when


def record_outage(settings: Settings, kind: str, started: datetime, ended: datetime | None = None,
                  note: str = "", *, as_user: Principal, surface: str = STARTER) -> db.OutageView:
    """Record an announcement of KSeF's: `kind` one of offline, awaryjny, awaria-calkowita; `ended` None while
    it goes on (end it later with `end_outage`); `note`: the BIP reference."""
    with acting(settings, as_user, "ksef.outage.record", f"KSeF {kind[:20]} announcement", surface) as act:
        act.check(None)
        if kind not in KINDS:
            raise InvalidInput.one("kind", f"one of {', '.join(KINDS)} (niedostępność, awaria, awaria całkowita), "
                                           f"got {kind!r}")
        start = _aware(started, "started")
        end = _aware(ended, "ended") if ended is not None else None
        if end is not None and end < start:
            raise InvalidInput.one("ended", f"{end.isoformat()} is before its start {start.isoformat()}")
        if len(note) > MAX_NOTE:
            raise InvalidInput.one("note", f"at most {MAX_NOTE} characters, got {len(note)}")
        with session_scope(settings.database_url) as session:
            row = db.add(session, kind, start, end, note.strip(), act.user.label)
            act.target = f"KSeF announcement #{row.id} ({kind})"
            return db.OutageView.of(row)


def end_outage(settings: Settings, outage_id: int, ended: datetime, *, as_user: Principal,
               surface: str = STARTER) -> db.OutageView:
    """Record the end KSeF announced for an ongoing announcement; one that has ended already is a Conflict."""
    with acting(settings, as_user, "ksef.outage.record", f"end KSeF announcement #{outage_id}", surface) as act:
        act.check(None)
        end = _aware(ended, "ended")
        with session_scope(settings.database_url) as session:
            row = db.get_for_update(session, outage_id)
            if row is None:
                raise NotFound(f"no KSeF announcement #{outage_id}")
            if row.ended_at is not None:
                raise Conflict(f"KSeF announcement #{outage_id} has ended already "
                               f"({as_utc(row.ended_at).isoformat()}, recorded by {row.ended_by})")
            if end < as_utc(row.started_at):
                raise InvalidInput.one("ended", f"{end.isoformat()} is before its start "
                                                f"{as_utc(row.started_at).isoformat()}")
            row.ended_at, row.ended_by = end, act.user.label
            session.flush()
            return db.OutageView.of(row)


def list_outages(settings: Settings, *, as_user: Principal, surface: str = STARTER) -> list[db.OutageView]:
    """Every announcement on record, the latest first."""
    with acting(settings, as_user, "ksef.outage.read", "KSeF announcements", surface) as act:
        act.check(None)
        with session_scope(settings.database_url) as session:
            return [db.OutageView.of(r) for r in db.all_outages(session)]
