"""The panel's screens that need no workflow (#16), over plain HTTP with the session cookie and CSRF token:
the e-mail notification preferences (seed 004)."""

from __future__ import annotations

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
from tests.panel_support import ACCOUNTANT_EMAIL, CUSTOMER_EMAIL, VAT, csrf_of, customers, login, message_of

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
