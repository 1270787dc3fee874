"""The invoice send workflow on the time-skipping server: every state path, with a fake SDI channel and
notifications signalled as our TrasmissioneFatture endpoint would."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from core.db import session_scope
from core.search_keys import SearchKeys
from core.settings import Settings
from devstack.smtp_sink import Mailbox
from models import invoices as invdb
from models.invoices import InvoiceView
from models.invoices_io import InvoiceStatusView, NotificationRef
from starters.archive import conservation_workflow_id
from starters.invoices import get_invoice, send_invoice
from tests.helpers import assert_eventually, new_worker, record_history
from tests.identity_support import operator
from tests.invoices_support import (
    FakeSdi,
    ensure_customer,
    fresh_progressives,
    install_key,
    invoice,
    invoice_activities,
    invoice_workflows,
    private_time_skipping,
)
from workflows.common import BUSINESS_STATUS, CUSTOMER_KEY, DOCUMENT_ID
from workflows.invoice_send import InvoiceSendWorkflow


async def _send(env: WorkflowEnvironment, settings: Settings, tq: str, number: str, pa: bool = False,
                sign: str = "none"):
    fresh_progressives(settings)  # workflow ids never repeat on the shared test server
    view = await send_invoice(settings, "IT01234567897", invoice(number, pa=pa), f"inv{number}.xml", sign=sign,
                              client=env.client, task_queue=tq, conserve=False, as_user=operator(settings))
    return view, env.client.get_workflow_handle_for(InvoiceSendWorkflow.run, view.workflow_id)


def _notify(settings: Settings, invoice_id: str, kind: str, sdi_id: int, seq: int = 1, esito: str | None = None,
            errors: list[str] | None = None) -> NotificationRef:
    """Store a notification as the endpoint does and return the signal it would send."""
    name = f"{invoice_id}_{kind}_{seq:03d}.xml"
    content = f"<n kind='{kind}' seq='{seq}'/>".encode()
    with session_scope(settings.database_url) as session:
        info = invdb.store_invoice_file(session, invoice_id, "notification", name, "application/xml", content)
        invdb.record_notification(session, name, invoice_id, kind, sdi_id, hashlib.sha256(content).hexdigest(), info.id)
    return NotificationRef(invoice_id, name, kind, sdi_id, info.id, esito, errors or [])


async def _sent_id(handle) -> int:  # type: ignore[no-untyped-def]
    from tests.helpers import assert_eventually

    async def check() -> int:
        st = await handle.query(InvoiceSendWorkflow.status)
        assert st.sdi_id is not None, st
        return int(st.sdi_id)

    return await assert_eventually(check, timeout=20)


async def test_rc_path_delivered_once_and_emailed(time_env: WorkflowEnvironment, settings: Settings, db: str,
                                                  mailbox: Mailbox) -> None:
    ensure_customer(settings)
    install_key(settings)
    fake = FakeSdi()
    tq = f"tq-{uuid.uuid4()}"
    async with new_worker(time_env.client, settings, invoice_workflows(), invoice_activities(settings, fake),
                          task_queue=tq):
        view, handle = await _send(time_env, settings, tq, "1001", sign="cades")
        assert view.file_name.endswith(".xml.p7m")
        sdi_id = await _sent_id(handle)
        await handle.signal("notification", _notify(settings, view.id, "RC", sdi_id))
        result = await handle.result()
    assert result.state == "delivered"
    assert len(fake.sent) == 1 and fake.sent[0][0] == view.file_name
    assert fake.sent[0][1][:1] == b"0"  # a DER CAdES envelope went out
    stored = get_invoice(settings, view.id, as_user=operator(settings))
    assert stored.state == "delivered" and stored.sdi_id == sdi_id
    messages = mailbox.messages()
    assert any("delivered" in m["Subject"] and m["X-Einvoice-Kind"] == "invoice-outcome" for m in messages)
    history = await handle.fetch_history()
    assert len(history.events) <= 41
    attrs = (await handle.describe()).typed_search_attributes
    keys = SearchKeys(settings)
    assert attrs.get(BUSINESS_STATUS) == "delivered" and attrs.get(DOCUMENT_ID) == keys.document(view.id)
    assert attrs.get(CUSTOMER_KEY) == keys.customer("IT01234567897")
    # #18.8: neither the VAT number nor the file name (it starts with the transmitter's id) is stored in clear
    assert not any("01234567897" in str(v) for v in (view.workflow_id, *attrs))


async def test_outcome_email_respects_the_customers_preferences(time_env: WorkflowEnvironment, settings: Settings,
                                                                db: str, mailbox: Mailbox) -> None:
    from models.preferences import set_preference

    ensure_customer(settings)
    with session_scope(settings.database_url) as session:
        set_preference(session, "IT01234567897", "invoice-outcome", False)
    fake = FakeSdi()
    tq = f"tq-{uuid.uuid4()}"
    async with new_worker(time_env.client, settings, invoice_workflows(), invoice_activities(settings, fake),
                          task_queue=tq):
        view, handle = await _send(time_env, settings, tq, "1101")
        sdi_id = await _sent_id(handle)
        await handle.signal("notification", _notify(settings, view.id, "RC", sdi_id))
        assert (await handle.result()).state == "delivered"
    assert get_invoice(settings, view.id, as_user=operator(settings)).state == "delivered"
    assert mailbox.messages() == []


@pytest.mark.parametrize(
    ("pa", "notes", "final"),
    [
        (False, [("NS", None)], "rejected"),
        (False, [("MC", None)], "not-delivered"),
        (True, [("RC", None), ("NE", "EC01")], "accepted"),
        (True, [("RC", None), ("NE", "EC02")], "refused"),
        (True, [("RC", None), ("DT", None)], "deadline-passed"),
        (True, [("MC", None), ("AT", None)], "not-delivered"),
        (True, [("NE", "EC01"), ("RC", None)], "accepted"),  # out of order: NE before its RC
    ],
    ids=["NS-rejected", "MC-not-delivered", "NE-EC01", "NE-EC02", "DT", "MC-AT-PA", "NE-before-RC"],
)
async def test_state_paths(time_env: WorkflowEnvironment, settings: Settings, db: str, mailbox: Mailbox,
                           pa: bool, notes: list[tuple[str, str | None]], final: str) -> None:
    ensure_customer(settings)
    fake = FakeSdi()
    tq = f"tq-{uuid.uuid4()}"
    async with new_worker(time_env.client, settings, invoice_workflows(), invoice_activities(settings, fake),
                          task_queue=tq):
        view, handle = await _send(time_env, settings, tq, "2001", pa=pa)
        sdi_id = await _sent_id(handle)
        for kind, esito in notes:
            errors = ["00200: schema"] if kind == "NS" else None
            await handle.signal("notification", _notify(settings, view.id, kind, sdi_id, esito=esito, errors=errors))
        result = await handle.result()
    assert result.state == final
    assert get_invoice(settings, view.id, as_user=operator(settings)).state == final
    assert len(fake.sent) == 1
    if final == "rejected":
        assert "00200" in (get_invoice(settings, view.id, as_user=operator(settings)).detail or "")


async def test_pa_deadline_passes_on_the_timer_without_dt(settings: Settings, db: str, mailbox: Mailbox) -> None:
    """RC to a PA, then neither NE nor DT: the workflow's own timer closes it as deadline-passed."""
    async with private_time_skipping() as time_env:
        await _pa_deadline(time_env, settings, mailbox)


async def _pa_deadline(time_env: WorkflowEnvironment, settings: Settings, mailbox: Mailbox) -> None:
    _, result = await _notified_then_left_to_its_timer(time_env, settings, "3001", "RC", "delivered")
    assert result.state == "deadline-passed"
    assert any("deadline-passed" in h for h in result.history)


async def _notified_then_left_to_its_timer(time_env: WorkflowEnvironment, settings: Settings, number: str,
                                           kind: str, state: str) -> tuple[InvoiceView, InvoiceStatusView]:
    """An invoice to a PA gets `kind` and reaches `state`; then nothing more comes for 17 days."""
    ensure_customer(settings)
    fake = FakeSdi()
    tq = f"tq-{uuid.uuid4()}"
    async with new_worker(time_env.client, settings, invoice_workflows(), invoice_activities(settings, fake),
                          task_queue=tq):
        view, handle = await _send(time_env, settings, tq, number, pa=True)
        sdi_id = await _sent_id(handle)
        await handle.signal("notification", _notify(settings, view.id, kind, sdi_id))

        async def reached() -> None:
            assert (await handle.query(InvoiceSendWorkflow.status)).state == state

        await assert_eventually(reached, timeout=20)
        await time_env.sleep(timedelta(days=17))

        async def closed() -> None:
            assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

        await assert_eventually(closed, timeout=30)
        return view, await handle.result()


async def test_a_silent_sdi_is_flagged_once_and_the_late_answer_completes(settings: Settings, db: str,
                                                                          mailbox: Mailbox) -> None:
    """No RC, MC nor NS within INVOICE_SDI_SILENCE_HOURS: BusinessStatus sdi-silent and one e-mail to the
    operator; days later the RC still delivers the invoice, and the status says so."""
    async with private_time_skipping() as time_env:
        own = settings.model_copy(update={"invoice_sdi_silence_hours": 6})
        ensure_customer(own)
        tq = f"tq-{uuid.uuid4()}"
        async with new_worker(time_env.client, own, invoice_workflows(), invoice_activities(own, FakeSdi()),
                              task_queue=tq):
            view, handle = await _send(time_env, own, tq, "8101")
            sdi_id = await _sent_id(handle)
            assert (await handle.describe()).typed_search_attributes.get(BUSINESS_STATUS) == "sent"
            await time_env.sleep(timedelta(hours=7))

            async def flagged() -> None:
                assert (await handle.describe()).typed_search_attributes.get(BUSINESS_STATUS) == "sdi-silent"
                assert len(mailbox.find(kind="sdi-silent")) == 1

            await assert_eventually(flagged, timeout=20)
            [alarm] = mailbox.find(kind="sdi-silent")
            assert alarm["To"] == own.partner_email and view.file_name in str(alarm["Subject"])
            assert str(sdi_id) in Mailbox.text_of(alarm) and "keeps waiting" in Mailbox.text_of(alarm)
            assert (await handle.query(InvoiceSendWorkflow.status)).state == "sent"
            assert get_invoice(own, view.id, as_user=operator(own)).state == "sent"

            await time_env.sleep(timedelta(days=3))  # still silent: no second e-mail
            assert len(mailbox.find(kind="sdi-silent")) == 1
            assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

            await handle.signal("notification", _notify(own, view.id, "RC", sdi_id))
            result = await handle.result()
            assert result.state == "delivered" and result.notifications == [f"{view.id}_RC_001.xml"]
            assert (await handle.describe()).typed_search_attributes.get(BUSINESS_STATUS) == "delivered"
            assert get_invoice(own, view.id, as_user=operator(own)).state == "delivered"
            assert len(mailbox.find(kind="sdi-silent")) == 1 and len(mailbox.find(kind="invoice-outcome")) == 1
            assert any("sdi-silent, operator e-mailed" in h for h in result.history)
            await record_history(time_env.client, view.workflow_id, "invoice_send.sdi_silent")


async def test_duplicates_and_foreign_notifications_are_ignored(time_env: WorkflowEnvironment, settings: Settings,
                                                                db: str, mailbox: Mailbox) -> None:
    ensure_customer(settings)
    fake = FakeSdi()
    tq = f"tq-{uuid.uuid4()}"
    async with new_worker(time_env.client, settings, invoice_workflows(), invoice_activities(settings, fake),
                          task_queue=tq):
        view, handle = await _send(time_env, settings, tq, "4001", pa=True)
        sdi_id = await _sent_id(handle)
        rc = _notify(settings, view.id, "RC", sdi_id)
        await handle.signal("notification", rc)
        await handle.signal("notification", rc)  # the SDI delivered it twice
        foreign = NotificationRef(view.id, f"{view.id}_NS_009.xml", "NS", sdi_id + 77, rc.file_id, None, ["00002"])
        await handle.signal("notification", foreign)  # about another transmission of the same name
        await handle.signal("notification", _notify(settings, view.id, "NE", sdi_id, esito="EC01"))
        result = await handle.result()
    assert result.state == "accepted"
    assert result.notifications.count(rc.name) == 1
    assert result.ignored and "NS_009" in result.ignored[0]


async def test_notification_before_transmission_is_recorded_is_kept(time_env: WorkflowEnvironment,
                                                                    settings: Settings, db: str,
                                                                    mailbox: Mailbox) -> None:
    """The RC is signalled while the transmit activity is still running: applied once the id is known."""
    import threading

    ensure_customer(settings)
    gate = threading.Event()

    class SlowSdi(FakeSdi):
        def send_file(self, file_name, content):  # type: ignore[no-untyped-def]
            answer = super().send_file(file_name, content)
            self.answer = answer
            gate.wait(20)
            return answer

    fake = SlowSdi()
    tq = f"tq-{uuid.uuid4()}"
    async with new_worker(time_env.client, settings, invoice_workflows(), invoice_activities(settings, fake),
                          task_queue=tq):
        view, handle = await _send(time_env, settings, tq, "5001")
        from tests.helpers import assert_eventually

        async def sent() -> None:
            assert fake.sent

        await assert_eventually(sent, timeout=20)
        sdi_id = fake.answer.identificativo_sdi
        await handle.signal("notification", _notify(settings, view.id, "RC", sdi_id))
        st = await handle.query(InvoiceSendWorkflow.status)
        assert st.state == "validated" and st.sdi_id is None  # not recorded yet
        gate.set()
        result = await handle.result()
    assert result.state == "delivered"


async def test_sdi_refusing_the_transmission_fails_the_invoice(time_env: WorkflowEnvironment, settings: Settings,
                                                               db: str, mailbox: Mailbox) -> None:
    ensure_customer(settings)
    fake = FakeSdi(errore="EI03")
    tq = f"tq-{uuid.uuid4()}"
    async with new_worker(time_env.client, settings, invoice_workflows(), invoice_activities(settings, fake),
                          task_queue=tq):
        view, handle = await _send(time_env, settings, tq, "6001")
        result = await handle.result()
    assert result.state == "failed"
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert get_invoice(settings, view.id, as_user=operator(settings)).state == "failed"


async def test_transmit_retried_never_sends_twice(settings: Settings, db: str) -> None:
    """The outbox: a second run of the activity for the same file returns the recorded id, sending nothing."""
    from temporalio.testing import ActivityEnvironment

    from activities.sdi_channel import SdiChannelActivities
    from models.invoices_io import TransmitRequest

    ensure_customer(settings)
    fake = FakeSdi()
    from starters.invoices import invoice_files

    # record an invoice as the starter does, without starting a workflow
    with session_scope(settings.database_url) as session:
        invdb.add_invoice(session, "IT01234567897", invdb.NewInvoice(
            "IT01234567897_00009", "out", "IT01234567897_00009.xml", "IT01234567897", "none", None, "FPR12", "x",
            None, "ABC1234", "1", "2026-01-01", "1.00", "EUR", 1, "wf"), ["k"],
            [("transmitted", "IT01234567897_00009.xml", "application/xml", invoice("9"))])
    file_id = invoice_files(settings, "IT01234567897_00009", as_user=operator(settings))[0].id
    acts = SdiChannelActivities(settings, fake)  # type: ignore[arg-type]
    env = ActivityEnvironment()
    first = env.run(acts.transmit, TransmitRequest("IT01234567897_00009", "IT01234567897_00009.xml", file_id))
    again = env.run(acts.transmit, TransmitRequest("IT01234567897_00009", "IT01234567897_00009.xml", file_id))
    assert first.sent_now and not again.sent_now
    assert again.sdi_id == first.sdi_id
    assert len(fake.sent) == 1


async def test_history_stays_small_on_the_rc_path_with_conservation(time_env: WorkflowEnvironment,
                                                                   settings: Settings, db: str,
                                                                   mailbox: Mailbox) -> None:
    """Issue 8's budget on the delivered path, conservation child included: <= 41 events, <= 12 actions."""
    from temporalio.api.enums.v1 import EventType

    from tests.conservation_support import bucket_settings
    from workers import registry

    own = bucket_settings(settings)
    ensure_customer(own)
    fresh_progressives(own)
    fake = FakeSdi()
    tq = f"tq-{uuid.uuid4()}"
    ours = {"prepare_invoice", "apply_outcome", "transmit", "send_outcome"}  # replaced: the SDI is a fake here
    acts = [a for a in registry.activities(own) if getattr(a, "__name__", "") not in ours]
    acts += invoice_activities(own, fake)[:4]
    async with new_worker(time_env.client, own, registry.workflows(), acts, task_queue=tq):
        view = await send_invoice(own, "IT01234567897", invoice("7001"), "h.xml", client=time_env.client,
                                  task_queue=tq, conserve=True, as_user=operator(own))
        handle = time_env.client.get_workflow_handle_for(InvoiceSendWorkflow.run, view.workflow_id)
        sdi_id = await _sent_id(handle)
        await handle.signal("notification", _notify(own, view.id, "RC", sdi_id))
        await handle.result()
        conserve = time_env.client.get_workflow_handle(conservation_workflow_id(own, "invoice", view.id))

        async def conserved() -> None:
            assert (await conserve.describe()).status == WorkflowExecutionStatus.COMPLETED

        await assert_eventually(conserved, timeout=30)
    events = (await handle.fetch_history()).events
    action_types = {EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, EventType.EVENT_TYPE_TIMER_STARTED,
                    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
                    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
                    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED}
    actions = sum(1 for e in events if e.event_type in action_types) + 1  # + the start
    assert len(events) <= 41 and actions <= 12, (len(events), actions)
    assert any(e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED for e in events)


async def test_already_signed_base64_p7m_goes_out_as_uploaded(time_env: WorkflowEnvironment, settings: Settings,
                                                               db: str, mailbox: Mailbox) -> None:
    """A customer's own CAdES file, base64-wrapped as real files often are: verified, named .xml.p7m, sent
    as it came (nothing re-signed)."""
    import base64

    import domain.fatturapa  # noqa: F401
    from domain.signatures import sign_cades
    from domain.signatures.devcert import dev_signer

    ensure_customer(settings)
    fresh_progressives(settings)
    p7m = base64.b64encode(sign_cades(invoice("8001"), dev_signer("Fornitore di prova")))
    fake = FakeSdi()
    tq = f"tq-{uuid.uuid4()}"
    async with new_worker(time_env.client, settings, invoice_workflows(), invoice_activities(settings, fake),
                          task_queue=tq):
        view = await send_invoice(settings, "IT01234567897", p7m, "mine.xml.p7m", client=time_env.client,
                                  task_queue=tq, conserve=False, as_user=operator(settings))
        handle = time_env.client.get_workflow_handle_for(InvoiceSendWorkflow.run, view.workflow_id)
        sdi_id = await _sent_id(handle)
        await handle.signal("notification", _notify(settings, view.id, "RC", sdi_id))
        assert (await handle.result()).state == "delivered"
    assert view.file_name.endswith(".xml.p7m")
    assert fake.sent == [(view.file_name, p7m)]


async def test_pa_mc_without_at_closes_on_the_timer(settings: Settings, db: str, mailbox: Mailbox) -> None:
    """No AT within the wait after an MC to a PA: the cycle closes as not delivered."""
    async with private_time_skipping() as time_env:
        await _mc_without_at(time_env, settings, mailbox)


async def _mc_without_at(time_env: WorkflowEnvironment, settings: Settings, mailbox: Mailbox) -> None:
    view, result = await _notified_then_left_to_its_timer(time_env, settings, "9101", "MC", "not-delivered")
    assert result.state == "not-delivered" and "closed without AT" in result.history[-1]
    assert get_invoice(settings, view.id, as_user=operator(settings)).state == "not-delivered"


def test_the_recorded_histories_hold_the_silence_timer() -> None:
    """The committed histories are what they are named for: the delivered run starts the silence timer and
    cancels it on the RC; the silent one lets it fire, then e-mails (a local activity's marker) before the RC."""
    import json
    from pathlib import Path

    histories = Path(__file__).parent / "histories"

    def kinds(name: str) -> list[str]:
        return [e["eventType"] for e in json.loads((histories / name).read_text())["events"]]

    delivered = kinds("invoice_send.json")
    assert "EVENT_TYPE_TIMER_STARTED" in delivered and "EVENT_TYPE_TIMER_CANCELED" in delivered
    silent = kinds("invoice_send.sdi_silent.json")
    fired = silent.index("EVENT_TYPE_TIMER_FIRED")
    assert "EVENT_TYPE_MARKER_RECORDED" in silent[fired:silent.index("EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED")]
