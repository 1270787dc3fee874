"""The download from KSeF from the outside (#14.4), on the dev server: a customer's user downloads a range with
`einvoice ksef download` (the CLI through the HTTP API, audited), sees it with `einvoice ksef downloads`;
schedules the incremental download, whose rounds (overlap skip, catch-up one interval) take what KSeF closes
since the last, nothing twice; paused, then resumed with nothing skipped; refusals write nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from temporalio.client import Client, ScheduleOverlapPolicy, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities.ksef_download import KsefDownloadActivities
from core.db import session_scope
from core.search_keys import SearchKeys
from core.settings import Settings
from domain.errors import Hidden, InvalidInput
from domain.ksef.offline import warsaw_today
from models import audit
from models.base import utcnow
from models.ksef_download import KsefDownload, KsefReceived
from starters.cli import app as cli
from starters.ksef_download import (
    describe_download_schedule,
    download_range,
    pause_download_schedule,
    schedule_download,
    unschedule_download,
)
from tests.cli_support import flat, in_process_api, login, runner
from tests.conservation_support import bucket_settings
from tests.helpers import assert_eventually, new_worker, served_api
from tests.identity_support import principal
from tests.ksef_credentials_support import give_ksef_token
from tests.ksef_download_support import NIP, SUPPLIER, USER, VAT, InProcessKsef, add_customer, fa3
from workers import registry
from workers.schedules import ksef_download_schedule_id


@pytest.fixture
def ksef(tmp_path: Path) -> Iterator[InProcessKsef]:
    k = InProcessKsef.start(tmp_path, hwm_lag=60.0, limits_multiplier=0)
    yield k
    k.close()


@asynccontextmanager
async def _worker(client: Client, settings: Settings, ksef: InProcessKsef) -> AsyncIterator[None]:
    """Every workflow and activity of the worker (the passive cycle and conservation run too), the download's
    activities on the in-process KSeF with the customer's KSeF token."""
    acts = KsefDownloadActivities(settings, client=ksef.client)
    others = [a for a in registry.activities(settings, client)
              if not isinstance(getattr(a, "__self__", None), KsefDownloadActivities)]
    async with new_worker(client, settings, activities=[*others, acts.take, acts.pending, acts.handed_over],
                          task_queue=settings.temporal_task_queue):
        yield


def _taken(settings: Settings) -> list[str]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(KsefReceived.ksef_number).order_by(KsefReceived.id)).all())


async def _round(client: Client, settings: Settings, before: int) -> Any:
    handle = client.get_schedule_handle(ksef_download_schedule_id(SearchKeys(settings).customer(VAT)))
    await handle.trigger()

    async def closed() -> Any:
        actions = (await handle.describe()).info.recent_actions
        assert len(actions) > before
        started = actions[-1].action
        run = client.get_workflow_handle(started.workflow_id, run_id=started.first_execution_run_id)
        assert (await run.describe()).status != WorkflowExecutionStatus.RUNNING
        return run

    return await assert_eventually(closed, timeout=60, interval=0.2)


async def test_a_scheduled_download_takes_what_ksef_closes_round_after_round_paused_and_resumed(
        dev_env: WorkflowEnvironment, settings: Settings, db: str, ksef: InProcessKsef) -> None:
    own = bucket_settings(settings, temporal_task_queue=f"tq-{uuid.uuid4()}")
    client = dev_env.client
    add_customer(own)
    give_ksef_token(own, ksef.sim, VAT)
    user = principal(own, "customer", USER, VAT)
    since = ksef.now() - timedelta(minutes=5)
    sched = await schedule_download(own, VAT, 30, since, client, as_user=user)
    assert sched.schedule_id == f"ksef-download-{SearchKeys(own).customer(VAT)}" and NIP not in sched.schedule_id
    handle = client.get_schedule_handle(sched.schedule_id)
    try:
        desc = await handle.describe()
        assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert desc.schedule.policy.catchup_window == timedelta(minutes=30)
        first = [ksef.deliver(fa3(f"FV/S/{i}", SUPPLIER, NIP)) for i in range(3)]
        ksef.advance(120)
        async with _worker(client, own, ksef):
            run = await _round(client, own, 0)
            assert (await run.result())["taken"] == 3 and sorted(_taken(own)) == sorted(first)
            # paused: no round; KSeF numbers more meanwhile, one of them late; resumed, the next round takes them
            paused = await pause_download_schedule(own, VAT, True, "month-end close", client, as_user=user)
            assert paused.paused and "month-end close" in paused.note
            late = ksef.deliver(fa3("FV/S/late", SUPPLIER, NIP), late=30)
            more = [ksef.deliver(fa3(f"FV/S/{i}", SUPPLIER, NIP)) for i in range(3, 5)]
            ksef.advance(120)
            resumed = await pause_download_schedule(own, VAT, False, client=client, as_user=user)
            assert not resumed.paused
            run = await _round(client, own, 1)
            assert (await run.result())["taken"] == 3
            assert sorted(_taken(own)) == sorted(first + [late] + more)
            seen = await describe_download_schedule(own, VAT, client, as_user=user)
            assert seen.download.taken == 6 and seen.download.last_error is None and seen.every_minutes == 30
            # a round with nothing new takes nothing, twice
            ksef.advance(120)
            run = await _round(client, own, 2)
            assert (await run.result())["taken"] == 0 and len(_taken(own)) == 6
        with session_scope(own.database_url) as session:
            entries = session.scalars(select(audit.AuditEntry).where(
                audit.AuditEntry.action == "ksef.download", audit.AuditEntry.surface == "schedule")).all()
            assert len(entries) == 3 and all(e.customer_vat == VAT and e.outcome == "ok" for e in entries)
    finally:
        await unschedule_download(own, VAT, client, as_user=user)
    with pytest.raises(Exception, match="not found|NOT_FOUND|not exist"):
        await handle.describe()
    with session_scope(own.database_url) as session:  # the cursor stays for a later schedule
        row = session.scalars(select(KsefDownload)).one()
        assert row.every_minutes is None and row.taken == 6


async def test_refusals_write_nothing(settings: Settings, db: str) -> None:
    add_customer(settings)
    stranger = principal(settings, "accountant", "biuro@rachunki.example.pl")  # not linked to the customer
    with pytest.raises(Hidden):
        await schedule_download(settings, VAT, 30, as_user=stranger)
    with pytest.raises(Hidden):
        await download_range(settings, VAT, utcnow() - timedelta(days=2), utcnow(), as_user=stranger)
    user = principal(settings, "customer", USER, VAT)
    with pytest.raises(InvalidInput, match="at least 15"):
        await schedule_download(settings, VAT, 5, as_user=user)
    now = utcnow()
    with pytest.raises(InvalidInput) as err:
        await download_range(settings, VAT, now, now - timedelta(days=1), as_user=user)
    assert [p.field for p in err.value.problems] == ["to"]
    with pytest.raises(InvalidInput, match="not in the future"):
        await download_range(settings, VAT, now + timedelta(days=1), now + timedelta(days=2), as_user=user)
    with session_scope(settings.database_url) as session:
        assert session.scalars(select(KsefDownload)).first() is None


async def test_the_cli_downloads_a_range_and_shows_it(dev_env: WorkflowEnvironment, settings: Settings, db: str,
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      ksef: InProcessKsef) -> None:
    """`einvoice ksef download --vat --from --to` as the customer's user through the API; `downloads` shows it
    covered to its end with what it took; a date alone is a day in Europe/Warsaw."""
    own = bucket_settings(settings, temporal_address=dev_env.client.service_client.config.target_host,
                          temporal_task_queue=f"tq-{uuid.uuid4()}",
                          payload_codec_key=SecretStr("off"))  # the test's worker has no codec
    add_customer(own)
    give_ksef_token(own, ksef.sim, VAT)
    numbers = [ksef.deliver(fa3(f"FV/CLI/{i}", SUPPLIER, NIP)) for i in range(2)]
    day = warsaw_today(ksef.now())  # the CLI reads a date as Warsaw's day: from 23:00 UTC it is the next one
    ksef.advance(2 * 86400)  # the HWM is past the end of that day

    def run(*args: str) -> Any:
        return runner.invoke(cli, list(args))

    def start() -> dict[str, Any]:
        with in_process_api(own, monkeypatch, tmp_path / "config"):
            login(own, "customer", "cli@nabywca.example.pl", VAT)
            done = run("ksef", "download", "--vat", VAT, "--from", day.isoformat(), "--to", day.isoformat(),
                       "--json")
            assert done.exit_code == 0, done.output
            bad = run("ksef", "download", "--vat", VAT, "--from", "yesterday", "--to", day.isoformat())
            assert bad.exit_code == 2 and "--from" in flat(bad.output)
            return dict(json.loads(done.output))

    started = await asyncio.to_thread(start)
    assert started["range_from"].endswith(("+00:00",)) and started["workflow_id"].startswith("ksef-download-")
    async with _worker(dev_env.client, own, ksef):
        result = await dev_env.client.get_workflow_handle(started["workflow_id"]).result()
    assert result["taken"] == 2 and result["finished"] and sorted(_taken(own)) == sorted(numbers)

    def show() -> str:
        with in_process_api(own, monkeypatch, tmp_path / "config"):
            shown = run("ksef", "downloads", "--vat", VAT)
            assert shown.exit_code == 0, shown.output
            return flat(shown.output)

    out = await asyncio.to_thread(show)
    assert "2 taken" in out and "range-1" in out
    with session_scope(own.database_url) as session:
        trail = session.scalars(select(audit.AuditEntry).where(audit.AuditEntry.action == "ksef.download")
                                .order_by(audit.AuditEntry.id)).all()
        assert trail[0].surface == "cli" and trail[0].outcome == "ok"


async def test_the_demo_step_downloads_a_received_invoice_and_schedules_the_rest(
        dev_env: WorkflowEnvironment, settings: Settings, db: str, tmp_path: Path) -> None:
    """`make demo`'s download step against the app served over HTTP, the real worker's activities (the
    customer's KSeF token, the client from KSEF_URL) and the local KSeF served over HTTP."""


    from devstack import demo_http
    from devstack.demo_ksef_download import step_ksef_download
    from tests.helpers import free_port
    from tests.identity_support import operator_headers
    from tests.ksef_authority_support import serve_sim

    port = free_port()
    with serve_sim(tmp_path / "ksefsim") as sim:
        served = bucket_settings(settings, temporal_address=dev_env.client.service_client.config.target_host,
                                 temporal_task_queue=f"tq-{uuid.uuid4()}", payload_codec_key=SecretStr("off"),
                                 public_base_url=f"http://127.0.0.1:{port}", ksef_url=sim.api,
                                 data_dir=tmp_path / "data")
        add_customer(served)  # the demo's Polish customer (step 3b adds it)
        ctx: dict[str, object] = {}
        with served_api(served, port):
            try:
                async with new_worker(dev_env.client, served, task_queue=served.temporal_task_queue):
                    demo_http.act_as(operator_headers(served)["Authorization"].removeprefix("Bearer "))
                    await asyncio.to_thread(step_ksef_download, served, ctx)
            finally:
                demo_http.act_as(None)
                await unschedule_download(served, VAT, dev_env.client, as_user=principal(served))
    with session_scope(served.database_url) as session:
        row = session.get(KsefDownload, ctx["ksef_download"])
        assert row is not None and row.taken == 1 and row.last_error is None
        assert len(session.scalars(select(KsefReceived)).all()) == 1
