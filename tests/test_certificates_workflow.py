"""The certificate workflow on the time-skipping server: every state transition, transient failures and a
definitive refusal of the authority, reminders over the certificate's life, expiry, duplicates, delete."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.converter import decode_typed_search_attributes
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from core.db import session_scope
from core.search_keys import SearchKeys
from core.settings import Settings
from devstack.smtp_sink import Mailbox
from domain.certificates import workflow_id
from domain.csr import check_csr
from domain.errors import Conflict, InvalidInput, NotFound
from models.certificates import Certificate, CertificateView, get_certificate, insert_request
from models.preferences import set_preference
from starters.certificates import (
    delete_customer_certificate,
    list_customer_certificates,
    request_certificate,
    upload_certificate,
)
from tests.certificates_support import (
    PEC,
    VAT,
    Rig,
    alice,
    bob,
    make_certificate,
    make_csr,
    make_rig,
    rsa_key,
)
from tests.helpers import assert_eventually
from tests.identity_support import operator
from workflows.certificate_authorization import CertificateAuthorizationWorkflow
from workflows.common import BUSINESS_STATUS, CUSTOMER_KEY, DOCUMENT_ID

VALIDITY_DAYS = 40


@pytest.fixture
async def rig(time_env: WorkflowEnvironment, settings: Settings, db: str, mailbox: Mailbox,
              tmp_path: Path) -> AsyncIterator[Rig]:
    async with make_rig(time_env, settings, db, mailbox, tmp_path) as made:
        yield made


async def started_keys(client: Client, op: str) -> list[tuple[str | None, str | None]]:
    """(CustomerKey, DocumentId) each run of the workflow started with, newest run first."""
    found: list[tuple[str | None, str | None]] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id(op), run_id=run_id).fetch_history()
        start = history.events[0].workflow_execution_started_event_attributes
        attrs = decode_typed_search_attributes(start.search_attributes)
        found.append((attrs.get(CUSTOMER_KEY), attrs.get(DOCUMENT_ID)))
        if not start.continued_execution_run_id:
            return found
        run_id = start.continued_execution_run_id


async def business_statuses(client: Client, op: str) -> list[str]:
    """Every BusinessStatus the workflow published, across its continued-as-new runs, in order."""
    runs: list[list[str]] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id(op), run_id=run_id).fetch_history()
        seen: list[str] = []
        previous = ""
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                attrs = event.workflow_execution_started_event_attributes
                seen.append(decode_typed_search_attributes(attrs.search_attributes).get(BUSINESS_STATUS) or "")
                previous = attrs.continued_execution_run_id
            elif event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
                attrs2 = event.upsert_workflow_search_attributes_event_attributes
                value = decode_typed_search_attributes(attrs2.search_attributes).get(BUSINESS_STATUS)
                if value:
                    seen.append(value)
        runs.insert(0, seen)
        if not previous:
            break
        run_id = previous
    flat: list[str] = []
    for state in (s for run in runs for s in run):
        if not flat or flat[-1] != state:
            flat.append(state)
    return flat


async def test_request_to_active_through_transient_failures_then_reminders_and_expiry(rig: Rig) -> None:
    rig.authority.script = ["pending", "unavailable", "pending"]
    op = await rig.request(make_csr(rsa_key(2048)))
    handle = rig.client.get_workflow_handle_for(CertificateAuthorizationWorkflow.run, workflow_id(op))
    final = await rig.result(op)  # time skips: polls and retries, then 40 days of the certificate's life
    assert final.state == "expired"
    assert rig.authority.issue_calls == 4  # down, pending, pending, issued: waited out by retries
    assert await business_statuses(rig.client, op) == ["ordered", "accepted", "active", "expired"]
    # #18.8: every run, continued-as-new ones too, is found by the opaque keys, never by the VAT number
    keys = SearchKeys(rig.settings)
    runs = await started_keys(rig.client, op)
    assert len(runs) >= 2 and set(runs) == {(keys.customer(VAT), keys.document(op))}
    assert rig.row_state(op) == "expired"
    kinds = [(m["X-Einvoice-Kind"], str(m["Subject"])) for m in rig.mailbox.to(PEC)]
    assert kinds == [
        ("cert-issued", f"Certificate certificato{op}.cer is active"),
        ("cert-expiry-reminder", f"Certificate certificato{op}.cer expires in 30 days"),
        ("cert-expiry-reminder", f"Certificate certificato{op}.cer expires in 7 days"),
        ("cert-expiry-reminder", f"Certificate certificato{op}.cer expires in 1 day"),
        ("cert-expired", f"Certificate certificato{op}.cer has expired"),
    ]
    # continue-as-new after issue and after each reminder keeps every run's history small
    history = await handle.fetch_history()
    assert len(history.events) < 60


async def test_a_definitive_refusal_ends_in_error_with_an_email(rig: Rig) -> None:
    rig.authority.script = ["unavailable", "refuse"]
    op = await rig.request()
    assert (await rig.result(op)).state == "error"
    assert await business_statuses(rig.client, op) == ["ordered", "accepted", "error"]
    with session_scope(rig.settings.database_url) as session:
        row = get_certificate(session, op)
    assert row.state == "error" and "not authorized" in (row.error or "")
    [mail] = rig.mailbox.find(to=PEC, kind="cert-authorization-failed")
    assert "authorization failed" in str(mail["Subject"])
    assert "not authorized for this service" in Mailbox.text_of(mail)


async def test_the_query_tells_the_state_and_the_row_records_who_and_when(rig: Rig) -> None:
    # (`wait=True`, an update that answers once decided, is exercised on the real dev server: the
    # time-skipping test server stops skipping after an update that waits.)
    result = await request_certificate(rig.settings, VAT, make_csr(), client=rig.client,
                                       task_queue=rig.worker.task_queue, as_user=alice(rig.settings))
    op = result.certificate.operation_id
    assert result.certificate.state == "ordered" and not result.duplicate
    assert result.certificate.created_by == "customer:alice@acme.test"
    status = await rig.active(op)
    view = get_certificate_view(rig, op)
    assert status.serial == view.serial
    assert datetime.fromisoformat(status.expires_at or "") == view.expires_at
    certs, offline = list_customer_certificates(rig.settings, VAT, as_user=operator(rig.settings))
    assert [c.operation_id for c in certs] == [op]
    assert certs[0].created_by == "customer:alice@acme.test" and certs[0].created_at <= datetime.now(UTC)
    assert offline.startswith("no certificate")


def get_certificate_view(rig: Rig, op: str) -> CertificateView:
    with session_scope(rig.settings.database_url) as session:
        return get_certificate(session, op)


async def test_a_notification_type_turned_off_is_not_sent(rig: Rig) -> None:
    with session_scope(rig.settings.database_url) as session:
        set_preference(session, VAT, "cert-expiry-reminder", False)
    op = await rig.request()
    assert (await rig.result(op)).state == "expired"
    assert [m["X-Einvoice-Kind"] for m in rig.mailbox.to(PEC)] == ["cert-issued", "cert-expired"]


async def test_a_refused_csr_starts_nothing_and_writes_nothing(rig: Rig) -> None:
    op = uuid.uuid4().hex[:12]
    with pytest.raises(InvalidInput) as err:
        await rig.request(make_csr(rsa_key(1024)), operation_id=op)
    assert err.value.problems[0].field == "csr.key"
    with session_scope(rig.settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(Certificate)) == 0
    with pytest.raises(RPCError):
        await rig.client.get_workflow_handle(workflow_id(op)).describe()


async def test_duplicate_requests_start_one_workflow(rig: Rig) -> None:
    csr = make_csr()
    op = "dup-" + uuid.uuid4().hex[:8]
    results = await asyncio.gather(*[
        request_certificate(rig.settings, VAT, csr, operation_id=op, client=rig.client,
                            task_queue=rig.worker.task_queue, as_user=operator(rig.settings)) for _ in range(3)])
    assert {r.certificate.operation_id for r in results} == {op}
    assert sorted(r.duplicate for r in results) == [False, True, True]
    with session_scope(rig.settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(Certificate)) == 1
    first_run = (await rig.client.get_workflow_handle(workflow_id(op)).describe()).run_id
    # once decided, the same operation id again still starts nothing (ids are never reused)
    await rig.active(op)
    again = await request_certificate(rig.settings, VAT, csr, operation_id=op, client=rig.client,
                                      task_queue=rig.worker.task_queue, as_user=operator(rig.settings))
    assert again.duplicate and again.certificate.state == "active"
    first = await rig.client.get_workflow_handle(workflow_id(op), run_id=first_run).describe()
    assert first.status == WorkflowExecutionStatus.CONTINUED_AS_NEW  # the one workflow, now watching expiry
    with pytest.raises(Conflict, match="already used"):
        await request_certificate(rig.settings, VAT, make_csr(), operation_id=op, client=rig.client,
                                  task_queue=rig.worker.task_queue, as_user=operator(rig.settings))


async def test_the_request_that_starts_the_workflow_is_the_new_one(rig: Rig) -> None:
    # A request that wrote its row but never started its workflow (the process died in between): the same
    # request again starts it, and is the one told it is new, although it found the row already there.
    csr = make_csr()
    checked = check_csr(csr, VAT)
    op = "half-" + uuid.uuid4().hex[:8]
    with session_scope(rig.settings.database_url) as session:
        insert_request(session, VAT, op, "authentication", checked.subject, checked.pem, checked.sha256, "test")
    again = await request_certificate(rig.settings, VAT, csr, operation_id=op, client=rig.client,
                                      task_queue=rig.worker.task_queue, as_user=operator(rig.settings))
    assert not again.duplicate
    await rig.active(op)
    later = await request_certificate(rig.settings, VAT, csr, operation_id=op, client=rig.client,
                                      task_queue=rig.worker.task_queue, as_user=operator(rig.settings))
    assert later.duplicate


async def test_delete_while_authorizing_ends_the_workflow(rig: Rig) -> None:
    rig.authority.script = ["pending"] * 1000
    op = await rig.request()
    handle = rig.client.get_workflow_handle_for(CertificateAuthorizationWorkflow.run, workflow_id(op))

    async def accepted() -> None:
        assert (await handle.query(CertificateAuthorizationWorkflow.status)).state == "accepted"

    await assert_eventually(accepted)
    await delete_customer_certificate(rig.settings, VAT, op, as_user=operator(rig.settings), client=rig.client)
    assert (await rig.result(op)).state == "deleted"
    certs, _ = list_customer_certificates(rig.settings, VAT, as_user=operator(rig.settings))
    assert certs == []


async def test_upload_then_delete_and_the_offline_status(rig: Rig) -> None:
    start = await rig.env.get_current_time()
    pem = make_certificate(not_after=start + timedelta(days=20))
    view = await upload_certificate(rig.settings, VAT, pem, "offline", as_user=bob(rig.settings), client=rig.client,
                                    task_queue=rig.worker.task_queue)
    assert view.state == "added" and view.created_by == "customer:bob@acme.test" and view.origin == "uploaded"
    certs, offline = list_customer_certificates(rig.settings, VAT, as_user=operator(rig.settings))
    assert offline.startswith("correctly added")
    handle = rig.client.get_workflow_handle_for(CertificateAuthorizationWorkflow.run,
                                                workflow_id(view.operation_id))
    assert (await handle.query(CertificateAuthorizationWorkflow.status)).state == "added"
    await delete_customer_certificate(rig.settings, VAT, view.operation_id, client=rig.client,
                                      as_user=operator(rig.settings))
    assert (await rig.result(view.operation_id)).state == "deleted"
    certs, offline = list_customer_certificates(rig.settings, VAT, as_user=operator(rig.settings))
    assert certs == [] and offline.startswith("no certificate")
    with pytest.raises(InvalidInput) as err:
        await upload_certificate(rig.settings, VAT, b"junk", "offline", client=rig.client,
                                 task_queue=rig.worker.task_queue, as_user=operator(rig.settings))
    assert err.value.problems[0].field == "certificate.format"


async def test_a_finished_certificate_is_deleted_directly(rig: Rig) -> None:
    rig.authority.script = ["refuse"]
    op = await rig.request()
    assert (await rig.result(op)).state == "error"
    await delete_customer_certificate(rig.settings, VAT, op, client=rig.client, as_user=operator(rig.settings))
    assert list_customer_certificates(rig.settings, VAT, as_user=operator(rig.settings))[0] == []


async def test_an_uploaded_certificate_is_reminded_then_expires(rig: Rig) -> None:
    start = await rig.env.get_current_time()
    pem = make_certificate(not_after=start + timedelta(days=20))  # the 30-day reminder is already past
    view = await upload_certificate(rig.settings, VAT, pem, "offline", as_user=bob(rig.settings), client=rig.client,
                                    task_queue=rig.worker.task_queue)
    assert (await rig.result(view.operation_id)).state == "expired"
    assert await business_statuses(rig.client, view.operation_id) == ["added", "expired"]
    assert rig.row_state(view.operation_id) == "expired"
    assert [m["X-Einvoice-Kind"] for m in rig.mailbox.to(PEC)] == [
        "cert-expiry-reminder", "cert-expiry-reminder", "cert-expired"]
    assert list_customer_certificates(rig.settings, VAT, as_user=operator(rig.settings))[1].startswith("no certificate")


async def test_an_unknown_customer_is_refused(rig: Rig) -> None:
    with pytest.raises(NotFound):
        await request_certificate(rig.settings, "IT01234567897", make_csr(), client=rig.client,
                                  task_queue=rig.worker.task_queue, as_user=operator(rig.settings))
