"""Invoices over HTTP and the CLI: send, refusals with their XPaths (nothing written), status, list, downloads
(original, signed, notifications, HTML rendering), and the passive cycle's B2B and deadline paths."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core.db import session_scope
from core.settings import Settings
from devstack.smtp_sink import Mailbox
from models.invoices import Invoice
from starters.cli import app as cli_app
from tests.cli_support import in_process_api, login, runner
from tests.helpers import assert_eventually, new_worker
from tests.identity_support import operator, operator_headers
from tests.invoices_support import (
    VAT,
    FakeSdi,
    ensure_customer,
    fresh_progressives,
    invoice,
    invoice_activities,
    invoice_workflows,
)
from workflows.invoice_send import InvoiceSendWorkflow

pytestmark = pytest.mark.asyncio
ROOT = Path(__file__).resolve().parent.parent


def _count(settings: Settings) -> int:
    with session_scope(settings.database_url) as s:
        return s.scalar(select(func.count()).select_from(Invoice)) or 0


def _own_app(settings: Settings, time_env: WorkflowEnvironment) -> tuple[Settings, str, Any]:
    """Settings on a task queue of the test's own, the demo customer enabled, and the app on that Temporal."""
    tq = f"tq-{uuid.uuid4()}"
    own = settings.model_copy(update={"temporal_task_queue": tq})
    ensure_customer(own)
    fresh_progressives(own)
    app = create_app(own, run_migrations=False)
    app.state.temporal = time_env.client
    return own, tq, app


async def test_send_over_http_then_read_and_download(time_env: WorkflowEnvironment, settings: Settings, db: str,
                                                     mailbox: Mailbox) -> None:
    own, tq, app = _own_app(settings, time_env)
    fake = FakeSdi()
    async with new_worker(time_env.client, own, invoice_workflows(), invoice_activities(own, fake), task_queue=tq), \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api",
                              headers=operator_headers(settings)) as api:
        resp = await api.post("/invoices", data={"vat": VAT}, files={"file": ("a.xml", invoice("H1"))})
        assert resp.status_code == 201, resp.text
        inv = resp.json()
        handle = time_env.client.get_workflow_handle_for(InvoiceSendWorkflow.run, inv["workflow_id"])

        async def sent() -> int:
            st = await handle.query(InvoiceSendWorkflow.status)
            assert st.sdi_id is not None
            return int(st.sdi_id)

        sdi_id = await assert_eventually(sent, timeout=20)
        # the SDI's RC through our endpoint, as the simulator would send it (signed by the SDI's key)
        from domain.sdi import messages, soap
        from sdisim.main import xades_signer

        sign = xades_signer(own.sdi_signer_cert_path)
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        rc = messages.build_rc(sdi_id, inv["file_name"], now, now, "ABC1234", "Ditta Beta", "1", sign)
        name = messages.notification_file_name(inv["file_name"], "RC")
        body = soap.build_trasmissione("RicevutaConsegna", soap.FileSdI(sdi_id, name, rc))
        ok = await api.post("/sdi/TrasmissioneFatture", content=body)
        assert ok.status_code == 200, ok.text
        again = await api.post("/sdi/TrasmissioneFatture", content=body)  # delivered twice: harmless
        assert again.status_code == 200
        assert (await handle.result()).state == "delivered"
        own.sdi_signer_cert_path.unlink()

        detail = (await api.get(f"/invoices/{inv['id']}")).json()
        assert detail["state"] == "delivered" and detail["sdi_id"] == sdi_id
        assert {f["role"] for f in detail["files"]} == {"original", "transmitted", "notification"}
        listed = (await api.get("/invoices", params={"vat": VAT})).json()
        assert [i["id"] for i in listed] == [inv["id"]]
        original = await api.get(f"/invoices/{inv['id']}/download/original")
        assert original.content == invoice("H1")
        html = await api.get(f"/invoices/{inv['id']}/download/html")
        assert html.status_code == 200 and b"<html" in html.content.lower() and b"H1" in html.content
        assert "default-src 'none'" in html.headers["content-security-policy"]  # nothing in it runs or loads
        assert "sandbox" in html.headers["content-security-policy"]
        pdf = await api.get(f"/invoices/{inv['id']}/download/pdf")  # that page printed by headless Chromium
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF-") and f'{inv["id"]}.pdf' in pdf.headers["content-disposition"]
        zipped = await api.get(f"/invoices/{inv['id']}/download/notifications")
        assert zipfile.ZipFile(io.BytesIO(zipped.content)).namelist() == [name]
        missing = await api.get("/invoices/IT01234567897_ZZZZZ")
        assert missing.status_code == 404

        # refusals: every problem with its XPath, nothing written, no workflow
        before = _count(own)
        dup = await api.post("/invoices", data={"vat": VAT}, files={"file": ("b.xml", invoice("H1"))})
        assert dup.status_code == 422 and dup.json()["problems"][0]["code"] == "00404"
        wrong_sender = await api.post("/invoices", data={"vat": "IT02038490237"},
                                      files={"file": ("c.xml", invoice("H2"))})
        assert wrong_sender.status_code in (404, 422)
        broken = invoice("H3").replace(b"<ImponibileImporto>5.00</ImponibileImporto>",
                                       b"<ImponibileImporto>7.00</ImponibileImporto>")
        bad = await api.post("/invoices", data={"vat": VAT}, files={"file": ("d.xml", broken)})
        assert bad.status_code == 422
        assert all(p["field"].startswith("/") for p in bad.json()["problems"]), bad.json()
        assert _count(own) == before
    assert len(fake.sent) == 1


async def test_customer_not_enabled_is_refused(time_env: WorkflowEnvironment, settings: Settings, db: str) -> None:
    from domain.errors import Conflict
    from starters.invoices import send_invoice

    ensure_customer(settings, enabled=False)
    with pytest.raises(Conflict):
        await send_invoice(settings, VAT, invoice("N1"), "n.xml", client=time_env.client, task_queue="unused",
                           as_user=operator(settings))
    assert _count(settings) == 0


@pytest.fixture
def cli(settings: Settings, db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """`einvoice invoice ...` against the app in-process, logged in as an operator."""
    app = create_app(settings, run_migrations=False)
    app.state.temporal = object()  # what these commands do never reaches Temporal (a refused send included)
    with in_process_api(settings, monkeypatch, tmp_path / "config", app):
        login(settings)

        def run(*args: str) -> Result:
            return runner.invoke(cli_app, ["invoice", *args], env={"COLUMNS": "200"})

        yield run


async def test_cli_refusal_lists_xpaths_and_reads_state(settings: Settings, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ensure_customer(settings)
    bad = tmp_path / "bad.xml"
    bad.write_bytes(invoice("C1").replace(b"<Numero>C1</Numero>", b""))
    result = cli("send", str(bad), "--vat", VAT)
    assert result.exit_code == 2, result.output
    assert "FatturaElettronica" in result.stderr
    assert _count(settings) == 0
    listed = cli("list", "--vat", VAT, "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []
    missing = cli("status", "IT01234567897_00009")
    assert missing.exit_code == 4


class _Handle:
    def __init__(self, owner: _StubTemporal) -> None:
        self.owner = owner

    async def signal(self, name: str, arg: object, *, rpc_timeout: object = None) -> None:
        from temporalio.service import RPCError

        if self.owner.fail is not None:
            raise RPCError("stub", self.owner.fail, b"")
        self.owner.signals.append((name, arg))


class _StubTemporal:
    """Stands in for the Temporal client at the endpoint: down, up, or the workflow already closed."""

    def __init__(self) -> None:
        self.fail: object = None
        self.signals: list[tuple[str, object]] = []

    def get_workflow_handle(self, workflow_id: str) -> _Handle:
        return _Handle(self)


async def test_notification_is_stored_first_and_redelivered_until_signalled(settings: Settings, db: str) -> None:
    """Temporal unreachable: the notification is kept, the SDI gets a fault and delivers again, which signals
    once. A notification after the workflow closed (a late one) is kept and acknowledged."""
    from datetime import UTC, datetime

    from temporalio.service import RPCStatusCode

    from domain.sdi import messages, soap
    from models import invoices as invdb
    from models.invoices import SdiNotification
    from sdisim.main import xades_signer

    ensure_customer(settings)
    with session_scope(settings.database_url) as session:
        invdb.add_invoice(session, VAT, invdb.NewInvoice(
            "IT01234567897_000AA", "out", "IT01234567897_000AA.xml", "IT01234567897", "none", None, "FPR12", "x",
            None, "ABC1234", "1", "2026-01-01", "1.00", "EUR", 1, "wf-stub", sdi_id=77, state="sent"), ["kk"], [])
    sign = xades_signer(settings.sdi_signer_cert_path)
    now = datetime.now(UTC)

    def envelope(kind: str) -> bytes:
        data = (messages.build_rc(77, "IT01234567897_000AA.xml", now, now, "ABC1234", "Beta", "1", sign)
                if kind == "RC" else messages.build_dt(77, "IT01234567897_000AA.xml", "decorsi", "2", sign))
        op = "RicevutaConsegna" if kind == "RC" else "NotificaDecorrenzaTermini"
        name = messages.notification_file_name("IT01234567897_000AA.xml", kind)
        return soap.build_trasmissione(op, soap.FileSdI(77, name, data))

    stub = _StubTemporal()
    app = create_app(settings, run_migrations=False)
    app.state.temporal = stub
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api",
                              headers=operator_headers(settings)) as api:
            rc = envelope("RC")
            stub.fail = RPCStatusCode.UNAVAILABLE
            down = await api.post("/sdi/TrasmissioneFatture", content=rc)
            assert down.status_code == 500 and b"soapenv:Server" in down.content
            with session_scope(settings.database_url) as session:
                row = session.scalar(select(SdiNotification))
                assert row is not None and row.kind == "RC" and not row.signaled
            stub.fail = None
            assert (await api.post("/sdi/TrasmissioneFatture", content=rc)).status_code == 200
            assert (await api.post("/sdi/TrasmissioneFatture", content=rc)).status_code == 200  # once more
            assert [s[1].kind for s in stub.signals] == ["RC"]  # type: ignore[attr-defined]
            stub.fail = RPCStatusCode.NOT_FOUND
            assert (await api.post("/sdi/TrasmissioneFatture", content=envelope("DT"))).status_code == 200
    finally:
        settings.sdi_signer_cert_path.unlink(missing_ok=True)
    with session_scope(settings.database_url) as session:
        rows = {r.kind: r.signaled for r in session.scalars(select(SdiNotification))}
    assert rows == {"RC": True, "DT": False}
    roles = [f.role for f in invoice_files_of(settings, "IT01234567897_000AA")]
    assert roles == ["notification", "notification"]


def invoice_files_of(settings: Settings, invoice_id: str):  # type: ignore[no-untyped-def]
    from starters.invoices import invoice_files

    return invoice_files(settings, invoice_id, as_user=operator(settings))


async def test_warnings_returned_with_the_accepted_invoice_and_strict_customer(
        time_env: WorkflowEnvironment, settings: Settings, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """#17.1: the hub's advice (a payment due before the invoice date) comes back with the accepted invoice,
    over HTTP and in `invoice status`; a customer who chose it as an error gets the refusal, with its code."""
    ensure_customer(settings)
    fresh_progressives(settings)
    app = create_app(settings, run_migrations=False)
    app.state.temporal = time_env.client
    early = b"<DataScadenzaPagamento>2014-12-01</DataScadenzaPagamento>"

    def due_early(number: str) -> bytes:
        data = invoice(number).replace(b"<DataScadenzaPagamento>2015-01-30</DataScadenzaPagamento>", early)
        assert early in data
        return data

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api",
                                 headers=operator_headers(settings)) as api:
        resp = await api.post("/invoices", data={"vat": VAT}, files={"file": ("w.xml", due_early("W1"))})
        assert resp.status_code == 201, resp.text
        warnings = resp.json()["warnings"]
        assert [(w["code"], w["field"].rsplit("/", 1)[-1]) for w in warnings] == [
            ("hub:due-date", "DataScadenzaPagamento")]
        got = await api.get(f"/invoices/{resp.json()['id']}")
        assert got.json()["warnings"] == warnings
        status = cli("status", resp.json()["id"])
        assert status.exit_code == 0, status.output
        assert "warning [hub:due-date]" in status.stdout

        put = await api.put(f"/tenants/{VAT}/strict-warnings", json={"codes": ["hub:due-date"]})
        assert put.status_code == 200, put.text
        assert put.json()["strict_warnings"] == ["hub:due-date"]
        before = _count(settings)
        refused = await api.post("/invoices", data={"vat": VAT}, files={"file": ("w2.xml", due_early("W2"))})
        assert refused.status_code == 422, refused.text
        assert "hub:due-date" in refused.text
        assert _count(settings) == before
        bad = await api.put(f"/tenants/{VAT}/strict-warnings", json={"codes": ["00422"]})
        assert bad.status_code == 422 and "unknown warning" in bad.text
        await api.put(f"/tenants/{VAT}/strict-warnings", json={"codes": []})


async def test_cli_sends_lists_and_downloads_through_the_api(time_env: WorkflowEnvironment, settings: Settings,
                                                             db: str, monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    """`einvoice invoice send`, `list`, `download`, `status`, as a customer's own user over HTTP; another
    customer's user gets a 404 for the same invoice."""
    import asyncio

    from starters.invoices import get_invoice

    own, tq, app = _own_app(settings, time_env)
    path = tmp_path / "f.xml"
    path.write_bytes(invoice("K1"))
    async with new_worker(time_env.client, own, invoice_workflows(), invoice_activities(own, FakeSdi()),
                          task_queue=tq):
        with in_process_api(own, monkeypatch, tmp_path / "config", app):
            login(own, "customer", "user@fornitore.example", VAT)

            def run(*args: str) -> Result:
                return runner.invoke(cli_app, ["invoice", *args], env={"COLUMNS": "200"})

            sent = await asyncio.to_thread(run, "send", str(path), "--vat", VAT, "--json")
            assert sent.exit_code == 0, sent.output
            view = json.loads(sent.stdout)
            assert view["vat"] == VAT and view["created_by"] == "customer:user@fornitore.example"

            async def transmitted() -> None:
                assert get_invoice(own, view["id"], as_user=operator(own)).sdi_id is not None

            await assert_eventually(transmitted, timeout=20)
            listed = await asyncio.to_thread(run, "list", "--vat", VAT, "--json")
            assert [i["id"] for i in json.loads(listed.stdout)] == [view["id"]]
            got = await asyncio.to_thread(run, "download", view["id"], "--out", str(tmp_path / "out"))
            assert got.exit_code == 0, got.output
            written = got.stdout.split("wrote ", 1)[1].split(" (", 1)[0]
            assert Path(written).parent == tmp_path / "out" and Path(written).read_bytes() == invoice("K1")
            status = await asyncio.to_thread(run, "status", view["id"])
            assert status.exit_code == 0 and view["file_name"] in status.stdout

            runner.invoke(cli_app, ["logout"])
            from models.tenant import add_tenant

            with session_scope(own.database_url) as session:
                add_tenant(session, "IT02038490237", "Altro", "altro@pec.example.it", None)
            login(own, "customer", "user@other.example", "IT02038490237")
            other = await asyncio.to_thread(run, "status", view["id"])
            assert other.exit_code == 4, other.output
            other_list = await asyncio.to_thread(run, "list", "--vat", VAT)
            assert other_list.exit_code == 4, other_list.output
