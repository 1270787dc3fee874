"""A signing key belongs to its customer (issue #18.1): another customer's alias is refused, the
intermediary's delegated key only signs for a customer that granted delegated signing, and a refusal
writes nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.main import create_app
from core.db import session_scope
from core.settings import Settings
from domain.errors import InvalidInput
from domain.signing import check_key_alias
from models.invoices import Invoice
from starters.invoices import send_invoice
from tests.identity_support import authenticate, operator
from tests.invoices_support import VAT, ensure_customer, invoice

OTHER = "IT02038490237"  # another customer (VAT is the samples' sender, IT01234567897)


@pytest.mark.parametrize(("alias", "granted", "ok"), [
    (None, True, True), ("intermediary", True, True), (None, False, False), ("intermediary", False, False),
    (VAT, False, True), (f"{VAT}-2026", False, True), (OTHER, True, False), (f"{OTHER}-main", True, False),
    (f"{VAT}x", True, False), (f"x{VAT}", True, False),
])
def test_which_alias_may_sign_for_whom(alias: str | None, granted: bool, ok: bool) -> None:
    if ok:
        assert check_key_alias(VAT, alias, "intermediary", granted) == (alias or "intermediary")
    else:
        with pytest.raises(InvalidInput) as err:
            check_key_alias(VAT, alias, "intermediary", granted)
        assert err.value.problems[0].field == "key_alias"


def _invoices(settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        return int(session.scalar(select(func.count()).select_from(Invoice)) or 0)


async def test_the_starter_refuses_another_customers_key_and_an_ungranted_delegation(settings: Settings,
                                                                                     db: str) -> None:
    ensure_customer(settings, VAT, delegated_signing=False)
    ensure_customer(settings, OTHER)
    for alias, words in ((OTHER, f"is not {VAT}'s"), (None, "has not granted delegated signing"),
                         ("intermediary", "has not granted delegated signing")):
        with pytest.raises(InvalidInput, match=words) as err:
            await send_invoice(settings, VAT, invoice("K1"), "k1.xml", "cades", alias, client=None,
                               as_user=operator(settings))
        assert err.value.problems[0].field == "key_alias"
    with pytest.raises(InvalidInput, match="only to sign"):
        await send_invoice(settings, VAT, invoice("K1"), "k1.xml", "none", VAT, client=None, as_user=operator(settings))
    assert _invoices(settings) == 0


def test_over_http_the_grant_is_the_customers_and_the_refusal_names_the_key(settings: Settings, db: str) -> None:
    ensure_customer(settings, VAT, delegated_signing=False)
    app = create_app(settings, run_migrations=False)
    app.state.temporal = object()  # never reached: each send below is refused first
    with TestClient(app) as http:
        authenticate(http, settings, "customer", "anna@acme.example", VAT)
        r = http.post("/invoices", data={"vat": VAT, "sign": "cades", "key_alias": OTHER},
                      files={"file": ("a.xml", invoice("K2"))})
        assert r.status_code == 422 and r.json()["problems"][0]["field"] == "key_alias", r.text
        r = http.post("/invoices", data={"vat": VAT, "sign": "cades"}, files={"file": ("a.xml", invoice("K2"))})
        assert r.status_code == 422 and "delegated signing" in r.text
        granted = http.put(f"/tenants/{VAT}/delegated-signing", json={"granted": True})
        assert granted.status_code == 200 and granted.json()["delegated_signing"] is True
        assert http.get(f"/tenants/{VAT}").json()["delegated_signing"] is True
    assert _invoices(settings) == 0
