"""Contract acceptance on the time-skipping server: every path, with the e-mails read from the SMTP sink and
the acceptance page driven over HTTP (in-process ASGI)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from api.main import create_app
from core.db import session_scope
from core.search_keys import SearchKeys
from core.settings import Settings
from devstack.smtp_sink import Mailbox
from domain.errors import Conflict, RateLimited
from models.contracts import ContractToken
from models.contracts_io import ACCEPTED, AWAITING, CANCELLED, EXPIRED, OrderStep, ResendRequest
from starters.contracts import (
    cancel_contract,
    contract_status,
    query_state,
    resend_contract,
    start_contract,
)
from tests.contracts_helpers import (
    add_customer,
    contract_activities,
    contract_worker,
    is_enabled,
    link_path,
    new_vat,
)
from tests.helpers import assert_eventually, recording_histories
from tests.identity_support import operator, operator_headers
from workflows.common import BUSINESS_STATUS
from workflows.contract_acceptance import ContractAcceptanceWorkflow

HISTORY = Path(__file__).parent / "histories" / "contract_acceptance.json"


@pytest.fixture
async def env(time_env: WorkflowEnvironment, settings: Settings, db: str, mailbox: Mailbox
              ) -> AsyncIterator[Settings]:
    async with contract_worker(time_env.client, settings) as worker_settings:
        yield worker_settings


@pytest.fixture
async def http(env: Settings, time_env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(env, run_migrations=False)
    app.state.temporal = time_env.client
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                 headers=operator_headers(env)) as client:
        yield client


async def started(env: Settings, client, vat: str, amount: str = "49.00") -> WorkflowHandle:  # type: ignore[no-untyped-def]
    result = await start_contract(env, vat, amount, client, as_user=operator(env))
    assert result.workflow_id == f"contract-{SearchKeys(env).customer(vat)}" and vat[2:] not in result.workflow_id
    return client.get_workflow_handle_for(ContractAcceptanceWorkflow.run, result.workflow_id)


async def one_mail(mailbox: Mailbox, kind: str, count: int = 1, to: str | None = None):  # type: ignore[no-untyped-def]
    async def check():  # type: ignore[no-untyped-def]
        found = mailbox.find(to=to, kind=kind)
        assert len(found) == count, f"{kind}: {len(found)} e-mails, expected {count}"
        return found

    return (await assert_eventually(check))[-1]


async def test_accept_from_the_link_enables_the_customer(env: Settings, time_env: WorkflowEnvironment,
                                                         http: httpx.AsyncClient, mailbox: Mailbox) -> None:
    vat = new_vat()
    pec = add_customer(env, vat, "ACME <Forniture> & Figli S.p.A.")
    handle = await started(env, time_env.client, vat)

    invitation = await one_mail(mailbox, "contract-invitation", to=pec)
    assert "ACME <Forniture> & Figli" in str(invitation["Subject"])
    [attachment] = list(invitation.iter_attachments())
    assert attachment.get_filename().startswith("contratto-intermediazione-")
    assert attachment.get_content_type() == "text/html"
    contract = attachment.get_content()
    assert "ACME &lt;Forniture&gt; &amp; Figli S.p.A." in contract and vat in contract and "49,00 EUR" in contract
    path = link_path(invitation)

    # Opening the link (a mail scanner, a preview) shows the page and accepts nothing.
    for _ in range(2):
        page = await http.get(path)
        assert page.status_code == 200
        assert "ACME &lt;Forniture&gt; &amp; Figli S.p.A." in page.text and 'method="post"' in page.text
        assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    document = await http.get(f"{path}/contract")
    assert document.status_code == 200 and "Contratto di intermediazione" in document.text
    assert not is_enabled(env, vat)
    assert (await handle.query(ContractAcceptanceWorkflow.state)).status == AWAITING
    with session_scope(env.database_url) as session:
        assert session.scalar(select(ContractToken.used_at)) is None

    accepted = await http.post(path, headers={"user-agent": "pytest-browser"})
    assert accepted.status_code == 200, accepted.text
    assert 'data-outcome="accepted"' in accepted.text and "enabled" in accepted.text
    assert is_enabled(env, vat)

    result = await handle.result()
    assert (result.status, result.order_id) == (ACCEPTED, f"{vat}-001")
    activation = await one_mail(mailbox, "contract-activation", to=env.partner_email)
    assert vat in Mailbox.text_of(activation)
    access = await one_mail(mailbox, "conservation-access", to=env.conservation_manager_email)
    assert f"s3://{env.s3_bucket}/{vat}/" in Mailbox.text_of(access)
    assert mailbox.find(kind="contract-reminder") == []

    # Every step in the order's history: database (status), workflow query, search attribute.
    status = await contract_status(env, vat, time_env.client, as_user=operator(env))
    steps = [h["step"] for h in status["history"]]
    assert steps == [AWAITING, "invitation-sent", ACCEPTED, "customer-enabled", "partner-notified",
                     "conservation-manager-notified"]
    assert status["status"] == ACCEPTED and status["workflow"]["status"] == "COMPLETED"
    assert status["workflow"]["business_status"] == ACCEPTED
    state = await handle.query(ContractAcceptanceWorkflow.state)
    assert [h.step for h in state.history] == [AWAITING, "invitation-sent", ACCEPTED, "activated"]
    assert (await handle.describe()).typed_search_attributes.get(BUSINESS_STATUS) == ACCEPTED
    with session_scope(env.database_url) as session:
        assert session.scalar(select(ContractToken.used_at)) is not None


async def test_three_reminders_then_accept(env: Settings, time_env: WorkflowEnvironment, http: httpx.AsyncClient,
                                           mailbox: Mailbox) -> None:
    vat = new_vat()
    pec = add_customer(env, vat)
    handle = await started(env, time_env.client, vat)
    await one_mail(mailbox, "contract-invitation", to=pec)

    start = (await handle.describe()).start_time
    for number, day in enumerate((3, 7, 14), start=1):
        await time_env.sleep(start + timedelta(days=day, hours=1) - await time_env.get_current_time())
        reminder = await one_mail(mailbox, "contract-reminder", count=number, to=pec)
        assert f"Promemoria {number}" in str(reminder["Subject"])
        assert (await handle.query(ContractAcceptanceWorkflow.state)).reminders_sent == number
    assert not is_enabled(env, vat)

    accepted = await http.post(link_path(reminder))
    assert accepted.status_code == 200, accepted.text
    result = await handle.result()
    assert result.status == ACCEPTED and is_enabled(env, vat)
    steps = [h["step"] for h in (await contract_status(env, vat, time_env.client, as_user=operator(env)))["history"]]
    assert steps.count("reminder-sent") == 3 and steps[-1] == "conservation-manager-notified"
    if recording_histories():
        HISTORY.parent.mkdir(exist_ok=True)
        HISTORY.write_text((await handle.fetch_history()).to_json())


async def test_expires_at_the_deadline_and_tells_the_partner(env: Settings, time_env: WorkflowEnvironment,
                                                             http: httpx.AsyncClient, mailbox: Mailbox) -> None:
    vat = new_vat()
    pec = add_customer(env, vat)
    handle = await started(env, time_env.client, vat)
    invitation = await one_mail(mailbox, "contract-invitation", to=pec)

    await time_env.sleep(timedelta(days=30, hours=1))  # skips the reminders' and the deadline's timers
    result = await handle.result()
    assert result.status == EXPIRED
    assert len(mailbox.find(to=pec, kind="contract-reminder")) == 3
    expired = await one_mail(mailbox, "contract-expired", to=env.partner_email)
    assert vat in Mailbox.text_of(expired)
    assert not is_enabled(env, vat)
    assert (await handle.describe()).typed_search_attributes.get(BUSINESS_STATUS) == EXPIRED

    page = await http.get(link_path(invitation))
    assert page.status_code == 410 and "expired" in page.text
    post = await http.post(link_path(invitation))
    assert post.status_code == 410 and not is_enabled(env, vat)
    steps = [h["step"] for h in (await contract_status(env, vat, time_env.client, as_user=operator(env)))["history"]]
    assert steps[-2:] == [EXPIRED, "partner-notified"]


async def test_resend_sends_a_new_link_and_either_link_accepts(env: Settings, time_env: WorkflowEnvironment,
                                                               http: httpx.AsyncClient, mailbox: Mailbox) -> None:
    vat = new_vat()
    pec = add_customer(env, vat)
    handle = await started(env, time_env.client, vat)
    first = await one_mail(mailbox, "contract-invitation", to=pec)

    resent = await resend_contract(env, vat, time_env.client, as_user=operator(env))
    assert (resent.invitation_no, resent.sent_to) == (2, pec)
    second = await one_mail(mailbox, "contract-invitation", count=2, to=pec)
    assert "sent again" in str(second["Subject"]) and len(list(second.iter_attachments())) == 1
    assert link_path(first) != link_path(second)
    state = await query_state(env, vat, time_env.client, as_user=operator(env))
    assert state.invitations_sent == 2 and state.status == AWAITING
    over_http = (await http.get(f"/contracts/{vat}/state")).json()
    assert over_http["invitations_sent"] == 2 and [h["step"] for h in over_http["history"]][-1] == "resend-sent"

    assert (await http.post(link_path(first))).status_code == 200
    assert (await handle.result()).status == ACCEPTED
    # The other link now only says so.
    late = await http.post(link_path(second))
    assert late.status_code == 409 and "already accepted" in late.text
    steps = [h["step"] for h in (await contract_status(env, vat, time_env.client, as_user=operator(env)))["history"]]
    assert steps[:3] == [AWAITING, "invitation-sent", "resend-sent"]


async def test_resends_at_once_each_get_their_own_number_and_e_mail(env: Settings, time_env: WorkflowEnvironment,
                                                                    mailbox: Mailbox) -> None:
    # Each request reserves its number when it arrives, not when its e-mail has gone: two at once (or one
    # while the first invitation is still being sent) must not share a number, hence an e-mail key.
    # The caps count a resend from when it is accepted: of four at once with three allowed, one is refused.
    env = env.model_copy(update={"contract_resend_max_per_hour": 3})
    vat = new_vat()
    pec = add_customer(env, vat)
    await started(env, time_env.client, vat)
    await one_mail(mailbox, "contract-invitation", to=pec)
    results = await asyncio.gather(*[resend_contract(env, vat, time_env.client,
                                                     as_user=operator(env)) for i in range(4)],
                                   return_exceptions=True)
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1 and isinstance(refused[0], RateLimited), refused
    assert sorted(r.invitation_no for r in results if not isinstance(r, BaseException)) == [2, 3, 4]
    mails = await one_mail(mailbox, "contract-invitation", count=4, to=pec)
    assert "sent again" in str(mails["Subject"])
    state = await query_state(env, vat, time_env.client, as_user=operator(env))
    assert state.invitations_sent == 4
    assert [h.step for h in state.history].count("resend-sent") == 3


def resend_updates(history: WorkflowHistory) -> int:
    """Resend updates that entered the order's history (a refusal by the validator never does)."""
    return len([e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")
                and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == "resend"])


async def test_resends_are_capped_per_hour_and_per_order(env: Settings, time_env: WorkflowEnvironment,
                                                         http: httpx.AsyncClient, mailbox: Mailbox) -> None:
    capped = env.model_copy(update={"contract_resend_max_per_order": 3, "contract_resend_max_per_hour": 2})
    vat = new_vat()
    pec = add_customer(capped, vat)
    handle = await started(capped, time_env.client, vat)
    await one_mail(mailbox, "contract-invitation", to=pec)
    for _ in range(2):
        await resend_contract(capped, vat, time_env.client, as_user=operator(capped))
    await one_mail(mailbox, "contract-invitation", count=3, to=pec)

    # A third within the hour: refused by the validator, naming the cap and when the next is allowed.
    with pytest.raises(RateLimited, match=r"2 times in the last hour .* \(CONTRACT_RESEND_MAX_PER_HOUR=2\); "
                                          r"the next resend is allowed from 20\d\d-") as refused:
        await resend_contract(capped, vat, time_env.client, as_user=operator(capped))
    wait = refused.value.retry_after
    assert wait is not None and 0 < wait <= 3600
    over_http = await http.post(f"/contracts/{vat}/resend")
    assert over_http.status_code == 429, over_http.text
    assert "CONTRACT_RESEND_MAX_PER_HOUR=2" in over_http.json()["detail"]
    assert 0 < int(over_http.headers["retry-after"]) <= wait
    state = await query_state(capped, vat, time_env.client, as_user=operator(capped))
    assert state.invitations_sent == 3 and [h.step for h in state.history].count("resend-sent") == 2
    assert resend_updates(await handle.fetch_history()) == 2

    # The hour over (a sliding window from the first resend): one more, then the cap of the order is reached.
    await time_env.sleep(timedelta(seconds=wait + 1))
    third = await resend_contract(capped, vat, time_env.client, as_user=operator(capped))
    assert third.invitation_no == 4
    await one_mail(mailbox, "contract-invitation", count=4, to=pec)
    await time_env.sleep(timedelta(hours=2))
    with pytest.raises(RateLimited, match=r"already sent again 3 times .* \(CONTRACT_RESEND_MAX_PER_ORDER=3\)") as over:
        await resend_contract(capped, vat, time_env.client, as_user=operator(capped))
    assert over.value.retry_after is None
    over_http = await http.post(f"/contracts/{vat}/resend")
    assert over_http.status_code == 429 and "retry-after" not in over_http.headers
    assert "CONTRACT_RESEND_MAX_PER_ORDER=3" in over_http.json()["detail"]
    assert len(mailbox.find(to=pec, kind="contract-invitation")) == 4
    assert resend_updates(await handle.fetch_history()) == 3
    state = await query_state(capped, vat, time_env.client, as_user=operator(capped))
    assert state.invitations_sent == 4 and state.status == AWAITING
    await cancel_contract(capped, vat, "", time_env.client, as_user=operator(capped))
    assert (await handle.result()).status == CANCELLED


async def test_cancel_records_the_refund(env: Settings, time_env: WorkflowEnvironment, http: httpx.AsyncClient,
                                         mailbox: Mailbox) -> None:
    vat = new_vat()
    pec = add_customer(env, vat)
    handle = await started(env, time_env.client, vat, amount="49,90")
    await one_mail(mailbox, "contract-invitation", to=pec)

    cancelled = await http.post(f"/contracts/{vat}/cancel", json={"reason": "customer changed provider"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json() == {"order_id": f"{vat}-001", "refunded_cents": 4990}
    assert (await handle.result()).status == CANCELLED
    status = (await http.get(f"/contracts/{vat}")).json()
    assert (status["status"], status["refunded_cents"]) == (CANCELLED, 4990)
    assert [h["step"] for h in status["history"]][-2:] == [CANCELLED, "refunded"]
    assert "customer changed provider" in status["history"][-2]["detail"]
    assert status["workflow"]["business_status"] == CANCELLED
    assert not is_enabled(env, vat)


async def test_accept_after_cancel_changes_nothing(env: Settings, time_env: WorkflowEnvironment,
                                                   http: httpx.AsyncClient, mailbox: Mailbox) -> None:
    vat = new_vat()
    pec = add_customer(env, vat)
    handle = await started(env, time_env.client, vat)
    path = link_path(await one_mail(mailbox, "contract-invitation", to=pec))
    await cancel_contract(env, vat, "", time_env.client, as_user=operator(env))
    assert (await handle.result()).status == CANCELLED

    page = await http.get(path)
    assert page.status_code == 410 and "cancelled" in page.text and "Accept" not in page.text
    post = await http.post(path)
    assert post.status_code == 410 and 'data-outcome="cancelled"' in post.text
    assert not is_enabled(env, vat)
    with session_scope(env.database_url) as session:
        assert session.scalar(select(ContractToken.used_at)) is None
    assert mailbox.find(kind="contract-activation") == []


async def test_double_accept_accepts_once(env: Settings, time_env: WorkflowEnvironment, http: httpx.AsyncClient,
                                          mailbox: Mailbox) -> None:
    vat = new_vat()
    pec = add_customer(env, vat)
    handle = await started(env, time_env.client, vat)
    path = link_path(await one_mail(mailbox, "contract-invitation", to=pec))

    first, second = await asyncio.gather(http.post(path), http.post(path))
    codes = sorted([first.status_code, second.status_code])
    assert codes == [200, 409], (first.text, second.text)
    assert (await handle.result()).status == ACCEPTED
    again = await http.post(path)
    assert again.status_code == 409 and "already used" in again.text
    await one_mail(mailbox, "contract-activation", to=env.partner_email)
    steps = [h["step"] for h in (await contract_status(env, vat, time_env.client, as_user=operator(env)))["history"]]
    assert steps.count(ACCEPTED) == 1


async def test_resend_and_cancel_refused_when_not_awaiting(env: Settings, time_env: WorkflowEnvironment,
                                                           mailbox: Mailbox, http: httpx.AsyncClient) -> None:
    vat = new_vat()
    pec = add_customer(env, vat)
    handle = await started(env, time_env.client, vat)
    await one_mail(mailbox, "contract-invitation", to=pec)
    await cancel_contract(env, vat, "", time_env.client, as_user=operator(env))
    await handle.result()

    with pytest.raises(Conflict, match="is cancelled, not awaiting documentation"):
        await resend_contract(env, vat, time_env.client, as_user=operator(env))
    refused = await http.post(f"/contracts/{vat}/resend")
    assert refused.status_code == 409 and "cancelled" in refused.json()["detail"]
    with pytest.raises(Conflict, match="cancelled"):
        await cancel_contract(env, vat, "", time_env.client, as_user=operator(env))
    assert len(mailbox.find(kind="contract-invitation")) == 1
    # A second order for the same customer can be opened after the first was closed.
    again = await started(env, time_env.client, vat)
    await one_mail(mailbox, "contract-invitation", count=2, to=pec)
    assert (await again.query(ContractAcceptanceWorkflow.state)).order_id == f"{vat}-002"
    with pytest.raises(Conflict, match="already has an order"):
        await start_contract(env, vat, "0", time_env.client, as_user=operator(env))
    await cancel_contract(env, vat, "", time_env.client, as_user=operator(env))
    assert (await again.result()).status == CANCELLED


async def test_the_validator_refuses_resend_while_the_order_is_being_activated(
        time_env: WorkflowEnvironment, settings: Settings, db: str, mailbox: Mailbox) -> None:
    """While the activation e-mails are still going out, the order is accepted: resend and cancel are refused
    by the update validators, before anything enters the history."""
    release = threading.Event()
    acts = contract_activities(settings)
    real_notify = next(a for a in acts if getattr(a, "__name__", "") == "notify_activation")

    @activity.defn(name="contract_notify_activation")
    def held_notify(req: OrderStep) -> None:
        assert release.wait(30)
        real_notify(req)

    acts = [a for a in acts if a is not real_notify] + [held_notify]
    async with contract_worker(time_env.client, settings, acts) as env:
        app = create_app(env, run_migrations=False)
        app.state.temporal = time_env.client
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                     headers=operator_headers(env)) as http:
            vat = new_vat()
            pec = add_customer(env, vat)
            handle = await started(env, time_env.client, vat)
            path = link_path(await one_mail(mailbox, "contract-invitation", to=pec))
            assert (await http.post(path)).status_code == 200
            try:
                with pytest.raises(WorkflowUpdateFailedError) as refused:
                    await handle.execute_update(ContractAcceptanceWorkflow.resend, ResendRequest("test"))
                assert "is accepted, not awaiting documentation" in str(refused.value.cause)
                with pytest.raises(Conflict, match="cannot cancel the activation: .* is accepted"):
                    await cancel_contract(env, vat, "", time_env.client, as_user=operator(env))
            finally:
                release.set()
            assert (await handle.result()).status == ACCEPTED
    events = await handle.fetch_history()
    assert not [e for e in events.events if e.HasField("workflow_execution_update_accepted_event_attributes")
                and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == "resend"]


async def test_recorded_history_replays() -> None:
    """A real run (three reminders, then accept) replays against today's workflow code."""
    from temporalio.client import WorkflowHistory

    history = WorkflowHistory.from_json("contract-replay", HISTORY.read_text())
    await Replayer(workflows=[ContractAcceptanceWorkflow]).replay_workflow(history)
