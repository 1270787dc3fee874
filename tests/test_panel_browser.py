"""The web panel in a real browser (#16): Debian's chromium driven by Playwright against the API served by
uvicorn, a certificate worker on the real dev server with the built-in CA. One browser for the module
(tests/panel_browser_support.py).

- a customer logs in, requests a certificate (a PKCS#10 file, "Richiedi certificato"), sees it ATTIVATO in
  the seed's list, downloads it, and revokes it with a reason after the cumulative warning; logout ends the
  session;
- an accountant granted read only sees no send button, and posting the form anyway (its own session cookie
  and CSRF token, through httpx) is refused by the policy with a message on the page;
- a partner (operator) resends an order's acceptance e-mail and cancels its activation (seed 003)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cryptography import x509
from playwright.async_api import Browser
from temporalio.testing import WorkflowEnvironment

from api.panel.session import COOKIE
from core.ca import authority_from_settings
from core.settings import Settings
from domain.permissions import READ
from starters.contracts import start_contract
from tests.certificates_support import certificate_activities, make_csr, terminate_leftovers
from tests.contracts_helpers import contract_worker
from tests.helpers import new_worker
from tests.identity_support import PASSWORD, add_user, operator
from tests.panel_browser_support import needs_chromium, shoot
from tests.panel_support import ACCOUNTANT_EMAIL, CUSTOMER_EMAIL, VAT, csrf_of, customers
from workflows.certificate_authorization import CertificateAuthorizationWorkflow

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@needs_chromium
async def test_a_customer_requests_a_certificate_and_revokes_it_with_a_reason(
        served: Settings, browser: Browser, dev_env: WorkflowEnvironment, db: str) -> None:
    customers(served, [READ])
    api = served.public_base_url
    async with new_worker(dev_env.client, served, workflows=[CertificateAuthorizationWorkflow],
                          activities=certificate_activities(served, authority_from_settings(served)),
                          task_queue=served.temporal_task_queue):
        context = await browser.new_context(locale="it-IT", extra_http_headers={"Accept-Language": "it-IT,it"},
                                            accept_downloads=True, viewport={"width": 1100, "height": 640})
        try:
            page = await context.new_page()
            await page.goto(f"{api}/panel/")
            assert page.url == f"{api}/panel/login"
            await page.fill("#email", CUSTOMER_EMAIL)
            await page.fill("#password", PASSWORD)
            await page.click("#login")
            await page.wait_for_url(f"{api}/panel/c/{VAT}/certificates")
            assert await page.text_content("#role") == "Titolare"
            headers = [await page.text_content(f"#certificates th:nth-child({i})") for i in range(1, 7)] \
                if await page.query_selector("#certificates") else []
            assert headers == []  # nothing requested yet
            assert "non risultano certificati" in (await page.text_content("#no-active") or "")

            await page.set_input_files("#csr", files=[{"name": "richiesta.csr", "mimeType": "application/pkcs10",
                                                       "buffer": make_csr()}])
            await page.click("#request")  # "Richiedi certificato": the page answers once it is active
            await page.wait_for_selector('#certificates tr[data-state="active"]', timeout=30_000)
            assert "Richiesta inviata" in (await page.text_content("#message") or "")
            headers = [await page.text_content(f"#certificates th:nth-child({i})") for i in range(1, 7)]
            assert headers == ["Id", "Certificato", "Stato", "Data Richiesta", "Data Scadenza", "Esito"]
            row = page.locator('#certificates tr[data-state="active"]')
            op = await row.get_attribute("data-operation")
            cells = [await row.locator("td").nth(i).text_content() for i in range(5)]
            assert cells[0] == op and cells[1] == f"certificato{op}.cer" and "ATTIVATO" in (cells[2] or "")
            assert all(len((c or "").split("/")) == 3 for c in cells[3:5]), cells  # dd/mm/yyyy
            await shoot(page, "certificates")

            async with page.expect_download() as issued:
                await row.locator("a.download").click()
            cert = x509.load_der_x509_certificate(Path(await (await issued.value).path()).read_bytes())
            async with httpx.AsyncClient(base_url=api) as http:
                ca = x509.load_pem_x509_certificate((await http.get("/certificates/ca.pem")).content)
            assert cert.issuer == ca.subject  # the page's CA link gives the certificate's issuer
            assert await page.get_attribute("#ca-download", "href") == "/certificates/ca.pem"

            await page.click("#revoke")  # "Annullamento certificato"
            warning = await page.text_content("#warning") or ""
            assert "(1) certificati" in warning and "ATTIVATO" in warning and "verranno tutti revocati" in warning
            options = await page.locator("#reason option").all_text_contents()
            assert options[1:] == ["Chiave primaria smarrita", "Attività cessata", "Furto certificato",
                                   "Rinnovo scadenza", "Malfunzionamento", "Altro"]
            await page.select_option("#reason", "activity-ceased")
            await shoot(page, "revocation")
            await page.click("#confirm-revoke")
            await page.wait_for_selector(f'#certificates tr[data-operation="{op}"][data-state="revoked"]',
                                         timeout=30_000)
            assert op in (await page.text_content("#message") or "")
            assert "Attività cessata" in (await page.text_content(f'tr[data-operation="{op}"] .state') or "")

            cookie = next(c["value"] for c in await context.cookies() if c["name"] == COOKIE)
            await page.click("#logout")
            await page.wait_for_selector("#login-form")
            async with httpx.AsyncClient(base_url=api, cookies={COOKIE: cookie}) as http:  # its token is revoked
                replay = await http.get(f"/panel/c/{VAT}/certificates")
            assert replay.status_code == 303 and replay.headers["location"].startswith("/panel/login")
        finally:
            await context.close()
            await terminate_leftovers(dev_env.client, served.database_url)


@needs_chromium
async def test_an_accountant_with_read_only_sees_no_send_button_and_is_refused_when_it_posts(
        served: Settings, browser: Browser, db: str) -> None:
    customers(served, [READ])
    api = served.public_base_url
    context = await browser.new_context(extra_http_headers={"Accept-Language": "en"},
                                        viewport={"width": 1100, "height": 640})
    try:
        page = await context.new_page()
        await page.goto(f"{api}/panel/login")
        await page.fill("#email", ACCOUNTANT_EMAIL)
        await page.fill("#password", PASSWORD)
        await page.click("#login")
        await page.wait_for_selector("#customers")
        await page.click(f'#customers a[data-vat="{VAT}"]')
        await page.click('#menu a[href$="/invoices"]')
        await page.wait_for_selector("#invoices-screen")
        assert await page.query_selector("#send") is None and await page.query_selector("#send-form") is None
        await shoot(page, "invoices-read-only")
        cookie = next(c["value"] for c in await context.cookies() if c["name"] == COOKIE)
        token = csrf_of(await page.content())
        async with httpx.AsyncClient(base_url=api, cookies={COOKIE: cookie}) as http:
            forced = await http.post(f"/panel/c/{VAT}/invoices", data={"csrf": token, "sign": "none"},
                                     files={"file": ("IT02038490237_00001.xml", b"<x/>", "text/xml")},
                                     headers={"Accept-Language": "en"})
        assert forced.status_code == 403
        assert "invoices.send" in forced.text and "Nothing was changed" in forced.text
        await page.reload()
        assert await page.query_selector("#send") is None
    finally:
        await context.close()


@needs_chromium
async def test_a_partner_resends_the_acceptance_email_and_cancels_the_activation(
        served: Settings, browser: Browser, dev_env: WorkflowEnvironment, db: str) -> None:
    """Seed 003: the operator picks the customer, opens Ordini, "Invia Email Accettazione Contratti", then
    "Cancella Richiesta Attivazione" with a reason and the confirmation; the order shows cancelled, refunded,
    and neither button is offered any more."""
    customers(served, [])
    add_user(served, "operator", "partner@einvoice-hub.test")
    api = served.public_base_url
    async with contract_worker(dev_env.client, served, task_queue=served.temporal_task_queue):
        await start_contract(served, VAT, "49.90", dev_env.client, as_user=operator(served))
        context = await browser.new_context(locale="it-IT", extra_http_headers={"Accept-Language": "it-IT,it"},
                                            viewport={"width": 1100, "height": 640})
        try:
            page = await context.new_page()
            await page.goto(f"{api}/panel/login")
            await page.fill("#email", "partner@einvoice-hub.test")
            await page.fill("#password", PASSWORD)
            await page.click("#login")
            await page.click(f'#customers a[data-vat="{VAT}"]')
            await page.click('#menu a[href$="/orders"]')
            row = page.locator('#orders tr[data-state="awaiting-documentation"]')
            assert "Attesa documentazione" in (await row.locator(".state").text_content() or "")
            await page.click("#resend")  # "Invia Email Accettazione Contratti"
            await page.wait_for_selector('[data-step="resend-sent"]')
            assert (await page.text_content("#message") or "").startswith("Email di accettazione inviata")
            await shoot(page, "orders")
            await page.fill('#cancel-form input[name="reason"]', "il cliente ha rinunciato")
            await page.check('#cancel-form input[name="confirm"]')
            await page.click("#cancel")  # "Cancella Richiesta Attivazione"
            await page.wait_for_selector('#orders tr[data-state="cancelled"]')
            assert (await page.text_content("#message") or "").endswith("riaccreditato 49,90 EUR")
            assert await page.query_selector("#resend") is None and await page.query_selector("#cancel") is None
        finally:
            await context.close()
