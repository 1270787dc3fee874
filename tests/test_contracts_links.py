"""Acceptance links and pages without Temporal: forged, expired, unknown and reused links get a clear page and
change nothing; plus the pure contract code (amounts, schedule, rendering)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import create_app
from core.db import session_scope
from core.settings import Settings
from domain.contracts import ContractDocument, format_eur, parse_amount, parse_schedule, render_contract
from domain.errors import InvalidInput
from domain.tokens import TokenInvalid, make_token, read_token
from models import contracts as orders
from models.contracts_io import AWAITING, AcceptRequest, CancelOrder, OpenOrder
from tests.contracts_helpers import add_customer, is_enabled, new_vat
from tests.identity_support import operator_client

NOW = datetime.now(UTC)
SECRET = "test-secret-key-0123456789abcdef"  # the settings fixture's SECRET_KEY


class NoTemporal:
    def __getattr__(self, name: str) -> object:
        raise AssertionError("a refused link must not reach Temporal")


@pytest.fixture
def http(settings: Settings, db: str) -> TestClient:
    assert settings.secret_key.get_secret_value() == SECRET
    app = create_app(settings, run_migrations=False)
    app.state.temporal = NoTemporal()
    return operator_client(app, settings)


def open_order(settings: Settings, vat: str, nonce: str = "n" * 32, expires: timedelta = timedelta(days=30)) -> str:
    add_customer(settings, vat, "Rossi & <Figli>")
    with session_scope(settings.database_url) as session:
        info = orders.open_order(session, OpenOrder(vat, f"contract-{vat}", f"run-{vat}", 4900, NOW + expires,
                                                    "test"))
        orders.issue_token(session, info.order_id, nonce, "invitation", NOW + expires)
    return info.order_id


def tokens_used(settings: Settings) -> list[object]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(orders.ContractToken.used_at)))


def test_a_genuine_link_shows_the_page_and_changes_nothing(settings: Settings, http: TestClient) -> None:
    vat = new_vat()
    order_id = open_order(settings, vat)
    token = make_token(SECRET, order_id, "n" * 32, NOW + timedelta(days=30))
    page = http.get(f"/accept/{token}")
    assert page.status_code == 200
    assert "Rossi &amp; &lt;Figli&gt;" in page.text and "<Figli>" not in page.text
    assert f'action="/accept/{token}"' in page.text and "49,00 EUR" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert tokens_used(settings) == [None] and not is_enabled(settings, vat)


@pytest.mark.parametrize("method", ["get", "post"])
def test_forged_links_are_refused(settings: Settings, http: TestClient, method: str) -> None:
    vat = new_vat()
    order_id = open_order(settings, vat)
    genuine = make_token(SECRET, order_id, "n" * 32, NOW + timedelta(days=30))
    payload, _, signature = genuine.rpartition(".")
    forged = [
        "not-a-token",
        make_token("another-secret", order_id, "n" * 32, NOW + timedelta(days=30)),  # signed with another key
        f"{payload}.{signature[:-2]}AA",  # signature tampered
        make_token(SECRET, order_id, "n" * 32, NOW + timedelta(days=90)).rpartition(".")[0] + "." + signature,
        "x" * 2000,
    ]
    for token in forged:
        resp = getattr(http, method)(f"/accept/{token}")
        assert resp.status_code == 400, token
        assert "not a valid acceptance link" in resp.text and "Nothing was changed" in resp.text
    # Genuinely signed, but never issued (unknown nonce) or for another order: refused the same way.
    for token in (make_token(SECRET, order_id, "m" * 32, NOW + timedelta(days=30)),
                  make_token(SECRET, f"{vat}-999", "n" * 32, NOW + timedelta(days=30))):
        resp = getattr(http, method)(f"/accept/{token}")
        assert resp.status_code == 400 and "not a valid acceptance link" in resp.text
    assert tokens_used(settings) == [None] and not is_enabled(settings, vat)


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_expired_link_is_refused(settings: Settings, http: TestClient, method: str) -> None:
    vat = new_vat()
    order_id = open_order(settings, vat, expires=timedelta(minutes=-1))
    token = make_token(SECRET, order_id, "n" * 32, NOW - timedelta(minutes=1))
    resp = getattr(http, method)(f"/accept/{token}")
    assert resp.status_code == 410 and "expired" in resp.text
    assert tokens_used(settings) == [None] and not is_enabled(settings, vat)
    # The database refuses it too, should the page's check be bypassed.
    with pytest.raises(orders.LinkRefused, match="expired"), session_scope(settings.database_url) as session:
        orders.accept_order(session, AcceptRequest(order_id, "n" * 32))
    assert not is_enabled(settings, vat)


def test_a_used_link_is_refused_and_accepting_is_idempotent(settings: Settings, http: TestClient) -> None:
    vat = new_vat()
    order_id = open_order(settings, vat)
    with session_scope(settings.database_url) as session:
        first = orders.accept_order(session, AcceptRequest(order_id, "n" * 32, "10.0.0.1", "ua"))
    with session_scope(settings.database_url) as session:  # the activity retried after its commit
        assert orders.accept_order(session, AcceptRequest(order_id, "n" * 32)) == first
    assert is_enabled(settings, vat)
    token = make_token(SECRET, order_id, "n" * 32, NOW + timedelta(days=30))
    for method in ("get", "post"):
        resp = getattr(http, method)(f"/accept/{token}")
        assert resp.status_code == 409 and "already used" in resp.text
    with session_scope(settings.database_url) as session:
        view = orders.get_order(session, order_id)
    assert [e.step for e in view.events] == [AWAITING, "accepted", "customer-enabled"]


def test_a_cancelled_order_refuses_its_links(settings: Settings, http: TestClient) -> None:
    vat = new_vat()
    order_id = open_order(settings, vat)
    with session_scope(settings.database_url) as session:
        assert orders.cancel_order(session, CancelOrder(order_id, "", "test")).refunded_cents == 4900
    token = make_token(SECRET, order_id, "n" * 32, NOW + timedelta(days=30))
    resp = http.post(f"/accept/{token}")
    assert resp.status_code == 410 and "cancelled" in resp.text
    with pytest.raises(orders.LinkRefused, match="cancelled"), session_scope(settings.database_url) as session:
        orders.accept_order(session, AcceptRequest(order_id, "n" * 32))
    assert tokens_used(settings) == [None] and not is_enabled(settings, vat)


def test_tokens_are_bound_signed_and_expiring() -> None:
    exp = datetime(2030, 1, 1, tzinfo=UTC)
    token = make_token(SECRET, "IT1-001", "abc", exp)
    claims = read_token(SECRET, token, now=exp - timedelta(seconds=1))
    assert (claims.order_id, claims.nonce, claims.expires_at) == ("IT1-001", "abc", exp)
    with pytest.raises(TokenInvalid) as expired:
        read_token(SECRET, token, now=exp)
    assert expired.value.reason == "expired"
    with pytest.raises(TokenInvalid) as forged:
        read_token("other", token, now=exp - timedelta(days=1))
    assert forged.value.reason == "forged"


def test_amounts_and_schedule_are_checked() -> None:
    assert parse_amount("49") == 4900 and parse_amount("49,90") == 4990 and parse_amount("0.01") == 1
    assert format_eur(123456789) == "1.234.567,89 EUR"
    for bad in ("-1", "abc", "1.001", "nan", "2000000"):
        with pytest.raises(InvalidInput) as err:
            parse_amount(bad)
        assert err.value.problems[0].field == "amount"
    assert parse_schedule("3, 7,14", 30) == ([3, 7, 14], 30)
    assert parse_schedule("", 30) == ([], 30)
    for days, expiry in (("3,x", 30), ("7,3", 30), ("3,30", 30), ("0", 30), ("3,\u00b2", 30), ("\u0663,7", 30)):
        with pytest.raises(InvalidInput) as err:
            parse_schedule(days, expiry)
        assert err.value.problems[0].field == "CONTRACT_REMINDER_DAYS"
    with pytest.raises(InvalidInput, match="CONTRACT_EXPIRY_DAYS"):
        parse_schedule("3", 0)


def test_the_contract_is_rendered_with_the_customers_data_escaped() -> None:
    doc = ContractDocument("IT1-001", "<script>alert(1)</script> S.r.l.", "IT02038490237", "a@pec.it", "QPQRMS",
                           4900, NOW, NOW + timedelta(days=30))
    html = render_contract(doc)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "IT02038490237" in html and "QPQRMS" in html and "49,00 EUR" in html
    assert (NOW + timedelta(days=30)).strftime("%d/%m/%Y") in html
