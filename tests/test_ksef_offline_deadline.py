"""KSeF's offline modes offline and awaryjny, and the deadline watch of an offline invoice (#14.3), on the
time-skipping server against the local KSeF (real HTTP): an `offline`/`awaryjny` invoice needs its P_1 within a
recorded announcement of that kind (refused otherwise, and awaria-calkowita always: no duty to send), an
`awaryjny` invoice is accepted, its deadline unknown while the failure goes on. KSeF down past the deadline: the
alert fires once (BusinessStatus, query, the customer's and the operator's e-mail) and the invoice is still
accepted when KSeF is back; a failure announced meanwhile moves the deadline and no alert comes at the old one.

Each test has a time-skipping server of its own (`time_env` here is per test): a test that skips days would
otherwise leave the next one's deadline already passed on the server's clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core.db import session_scope
from core.search_attributes import BUSINESS_STATUS
from core.settings import Settings
from core.temporal import ensure_search_attributes, temporal_test_server_path
from devstack.smtp_sink import Mailbox
from domain.errors import InvalidInput
from domain.ksef.offline import WARSAW, add_business_days, deadline_end, qr_certificate_link, warsaw_today
from models.invoices import Invoice, invoice_files
from models.invoices_io import KSEF_DEADLINE_PASSED, InvoiceStatusView
from starters.cli import app as cli
from starters.invoices import send_invoice
from starters.ksef_outages import end_outage, record_outage
from tests.cli_support import flat, in_process_api, login, runner
from tests.helpers import assert_eventually, new_worker, record_history
from tests.identity_support import authenticate, operator
from tests.ksef_authority_support import PL_VAT, Sim
from tests.test_ksef_channel import _content, _offline_certificate, fa3, pl, sim  # noqa: F401  (fixtures)
from workflows.invoice_send import InvoiceSendWorkflow

CUSTOMER_MAIL = "biuro@firma.example.pl"


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=temporal_test_server_path())
    await ensure_search_attributes(env.client, "default")
    async with env:
        yield env


def issued(number: str, day: date) -> bytes:
    return fa3(number).replace(b"<P_1>2026-12-07</P_1>", f"<P_1>{day.isoformat()}</P_1>".encode())


def latest_p1() -> date:
    """The earliest P_1 whose offline24 deadline has not passed today (in Warsaw, as the product reads it): the
    shortest wait for its deadline."""
    today = warsaw_today()
    day = today
    while add_business_days(day - timedelta(days=1), 1) >= today:
        day -= timedelta(days=1)
    return day


def _offline(settings: Settings, number: str, day: date) -> tuple[bytes, str]:
    cert, key = _offline_certificate(settings)
    xml = issued(number, day)
    return xml, qr_certificate_link("Nip", "5265877635", "5265877635", cert, key, xml,
                                    settings.ksef_qr_environment).url


def _count(settings: Settings) -> int:
    with session_scope(settings.database_url) as s:
        return s.scalar(select(func.count()).select_from(Invoice)) or 0


def _qr(settings: Settings, invoice_id: str) -> str:
    with session_scope(settings.database_url) as s:
        return _content(s, {f.name: f for f in invoice_files(s, invoice_id)}[f"{invoice_id}_QR.txt"].id).decode()


async def test_offline_and_awaryjny_need_their_announcement_total_failure_refused_awaryjny_accepted(
        time_env: WorkflowEnvironment, pl: Settings) -> None:  # noqa: F811
    today = warsaw_today()
    xml, kod_ii = _offline(pl, "FV/AW/1/2026", today)
    for mode in ("offline", "awaryjny"):
        with pytest.raises(InvalidInput) as err:
            await send_invoice(pl, PL_VAT, xml, "aw.xml", ksef_offline=mode, ksef_kod_ii=kod_ii, as_user=operator(pl))
        [problem] = err.value.problems
        assert problem.field == "/Faktura/Fa/P_1" and f"P_1 {today}" in problem.message
        assert "is on record" in problem.message and "offline24 is the customer's own choice" in problem.message
    now = datetime.now(UTC)
    with pytest.raises(InvalidInput, match="no duty to send the invoice to KSeF: it is issued and kept outside"):
        await send_invoice(pl, PL_VAT, xml, "aw.xml", ksef_offline="awaria-calkowita", ksef_kod_ii=kod_ii,
                           as_user=operator(pl))
    assert _count(pl) == 0  # every refusal wrote nothing
    failure = record_outage(pl, "awaryjny", now - timedelta(hours=2), note="BIP MF", as_user=operator(pl))
    client = time_env.client
    async with new_worker(client, pl) as worker:
        # the failure goes on: accepted (KSeF answers), its deadline not known yet
        view = await send_invoice(pl, PL_VAT, xml, "aw.xml", client=client, task_queue=worker.task_queue,
                                  conserve=False, ksef_offline="awaryjny", ksef_kod_ii=kod_ii, as_user=operator(pl))
        assert "send to KSeF by: not known yet" in _qr(pl, view.id) and "has not ended" in _qr(pl, view.id)
        result = await client.get_workflow_handle_for(InvoiceSendWorkflow.run, view.workflow_id).result()
        assert result.state == "accepted", result
        assert any("by a deadline not known yet" in h for h in result.history), result.history
        # the failure ended: the next one's deadline is 7 business days after its end
        ended = datetime.now(UTC)  # its Warsaw day, not `now`'s: they differ when Warsaw's midnight fell between
        end_outage(pl, failure.id, ended, as_user=operator(pl))
        xml2, kod_ii2 = _offline(pl, "FV/AW/2/2026", today)
        view2 = await send_invoice(pl, PL_VAT, xml2, "aw2.xml", client=client, task_queue=worker.task_queue,
                                   conserve=False, ksef_offline="awaryjny", ksef_kod_ii=kod_ii2, as_user=operator(pl))
        due = add_business_days(ended.astimezone(WARSAW).date(), 7)
        assert f"send to KSeF by: {due.isoformat()} (end of day" in _qr(pl, view2.id)
        result2 = await client.get_workflow_handle_for(InvoiceSendWorkflow.run, view2.workflow_id).result()
        assert result2.state == "accepted" and result2.ksef_send_by == due.isoformat(), result2


def test_the_cli_and_http_pass_the_offline_mode_and_kod_ii_through(
        pl: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # noqa: F811
    xml, kod_ii = _offline(pl, "FV/CLI/1/2026", warsaw_today())
    file = tmp_path / "off.xml"
    file.write_bytes(xml)
    app = create_app(pl, run_migrations=False)
    app.state.temporal = object()  # a refused send never reaches Temporal
    http = authenticate(TestClient(app), pl)
    sent = http.post("/invoices", data={"vat": PL_VAT, "ksef_offline": "awaryjny", "ksef_kod_ii": kod_ii},
                     files={"file": ("off.xml", xml)})
    assert sent.status_code == 422 and "no announced KSeF failure" in sent.text, sent.text
    other = kod_ii.replace("/5265877635/5265877635/", "/5265877635/1234563218/")
    wrong = http.post("/invoices", data={"vat": PL_VAT, "ksef_offline": "offline24", "ksef_kod_ii": other},
                      files={"file": ("off.xml", xml)})
    assert wrong.status_code == 422 and "not the KOD II of this invoice" in wrong.text, wrong.text
    with in_process_api(pl, monkeypatch, tmp_path / "config", app):
        login(pl)
        got = runner.invoke(cli, ["invoice", "send", str(file), "--vat", PL_VAT, "--ksef-offline", "offline",
                                  "--ksef-kod-ii", kod_ii])
        assert got.exit_code != 0 and "no announced KSeF unavailability" in flat(got.output), got.output
        bare = runner.invoke(cli, ["invoice", "send", str(file), "--vat", PL_VAT, "--ksef-offline", "offline24"])
        assert bare.exit_code != 0 and "needs its KOD II" in flat(bare.output), bare.output
    assert _count(pl) == 0


async def _down_and_sent(time_env: WorkflowEnvironment, pl: Settings, sim: Sim, number: str,  # noqa: F811
                         task_queue: str) -> tuple[WorkflowHandle[InvoiceSendWorkflow, InvoiceStatusView], date]:
    p1 = latest_p1()
    xml, kod_ii = _offline(pl, number, p1)
    sim.configure(limits_multiplier=0, down=True)  # KSeF unreachable: the session workflow retries
    view = await send_invoice(pl, PL_VAT, xml, f"{number}.xml", client=time_env.client, task_queue=task_queue,
                              conserve=False, ksef_offline="offline24", ksef_kod_ii=kod_ii, as_user=operator(pl))
    return time_env.client.get_workflow_handle_for(InvoiceSendWorkflow.run, view.workflow_id), p1


async def _skip_past(time_env: WorkflowEnvironment, when: datetime) -> None:
    await time_env.sleep(max((when - await time_env.get_current_time()).total_seconds(), 0) + 3600)


def _deadline_mails(mailbox: Mailbox) -> list[str]:
    return sorted(str(m["To"]) for m in mailbox.messages() if "deadline" in str(m["Subject"]))


async def test_ksef_down_past_the_deadline_alerts_once_and_the_invoice_is_still_accepted(
        time_env: WorkflowEnvironment, pl: Settings, sim: Sim, mailbox: Mailbox) -> None:  # noqa: F811
    async with new_worker(time_env.client, pl) as worker:
        handle, p1 = await _down_and_sent(time_env, pl, sim, "FV/LATE/1/2026", worker.task_queue)
        due = add_business_days(p1, 1)
        await _skip_past(time_env, deadline_end(due))

        async def flagged() -> None:
            status = await handle.query(InvoiceSendWorkflow.status)
            assert status.ksef_deadline_passed and status.state == "sent", status

        await assert_eventually(flagged, timeout=30)
        desc = await handle.describe()
        assert desc.typed_search_attributes.get(BUSINESS_STATUS) == KSEF_DEADLINE_PASSED
        await time_env.sleep(3 * 3600)  # a while longer down: no second alert
        assert _deadline_mails(mailbox) == sorted([CUSTOMER_MAIL, pl.partner_email])
        sim.configure(limits_multiplier=0)  # KSeF back: the invoice still goes
        await time_env.sleep(11 * 60)  # past the retry policy's longest backoff (10 min): the next open goes
        result = await handle.result()
        await record_history(time_env.client, handle.id, "invoice_send.ksef_deadline_passed")
    assert result.state == "accepted", result
    assert sum(KSEF_DEADLINE_PASSED in h for h in result.history) == 1, result.history
    assert _deadline_mails(mailbox) == sorted([CUSTOMER_MAIL, pl.partner_email])  # once each


async def test_a_failure_announced_meanwhile_moves_the_deadline_and_no_alert_comes_at_the_old_one(
        time_env: WorkflowEnvironment, pl: Settings, sim: Sim, mailbox: Mailbox) -> None:  # noqa: F811
    async with new_worker(time_env.client, pl) as worker:
        handle, p1 = await _down_and_sent(time_env, pl, sim, "FV/MOVED/1/2026", worker.task_queue)
        old = add_business_days(p1, 1)
        now = datetime.now(UTC)  # the failure is announced (and ends) while the invoice waits: it ends on or
        # after P_1's day in Warsaw (latest_p1 is at most today there), so it counts for the invoice
        record_outage(pl, "awaryjny", now - timedelta(minutes=30), now, as_user=operator(pl))
        moved = add_business_days(now.astimezone(WARSAW).date(), 7)
        await _skip_past(time_env, deadline_end(old))

        async def looked_again() -> None:
            status = await handle.query(InvoiceSendWorkflow.status)
            assert status.ksef_send_by == moved.isoformat(), status

        await assert_eventually(looked_again, timeout=30)
        status = await handle.query(InvoiceSendWorkflow.status)
        assert not status.ksef_deadline_passed and status.state == "sent"
        assert any(f"KSeF deadline moved from {old} to {moved}" in h for h in status.history), status.history
        sim.configure(limits_multiplier=0)
        await time_env.sleep(11 * 60)
        result = await handle.result()
    assert result.state == "accepted" and not result.ksef_deadline_passed
    assert _deadline_mails(mailbox) == []


@pytest.fixture(autouse=True)
def _ksef_back(sim: Sim) -> Iterator[None]:  # noqa: F811
    yield
    sim.configure()
