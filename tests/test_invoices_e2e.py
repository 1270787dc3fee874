"""End to end on a real Temporal dev server: our API (TrasmissioneFatture/RicezioneFatture endpoints) served
in this process, the local SDI as its own process, a worker; every outcome driven by the recipient code."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core.db import session_scope
from core.search_keys import SearchKeys
from core.settings import Settings
from devstack.smtp_sink import Mailbox
from domain.errors import Conflict
from models.invoices import SdiTransmission
from starters.archive import conservation_workflow_id
from starters.invoices import get_invoice, list_invoices, receive_invoice, send_customer_outcome, send_invoice
from tests.conservation_support import bucket_settings
from tests.helpers import assert_eventually, free_port, new_worker, record_history, wait_until
from tests.identity_support import operator
from tests.invoices_support import VAT, ensure_customer, fresh_progressives, install_key, invoice

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]


class Stack:
    def __init__(self, settings: Settings, env: WorkflowEnvironment, sim_url: str):
        self.settings = settings
        self.env = env
        self.sim_url = sim_url

    async def sim_files(self) -> list[dict]:  # type: ignore[type-arg]
        async with httpx.AsyncClient() as c:
            return (await c.get(f"{self.sim_url}/control/files")).json()  # type: ignore[no-any-return]

    async def sim_config(self, **changes: object) -> None:
        async with httpx.AsyncClient() as c:
            (await c.post(f"{self.sim_url}/control/config", json=changes)).raise_for_status()


@pytest.fixture(scope="module")
async def stack(dev_env: WorkflowEnvironment, settings: Settings, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[Stack]:
    api_port, sim_port = free_port(), free_port()
    tmp = tmp_path_factory.mktemp("sdi")
    own = bucket_settings(settings, sdi_url=f"http://127.0.0.1:{sim_port}",
                          sdi_callback_url=f"http://127.0.0.1:{api_port}/sdi",
                          sdi_signer_cert=str(tmp / "sdi-signer.pem"), data_dir=tmp / "data",
                          temporal_task_queue=f"tq-e2e-{uuid.uuid4()}")
    app = create_app(own, run_migrations=False)
    app.state.temporal = dev_env.client
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=api_port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    log = (tmp / "sdisim.log").open("wb")
    sim = subprocess.Popen(
        [sys.executable, "-m", "starters.cli", "sdi-sim", "--port", str(sim_port), "--delay", "0.3",
         "--dt-delay", "1", "--callback-url", f"http://127.0.0.1:{api_port}/sdi/TrasmissioneFatture",
         "--signer-cert", str(tmp / "sdi-signer.pem")],
        cwd=Path(__file__).resolve().parent.parent, stdout=log, stderr=subprocess.STDOUT)

    def sim_up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{sim_port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await asyncio.to_thread(wait_until, sim_up, 30, 0.2, "the local SDI")
        yield Stack(own, dev_env, f"http://127.0.0.1:{sim_port}")
    finally:
        sim.terminate()
        sim.wait(10)
        log.close()
        server.should_exit = True
        await serving


async def _final(settings: Settings, invoice_id: str, timeout: float = 30) -> str:
    async def check() -> str:
        state = get_invoice(settings, invoice_id, as_user=operator(settings)).state
        assert state not in ("received", "validated", "signed", "sent"), state
        return state

    return await assert_eventually(check, timeout=timeout, interval=0.2)


async def test_send_through_the_local_sdi_is_delivered_and_conserved(stack: Stack, db: str,
                                                                     mailbox: Mailbox) -> None:
    s = stack.settings
    ensure_customer(s)
    fresh_progressives(s)
    install_key(s)
    tq = f"tq-{uuid.uuid4()}"
    async with new_worker(stack.env.client, s, task_queue=tq):
        view = await send_invoice(s, VAT, invoice("E2E-1"), "e2e1.xml", sign="xades", client=stack.env.client,
                                  task_queue=tq, as_user=operator(s))
        assert await _final(s, view.id) == "delivered"
        handle = stack.env.client.get_workflow_handle(view.workflow_id)
        await handle.result()
        conserve = stack.env.client.get_workflow_handle(conservation_workflow_id(s, "invoice", view.id))

        async def conserved() -> None:
            assert (await conserve.describe()).status == WorkflowExecutionStatus.COMPLETED

        await assert_eventually(conserved, timeout=30)
        await record_history(stack.env.client, view.workflow_id, "invoice_send")
    files = [f for f in await stack.sim_files() if f["file_name"] == view.file_name]
    assert len(files) == 1 and files[0]["outcome"] == "scenario"  # transmitted once, passed the SDI's checks
    assert [n["kind"] for n in files[0]["notifications"]] == ["RC"]
    assert get_invoice(s, view.id, as_user=operator(s)).sdi_id == files[0]["sdi_id"]
    assert any(m["X-Einvoice-Kind"] == "invoice-outcome" for m in mailbox.messages())
    # who acted for whom, from the send to the archival package (#12.6)
    from sqlalchemy import select

    from core.db import session_scope
    from models.conservation import ArchivePackage

    with session_scope(s.database_url) as session:
        package = session.scalars(select(ArchivePackage).where(ArchivePackage.owner_id == view.id)).one()
    assert package.requested_by == view.created_by == "operator:operator@einvoice-hub.test"


@pytest.mark.parametrize(("code", "pa", "final"), [
    ("SCARTO0", False, "rejected"), ("NOCONS0", False, "not-delivered"), ("PAOK00", True, "accepted"),
    ("PAKO00", True, "refused"), ("PADT00", True, "deadline-passed"), ("PAMC00", True, "not-delivered"),
])
async def test_every_outcome_through_the_local_sdi(stack: Stack, db: str, mailbox: Mailbox, code: str, pa: bool,
                                                   final: str) -> None:
    s = stack.settings
    ensure_customer(s)
    fresh_progressives(s)
    tq = f"tq-{uuid.uuid4()}"
    async with new_worker(stack.env.client, s, task_queue=tq):
        view = await send_invoice(s, VAT, invoice(f"E2E-{code}", code=code, pa=pa), f"{code}.xml",
                                  client=stack.env.client, task_queue=tq, conserve=False, as_user=operator(s))

        async def closed() -> str:
            handle = stack.env.client.get_workflow_handle(view.workflow_id)
            assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
            return get_invoice(s, view.id, as_user=operator(s)).state

        assert await assert_eventually(closed, timeout=40, interval=0.3) == final
    if final == "rejected":
        assert "00305" in (get_invoice(s, view.id, as_user=operator(s)).detail or "")


async def test_duplicate_and_reordered_notifications_change_nothing(stack: Stack, db: str,
                                                                    mailbox: Mailbox) -> None:
    s = stack.settings
    ensure_customer(s)
    fresh_progressives(s)
    tq = f"tq-{uuid.uuid4()}"
    await stack.sim_config(duplicate=True, reverse=True)
    try:
        async with new_worker(stack.env.client, s, task_queue=tq):
            view = await send_invoice(s, VAT, invoice("E2E-DUP", code="PAOK00", pa=True), "dup.xml",
                                      client=stack.env.client, task_queue=tq, conserve=False, as_user=operator(s))
            handle = stack.env.client.get_workflow_handle(view.workflow_id)
            result = await asyncio.wait_for(handle.result(), 40)
    finally:
        await stack.sim_config(duplicate=False, reverse=False)
    assert result["state"] == "accepted"
    assert sorted(result["notifications"]) == sorted(set(result["notifications"]))  # each applied once


async def test_worker_restarted_between_sent_and_rc_ends_delivered_once(stack: Stack, db: str,
                                                                        mailbox: Mailbox) -> None:
    s = stack.settings
    ensure_customer(s)
    fresh_progressives(s)
    tq = f"tq-{uuid.uuid4()}"
    await stack.sim_config(delay=3.0)
    try:
        async with new_worker(stack.env.client, s, task_queue=tq):
            view = await send_invoice(s, VAT, invoice("E2E-KILL"), "kill.xml", client=stack.env.client,
                                      task_queue=tq, conserve=False, as_user=operator(s))

            async def sent() -> None:
                assert get_invoice(s, view.id, as_user=operator(s)).state == "sent"

            await assert_eventually(sent, timeout=20, interval=0.1)
        # the worker is gone; the RC arrives meanwhile and waits in Temporal
        async def rc_delivered() -> None:
            files = [f for f in await stack.sim_files() if f["file_name"] == view.file_name]
            assert files and files[0]["notifications"] and files[0]["notifications"][0]["delivered"] >= 1

        await assert_eventually(rc_delivered, timeout=20, interval=0.2)
        assert get_invoice(s, view.id, as_user=operator(s)).state == "sent"
        async with new_worker(stack.env.client, s, task_queue=tq):
            assert await _final(s, view.id) == "delivered"
    finally:
        await stack.sim_config(delay=0.3)
    files = [f for f in await stack.sim_files() if f["file_name"] == view.file_name]
    assert len(files) == 1  # transmitted once


async def test_sdi_unavailable_is_waited_out(stack: Stack, db: str, mailbox: Mailbox) -> None:
    """RiceviFile answers EI02 (service unavailable): the transmission is retried until the SDI is back."""
    s = stack.settings
    ensure_customer(s)
    fresh_progressives(s)
    tq = f"tq-{uuid.uuid4()}"
    await stack.sim_config(unavailable=True)
    try:
        async with new_worker(stack.env.client, s, task_queue=tq):
            view = await send_invoice(s, VAT, invoice("E2E-EI02"), "ei02.xml", client=stack.env.client,
                                      task_queue=tq, conserve=False, as_user=operator(s))

            async def refused_once() -> None:
                with session_scope(s.database_url) as session:
                    row = session.get(SdiTransmission, view.file_name)
                    assert row is not None and row.attempts >= 1 and row.state == "sending"

            await assert_eventually(refused_once, timeout=20, interval=0.2)
            await stack.sim_config(unavailable=False)
            assert await _final(s, view.id, timeout=40) == "delivered"
    finally:
        await stack.sim_config(unavailable=False)
    with session_scope(s.database_url) as session:
        row = session.get(SdiTransmission, view.file_name)
        assert row is not None and row.state == "accepted" and row.attempts >= 2


async def test_a_lost_answer_from_the_sdi_ends_delivered_under_the_first_identificativo(
        stack: Stack, db: str, mailbox: Mailbox) -> None:
    """RiceviFile takes the file but its answer comes after we gave up (a timeout): we send again, the SDI
    refuses the copy with NS 00002, and the first copy's RC — with an identificativo we never heard — is ours."""
    s = stack.settings.model_copy(update={"sdi_timeout_seconds": 1.0})
    ensure_customer(s)
    fresh_progressives(s)
    tq = f"tq-{uuid.uuid4()}"
    await stack.sim_config(slow_answers=1, answer_delay=4.0)
    try:
        async with new_worker(stack.env.client, s, task_queue=tq):
            view = await send_invoice(s, VAT, invoice("E2E-LOST"), "lost.xml", client=stack.env.client,
                                      task_queue=tq, conserve=False, as_user=operator(s))
            result = await asyncio.wait_for(stack.env.client.get_workflow_handle(view.workflow_id).result(), 60)
    finally:
        await stack.sim_config(slow_answers=0, answer_delay=0.0)

    async def both_answered() -> tuple[dict, dict]:  # type: ignore[type-arg]
        files = sorted((f for f in await stack.sim_files() if f["file_name"] == view.file_name),
                       key=lambda f: f["sdi_id"])
        assert len(files) == 2  # the SDI got it twice: the first taken, the copy refused
        assert [n["kind"] for n in files[0]["notifications"]] == ["RC"]
        assert [e["code"] for e in files[1]["errors"]] == ["00002"]
        assert [n["kind"] for n in files[1]["notifications"]] == ["NS"]
        return files[0], files[1]

    first, _ = await assert_eventually(both_answered, timeout=20, interval=0.2)
    assert result["state"] == "delivered"
    assert result["sdi_id"] == first["sdi_id"]
    assert get_invoice(s, view.id, as_user=operator(s)).sdi_id == first["sdi_id"]
    assert len(mailbox.find(kind="invoice-outcome")) == 1  # told once: delivered, not rejected


async def test_the_sdi_refuses_a_duplicate_file_name(stack: Stack) -> None:
    from domain.sdi import soap

    name = f"IT01234567897_{uuid.uuid4().hex[:5].upper()}.xml"
    body = soap.build_ricevi_file(soap.FileSdIBase(name, invoice("DUPNAME")))
    async with httpx.AsyncClient() as c:
        for _ in range(2):
            resp = await c.post(f"{stack.sim_url}/SdIRiceviFile", content=body)
            assert soap.read_ricevi_file_response(resp.content).errore is None

    async def rejected() -> None:
        files = [f for f in await stack.sim_files() if f["file_name"] == name]
        assert len(files) == 2
        assert any(e["code"] == "00002" for f in files for e in f["errors"]), files

    await assert_eventually(rejected, timeout=20, interval=0.2)


async def test_received_invoice_to_a_pa_is_listed_emailed_and_answered(stack: Stack, db: str,
                                                                      mailbox: Mailbox) -> None:
    """Passive cycle: the local SDI delivers an invoice to our customer (RicezioneFatture); the customer
    refuses it (EC02) and the SDI gets the outcome."""
    from sqlalchemy import select

    from core.db import session_scope
    from models.tenant import Tenant, add_tenant

    s = stack.settings
    ensure_customer(s)
    fresh_progressives(s)
    recipient = "IT09876543217"
    with session_scope(s.database_url) as session:
        if session.scalar(select(Tenant.id).where(Tenant.vat_number == recipient)) is None:
            add_tenant(session, recipient, "Comune di Prova", "protocollo@pec.comune.example.it", "UFE3S1")
    doc = invoice("RCV-1", code="UFE3S1", pa=True)  # to a PA identified by its codice fiscale and office code
    tq = s.temporal_task_queue  # the API starts the receive workflow there
    async with new_worker(stack.env.client, s, task_queue=tq):
        async with httpx.AsyncClient() as c:
            resp = await c.post(f"{stack.sim_url}/control/deliver", json={
                "file_name": "IT01234567897_R0001.xml", "file_b64": base64.b64encode(doc).decode(),
                "recipient_code": "UFE3S1", "url": f"{s.sdi_callback_base}/RicezioneFatture"}, timeout=30)
        assert resp.status_code == 200, resp.text
        sdi_id = resp.json()["sdi_id"]
        invoice_id = f"in-{sdi_id}"
        # the SDI delivering it again is acknowledged once (keyed by the identificativo SdI)
        assert invoice_id == await receive_invoice(s, _redelivery(doc, sdi_id), client=stack.env.client, task_queue=tq)
        assert [v.id for v in list_invoices(s, recipient, "in", as_user=operator(s))] == [invoice_id]

        async def emailed() -> None:
            assert any(m["X-Einvoice-Kind"] == "invoice-received" for m in mailbox.messages())

        await assert_eventually(emailed, timeout=20)
        with pytest.raises(Conflict):  # refused by the update's validator, before it enters the history
            await send_customer_outcome(s, invoice_id, "EC09", client=stack.env.client, as_user=operator(s))
        state = await send_customer_outcome(s, invoice_id, "EC02", "importi errati", client=stack.env.client,
                                            as_user=operator(s))
        assert state == "refused"
        with pytest.raises(Conflict):  # only once
            await send_customer_outcome(s, invoice_id, "EC01", client=stack.env.client, as_user=operator(s))
        receive_wf = f"invoice-in-{SearchKeys(s).customer(recipient)}-{sdi_id}"
        await stack.env.client.get_workflow_handle(receive_wf).result()
        await record_history(stack.env.client, receive_wf, "invoice_receive")
    async with httpx.AsyncClient() as c:
        outcomes = (await c.get(f"{stack.sim_url}/control/outcomes")).json()
    assert {"sdi_id": sdi_id, "esito": "EC02", "accepted": True} in [
        {k: o.get(k) for k in ("sdi_id", "esito", "accepted")} for o in outcomes]


async def test_an_outcome_the_sdi_does_not_take_yet_answers_202_and_goes_on(stack: Stack, db: str,
                                                                           mailbox: Mailbox) -> None:
    """#18.5: the SDI answers NotificaEsito with 503 (down): POST /invoices/{id}/outcome answers 202 with the
    invoice's status link after HTTP_WAIT_SECONDS, not after the activity's three days of retries; the
    workflow keeps the outcome and sends it once the SDI is back, and the status then says refused."""
    from sqlalchemy import select

    from models.tenant import Tenant, add_tenant
    from starters.invoices import OUTCOME_SENDING
    from tests.identity_support import operator_headers

    s = stack.settings.model_copy(update={"http_wait_seconds": 1.0})
    ensure_customer(s)
    recipient = "IT09876543217"
    with session_scope(s.database_url) as session:
        if session.scalar(select(Tenant.id).where(Tenant.vat_number == recipient)) is None:
            add_tenant(session, recipient, "Comune di Prova", "protocollo@pec.comune.example.it", "UFE3S1")
    doc = invoice(f"RCV-{uuid.uuid4().hex[:4]}", code="UFE3S1", pa=True)
    app = create_app(s, run_migrations=False)
    app.state.temporal = stack.env.client
    async with new_worker(stack.env.client, s, task_queue=s.temporal_task_queue):
        async with httpx.AsyncClient() as c:
            resp = await c.post(f"{stack.sim_url}/control/deliver", json={
                "file_name": "IT01234567897_R0202.xml", "file_b64": base64.b64encode(doc).decode(),
                "recipient_code": "UFE3S1", "url": f"{s.sdi_callback_base}/RicezioneFatture"}, timeout=30)
        assert resp.status_code == 200, resp.text
        invoice_id = f"in-{resp.json()['sdi_id']}"
        await stack.sim_config(answer_status=503)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                         headers=operator_headers(s)) as api:
                async def listed() -> None:
                    assert (await api.get(f"/invoices/{invoice_id}")).status_code == 200

                await assert_eventually(listed, timeout=20)
                answer = await asyncio.wait_for(
                    api.post(f"/invoices/{invoice_id}/outcome", json={"esito": "EC02", "description": "no"}), 20)
                assert answer.status_code == 202, answer.text
                assert answer.json() == {"id": invoice_id, "state": OUTCOME_SENDING}
                assert answer.headers["location"] == f"/invoices/{invoice_id}"
                again = await api.post(f"/invoices/{invoice_id}/outcome", json={"esito": "EC01"})
                assert again.status_code == 409, again.text  # the workflow has the first one: only once
        finally:
            await stack.sim_config(answer_status=0)

        async def refused() -> None:
            assert get_invoice(s, invoice_id, as_user=operator(s)).state == "refused"

        await assert_eventually(refused, timeout=60)


def _redelivery(doc: bytes, sdi_id: int) -> bytes:
    from domain.sdi import messages, soap

    mt = messages.build_mt(sdi_id, "IT01234567897_R0001.xml", "UFE3S1", "FPA12", "99")
    return soap.build_ricevi_fatture(soap.FileSdIConMetadati(sdi_id, "IT01234567897_R0001.xml", doc,
                                                             "IT01234567897_R0001_MT_001.xml", mt))


@pytest.mark.parametrize(("answer", "named"), [
    ({"answer_status": 403}, "HTTP 403 Forbidden"), ({"answer_status": 400}, "HTTP 400 Bad Request"),
    ({"answer_fault": "Client"}, "SOAP fault soapenv:Client"),
])
async def test_an_sdi_answer_that_can_never_succeed_fails_the_invoice_at_once(
        stack: Stack, db: str, mailbox: Mailbox, answer: dict[str, object], named: str) -> None:
    """A 4xx (not 408/429) or a Client fault from RiceviFile is not retried for three days: the invoice
    ends failed after one attempt, its detail naming the SDI's answer, and the customer is told."""
    s = stack.settings
    ensure_customer(s)
    fresh_progressives(s)
    tq = f"tq-{uuid.uuid4()}"
    await stack.sim_config(**answer)
    try:
        async with new_worker(stack.env.client, s, task_queue=tq):
            view = await send_invoice(s, VAT, invoice(f"E2E-4XX-{uuid.uuid4().hex[:4]}"), "never.xml",
                                      client=stack.env.client, task_queue=tq, conserve=False, as_user=operator(s))
            result = await asyncio.wait_for(stack.env.client.get_workflow_handle(view.workflow_id).result(), 30)
    finally:
        await stack.sim_config(answer_status=0, answer_fault="")
    assert result["state"] == "failed"
    shown = get_invoice(s, view.id, as_user=operator(s))
    assert shown.state == "failed" and shown.detail is not None and named in shown.detail, shown.detail
    with session_scope(s.database_url) as session:
        row = session.get(SdiTransmission, view.file_name)
        assert row is not None and row.attempts == 1  # not tried again
    assert not [f for f in await stack.sim_files() if f["file_name"] == view.file_name]  # nothing taken
    told = [Mailbox.text_of(m) for m in mailbox.find(kind="invoice-outcome")]
    assert any(named in text for text in told), told


@pytest.mark.parametrize("answer", [{"answer_status": 503}, {"answer_fault": "Server"}])
async def test_an_sdi_answer_that_may_pass_is_retried(stack: Stack, db: str, mailbox: Mailbox,
                                                      answer: dict[str, object]) -> None:
    """A 5xx and a Server fault say "later": the transmission is tried again and, the SDI back, delivered.
    (429 and 408 take the 5xx's very path in adapters/sdi.py: tests/test_sdi_answers.py reads each answer.)"""
    s = stack.settings
    ensure_customer(s)
    fresh_progressives(s)
    tq = f"tq-{uuid.uuid4()}"
    await stack.sim_config(**answer)
    try:
        async with new_worker(stack.env.client, s, task_queue=tq):
            view = await send_invoice(s, VAT, invoice(f"E2E-5XX-{uuid.uuid4().hex[:4]}"), "later.xml",
                                      client=stack.env.client, task_queue=tq, conserve=False, as_user=operator(s))

            async def tried_twice() -> None:
                with session_scope(s.database_url) as session:
                    row = session.get(SdiTransmission, view.file_name)
                    assert row is not None and row.attempts >= 2 and row.state == "sending"

            await assert_eventually(tried_twice, timeout=30, interval=0.2)
            await stack.sim_config(answer_status=0, answer_fault="")
            assert await _final(s, view.id, timeout=40) == "delivered"
    finally:
        await stack.sim_config(answer_status=0, answer_fault="")
