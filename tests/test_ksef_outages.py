"""KSeF's announcements of unavailability and failure (#14.3), recorded by the intermediary's operator: over
Python, HTTP and the CLI; recording and ending is operators' only, reading is any logged-in user's; each call is
audited; bad input (an unknown kind, an end before the start, ending twice) is refused and writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.main import create_app
from core.db import session_scope
from core.settings import Settings
from domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from models import audit
from models.ksef_outages import KsefOutage
from models.tenant import add_tenant
from starters.cli import app as cli
from starters.ksef_outages import end_outage, list_outages, record_outage
from tests.cli_support import flat, in_process_api, login, runner
from tests.identity_support import authenticate, principal

VAT = "PL5265877635"


def _count(settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        return session.scalar(select(func.count()).select_from(KsefOutage)) or 0


def _trail(settings: Settings) -> list[tuple[str, str, str]]:
    with session_scope(settings.database_url) as session:
        return [(e.action, e.outcome, e.actor) for e in audit.entries(session, limit=1000)
                if e.action.startswith("ksef.outage")]


def test_recorded_ended_and_listed_by_the_operator_read_by_a_customer_refused_to_it(
        settings: Settings, db: str) -> None:
    with session_scope(db) as session:
        add_tenant(session, VAT, "Firma Testowa sp. z o.o.", "biuro@firma.example.pl", None)
    operator = principal(settings)
    customer = principal(settings, "customer", "anna@firma.example.pl", VAT)
    now = datetime.now(UTC)
    started = now - timedelta(hours=3)
    view = record_outage(settings, "awaryjny", started, note="BIP MF komunikat 12/2026", as_user=operator)
    assert (view.kind, view.ended, view.note, view.recorded_by) == ("awaryjny", None, "BIP MF komunikat 12/2026",
                                                                    operator.label)
    with pytest.raises(Forbidden, match="operators"):
        record_outage(settings, "offline", started, as_user=customer)
    with pytest.raises(Forbidden, match="operators"):
        end_outage(settings, view.id, now, as_user=customer)
    assert [o.id for o in list_outages(settings, as_user=customer)] == [view.id]  # reading: any user
    ended = end_outage(settings, view.id, now - timedelta(hours=1), as_user=operator)
    assert ended.ended == (now - timedelta(hours=1)).isoformat() and ended.ended_by == operator.label
    trail = _trail(settings)
    assert ("ksef.outage.record", "ok", operator.label) in trail
    assert ("ksef.outage.read", "ok", customer.label) in trail
    assert any(a == "ksef.outage.record" and o.startswith("refused") and who == customer.label
               for a, o, who in trail)


def test_bad_input_is_refused_with_a_clear_error_and_writes_nothing(settings: Settings, db: str) -> None:
    operator = principal(settings)
    now = datetime.now(UTC)
    with pytest.raises(InvalidInput, match="kind.*one of offline, awaryjny, awaria-calkowita"):
        record_outage(settings, "down", now - timedelta(hours=1), as_user=operator)
    with pytest.raises(InvalidInput, match="ended.*before its start"):
        record_outage(settings, "offline", now - timedelta(hours=1), now - timedelta(hours=2), as_user=operator)
    with pytest.raises(InvalidInput, match="started.*offset"):
        record_outage(settings, "offline", datetime(2026, 12, 7, 9), as_user=operator)
    with pytest.raises(InvalidInput, match="started.*in the future"):
        record_outage(settings, "offline", now + timedelta(hours=2), as_user=operator)
    assert _count(settings) == 0
    view = record_outage(settings, "offline", now - timedelta(hours=2), as_user=operator)
    with pytest.raises(InvalidInput, match="ended.*before its start"):
        end_outage(settings, view.id, now - timedelta(hours=3), as_user=operator)
    end_outage(settings, view.id, now - timedelta(hours=1), as_user=operator)
    with pytest.raises(Conflict, match=f"#{view.id} has ended already"):
        end_outage(settings, view.id, now, as_user=operator)
    with pytest.raises(NotFound, match="no KSeF announcement #999"):
        end_outage(settings, 999, now, as_user=operator)
    [row] = list_outages(settings, as_user=operator)
    assert row.ended == (now - timedelta(hours=1)).isoformat()  # the refused second end changed nothing


def test_over_http_and_the_cli(settings: Settings, db: str, monkeypatch: pytest.MonkeyPatch,
                               tmp_path: Path) -> None:
    http = authenticate(TestClient(create_app(settings, run_migrations=False)), settings)
    started = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    made = http.post("/ksef/outages", json={"kind": "offline", "started": started, "note": "BIP 1"})
    assert made.status_code == 201, made.text
    bad = http.post("/ksef/outages", json={"kind": "down", "started": started})
    assert bad.status_code == 422 and "kind" in bad.text
    done = http.post(f"/ksef/outages/{made.json()['id']}/end", json={"ended": datetime.now(UTC).isoformat()})
    assert done.status_code == 200 and done.json()["ended"], done.text
    twice = http.post(f"/ksef/outages/{made.json()['id']}/end", json={"ended": datetime.now(UTC).isoformat()})
    assert twice.status_code == 409 and "has ended already" in twice.text
    assert [o["id"] for o in http.get("/ksef/outages").json()] == [made.json()["id"]]
    with in_process_api(settings, monkeypatch, tmp_path / "config"):
        login(settings)
        added = runner.invoke(cli, ["ksef", "outage", "add", "--kind", "awaryjny", "--started",
                                    "2026-12-07T09:00+01:00", "--note", "BIP 2"])
        assert added.exit_code == 0, added.output
        assert "awaryjny" in added.output and "ongoing" in added.output
        number = flat(added.output).split()[0].lstrip("#")
        ended = runner.invoke(cli, ["ksef", "outage", "end", number, "--ended", "2026-12-07T10:30+01:00"])
        assert ended.exit_code == 0 and "2026-12-07T09:30:00+00:00" in flat(ended.output), ended.output
        naive = runner.invoke(cli, ["ksef", "outage", "add", "--kind", "offline", "--started", "2026-12-07T09:00"])
        assert naive.exit_code == 2 and "offset" in naive.output
        shown = runner.invoke(cli, ["ksef", "outage", "list", "--json"])
        assert shown.exit_code == 0 and '"BIP 2"' in shown.output and '"BIP 1"' in shown.output
    assert _count(settings) == 2
