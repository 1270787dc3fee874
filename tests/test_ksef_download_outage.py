"""KSeF down for hours, then back, under the download workflow (#14.4, #14.6) on the time-skipping server: the
range waits, nothing stored meanwhile, then every invoice taken once. A module of its own: its time-skipping
server must still move its clock, which a conservation left by another test of the download's module stops."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from core.db import session_scope
from core.search_keys import SearchKeys
from core.settings import Settings
from models import audit
from models.invoices import Invoice
from models.ksef_download import KsefReceived
from models.ksef_download_io import KsefDownloadInput
from tests.conservation_support import bucket_settings
from tests.helpers import new_worker
from tests.ksef_credentials_support import give_ksef_token
from tests.ksef_download_support import NIP, SUPPLIER, VAT, InProcessKsef, add_customer, add_download, fa3
from tests.test_ksef_download_workflow import _activities
from workflows.common import initial_search_attributes
from workflows.ksef_download import KsefDownloadWorkflow


@pytest.fixture
def ksef(tmp_path: Path) -> Iterator[InProcessKsef]:
    k = InProcessKsef.start(tmp_path, hwm_lag=60.0, limits_multiplier=0)
    yield k
    k.close()


async def test_ksef_down_for_hours_then_back_the_range_is_taken_once(
        time_env: WorkflowEnvironment, settings: Settings, db: str, ksef: InProcessKsef) -> None:
    """KSeF answers 503 to everything for three hours (the time-skipping server's clock): the take fails and is
    retried (RETRY_TAKE: up to 10 minutes apart, within its 3 days), nothing stored meanwhile; KSeF back, the same
    workflow takes the range: every invoice stored once, fetched once, handed over once."""
    settings = bucket_settings(settings)
    add_customer(settings)
    give_ksef_token(settings, ksef.sim, VAT)
    start = ksef.now() - timedelta(minutes=1)
    numbers = [ksef.deliver(fa3(f"FV/DOWN/{i}", SUPPLIER, NIP)) for i in range(3)]
    ksef.advance(1)
    rid = add_download(settings, "range-1", start, ksef.now())
    ksef.advance(120)
    keys = SearchKeys(settings)
    wf_id = f"ksef-download-{keys.customer(VAT)}-{rid}"
    ksef.sim.config.down = True
    async with new_worker(time_env.client, settings, activities=_activities(settings, ksef, time_env.client)) as w:
        handle = await time_env.client.start_workflow(
            KsefDownloadWorkflow.run, KsefDownloadInput(rid, True), id=wf_id, task_queue=w.task_queue,
            search_attributes=initial_search_attributes(keys.customer(VAT), keys.document(wf_id), "downloading"))
        await time_env.sleep(timedelta(hours=3))
        pending = (await handle.describe()).raw_description.pending_activities
        assert [p.activity_type.name for p in pending] == ["ksef_download_take"]
        assert pending[0].attempt >= 10, pending[0]  # 5 s, 10 s, … 10 min apart: retried all along
        with session_scope(db) as session:
            assert session.scalars(select(KsefReceived)).all() == []
            failed = session.scalars(select(audit.AuditEntry.outcome).where(
                audit.AuditEntry.action == "ksef.download")).all()
        assert len(failed) >= 9 and all(o.startswith("failed: KsefUnavailable") for o in failed), failed[:2]
        ksef.sim.config.down = False  # back
        # skipped to the next attempt (up to 10 minutes away), not waited for in the result's long poll, which
        # the time-skipping server ends on its own clock; past it the take runs and the passive cycles start
        # (a conservation: the clock moves at its real pace then, so only a second of it is asked for)
        nxt = pending[0].next_attempt_schedule_time
        nxt = nxt if nxt.seconds else pending[0].scheduled_time
        wait = nxt.ToDatetime(tzinfo=UTC) - await time_env.get_current_time()
        await time_env.sleep(max(wait, timedelta(0)) + timedelta(seconds=1))
        result = await handle.result()
    assert (result.taken, result.handed_over, result.finished) == (3, 3, True)
    with session_scope(db) as session:
        assert sorted(session.scalars(select(KsefReceived.ksef_number)).all()) == sorted(numbers)
        assert len(session.scalars(select(Invoice.id)).all()) == 3
    fetched = [p.rsplit("/", 1)[1] for m, p, status in ksef.requests if "/invoices/ksef/" in p and status == 200]
    assert sorted(fetched) == sorted(numbers)  # each fetched once
