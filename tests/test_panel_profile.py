"""The panel's newer screens in a real browser (#16), on the shared browser and stack fixtures
(tests/panel_browser_support.py):

- the customer profile (seed 001): the customer sees its data, a bad PEC is refused with the field named on
  the page and nothing written, then it confirms its data and accepts the conditions: the confirmation is
  recorded (who, when, which conditions version) and audited (surface panel);
- an accountant granted read only sees the data but no confirm button, and its forced POST (its own session
  cookie and CSRF token) is refused by the policy, nothing written."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page
from sqlalchemy import select

from api.panel.session import COOKIE
from core.db import session_scope
from core.settings import Settings
from domain.permissions import READ
from domain.profile import CONDITIONS_VERSION
from models import audit
from models.tenant import get_tenant
from models.tenant_profile import TenantConfirmation
from tests.identity_support import PASSWORD
from tests.panel_browser_support import needs_chromium, shoot
from tests.panel_support import ACCOUNTANT_EMAIL, CUSTOMER_EMAIL, VAT, csrf_of, customers

pytestmark = [pytest.mark.browser, pytest.mark.integration]

VIEWPORT = {"width": 1100, "height": 640}


async def _login(context: BrowserContext, api: str, email: str) -> Page:
    page = await context.new_page()
    await page.goto(f"{api}/panel/login")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("#login")
    await page.wait_for_selector("#who")
    return page


def _confirmations(settings: Settings) -> list[TenantConfirmation]:
    with session_scope(settings.database_url) as session:
        rows = list(session.scalars(select(TenantConfirmation)))
        session.expunge_all()
        return rows


@needs_chromium
async def test_a_customer_confirms_its_data_after_a_bad_pec_is_refused(served: Settings, browser: Browser,
                                                                       db: str) -> None:
    customers(served, [READ])
    api = served.public_base_url
    context = await browser.new_context(locale="it-IT", extra_http_headers={"Accept-Language": "it-IT,it"},
                                        viewport=VIEWPORT)
    try:
        page = await _login(context, api, CUSTOMER_EMAIL)
        await page.click('#menu a[href$="/profile"]')
        await page.wait_for_selector("#profile-form")
        assert await page.get_attribute("#profile-confirmed", "data-confirmed") == "no"
        assert await page.input_value("#vat") == VAT and await page.input_value("#pec") == "acme@pec.example.it"
        assert await page.get_attribute("#conditions", "data-version") == CONDITIONS_VERSION
        assert await page.text_content("#confirm-profile") == "CONFERMO I MIEI DATI"

        await page.fill("#pec", "amministratore@pec")  # no dotted domain
        await page.fill("#sdi_code", "QPQRMS")
        await page.fill("#street", "Via Roma 1")
        await page.fill("#postcode", "37069")
        await page.fill("#city", "Villafranca di Verona")
        await page.fill("#province", "VR")
        await page.check("#accept")
        await page.click("#confirm-profile")
        await page.wait_for_selector("#error-pec")
        message = await page.text_content("#message") or ""
        assert message.startswith("Dati non validi: pec:") and "Nulla è stato modificato" in message
        assert await page.get_attribute("#pec", "aria-invalid") == "true"
        assert await page.input_value("#city") == "Villafranca di Verona"  # what was typed is kept
        assert _confirmations(served) == []
        with session_scope(served.database_url) as session:
            assert get_tenant(session, VAT).pec == "acme@pec.example.it"

        await page.fill("#pec", "amministratore@pec.computerscenter.com")
        await page.check("#accept")
        await page.click("#confirm-profile")
        await page.wait_for_selector('#profile-confirmed[data-confirmed="yes"]')
        assert (await page.text_content("#message") or "").startswith("Dati confermati (conferma n. 1")
        assert CUSTOMER_EMAIL in (await page.text_content("#profile-confirmed") or "")
        assert await page.get_attribute("#profile-enabled", "data-enabled") == "no"  # the contract enables it
        await shoot(page, "profile")
    finally:
        await context.close()
    [row] = _confirmations(served)
    assert (row.confirmed_by, row.surface, row.conditions_version) == (f"customer:{CUSTOMER_EMAIL}", "panel",
                                                                       CONDITIONS_VERSION)
    assert (row.pec, row.sdi_code, row.city, row.province) == ("amministratore@pec.computerscenter.com", "QPQRMS",
                                                               "Villafranca di Verona", "VR")
    with session_scope(served.database_url) as session:
        assert get_tenant(session, VAT).pec == "amministratore@pec.computerscenter.com"
        trail = [(e.surface, e.outcome.split(":")[0]) for e in audit.entries(session, VAT)
                 if e.action == "tenant.confirm"]
    assert trail == [("panel", "failed"), ("panel", "ok")]


@needs_chromium
async def test_a_read_only_accountant_sees_the_data_without_the_button_and_is_refused_when_it_posts(
        served: Settings, browser: Browser, db: str) -> None:
    customers(served, [READ])
    api = served.public_base_url
    context = await browser.new_context(extra_http_headers={"Accept-Language": "en"}, viewport=VIEWPORT)
    try:
        page = await _login(context, api, ACCOUNTANT_EMAIL)
        await page.click(f'#customers a[data-vat="{VAT}"]')
        await page.click('#menu a[href$="/profile"]')
        await page.wait_for_selector("#profile-data")
        assert await page.text_content("#data-pec") == "acme@pec.example.it"
        assert await page.query_selector("#profile-form") is None
        assert await page.query_selector("#confirm-profile") is None
        cookie = next(c["value"] for c in await context.cookies() if c["name"] == COOKIE)
        token = csrf_of(await page.content())
        async with httpx.AsyncClient(base_url=api, cookies={COOKIE: cookie}) as http:
            forced = await http.post(f"/panel/c/{VAT}/profile", headers={"Accept-Language": "en"}, data={
                "csrf": token, "name": "ACME S.p.A.", "pec": "studio@pec.example.it", "street": "Via Po 2",
                "postcode": "10100", "city": "Torino", "province": "TO", "accept": "yes",
                "conditions_version": CONDITIONS_VERSION})
        assert forced.status_code == 403
        assert "tenant.confirm" in forced.text and "Nothing was changed" in forced.text
    finally:
        await context.close()
    assert _confirmations(served) == []
    with session_scope(served.database_url) as session:
        assert get_tenant(session, VAT).pec == "acme@pec.example.it"
