"""The KSeF download workflow (#14.4) on the time-skipping server with the real passive cycle and conservation:
a range downloaded, each invoice's InvoiceReceiveWorkflow started once (the customer e-mailed, the invoice
conserved), a range reaching past KSeF's HWM waiting for it, and a hand-over interrupted after the children
started (marked later: started once)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities.ksef_download import KsefDownloadActivities
from core.db import session_scope
from core.search_keys import SearchKeys
from core.settings import Settings
from devstack.smtp_sink import Mailbox
from models.conservation import ArchivePackage
from models.invoices import Invoice
from models.ksef_download import KsefReceived
from models.ksef_download_io import KsefDownloadInput
from tests.conservation_support import bucket_settings
from tests.helpers import assert_eventually, new_worker, record_history
from tests.ksef_credentials_support import give_ksef_token
from tests.ksef_download_support import NIP, SUPPLIER, VAT, InProcessKsef, add_customer, add_download, fa3
from workers import registry
from workflows.common import initial_search_attributes
from workflows.ksef_download import KsefDownloadWorkflow


@pytest.fixture
def ksef(tmp_path: Path) -> Iterator[InProcessKsef]:
    k = InProcessKsef.start(tmp_path, hwm_lag=60.0, limits_multiplier=0)
    yield k
    k.close()


def _activities(settings: Settings, ksef: InProcessKsef, client: object) -> list[object]:
    mine = KsefDownloadActivities(settings, client=ksef.client)
    others = [a for a in registry.activities(settings, client)  # type: ignore[arg-type]
              if not isinstance(getattr(a, "__self__", None), KsefDownloadActivities)]
    return [*others, mine.take, mine.pending, mine.handed_over]


async def test_a_range_is_downloaded_into_the_passive_cycle_and_conserved(
        time_env: WorkflowEnvironment, settings: Settings, db: str, mailbox: Mailbox, ksef: InProcessKsef) -> None:
    settings = bucket_settings(settings)
    add_customer(settings)
    give_ksef_token(settings, ksef.sim, VAT)
    start = ksef.now() - timedelta(minutes=1)
    numbers = [ksef.deliver(fa3(f"FV/W/{i}", SUPPLIER, NIP)) for i in range(3)]
    ksef.advance(1)  # the range ends after them (its end is not in it)
    rid = add_download(settings, "range-1", start, ksef.now())
    ksef.advance(120)
    keys = SearchKeys(settings)
    wf_id = f"ksef-download-{keys.customer(VAT)}-{rid}"
    async with new_worker(time_env.client, settings, activities=_activities(settings, ksef, time_env.client)) as w:
        handle = await time_env.client.start_workflow(
            KsefDownloadWorkflow.run, KsefDownloadInput(rid, True), id=wf_id, task_queue=w.task_queue,
            search_attributes=initial_search_attributes(keys.customer(VAT), keys.document(wf_id), "downloading"))
        result = await handle.result()
        assert (result.taken, result.handed_over, result.finished) == (3, 3, True)

        with session_scope(db) as session:
            rows = session.scalars(select(Invoice).order_by(Invoice.id)).all()
            ids = {r.id: r.workflow_id for r in rows}
            assert session.scalars(select(KsefReceived.cycle_started)).all() == [True] * 3

        async def cycles_closed_and_conserved() -> None:
            for workflow_id in ids.values():
                desc = await time_env.client.get_workflow_handle(workflow_id).describe()
                assert desc.status == WorkflowExecutionStatus.COMPLETED
            with session_scope(db) as session:
                owners = set(session.scalars(select(ArchivePackage.owner_id)).all())
            assert owners == set(ids)

        await assert_eventually(cycles_closed_and_conserved, timeout=60, interval=0.2)
        got = mailbox.find(to="ksiegowosc@nabywca.example.pl", kind="invoice-received")
        assert sorted(str(m["Subject"]) for m in got) == sorted(
            f"Invoice n. FV/W/{i} received from Dostawca sp. z o.o." for i in range(3))
        assert all("KSeF number" in Mailbox.text_of(m) for m in got)
        assert set(numbers) == {r.split("-", 2)[2] for r in ids}
        assert VAT not in wf_id and all(NIP not in w for w in ids.values())
        await record_history(time_env.client, wf_id, "ksef_download")
