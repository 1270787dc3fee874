"""The panel's newer screens in a real browser (#16), on the shared browser and stack fixtures
(tests/panel_browser_support.py):

- the customer profile (seed 001): the customer sees its data, a bad PEC is refused with the field named on
  the page and nothing written, then it confirms its data and accepts the conditions: the confirmation is
  recorded (who, when, which conditions version) and audited (surface panel);
- an accountant granted read only sees the data but no confirm button, and its forced POST (its own session
  cookie and CSRF token) is refused by the policy, nothing written;
- a partner opens an accepted order's card tabs (seed 003): Storico dell'ordine, Associazione Storage (the
  activated order and the archive space it opened) and Responsabili (the conservation manager and when the
  activation notified it), then the sync, archive and audit screens (the README's screenshots)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from api.panel.session import COOKIE
from core.db import session_scope
from core.settings import Settings
from devstack.smtp_sink import Mailbox
from domain.permissions import READ
from domain.profile import CONDITIONS_VERSION
from models import audit
from models import contracts as orders
from models.tenant import get_tenant
from models.tenant_profile import TenantConfirmation
from starters.contracts import start_contract
from starters.sync_schedules import schedule_sync, unschedule_sync
from tests.archive_panel_support import conserve
from tests.conservation_support import add_invoice, bucket_settings
from tests.contracts_helpers import contract_worker
from tests.helpers import assert_eventually
from tests.identity_support import PASSWORD, add_user, operator
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


@needs_chromium
async def test_a_partner_opens_the_order_card_tabs_and_the_newer_screens(
        served: Settings, browser: Browser, dev_env: WorkflowEnvironment, mailbox: Mailbox, db: str,
        tmp_path: Path) -> None:
    customers(served, [])
    partner = "partner@einvoice-hub.test"
    add_user(served, "operator", partner)
    api = served.public_base_url
    archived = bucket_settings(served)  # the same database, an Object Lock bucket of its own
    conserve(archived, add_invoice(archived, vat=VAT, number="00071", document_date="2026-11-30"))
    context = await browser.new_context(locale="it-IT", extra_http_headers={"Accept-Language": "it-IT,it"},
                                        viewport=VIEWPORT)
    async with contract_worker(dev_env.client, served, task_queue=served.temporal_task_queue):
        await start_contract(served, VAT, "49.90", dev_env.client, as_user=operator(served))

        async def invitation() -> str:
            found = mailbox.find(to="acme@pec.example.it", kind="contract-invitation")
            assert len(found) == 1, "the contract e-mail has not arrived yet"
            links = [u for u in Mailbox.links_in(found[0]) if "/accept/" in u]
            assert len(links) == 1, links
            return links[0]

        page = await context.new_page()
        await page.goto(await assert_eventually(invitation, timeout=30))
        await page.click("#accept")  # the customer accepts the contract from its PEC
        await page.wait_for_selector('#outcome[data-outcome="accepted"]', timeout=30_000)

        async def notified() -> None:
            with session_scope(served.database_url) as session:
                steps = [e.step for e in orders.latest_order(session, VAT).events]
            assert "conservation-manager-notified" in steps, steps

        await assert_eventually(notified, timeout=30)
    schedule = await schedule_sync(served, VAT, f"sqlite:///{tmp_path}/copia.db", 30, dev_env.client,
                                   as_user=operator(served))
    try:
        page = await _login(context, api, partner)
        await page.goto(f"{api}/panel/c/{VAT}/orders")
        assert await page.get_attribute("#tab-history", "aria-current") == "page"
        await page.wait_for_selector('ol.timeline li[data-step="accepted"]')
        order = await page.get_attribute("#orders tbody tr", "data-order")
        assert order == f"{VAT}-001"

        await page.click("#tab-storage")  # Associazione Storage
        await page.wait_for_selector("#storage")
        assert await page.text_content("#storage-packages") == "1"
        assert await page.get_attribute(f'#storage-orders tr[data-order="{order}"]', "data-order") == order
        assert await page.get_attribute("#storage-archive", "href") == f"/panel/c/{VAT}/archive"
        await shoot(page, "orders-storage")

        await page.click("#tab-managers")  # Responsabili
        await page.wait_for_selector("#managers")
        assert await page.text_content("#manager-conservation") == served.conservation_manager_email
        assert await page.get_attribute(f'#manager-notified [data-order="{order}"]', "data-notified") == "yes"
        assert "acme@pec.example.it" in (await page.text_content("#manager-customer") or "")

        await page.click('#menu a[href$="/sync"]')
        await page.wait_for_selector("#sync-schedule")
        assert "copia.db" in (await page.text_content("#sync-database") or "")
        assert await page.get_attribute("#sync-state", "data-paused") == "no"
        await shoot(page, "sync")

        await page.click('#menu a[href$="/archive"]')
        await page.wait_for_selector("#archive-summary")
        assert await page.text_content("#package-count") == "1"
        await shoot(page, "archive")

        await page.click('#menu a[href$="/audit"]')
        await page.wait_for_selector("#audit")
        trail = await page.text_content("#audit") or ""
        assert "contract.read" in trail and "sync.read" in trail  # the screens just read are entries too
        await shoot(page, "audit")
    finally:
        await context.close()
        await unschedule_sync(served, VAT, dev_env.client, as_user=operator(served))
    assert schedule.every_minutes == 30
