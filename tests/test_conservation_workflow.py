"""The conservation and verification workflows on a real Temporal dev server with the S3 emulator."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from temporalio import workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from activities.archive import ArchiveActivities
from activities.mail import MailActivities
from core.db import session_scope
from core.search_keys import SearchKeys
from core.settings import Settings
from devstack.s3 import ensure_archive_bucket
from devstack.smtp_sink import Mailbox
from models.conservation import ArchiveObject, ArchivePackage, get_package
from models.conservation_io import ConservationInput, PackagePageInput, VerifyInput, VerifyReport
from starters.archive import ensure_verify_schedule, run_verify, start_conservation, start_verify
from tests.conservation_support import add_invoice, bucket_settings
from tests.helpers import assert_eventually, free_port, new_worker, record_history, save_history
from tests.identity_support import operator
from workflows.archive_verify import SCHEDULE_ID, ArchiveVerifyWorkflow
from workflows.common import BUSINESS_STATUS, CUSTOMER_KEY, DOCUMENT_ID
from workflows.conservation import ConservationWorkflow, workflow_id_for

HISTORY = Path(__file__).parent / "histories" / "conservation.json"
WORKFLOWS = [ConservationWorkflow, ArchiveVerifyWorkflow]


def _activities(settings: Settings) -> list:  # type: ignore[type-arg]
    a = ArchiveActivities(settings)
    return [a.store_package, a.record_package, a.list_package_page, a.verify_packages, a.notify_fault,
            MailActivities(settings).send_email]


def _own(settings: Settings, **changes: object) -> Settings:
    return bucket_settings(settings, temporal_task_queue=f"tq-{uuid.uuid4()}", **changes)


def _counts(settings: Settings) -> tuple[int, int]:
    with session_scope(settings.database_url) as session:
        return (session.scalar(select(func.count()).select_from(ArchivePackage)) or 0,
                session.scalar(select(func.count()).select_from(ArchiveObject)) or 0)


async def test_conservation_runs_end_to_end_and_its_history_replays(settings: Settings, db: str,
                                                                    dev_env: WorkflowEnvironment) -> None:
    own = _own(settings)
    inp = add_invoice(own, owner_id="inv-history-1")
    client = dev_env.client
    async with new_worker(client, own, WORKFLOWS, _activities(own), task_queue=own.temporal_task_queue):
        handle = await start_conservation(own, inp, client)
        keys = SearchKeys(own)
        assert handle.id == workflow_id_for("invoice", keys.document("inv-history-1")) == \
            f"conserve-invoice-{keys.document('inv-history-1')}"
        result = await handle.result()
        state = await handle.query(ConservationWorkflow.state)
    assert state.status == "conserved" and state.package_id == result.package_id
    assert result.objects == 5 and result.prefix.startswith("IT02038490237/2026/PdA-invoice-inv-history-1-")
    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(CUSTOMER_KEY) == keys.customer("IT02038490237") and attrs.get(BUSINESS_STATUS) == "conserved"
    assert attrs.get(DOCUMENT_ID) == keys.document("inv-history-1")
    assert not any("02038490237" in str(v) or "inv-history" in str(v) for v in (handle.id, *attrs))  # #18.8
    with session_scope(own.database_url) as session:
        assert get_package(session, result.package_id).index_sha256 == result.index_sha256
    history = await handle.fetch_history()
    save_history(HISTORY, history.to_json_dict())
    await Replayer(workflows=WORKFLOWS).replay_workflow(history)


async def test_the_recorded_history_replays() -> None:
    history = WorkflowHistory.from_json("conserve-recorded", HISTORY.read_text())
    await Replayer(workflows=WORKFLOWS).replay_workflow(history)


async def test_a_second_start_for_the_same_invoice_is_refused(settings: Settings, db: str,
                                                              dev_env: WorkflowEnvironment) -> None:
    from temporalio.exceptions import WorkflowAlreadyStartedError

    own = _own(settings)
    inp = add_invoice(own)
    async with new_worker(dev_env.client, own, WORKFLOWS, _activities(own), task_queue=own.temporal_task_queue):
        first = await start_conservation(own, inp, dev_env.client)
        with pytest.raises(WorkflowAlreadyStartedError):
            await start_conservation(own, inp, dev_env.client)
        await first.result()
    assert _counts(own) == (1, 5)


async def _pending_attempt(client: Client, workflow_id: str) -> int:
    desc = await client.get_workflow_handle(workflow_id).describe()
    pending = desc.raw_description.pending_activities
    return pending[0].attempt if pending else 0


async def test_s3_down_during_conservation_is_retried_until_it_is_back(settings: Settings, db: str,
                                                                       dev_env: WorkflowEnvironment) -> None:
    from moto.server import ThreadedMotoServer

    port = free_port()
    down = settings.model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{port}",
                                       "s3_bucket": f"arch-down-{uuid.uuid4().hex[:10]}",
                                       "temporal_task_queue": f"tq-{uuid.uuid4()}"})
    inp = add_invoice(down)
    client = dev_env.client
    async with new_worker(client, down, WORKFLOWS, _activities(down), task_queue=down.temporal_task_queue):
        handle = await start_conservation(down, inp, client)

        async def failed_twice() -> None:
            assert await _pending_attempt(client, handle.id) >= 2

        await assert_eventually(failed_twice, timeout=30)
        desc = await handle.describe()
        failure = desc.raw_description.pending_activities[0].last_failure.message
        assert "Could not connect" in failure or "connect" in failure.lower()
        assert _counts(down) == (0, 0)  # nothing recorded while S3 is down
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            ensure_archive_bucket(down)
            result = await handle.result()
        finally:
            server.stop()
    assert _counts(down) == (1, 5)
    assert result.objects == 5


async def test_verify_finds_a_corrupted_object_and_mails_the_conservation_manager(
        settings: Settings, db: str, dev_env: WorkflowEnvironment, mailbox: Mailbox) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    own = _own(settings)
    client = dev_env.client
    async with new_worker(client, own, WORKFLOWS, _activities(own), task_queue=own.temporal_task_queue):
        results = [await (await start_conservation(own, add_invoice(own, number=n), client)).result()
                   for n in ("00011", "00012")]
        clean = await run_verify(own, VerifyInput(), client, as_user=operator(own))
        assert clean.ok and clean.packages == 2 and clean.objects == 10
        recorded = await start_verify(own, VerifyInput(), client, as_user=operator(own))
        await client.get_workflow_handle(recorded).result()
        await record_history(client, recorded, "archive_verify")
        history = await client.get_workflow_handle(recorded).fetch_history()  # who asked, in the input
        started = history.events[0].workflow_execution_started_event_attributes
        (given,) = await client.data_converter.decode(started.input.payloads, [VerifyInput])
        assert given.actor == operator(own).label == "operator:operator@einvoice-hub.test"
        sampled = await run_verify(own, VerifyInput(sample=1), client, as_user=operator(own))
        assert sampled.packages == 1 and sampled.ok
        with session_scope(own.database_url) as session:
            victim = next(o for o in get_package(session, results[1].package_id).objects if o.role == "original")
        bucket = s3_backends[DEFAULT_ACCOUNT_ID]["global"].buckets[own.s3_bucket]
        fake = next(k for k in bucket.keys.getlist(victim.key) if k.version_id == victim.version_id)
        fake.value = fake.value.replace(b"<Numero>00012</Numero>", b"<Numero>99999</Numero>")
        report: VerifyReport = await run_verify(own, VerifyInput(vat="IT02038490237"), client, as_user=operator(own))
    assert not report.ok and report.packages == 2
    assert [(f.package_id, f.kind, f.key) for f in report.faults] == [(results[1].package_id, "altered", victim.key)]

    def fault_mail() -> bool:
        return bool(mailbox.find(to=own.conservation_manager_email, kind="archive-fault"))

    await assert_eventually(_as_async(fault_mail))
    mail = mailbox.find(to=own.conservation_manager_email, kind="archive-fault")
    assert len(mail) == 1 and victim.key in Mailbox.text_of(mail[0])


async def _runs(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of a workflow, first to last, following continue-as-new."""
    run_id = (await client.get_workflow_handle(workflow_id).describe()).raw_description \
        .workflow_execution_info.first_run_id
    runs = []
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        runs.append(history)
        last = history.events[-1]
        run_id = (last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                  if last.HasField("workflow_execution_continued_as_new_event_attributes") else "")
    return runs


def _activities_of(history: WorkflowHistory, name: str) -> int:
    return sum(1 for e in history.events if e.HasField("activity_task_scheduled_event_attributes")
               and e.activity_task_scheduled_event_attributes.activity_type.name == name)


async def test_a_large_archive_is_verified_in_pages_across_continue_as_new(
        settings: Settings, db: str, dev_env: WorkflowEnvironment, mailbox: Mailbox) -> None:
    """23 packages, pages of 4, 2 pages a run: three runs, each reading at most 2 pages and carrying only the
    cursor and totals; the report is the one a local check of every package gives, faults of two runs
    included; a sample of 5 verifies exactly 5 different packages."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    from starters.archive import verify_local

    own = _own(settings)
    client = dev_env.client
    async with new_worker(client, own, WORKFLOWS, _activities(own), task_queue=own.temporal_task_queue):
        results = [await (await start_conservation(own, add_invoice(own, number=f"{n:05d}"), client)).result()
                   for n in range(100, 123)]

        pages = ArchiveActivities(own)
        for limit, more in ((5000, False), (23, False), (22, True)):  # above the activity's own bound, exact, less
            page = pages.list_package_page(PackagePageInput(None, 0, None, limit))
            assert (len(page.package_ids), page.total, page.more) == (min(limit, 23), 23, more), limit
        assert pages.list_package_page(PackagePageInput(None, page.last, page.upto, 22)).package_ids == [
            results[-1].package_id]

        sampled = await start_verify(own, VerifyInput(sample=5, page_size=4, pages_per_run=2), client,
                                     as_user=operator(own))
        sample = await client.get_workflow_handle(sampled, result_type=VerifyReport).result()
        assert sample.packages == 5 and sample.ok
        with session_scope(own.database_url) as session:
            assert session.scalar(select(func.count()).select_from(ArchivePackage)
                                  .where(ArchivePackage.last_verified_at.is_not(None))) == 5

        bucket = s3_backends[DEFAULT_ACCOUNT_ID]["global"].buckets[own.s3_bucket]
        for victim_package in (results[1], results[21]):  # one read by the first run, one by the last
            with session_scope(own.database_url) as session:
                victim = next(o for o in get_package(session, victim_package.package_id).objects
                              if o.role == "original")
            fake = next(k for k in bucket.keys.getlist(victim.key) if k.version_id == victim.version_id)
            fake.value = fake.value + b"<!-- altered -->"

        workflow_id = await start_verify(own, VerifyInput(page_size=4, pages_per_run=2), client, as_user=operator(own))
        report = await client.get_workflow_handle(workflow_id, result_type=VerifyReport).result()
        runs = await _runs(client, workflow_id)
        if len(runs) > 1:
            save_history(Path(__file__).parent / "histories" / "archive_verify.continued.json",
                         runs[0].to_json_dict())
    expected = verify_local(own, as_user=operator(own))
    assert (report.packages, report.objects, report.bytes) == (23, 23 * 5, expected.bytes) == (
        expected.packages, expected.objects, expected.bytes)
    assert [(f.package_id, f.kind) for f in report.faults] == [(f.package_id, f.kind) for f in expected.faults] \
        == [(results[1].package_id, "altered"), (results[21].package_id, "altered")]
    assert report.fault_count == 2 and not report.ok
    assert len(runs) == 3
    assert [_activities_of(r, "archive_list_package_page") for r in runs] == [2, 2, 2]  # the last page: 3
    assert sum(_activities_of(r, "archive_verify_packages") for r in runs) == 6  # one batch per page
    for history in runs[:-1]:
        assert history.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
        carried = history.events[-1].workflow_execution_continued_as_new_event_attributes.input.payloads[0].data
        faulted = {results[1].package_id, results[21].package_id}  # a fault names its package
        assert len(carried) < 2000 and not [r for r in results if r.package_id not in faulted
                                            and r.package_id.encode() in carried]
    mails = mailbox.find(to=own.conservation_manager_email, kind="archive-fault")
    assert len(mails) == 1 and "2 fault(s)" in str(mails[0]["Subject"])


def test_the_recorded_continued_history_continues_as_new() -> None:
    """The committed file is what it is named for: a run that read its pages and continued as new."""
    import json

    events = json.loads((Path(__file__).parent / "histories" / "archive_verify.continued.json").read_text())["events"]
    assert events[-1]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW"
    listed = [e for e in events if e.get("activityTaskScheduledEventAttributes", {}).get("activityType", {})
              .get("name") == "archive_list_package_page"]
    assert len(listed) == 2


def test_a_report_keeps_the_first_faults_and_counts_all() -> None:
    from models.conservation_io import FAULTS_KEPT, Fault

    report = VerifyReport()
    for n in range(FAULTS_KEPT + 50):
        report.merge(VerifyReport(packages=1, objects=2, bytes=3, faults=[Fault(f"p{n}", "missing", "gone")]))
    assert (report.packages, report.objects, report.bytes) == (FAULTS_KEPT + 50, 2 * (FAULTS_KEPT + 50),
                                                               3 * (FAULTS_KEPT + 50))
    assert len(report.faults) == FAULTS_KEPT and report.faults[0].package_id == "p0"
    assert report.fault_count == FAULTS_KEPT + 50 and not report.ok


def _as_async(check):  # type: ignore[no-untyped-def]
    async def run() -> None:
        assert check()
    return run


async def test_the_verification_schedule_is_idempotent_and_runs(settings: Settings, db: str,
                                                                dev_env: WorkflowEnvironment) -> None:
    own = _own(settings)
    client = dev_env.client
    async with new_worker(client, own, WORKFLOWS, _activities(own), task_queue=own.temporal_task_queue):
        await (await start_conservation(own, add_invoice(own), client)).result()
        assert await ensure_verify_schedule(own, client, as_user=operator(own)) in ("created", "updated")
        assert await ensure_verify_schedule(own, client, every_days=3, as_user=operator(own)) == "updated"
        schedule = client.get_schedule_handle(SCHEDULE_ID)
        try:
            desc = await schedule.describe()
            assert desc.schedule.spec.intervals[0].every.days == 3
            await schedule.trigger()

            async def ran() -> str:
                actions = (await schedule.describe()).info.recent_actions
                assert actions, "no scheduled run yet"
                return actions[-1].action.workflow_id

            run_id = await assert_eventually(ran, timeout=20)
            report = await client.get_workflow_handle(run_id, result_type=VerifyReport).result()
        finally:
            await schedule.delete()
    assert report.ok and report.packages == 1


async def test_other_bytes_under_a_locked_key_fail_the_workflow_and_record_nothing(
        settings: Settings, db: str, dev_env: WorkflowEnvironment) -> None:
    from temporalio.client import WorkflowFailureError

    from devstack.s3 import s3_client
    from domain.archive.index import package_id_for

    own = _own(settings)
    inp = add_invoice(own)
    prefix = f"IT02038490237/2026/{package_id_for('IT02038490237', 'invoice', inp.owner_id)}/"
    s3_client(own).put_object(Bucket=own.s3_bucket, Key=prefix + inp.metadata.sdi_file_name, Body=b"squatter")
    async with new_worker(dev_env.client, own, WORKFLOWS, _activities(own), task_queue=own.temporal_task_queue):
        handle = await start_conservation(own, inp, dev_env.client)
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
        assert (await handle.query(ConservationWorkflow.state)).status == "failed"
    cause = err.value.cause.cause  # type: ignore[union-attr]
    assert cause.type == "ArchiveFault" and "never overwritten" in cause.message  # type: ignore[union-attr]
    assert (await handle.describe()).typed_search_attributes.get(BUSINESS_STATUS) == "conservation-failed"
    assert _counts(own) == (0, 0)


@workflow.defn(name="ConservationWorkflow", sandboxed=False)
class ConservationRecordsFirst:
    """A wrong change: recording before storing. Replaying the recorded history must refuse it."""

    @workflow.run
    async def run(self, inp: ConservationInput) -> None:
        await workflow.execute_activity("archive_record_package", inp, start_to_close_timeout=timedelta(seconds=5))


async def test_a_changed_order_of_steps_does_not_replay() -> None:
    history = WorkflowHistory.from_json("conserve-recorded", HISTORY.read_text())
    with pytest.raises(NondeterminismError):
        await Replayer(workflows=[ConservationRecordsFirst]).replay_workflow(history)
