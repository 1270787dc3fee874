"""The panel's screens that need no workflow (#16), over plain HTTP with the session cookie and CSRF token:
the e-mail notification preferences (seed 004), the audit trail and the archive (packages, space used, last
verification, the export for an inspector)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.db import session_scope
from core.settings import Settings
from domain.notifications import NOTIFICATION_KINDS
from domain.permissions import READ
from models import audit
from models.preferences import get_preferences
from starters.archive import verify_local
from tests.identity_support import operator
from tests.panel_support import ACCOUNTANT_EMAIL, CUSTOMER_EMAIL, OTHER, VAT, csrf_of, customers, login, message_of

IT = {"Accept-Language": "it"}


@pytest.fixture
def http(settings: Settings, db: str) -> Iterator[TestClient]:
    customers(settings, [READ])
    with TestClient(create_app(settings, run_migrations=False), headers=IT) as client:
        yield client


def _prefs(settings: Settings) -> dict[str, bool]:
    with session_scope(settings.database_url) as session:
        return get_preferences(session, VAT)


def test_notification_preferences_all_on_by_default_and_unchecked_ones_are_not_sent(
        http: TestClient, settings: Settings) -> None:
    assert login(http, CUSTOMER_EMAIL).status_code == 303
    page = http.get(f"/panel/c/{VAT}/preferences")
    assert page.status_code == 200 and 'href="/panel/c/IT02038490237/preferences"' in page.text
    for kind in NOTIFICATION_KINDS:
        assert f'id="pref-{kind}" checked' in page.text, kind
    token = csrf_of(page.text)
    keep = [k for k in NOTIFICATION_KINDS if k not in ("cert-expiry-reminder", "invoice-received")]
    saved = http.post(f"/panel/c/{VAT}/preferences", data={"csrf": token, "kind": keep})
    assert saved.status_code == 200, saved.text
    assert message_of(saved.text) == "Preferenze salvate; disattivate: Certificato in scadenza, Fattura ricevuta"
    assert 'id="pref-invoice-received"  >' in saved.text and 'id="pref-invoice-outcome" checked' in saved.text
    assert [k for k, on in _prefs(settings).items() if not on] == ["cert-expiry-reminder", "invoice-received"]

    unknown = http.post(f"/panel/c/{VAT}/preferences", data={"csrf": token, "kind": ["no-such-kind"]})
    assert unknown.status_code == 422 and "no-such-kind" in message_of(unknown.text)
    assert "Nulla è stato modificato" in message_of(unknown.text)
    assert not _prefs(settings)["cert-expiry-reminder"] and _prefs(settings)["cert-issued"]  # all or nothing
    assert http.post(f"/panel/c/{VAT}/preferences", data={"kind": keep}).status_code == 403  # no CSRF token


def test_an_accountant_with_read_sees_the_preferences_and_cannot_change_them(http: TestClient,
                                                                             settings: Settings) -> None:
    assert login(http, ACCOUNTANT_EMAIL).status_code == 303
    page = http.get(f"/panel/c/{VAT}/preferences")
    assert page.status_code == 200 and 'id="save-preferences"' not in page.text
    assert 'id="pref-cert-issued" checked disabled' in page.text
    forced = http.post(f"/panel/c/{VAT}/preferences", data={"csrf": csrf_of(page.text)})
    assert forced.status_code == 403 and "config.manage" in message_of(forced.text)
    assert all(_prefs(settings).values())
    with session_scope(settings.database_url) as session:
        refused = [e for e in audit.entries(session, VAT, 0, 100)
                   if e.action == "preferences.update" and e.outcome.startswith("refused")]
    assert refused and refused[0].surface == "panel" and refused[0].actor == f"accountant:{ACCOUNTANT_EMAIL}"


def test_the_audit_trail_newest_first_a_page_at_a_time_for_the_customers_users_only(
        http: TestClient, settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        for n in range(60):
            audit.append(session, "operator:ops@einvoice-hub.test", "http", "invoice.read", f"invoice {n:02d}", "ok",
                         vat=VAT)
    assert login(http, CUSTOMER_EMAIL).status_code == 303
    page = http.get(f"/panel/c/{VAT}/audit")
    assert page.status_code == 200 and 'href="/panel/c/IT02038490237/audit"' in page.text
    assert "Registro delle attività" in page.text
    rows = re.findall(r'<tr data-entry="(\d+)" data-action="([\w.]+)" data-surface="(\w+)"', page.text)
    assert len(rows) == 50 and [int(r[0]) for r in rows] == sorted((int(r[0]) for r in rows), reverse=True)
    assert rows[0][1:] == ("auth.login", "http")  # the newest: this user's login
    assert "invoice 59" in page.text and "invoice 10" not in page.text and 'id="newest"' not in page.text
    older = re.search(r'id="older" href="([^"]+)"', page.text)
    assert older is not None
    second = http.get(older.group(1).replace("&amp;", "&"))
    assert second.status_code == 200 and "invoice 10" in second.text and "invoice 59" not in second.text
    assert 'id="newest"' in second.text
    third = http.get(f"/panel/c/{VAT}/audit?before=1")
    assert third.status_code == 200 and 'id="no-entries"' in third.text
    again = http.get(f"/panel/c/{VAT}/audit")  # the reading itself is in the trail, surface panel
    assert re.search(r'data-action="audit.read" data-surface="panel"', again.text)
    assert http.get(f"/panel/c/{OTHER}/audit").status_code == 404  # another customer's: not here

    with TestClient(http.app, headers=IT) as accountant:
        assert login(accountant, ACCOUNTANT_EMAIL).status_code == 303
        certs = accountant.get(f"/panel/c/{VAT}/certificates")
        assert certs.status_code == 200 and "/audit" not in certs.text  # no menu entry
        forced = accountant.get(f"/panel/c/{VAT}/audit")
        assert forced.status_code == 403 and "invoice 59" not in forced.text
        assert "audit.read" in message_of(forced.text)


@pytest.fixture
def archived(settings: Settings, db: str) -> Iterator[tuple[TestClient, Settings]]:
    """Three packages of VAT in a bucket of its own: two verified, the third conserved after the verification."""
    from tests.archive_panel_support import conserve
    from tests.conservation_support import add_invoice, bucket_settings

    own = bucket_settings(settings)
    customers(own, [READ])
    conserve(own, add_invoice(own, number="00031", document_date="2026-03-15"))
    conserve(own, add_invoice(own, number="00032", document_date="2026-04-10"))
    assert verify_local(own, VAT, as_user=operator(own)).ok
    conserve(own, add_invoice(own, number="00033", document_date="2026-04-20"))
    with TestClient(create_app(own, run_migrations=False), headers=IT) as client:
        yield client, own


def test_the_archive_packages_space_used_last_verification_and_the_export(
        archived: tuple[TestClient, Settings]) -> None:
    http, own = archived
    assert login(http, CUSTOMER_EMAIL).status_code == 303
    page = http.get(f"/panel/c/{VAT}/archive")
    assert page.status_code == 200, page.text
    assert 'href="/panel/c/IT02038490237/archive"' in page.text and "Conservazione digitale a norma" in page.text
    assert re.search(r'id="package-count">3<', page.text) and re.search(r'id="space-used">[\d,]+ KiB<', page.text)
    assert len(re.findall(r'data-verified="ok"', page.text)) == 2 and 'data-verified="none"' in page.text
    assert re.search(r'id="last-verified">\d\d/\d\d/\d{4} \d\d:\d\d UTC<', page.text)
    assert "1 pacchetti non ancora verificati" in page.text and "10/04/2026" in page.text
    assert 'name="date_from" id="date-from" required value="2026-03-15"' in page.text

    zipped = http.get(f"/panel/c/{VAT}/archive/export", params={"date_from": "2026-03-01", "date_to": "2026-03-31"})
    assert zipped.status_code == 200 and zipped.headers["content-type"] == "application/zip"
    assert zipped.headers["x-export-packages"] == "1" and "attachment" in zipped.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as zf:
        names = zf.namelist()
    assert "SHA256SUMS" in names and "verify.py" in names and any("IndiceConservazione" in n for n in names)

    wrong = http.get(f"/panel/c/{VAT}/archive/export", params={"date_from": "2026-04-01", "date_to": "2026-03-01"})
    assert wrong.status_code == 422 and "is after" in message_of(wrong.text)
    bad = http.get(f"/panel/c/{VAT}/archive/export", params={"date_from": "15/03/2026", "date_to": ""})
    assert bad.status_code == 422 and "not a date" in message_of(bad.text) and "choose a date" in message_of(bad.text)
    assert http.get(f"/panel/c/{OTHER}/archive").status_code == 404


def test_the_partners_list_of_every_customers_orders(http: TestClient, settings: Settings) -> None:
    """Seed 003's list of all orders: newest first, each linking to its customer's orders screen, filtered by
    state; an accountant sees only the orders of the customers whose orders it may read."""
    from datetime import UTC, datetime, timedelta

    from models.contracts import open_order
    from models.contracts_io import OpenOrder
    from tests.identity_support import add_user

    deadline = datetime.now(UTC) + timedelta(days=30)
    with session_scope(settings.database_url) as session:
        for vat, run in ((VAT, "run-a"), (OTHER, "run-b")):
            open_order(session, OpenOrder(vat, f"contract-{run}", run, 9900, deadline, "operator:test"))
    add_user(settings, "operator", "partner@einvoice-hub.test")
    assert login(http, "partner@einvoice-hub.test").status_code == 303
    assert 'id="all-orders-link" href="/panel/orders"' in http.get("/panel/").text
    listed = http.get("/panel/orders")
    assert listed.status_code == 200
    rows = re.findall(r'<tr data-order="([\w-]+)" data-state="([\w-]+)"', listed.text)
    assert rows == [(f"{OTHER}-001", "awaiting-documentation"), (f"{VAT}-001", "awaiting-documentation")]
    assert f'href="/panel/c/{VAT}/orders"' in listed.text and "Beta S.r.l." in listed.text
    assert 'id="no-orders"' in http.get("/panel/orders", params={"status": "cancelled"}).text
    unknown = http.get("/panel/orders", params={"status": "lost"})
    assert unknown.status_code == 422 and "unknown order state" in message_of(unknown.text)

    with TestClient(http.app, headers=IT) as accountant:
        assert login(accountant, ACCOUNTANT_EMAIL).status_code == 303
        own = accountant.get("/panel/orders")
        assert re.findall(r'<tr data-order="([\w-]+)"', own.text) == [f"{VAT}-001"]
