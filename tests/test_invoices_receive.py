"""The passive cycle on the time-skipping server (refused outcomes are tested on the dev server: the test
server does not answer rejected updates): an invoice delivered by the SDI (RicezioneFatture) is
verified, stored, listed and e-mailed; a PA customer may accept or refuse it within 15 days."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from core.db import session_scope
from core.settings import Settings
from devstack.smtp_sink import Mailbox
from domain.sdi import messages, soap
from models.invoices_io import CustomerOutcome
from models.tenant import Tenant, add_tenant
from starters.invoices import get_invoice, invoice_files, list_invoices, receive_invoice
from tests.helpers import assert_eventually, new_worker
from tests.identity_support import operator
from tests.invoices_support import (
    FakeSdi,
    invoice,
    invoice_activities,
    invoice_workflows,
    private_time_skipping,
)
from workflows.invoice_receive import InvoiceReceiveWorkflow

pytestmark = pytest.mark.asyncio
PA_VAT = "IT09876543217"


def _recipient(settings: Settings, code: str) -> None:
    with session_scope(settings.database_url) as session:
        if session.scalar(select(Tenant.id).where(Tenant.vat_number == PA_VAT)) is None:
            add_tenant(session, PA_VAT, "Comune di Prova", "protocollo@pec.comune.example.it", code)


def _delivery(sdi_id: int, doc: bytes, code: str, fmt: str) -> bytes:
    name = f"IT01234567897_{sdi_id % 100000:05d}.xml"
    mt = messages.build_mt(sdi_id, name, code, fmt, "1")
    return soap.build_ricevi_fatture(soap.FileSdIConMetadati(sdi_id, name, doc, name.replace(".xml", "_MT_001.xml"),
                                                             mt))


async def _receive(env: WorkflowEnvironment, settings: Settings, tq: str, sdi_id: int, pa: bool):  # type: ignore[no-untyped-def]
    code = "UFE3S1" if pa else "ABC1234"
    _recipient(settings, code)
    doc = invoice(f"R{sdi_id}", code=code, pa=pa)  # found by its recipient code: the recipient has no VAT number
    invoice_id = await receive_invoice(settings, _delivery(sdi_id, doc, code, "FPA12" if pa else "FPR12"),
                                       client=env.client, task_queue=tq, conserve=False)
    view = get_invoice(settings, invoice_id, as_user=operator(settings))
    return view, env.client.get_workflow_handle_for(InvoiceReceiveWorkflow.run, view.workflow_id)


async def test_pa_customer_refuses_and_the_sdi_gets_ec02(time_env: WorkflowEnvironment, settings: Settings,
                                                        db: str, mailbox: Mailbox) -> None:
    fake = FakeSdi()
    tq = f"tq-{uuid.uuid4()}"
    async with new_worker(time_env.client, settings, invoice_workflows(), invoice_activities(settings, fake),
                          task_queue=tq):
        view, handle = await _receive(time_env, settings, tq, 880001, pa=True)
        assert [v.id for v in list_invoices(settings, PA_VAT, "in", as_user=operator(settings))] == [view.id]
        state = await handle.execute_update(InvoiceReceiveWorkflow.send_outcome, CustomerOutcome("EC02", "errato"))
        assert state == "refused"
        await handle.result()
    assert get_invoice(settings, view.id, as_user=operator(settings)).state == "refused"
    ec = messages.read_notification(fake.outcomes[0].file)
    assert (ec.kind, ec.esito, ec.identificativo_sdi) == ("EC", "EC02", 880001)
    assert {f.role for f in invoice_files(settings, view.id,
                                          as_user=operator(settings))} == {"received", "metadata", "outcome"}
    assert any(m["X-Einvoice-Kind"] == "invoice-received" for m in mailbox.messages())


async def test_pa_without_an_outcome_passes_the_deadline(settings: Settings, db: str, mailbox: Mailbox) -> None:
    async with private_time_skipping() as time_env:
        await _no_outcome(time_env, settings, mailbox)


async def _no_outcome(time_env: WorkflowEnvironment, settings: Settings, mailbox: Mailbox) -> None:
    fake = FakeSdi()
    tq = f"tq-{uuid.uuid4()}"
    async with new_worker(time_env.client, settings, invoice_workflows(), invoice_activities(settings, fake),
                          task_queue=tq):
        view, handle = await _receive(time_env, settings, tq, 880002, pa=True)

        async def recorded() -> None:
            assert any(m["X-Einvoice-Kind"] == "invoice-received" for m in mailbox.messages())

        await assert_eventually(recorded, timeout=20)
        await time_env.sleep(timedelta(days=16))

        async def closed() -> None:
            assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

        await assert_eventually(closed, timeout=30)
    assert get_invoice(settings, view.id, as_user=operator(settings)).state == "deadline-passed"
    assert fake.outcomes == []


async def test_b2b_invoice_is_recorded_and_closed_and_a_redelivery_is_acknowledged(
        time_env: WorkflowEnvironment, settings: Settings, db: str, mailbox: Mailbox) -> None:
    fake = FakeSdi()
    tq = f"tq-{uuid.uuid4()}"
    async with new_worker(time_env.client, settings, invoice_workflows(), invoice_activities(settings, fake),
                          task_queue=tq):
        view, handle = await _receive(time_env, settings, tq, 880003, pa=False)
        result = await handle.result()
        again = await receive_invoice(settings, _delivery(880003, invoice("R880003", code="ABC1234"), "ABC1234",
                                                          "FPR12"), client=time_env.client, task_queue=tq)
    assert result.state == "received-from-sdi" and again == view.id
    assert len(list_invoices(settings, PA_VAT, "in", as_user=operator(settings))) == 1


async def test_a_delivered_invoice_with_problems_is_kept_with_them_as_warnings(
        time_env: WorkflowEnvironment, settings: Settings, db: str, mailbox: Mailbox) -> None:
    """#17.2: what the SDI delivered is legally received: a namespace quirk and an amount the hub's rules
    refuse (00422) do not stop it: it is stored as received (same hash), its workflow acknowledges and closes
    it, and the problems are the invoice's warnings."""
    import hashlib

    fake = FakeSdi()
    tq = f"tq-{uuid.uuid4()}"
    code = "ABC1234"
    _recipient(settings, code)
    ns = b'xmlns:p="http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2"'
    doc = invoice("R880004", code=code)
    assert ns in doc
    doc = doc.replace(ns, ns[:-1] + b' "').replace(b"<ImponibileImporto>5.00</ImponibileImporto>",
                                                   b"<ImponibileImporto>7.00</ImponibileImporto>")
    async with new_worker(time_env.client, settings, invoice_workflows(), invoice_activities(settings, fake),
                          task_queue=tq):
        invoice_id = await receive_invoice(settings, _delivery(880004, doc, code, "FPR12"), client=time_env.client,
                                           task_queue=tq, conserve=False)
        view = get_invoice(settings, invoice_id, as_user=operator(settings))
        result = await time_env.client.get_workflow_handle_for(InvoiceReceiveWorkflow.run,
                                                               view.workflow_id).result()
    assert result.state == "received-from-sdi"
    assert sorted(str(w["code"]) for w in view.warnings) == ["00421", "00422", "hub:namespace"]
    received = [f for f in invoice_files(settings, invoice_id, as_user=operator(settings)) if f.role == "received"]
    assert [f.sha256 for f in received] == [hashlib.sha256(doc).hexdigest()]
