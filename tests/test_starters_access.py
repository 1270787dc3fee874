"""The starters (the Python API for backend systems) ask the same policy as the HTTP routes (#12.4, #12.6):
an accountant without the grant is refused naming the permission, another customer's resource is "not found"
in the same words as a missing one, a withdrawn grant stops the very next call, and each call is audited once
(by the starter for a Python caller; by the HTTP guard, not twice, for a request)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from core.db import session_scope
from core.settings import Settings
from domain.errors import Forbidden, Hidden, NotFound
from domain.permissions import INVOICES_SEND, READ
from domain.policy import Principal
from models import audit
from models import identity as ident
from models import invoices as db
from models.tenant import add_tenant
from starters import invoices as inv
from starters.identity import principal_from_token
from tests.identity_support import add_user, issue_token, principal
from tests.invoices_support import invoice

A, B = "IT02038490237", "IT01234567897"
INVOICE = "IT02038490237_00001"


@dataclass
class People:
    settings: Settings
    customer_a: Principal
    customer_b: Principal
    accountant: Principal  # linked to A with `read` only

    def link(self) -> ident.Delegation:
        with session_scope(self.settings.database_url) as session:
            return session.scalars(select(ident.Delegation)).one()

    def grant(self, permissions: list[str]) -> None:
        with session_scope(self.settings.database_url) as session:
            row = session.get(ident.Delegation, self.link().id)
            assert row is not None
            ident.set_link_permissions(session, row, permissions, "customer:a@test.example")


def _invoice_of_a(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        db.add_invoice(session, A, db.NewInvoice(
            id=INVOICE, direction="out", file_name=f"{INVOICE}.xml", transmitter_id=A, sign_mode="none",
            key_alias=None, format="FPR12", counterparty_name="X", counterparty_vat=None, recipient_code="0000000",
            number="1", doc_date="2026-12-01", total="1.00", currency="EUR", documents=1, workflow_id="wf-1",
            created_by="customer:a@test.example"), [], [])


@pytest.fixture
def people(settings: Settings, db: str) -> Iterator[People]:
    with session_scope(db) as session:
        add_tenant(session, A, "ACME S.p.A.", "acme@pec.example.it", None)
        add_tenant(session, B, "Beta S.r.l.", "beta@pec.example.it", None)
    a = principal(settings, "customer", "a@test.example", A)
    b = principal(settings, "customer", "b@test.example", B)
    add_user(settings, "accountant", "studio@test.example")
    with session_scope(db) as session:
        view = ident.open_link(session, A, "studio@test.example", ident.INVITED, "test", [READ])
        ident.accept_link(session, ident.get_link(session, view.id), "test")
    _invoice_of_a(settings)
    yield People(settings, a, b, principal(settings, "accountant", "studio@test.example"))


def _entries(settings: Settings) -> list[audit.AuditView]:
    with session_scope(settings.database_url) as session:
        return audit.entries(session)


def _invoices(settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        return int(session.scalar(select(func.count()).select_from(db.Invoice)) or 0)


async def test_an_accountant_without_the_grant_is_refused_naming_it_and_nothing_is_written(people: People) -> None:
    s = people.settings
    with pytest.raises(Forbidden) as refused:
        await inv.send_invoice(s, A, invoice("9"), "n.xml", as_user=people.accountant)
    assert refused.value.permission == INVOICES_SEND
    assert _invoices(s) == 1  # only the fixture's
    last = _entries(s)[-1]
    assert (last.actor, last.surface, last.action, last.customer_vat) == (
        "accountant:studio@test.example", "starter", "invoice.send", A)
    assert last.outcome.startswith("refused: ") and INVOICES_SEND in last.outcome
    assert inv.get_invoice(s, INVOICE, as_user=people.accountant).id == INVOICE  # `read` is granted


async def test_another_customers_invoice_is_not_found_in_the_words_of_a_missing_one(people: People) -> None:
    s = people.settings
    with pytest.raises(Hidden) as hidden:
        inv.get_invoice(s, INVOICE, as_user=people.customer_b)
    with pytest.raises(NotFound) as missing:
        inv.get_invoice(s, "IT02038490237_99999", as_user=people.customer_a)
    assert str(hidden.value) == f"no invoice {INVOICE}"
    assert str(missing.value) == "no invoice IT02038490237_99999"
    for refused in (lambda: inv.invoice_files(s, INVOICE, as_user=people.customer_b),
                    lambda: inv.download(s, INVOICE, "original", as_user=people.customer_b),
                    lambda: inv.list_invoices(s, A, as_user=people.customer_b)):
        with pytest.raises(Hidden):
            refused()
    with pytest.raises(Hidden):
        await inv.send_customer_outcome(s, INVOICE, "EC01", as_user=people.customer_b)
    with pytest.raises(Hidden):
        await inv.send_invoice(s, A, invoice("9"), "n.xml", as_user=people.customer_b)
    assert [v.id for v in inv.list_invoices(s, A, as_user=people.customer_a)] == [INVOICE]
    assert inv.list_invoices(s, B, as_user=people.customer_b) == []
    refusals = [e for e in _entries(s) if e.outcome.startswith("refused")]
    assert len(refusals) == 6 and {e.actor for e in refusals} == {"customer:b@test.example"}


def test_a_withdrawn_grant_stops_the_very_next_call(people: People) -> None:
    s = people.settings
    held = people.accountant  # a backend system keeps its principal between calls
    assert inv.get_invoice(s, INVOICE, as_user=held).id == INVOICE
    people.grant([])
    with pytest.raises(Forbidden) as refused:
        inv.get_invoice(s, INVOICE, as_user=held)
    assert refused.value.permission == READ
    people.grant([READ])
    assert [v.id for v in inv.list_invoices(s, A, as_user=held)] == [INVOICE]


def test_a_backend_system_acts_as_the_user_of_its_token_until_the_token_is_revoked(people: People) -> None:
    s = people.settings
    token = issue_token(s, "a@test.example")
    system = principal_from_token(s, token)
    assert (system.kind, system.customer_vat) == ("customer", A)
    assert inv.get_invoice(s, INVOICE, as_user=system).id == INVOICE
    with session_scope(s.database_url) as session:
        assert system.token_id is not None
        ident.revoke_token(session, system.user_id, system.token_id)
    with pytest.raises(Forbidden, match="revoked"):
        inv.get_invoice(s, INVOICE, as_user=system)
    with pytest.raises(Forbidden, match="revoked"):
        principal_from_token(s, token)
    with pytest.raises(Forbidden, match="not issued here"):
        principal_from_token(s, "not-a-token")


def test_each_starter_call_is_audited_once_as_the_user(people: People) -> None:
    s = people.settings
    before = len(_entries(s))
    inv.get_invoice(s, INVOICE, as_user=people.customer_a)
    with pytest.raises(NotFound):
        inv.get_invoice(s, "IT02038490237_99999", as_user=people.customer_a)
    new = _entries(s)[before:]
    assert [(e.actor, e.surface, e.action, e.outcome[:7]) for e in new] == [
        ("customer:a@test.example", "starter", "invoice.read", "ok"),
        ("customer:a@test.example", "starter", "invoice.read", "failed:")]
    assert new[0].customer_vat == A


def test_the_acting_user_is_required_and_must_be_a_principal(people: People) -> None:
    with pytest.raises(TypeError):
        inv.get_invoice(people.settings, INVOICE)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        inv.get_invoice(people.settings, INVOICE, as_user="operator")  # type: ignore[arg-type]


def test_over_http_the_guard_writes_the_one_entry_and_another_customers_invoice_reads_as_missing(
        people: People) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app
    from tests.identity_support import bearer

    s = people.settings
    b = bearer(issue_token(s, "b@test.example"))
    with TestClient(create_app(s, run_migrations=False)) as http:
        before = len(_entries(s))
        hidden = http.get(f"/invoices/{INVOICE}", headers=b)
        new = _entries(s)[before:]
        missing = http.get("/invoices/IT02038490237_99999", headers=b)
        ok = http.get(f"/invoices/{INVOICE}", headers=bearer(issue_token(s, "a@test.example")))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == {"error": "not found", "detail": f"no invoice {INVOICE}"}
    assert missing.json() == {"error": "not found", "detail": "no invoice IT02038490237_99999"}
    assert [(e.surface, e.actor, e.customer_vat, e.outcome[:8]) for e in new] == [
        ("http", "customer:b@test.example", A, "refused:")]
    assert ok.status_code == 200 and ok.json()["created_by"] == "customer:a@test.example"


async def test_certificates_and_preferences_ask_the_same_policy(people: People) -> None:
    from domain.certificates import NO_CERTIFICATE
    from domain.notifications import NOTIFICATION_KINDS
    from domain.permissions import CONFIG_MANAGE
    from starters import certificates as certs
    from tests.certificates_support import make_csr

    s = people.settings
    with pytest.raises(Forbidden) as refused:
        await certs.request_certificate(s, A, make_csr(), as_user=people.accountant)
    assert refused.value.permission == CONFIG_MANAGE
    with pytest.raises(Forbidden):
        certs.set_notification_preferences(s, A, {sorted(NOTIFICATION_KINDS)[0]: False}, as_user=people.accountant)

    assert certs.list_customer_certificates(s, A, as_user=people.accountant) == ([], NO_CERTIFICATE)
    assert certs.notification_preferences(s, A, as_user=people.accountant)  # `read` is granted
    for hidden in (lambda: certs.list_customer_certificates(s, A, as_user=people.customer_b),
                   lambda: certs.notification_preferences(s, A, as_user=people.customer_b),
                   lambda: certs.get_customer_certificate(s, A, "100000000001", as_user=people.customer_b)):
        with pytest.raises(Hidden):
            hidden()
    with pytest.raises(Hidden):
        await certs.revoke_certificates(s, A, "other", as_user=people.customer_b)
    people.grant([])
    with pytest.raises(Forbidden):
        certs.list_customer_certificates(s, A, as_user=people.accountant)
    from models.certificates import Certificate

    with session_scope(s.database_url) as session:  # nothing written by the refused request
        assert session.scalar(select(func.count()).select_from(Certificate)) == 0


async def test_contract_orders_ask_the_same_policy(people: People) -> None:
    from domain.permissions import CONFIG_MANAGE
    from starters import contracts

    s = people.settings
    with pytest.raises(Forbidden) as refused:  # the intermediary opens an order, not the customer
        await contracts.start_contract(s, A, "10.00", as_user=people.customer_a)
    assert refused.value.permission == "contract.start"
    with pytest.raises(Forbidden) as refused:
        await contracts.resend_contract(s, A, as_user=people.accountant)
    assert refused.value.permission == CONFIG_MANAGE
    with pytest.raises(Hidden):
        await contracts.contract_status(s, A, as_user=people.customer_b)
    with pytest.raises(Hidden):
        await contracts.query_state(s, A, as_user=people.customer_b)
    with pytest.raises(Forbidden):
        await contracts.cancel_contract(s, A, as_user=people.customer_a)


async def test_the_archive_and_the_customer_list_ask_the_same_policy(people: People) -> None:
    from domain.errors import InvalidInput
    from models.conservation_io import VerifyInput
    from starters import archive, tenants

    s = people.settings
    with pytest.raises(Hidden):
        archive.archive_packages(s, A, as_user=people.customer_b)
    with pytest.raises(Hidden):
        archive.verify_local(s, A, as_user=people.customer_b)
    with pytest.raises(Forbidden) as refused:  # the whole archive is the operators'
        await archive.start_verify(s, VerifyInput(), as_user=people.customer_a)
    assert refused.value.permission == "archive.verify_all"
    with pytest.raises(Forbidden):
        await archive.ensure_verify_schedule(s, as_user=people.customer_a)
    with pytest.raises(InvalidInput, match="name the customer"):  # an accountant names whose packages
        archive.archive_packages(s, as_user=people.accountant)
    assert archive.archive_packages(s, as_user=people.customer_a) == []  # its own customer's
    assert [u.vat_number for u in archive.usage_report(s, as_user=people.customer_b)] == [B]
    with pytest.raises(Forbidden):
        tenants.add_customer(s, "IT00743110157", "Nuova S.r.l.", "n@pec.example.it", None, as_user=people.customer_a)
    assert [t.vat_number for t in tenants.list_customers(s, as_user=people.customer_a)] == [A]
    assert [t.vat_number for t in tenants.list_customers(s, as_user=people.accountant)] == [A]
    assert [t.vat_number for t in tenants.list_customers(s, as_user=principal(s))] == sorted([A, B])
    people.grant([])  # a link without `read` still shows the customer in the list; its data, no
    with pytest.raises(Forbidden):
        archive.archive_packages(s, A, as_user=people.accountant)
