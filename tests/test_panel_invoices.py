"""The panel's invoices screen on the real dev server (#16): a customer user sends an invoice with the signature
it chose, sees it in the list, its SDI receipt (RC) as a step of the timeline, downloads the XML, the .p7m and
the HTML rendering; a refused file is a message on the page with nothing written."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from asn1crypto import cms
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core.db import session_scope
from core.settings import Settings
from models.invoices import Invoice
from tests.helpers import assert_eventually, new_worker
from tests.identity_support import add_user
from tests.invoices_support import (
    VAT,
    FakeSdi,
    ensure_customer,
    fresh_progressives,
    install_key,
    invoice,
    invoice_activities,
    invoice_workflows,
)
from tests.panel_support import csrf_of

pytestmark = pytest.mark.integration
EMAIL = "titolare@fornitore.test"


@pytest.fixture
async def panel(dev_env: WorkflowEnvironment, settings: Settings, db: str) -> AsyncIterator[httpx.AsyncClient]:
    own = settings.model_copy(update={"temporal_task_queue": f"panel-inv-{os.urandom(4).hex()}"})
    ensure_customer(own)
    fresh_progressives(own)
    install_key(own)
    add_user(own, "customer", EMAIL, VAT)
    app = create_app(own, run_migrations=False)
    app.state.temporal = dev_env.client
    async with new_worker(dev_env.client, own, invoice_workflows(), invoice_activities(own, FakeSdi()),
                          task_queue=own.temporal_task_queue), \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://panel.test",
                              headers={"Accept-Language": "it"}) as http:
        http.app_settings = own  # type: ignore[attr-defined]
        yield http


def _count(settings: Settings) -> int:
    with session_scope(settings.database_url) as s:
        return s.scalar(select(func.count()).select_from(Invoice)) or 0


async def _login(http: httpx.AsyncClient) -> None:
    form = await http.get("/panel/login")
    done = await http.post("/panel/login", data={"email": EMAIL, "password": "correct horse battery staple",
                                                 "csrf": csrf_of(form.text)})
    assert done.status_code == 303, done.text


async def test_send_with_a_signature_then_the_timeline_and_the_downloads(panel: httpx.AsyncClient) -> None:
    own: Settings = panel.app_settings  # type: ignore[attr-defined]
    await _login(panel)
    page = await panel.get(f"/panel/c/{VAT}/invoices")
    assert page.status_code == 200 and 'id="send-form"' in page.text and "Nessuna fattura" in page.text
    sent = await panel.post(f"/panel/c/{VAT}/invoices", data={"csrf": csrf_of(page.text), "sign": "cades"},
                            files={"file": ("fattura.xml", invoice("PNL1"), "text/xml")})
    assert sent.status_code == 303, sent.text
    detail_url = sent.headers["location"].split("?")[0]
    invoice_id = detail_url.rsplit("/", 1)[1]

    async def transmitted() -> int:
        with session_scope(own.database_url) as s:
            row = s.get(Invoice, invoice_id)
            assert row is not None and row.sdi_id is not None
            return int(row.sdi_id), row.file_name  # type: ignore[return-value]

    sdi_id, file_name = await assert_eventually(transmitted, timeout=30)  # type: ignore[misc]
    from domain.sdi import messages, soap
    from sdisim.main import xades_signer

    now = datetime.now(UTC)
    rc = messages.build_rc(sdi_id, file_name, now, now, "ABC1234", "Ditta Beta", "1",
                           xades_signer(own.sdi_signer_cert_path))
    name = messages.notification_file_name(file_name, "RC")
    ok = await panel.post("/sdi/TrasmissioneFatture",
                          content=soap.build_trasmissione("RicevutaConsegna", soap.FileSdI(sdi_id, name, rc)))
    assert ok.status_code == 200, ok.text

    async def delivered() -> str:
        shown = await panel.get(detail_url)
        assert 'data-state="delivered"' in shown.text, "not delivered yet"
        return shown.text

    html = await assert_eventually(delivered, timeout=30)
    own.sdi_signer_cert_path.unlink()
    assert "Consegnata (RC)" in html and "Ricevuta di consegna (RC)" in html and name in html
    assert html.index("Ricevuta dall&#39;intermediario") < html.index("Ricevuta di consegna (RC)")  # time order
    assert str(sdi_id) in html and "cades" in html
    for what in ("original", "signed", "html", "pdf", "notifications"):
        assert f'data-what="{what}"' in html, what
    listed = await panel.get(f"/panel/c/{VAT}/invoices")
    assert f'data-invoice="{invoice_id}" data-state="delivered"' in listed.text and "Consegnata (RC)" in listed.text

    original = await panel.get(f"{detail_url}/download/original")
    assert original.status_code == 200 and original.content == invoice("PNL1")
    signed = await panel.get(f"{detail_url}/download/signed")
    assert cms.ContentInfo.load(signed.content)["content_type"].native == "signed_data"  # the .p7m (CAdES-BES)
    rendered = await panel.get(f"{detail_url}/download/html")
    assert b"PNL1" in rendered.content and "sandbox" in rendered.headers["content-security-policy"]

    before = _count(own)
    broken = invoice("PNL2").replace(b"<ImponibileImporto>5.00</ImponibileImporto>",
                                     b"<ImponibileImporto>7.00</ImponibileImporto>")
    refused = await panel.post(f"/panel/c/{VAT}/invoices", data={"csrf": csrf_of(listed.text), "sign": "none"},
                               files={"file": ("rotta.xml", broken, "text/xml")})
    assert refused.status_code == 422 and 'id="message"' in refused.text
    assert "Nulla è stato modificato" in refused.text and "/FatturaElettronica" in refused.text
    assert _count(own) == before
    other = await panel.get(f"/panel/c/IT02038490237/invoices/{invoice_id}")
    assert other.status_code == 404  # another customer's address: not here
