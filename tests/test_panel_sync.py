"""The panel's sync screen (#15 in #16): the customer sees where our stack keeps its copy and pauses or
resumes it; an accountant with read only sees it without the button and is refused when it posts anyway."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core.search_keys import SearchKeys
from core.settings import Settings
from domain.permissions import READ
from starters.sync_schedules import schedule_sync, unschedule_sync
from tests.identity_support import operator
from tests.panel_support import ACCOUNTANT_EMAIL, CUSTOMER_EMAIL, VAT, csrf_of, customers, login, message_of
from workers.schedules import customer_sync_schedule_id

IT = {"Accept-Language": "it"}


async def test_the_sync_screen_shows_the_schedule_and_pauses_it_for_those_who_may(
        dev_env: WorkflowEnvironment, settings: Settings, db: str, tmp_path: Path) -> None:
    own = settings.model_copy(update={"temporal_address": dev_env.client.service_client.config.target_host,
                                      "temporal_task_queue": f"tq-{uuid.uuid4()}",
                                      "payload_codec_key": SecretStr("off")})
    customers(own, [READ])
    app = create_app(own, run_migrations=False)

    def before() -> None:
        with TestClient(app, headers=IT) as http:
            assert login(http, CUSTOMER_EMAIL).status_code == 303
            page = http.get(f"/panel/c/{VAT}/sync")
            assert page.status_code == 200 and 'id="sync-none"' in page.text
            assert f"einvoice sync --vat {VAT}" in page.text and f'href="/panel/c/{VAT}/sync"' in page.text

    await asyncio.to_thread(before)
    client = dev_env.client
    await schedule_sync(own, VAT, f"sqlite:///{tmp_path}/copy.db", 30, client, as_user=operator(own))
    handle = client.get_schedule_handle(customer_sync_schedule_id(SearchKeys(own).customer(VAT)))
    try:
        def customer() -> None:
            with TestClient(app, headers=IT) as http:
                login(http, CUSTOMER_EMAIL)
                page = http.get(f"/panel/c/{VAT}/sync")
                assert page.status_code == 200 and "copy.db" in page.text and 'data-paused="no"' in page.text
                assert 'id="sync-pause"' in page.text
                assert http.post(f"/panel/c/{VAT}/sync/pause", data={"note": "x"}).status_code == 403  # no CSRF
                done = http.post(f"/panel/c/{VAT}/sync/pause", data={"csrf": csrf_of(page.text), "note": "chiusura"})
                assert done.status_code == 200 and message_of(done.text) == "Sincronizzazione sospesa"
                assert 'data-paused="yes"' in done.text and "chiusura" in done.text and 'id="sync-resume"' in done.text

        await asyncio.to_thread(customer)
        assert (await handle.describe()).schedule.state.paused

        def accountant() -> None:
            with TestClient(app, headers=IT) as http:
                login(http, ACCOUNTANT_EMAIL)
                page = http.get(f"/panel/c/{VAT}/sync")
                assert page.status_code == 200 and 'data-paused="yes"' in page.text
                assert 'id="sync-resume"' not in page.text  # read only: no control
                forced = http.post(f"/panel/c/{VAT}/sync/resume", data={"csrf": csrf_of(page.text)})
                assert forced.status_code == 403 and "config" in message_of(forced.text)

        await asyncio.to_thread(accountant)
        assert (await handle.describe()).schedule.state.paused  # the forced resume changed nothing
    finally:
        await unschedule_sync(own, VAT, client, as_user=operator(own))
