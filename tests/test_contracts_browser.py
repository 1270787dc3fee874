"""End to end in a real browser: the API served by uvicorn, a worker on the real dev server, the e-mail in the
SMTP sink, and Debian's chromium driven by Playwright opening the link and clicking Accept."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from core.temporal import connect
from devstack.smtp_sink import Mailbox
from models.contracts_io import ACCEPTED
from tests.contracts_helpers import add_customer, contract_worker, is_enabled, new_vat
from tests.helpers import assert_eventually, free_port, served_api
from tests.identity_support import operator_headers

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-component-update",
                 "--no-first-run"]


@pytest.fixture
def served(settings: Settings, dev_env: WorkflowEnvironment, db: str) -> Iterator[Settings]:
    """The API on a free port, talking to the dev server; yields the settings the worker must share."""
    port = free_port()
    api_settings = settings.model_copy(update={
        "temporal_address": dev_env.client.service_client.config.target_host,
        "temporal_task_queue": f"contracts-browser-{port}",
        "public_base_url": f"http://127.0.0.1:{port}",
    })
    with served_api(api_settings, port, timeout=20):
        yield api_settings


@pytest.fixture
async def worker(served: Settings) -> AsyncIterator[Settings]:
    client = await connect(served)  # the same data converter (payload codec) as the API's client
    async with contract_worker(client, served, task_queue=served.temporal_task_queue):
        yield served


@pytest.mark.skipif(not CHROMIUM.exists(), reason="run scripts/ensure-chromium.sh (make test does)")
async def test_accept_in_a_real_browser(worker: Settings, mailbox: Mailbox) -> None:
    api = worker.public_base_url
    vat = new_vat()
    pec = add_customer(worker, vat, "Ferramenta Bianchi S.r.l.")
    async with httpx.AsyncClient(base_url=api, timeout=30, headers=operator_headers(worker)) as http:
        started = await http.post("/contracts", json={"vat": vat, "amount": "99.00"})
        assert started.status_code == 201, started.text

    async def invitation() -> str:
        found = mailbox.find(to=pec, kind="contract-invitation")
        assert len(found) == 1, "the invitation has not arrived yet"
        links = [u for u in Mailbox.links_in(found[0]) if "/accept/" in u]
        assert len(links) == 1, links
        return links[0]

    link = await assert_eventually(invitation, timeout=30)
    assert link.startswith(f"{api}/accept/")

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            response = await page.goto(link)
            assert response is not None and response.status == 200
            assert await page.text_content("#customer") == "Ferramenta Bianchi S.r.l."
            assert await page.text_content("#vat") == vat
            assert not is_enabled(worker, vat)  # the page is open: nothing accepted yet

            await page.click("#accept")
            await page.wait_for_selector('#outcome[data-outcome="accepted"]', timeout=30_000)
            assert "enabled" in (await page.text_content("#message") or "")

            tenant = await page.goto(f"{api}/tenants/{vat}")  # the link is no login: the API stays closed
            assert tenant is not None and tenant.status == 401
            assert "enabled" not in await tenant.text()
        finally:
            await browser.close()

    assert is_enabled(worker, vat)
    async with httpx.AsyncClient(base_url=api, timeout=30, headers=operator_headers(worker)) as http:
        assert (await http.get(f"/tenants/{vat}")).json()["enabled"] is True

    async def completed() -> None:
        async with httpx.AsyncClient(base_url=api, timeout=30, headers=operator_headers(worker)) as http:
            status = (await http.get(f"/contracts/{vat}")).json()
        assert status["status"] == ACCEPTED and status["workflow"]["status"] == "COMPLETED"
        assert mailbox.find(kind="contract-activation") and mailbox.find(kind="conservation-access")

    await assert_eventually(completed, timeout=30)
