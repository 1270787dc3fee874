"""A Polish customer's KSeF actions on the invoices screen (#16, seed 004) in a real browser, on the shared
browser and stack fixtures (tests/panel_browser_support.py) with the served API's KSEF_URL at a local KSeF, and
the real worker (the invoice workflow's KSeF channel, the customer's KSeF session, the KSeF download):

- the customer's form says "Wyślij do KSeF" (no signature to choose) and "Pobierz z KSeF" asks for the last 7
  days; with no KSeF token set, sending shows the window "Dodaj token KSeF" (nothing written), and so does
  downloading, carrying the days asked; the token saved there is never shown back and the download goes on: an
  invoice a supplier sent the customer in the local KSeF is taken, the download shown done with one taken and
  the invoice listed with its numer KSeF; then an FA(3) invoice sent ends accepted, with its numer KSeF in the
  list and its UPO (whose NumerKSeFDokumentu is that number) downloaded from there;
- an accountant granted read only sees the list but no send form and no token window, and its forced send and
  token are refused naming the permission, nothing written; "Pobierz z KSeF" is reading (`ksef.download`, as
  over HTTP) and is there, but with no token it only says the customer has to add one, nothing started.

The token pasted in the window is one generated at the local KSeF for the customer's NIP (as the customer does
in KSeF): the channel and the download log in with it (adapters/ksef_credentials.py), no seal of the customer's."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree
from playwright.async_api import Browser, BrowserContext, Page
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from api.panel.ksef_invoices import WARSAW
from api.panel.session import COOKIE
from core.db import session_scope
from core.settings import Settings
from domain.permissions import READ
from models import identity as ident
from models import ksef_credentials as creds
from models.invoices import Invoice
from models.tenant import add_tenant, get_tenant_row, set_enabled
from tests.conservation_support import bucket_settings
from tests.helpers import new_worker
from tests.identity_support import PASSWORD, add_user
from tests.ksef_authority_support import PL_VAT, Sim, serve_sim
from tests.panel_browser_support import needs_chromium, shoot
from tests.panel_support import csrf_of

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CUSTOMER = "biuro@firma.example.pl"
ACCOUNTANT = "ksiegowa@biuro.example.pl"
POLISH = {"locale": "pl-PL", "extra_http_headers": {"Accept-Language": "pl-PL,pl"},
          "viewport": {"width": 1100, "height": 900}}
CORPUS = Path(__file__).parent / "corpus" / "fa3" / "valid-vat-two-rates.xml"
RECEIVED = Path(__file__).parent.parent / "devstack" / "samples" / "PL1234563218_FA3_to_PL5265877635.xml"
UPO_NS = "http://upo.schematy.mf.gov.pl/KSeF/v4-3"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    with serve_sim(tmp_path_factory.mktemp("ksefsim")) as served:
        yield served


@pytest.fixture(scope="module")
def served_overrides(sim: Sim) -> dict[str, Any]:
    return {"ksef_url": sim.api}


@pytest.fixture
def polish(served: Settings, db: str, sim: Sim) -> Settings:
    """The Polish customer, enabled (its contract accepted), with its user, and an accountant linked to it with
    read only."""
    sim.configure()
    with session_scope(served.database_url) as session:
        add_tenant(session, PL_VAT, "Firma Testowa sp. z o.o.", CUSTOMER, None)
        set_enabled(session, PL_VAT, True)
    add_user(served, "customer", CUSTOMER, PL_VAT)
    add_user(served, "accountant", ACCOUNTANT)
    with session_scope(served.database_url) as session:
        view = ident.open_link(session, PL_VAT, ACCOUNTANT, ident.INVITED, "test", [READ])
        ident.accept_link(session, ident.get_link(session, view.id), "test")
    return served


async def _login(context: BrowserContext, api: str, email: str) -> Page:
    page = await context.new_page()
    await page.goto(f"{api}/panel/login")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("#login")
    await page.wait_for_selector("#who")
    return page


async def _text(page: Page, selector: str) -> str:
    return " ".join((await page.text_content(selector) or "").split())


async def _reloaded_until(page: Page, selector: str, what: str) -> None:
    """The screen opened again (as a user reloads it) until `selector` is there: the workflows are working."""
    for _ in range(60):
        if await page.query_selector(selector) is not None:
            return
        await asyncio.sleep(0.5)
        await page.reload()
    raise AssertionError(f"{what}: {await _text(page, 'main')}")


def _invoices(settings: Settings) -> list[tuple[str, str]]:
    with session_scope(settings.database_url) as session:
        return [(i.direction, i.number or "") for i in session.scalars(select(Invoice).order_by(Invoice.id))]


def _token_sealed(settings: Settings) -> str | None:
    with session_scope(settings.database_url) as session:
        row = creds.find(session, get_tenant_row(session, PL_VAT).id)
        return None if row is None else row.token_sealed


def _fa3(number: str) -> bytes:
    return CORPUS.read_bytes().replace(b"<P_2>FV/2026/12/001</P_2>", f"<P_2>{number}</P_2>".encode())


@needs_chromium
async def test_a_polish_customer_adds_its_token_in_the_window_then_sends_to_and_downloads_from_ksef(
        polish: Settings, browser: Browser, dev_env: WorkflowEnvironment, sim: Sim) -> None:
    api = polish.public_base_url
    token = sim.sim.add_ksef_token("Nip", PL_VAT.removeprefix("PL"))  # the customer's, generated in KSeF
    number = f"FV/PANEL/{uuid.uuid4().hex[:12]}"  # KSeF refuses a number the seller sent already (440)
    async with new_worker(dev_env.client, bucket_settings(polish), task_queue=polish.temporal_task_queue):
        context = await browser.new_context(**POLISH)
        try:
            page = await _login(context, api, CUSTOMER)
            await page.click('#menu a[href$="/invoices"]')
            await page.wait_for_selector("#ksef-download-form")
            assert await _text(page, "#send") == "Wyślij do KSeF" and await page.query_selector("#sign") is None
            assert await _text(page, "#ksef-download") == "Pobierz z KSeF"
            today = datetime.now(WARSAW).date()
            assert await page.input_value("#ksef-from") == (today - timedelta(days=7)).isoformat()
            assert await page.input_value("#ksef-to") == today.isoformat()
            assert await page.query_selector("#ksef-token-window") is None

            # Wyślij do KSeF with no token: the window asks for it, nothing is written
            await page.set_input_files("#file", files=[
                {"name": "faktura.xml", "mimeType": "application/xml", "buffer": _fa3(number)}])
            await page.click("#send")
            await page.wait_for_selector("#ksef-token-window[open]")
            assert await _text(page, "#ksef-token-title") == "Dodaj token KSeF"
            assert await page.get_attribute("#ksef-token", "type") == "password"
            assert (await _text(page, "#message")).startswith("Brak tokenu KSeF")
            assert _invoices(polish) == [] and _token_sealed(polish) is None

            # Pobierz z KSeF with no token: the window again, the days asked carried; the token saved there is
            # kept sealed, never shown back, and the download goes on: a supplier's invoice to the customer taken
            received = f"DOST/{uuid.uuid4().hex[:12]}"
            xml = RECEIVED.read_bytes().replace(b"DOST/2026/12/017", received.encode())
            delivered = httpx.post(f"{sim.url}/control/invoices", timeout=30,
                                   json={"invoice_b64": base64.b64encode(xml).decode()})
            assert delivered.status_code == 200, delivered.text
            await page.click("#ksef-download")
            await page.wait_for_selector('#ksef-token-window[open][data-then="download"]')
            await shoot(page, "ksef-token-window")
            assert await page.input_value('#ksef-token-form input[name="from"]') == \
                (today - timedelta(days=7)).isoformat()
            await page.fill("#ksef-token", "nie token")  # a space: never a KSeF token; the window stays
            await page.click("#ksef-token-save")
            await page.wait_for_selector("#message.refused")
            assert (await _text(page, "#message")).startswith("Nieprawidłowe dane: token")
            assert await page.query_selector('#ksef-token-window[open][data-then="download"]') is not None
            assert _token_sealed(polish) is None and "nie token" not in await _text(page, "#message")
            await page.fill("#ksef-token", token)
            await page.click("#ksef-token-save")
            await page.wait_for_selector("#message.ok")
            assert (await _text(page, "#message")).startswith("Rozpoczęto pobieranie z KSeF")
            assert await page.query_selector("#ksef-token-window") is None and token not in await page.content()
            sealed = _token_sealed(polish)
            assert sealed is not None and token not in sealed
            await _reloaded_until(page, '#ksef-downloads tr[data-done="yes"]', "the download did not end")
            assert await _text(page, '#ksef-downloads tr[data-done="yes"] .taken') == "1"
            assert await _text(page, '#ksef-downloads tr[data-done="yes"] .state') == "Zakończone"
            assert ("in", received) in _invoices(polish)
            received_row = page.locator("#invoices tr", has_text=received)
            assert (await received_row.locator(".ksef-number").text_content() or "").strip() == \
                delivered.json()["ksefNumber"]

            # Wyślij do KSeF now that the token is there: accepted, its numer KSeF in the list, its UPO from there
            await page.set_input_files("#file", files=[
                {"name": "faktura.xml", "mimeType": "application/xml", "buffer": _fa3(number)}])
            await page.click("#send")
            await page.wait_for_selector("#message")
            assert await page.query_selector("#message.ok") is not None, await _text(page, "#message")
            invoice_id = page.url.split("/invoices/")[1].split("?")[0]
            await page.goto(f"{api}/panel/c/{PL_VAT}/invoices")
            row = f'#invoices tr[data-invoice="{invoice_id}"]'
            await _reloaded_until(page, f'{row}[data-state="accepted"] a.upo', "the invoice was not accepted")
            ksef_number = await _text(page, f"{row} .ksef-number")
            assert ksef_number.startswith(PL_VAT.removeprefix("PL") + "-"), ksef_number
            assert await _text(page, f"{row} .number") == number
            assert await _text(page, f"{row} .state") == "przyjęta przez KSeF (nadano numer KSeF)"
            async with page.expect_download() as info:
                await page.click(f"{row} a.upo")
            upo = etree.fromstring(Path(await (await info.value).path()).read_bytes())
            assert upo.findtext(f".//{{{UPO_NS}}}NumerKSeFDokumentu") == ksef_number
            await page.click(f"{row} a[href$='/{invoice_id}']")  # its own page: the number, KSeF's status
            await page.wait_for_selector("#ksef-number")
            assert await _text(page, "#ksef-number") == ksef_number
            assert (await _text(page, "#ksef-status")).startswith("200")
            assert await page.query_selector('#downloads a[data-what="upo"]') is not None
            assert token not in await page.content()

            # the window's save on the way to a send: the token replaced, the send form shown to go on
            cookie = next(c["value"] for c in await context.cookies() if c["name"] == COOKIE)
            async with httpx.AsyncClient(base_url=api, cookies={COOKIE: cookie},
                                         headers={"Accept-Language": "en"}) as http:
                again = await http.post(f"/panel/c/{PL_VAT}/invoices/ksef/token",
                                        data={"csrf": csrf_of(await page.content()), "token": token, "then": "send"})
            assert again.status_code == 200 and 'id="send-form"' in again.text and token not in again.text
            assert "KSeF token saved: choose the file and send it to KSeF" in again.text
        finally:
            await context.close()


@needs_chromium
async def test_a_read_only_accountant_sees_the_list_but_cannot_send_or_set_the_token(
        polish: Settings, browser: Browser) -> None:
    api = polish.public_base_url
    token = "20261207-EC-0123456789ABCDEF"  # KSeF's shape; not to be kept, nor shown back
    context = await browser.new_context(**POLISH)
    try:
        page = await _login(context, api, ACCOUNTANT)
        await page.goto(f"{api}/panel/c/{PL_VAT}/invoices")
        await page.wait_for_selector("#invoices-screen")
        assert await page.query_selector("#send-form") is None
        assert await page.query_selector("#ksef-token-window") is None
        # taking the received invoices is reading them (ksef.download, as over HTTP): its form is there
        assert await page.query_selector("#ksef-download-form") is not None

        cookie = next(c["value"] for c in await context.cookies() if c["name"] == COOKIE)
        csrf = csrf_of(await page.content())
        async with httpx.AsyncClient(base_url=api, cookies={COOKIE: cookie},
                                     headers={"Accept-Language": "en"}) as http:
            send = await http.post(f"/panel/c/{PL_VAT}/invoices", data={"csrf": csrf},
                                   files={"file": ("faktura.xml", _fa3("FV/RO/1"), "application/xml")})
            refused = await http.post(f"/panel/c/{PL_VAT}/invoices/ksef/token",
                                    data={"csrf": csrf, "token": token, "then": "send"})
            download = await http.post(f"/panel/c/{PL_VAT}/invoices/ksef/download",
                                       data={"csrf": csrf, "from": "2026-12-01", "to": "2026-12-07"})
        assert send.status_code == 403 and "(invoices.send)" in send.text and "Nothing was changed" in send.text
        assert refused.status_code == 403 and "(config.manage)" in refused.text
        assert "Nothing was changed" in refused.text
        assert token not in refused.text
        # no token, and this accountant may not set one: told who can, no window, nothing started
        assert download.status_code == 409 and "KSeF token is not set" in download.text
        assert 'id="ksef-token-window"' not in download.text and 'id="ksef-downloads"' not in download.text
        assert _invoices(polish) == [] and _token_sealed(polish) is None
    finally:
        await context.close()
