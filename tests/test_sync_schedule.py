"""The in-stack sync (#15.2): a Temporal Schedule per customer keeps a copy in step, paused and resumed, acting
for the operator who scheduled it and asking the policy every round."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, select
from temporalio import activity
from temporalio.client import Client, ScheduleOverlapPolicy, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.customer_sync import CustomerSyncActivities
from api.main import create_app
from core.db import session_scope
from core.search_attributes import BUSINESS_STATUS, CUSTOMER_KEY
from core.search_keys import SearchKeys
from core.settings import Settings
from domain.errors import Forbidden, InvalidInput
from models import audit, feed
from models.files import store_file
from models.identity import User
from models.sync_io import CustomerSyncInput, CustomerSyncReport
from models.sync_targets import SyncTarget
from models.tenant import add_tenant, get_tenant_row
from starters.cli import app as cli
from starters.sync_schedules import describe_sync, pause_sync, schedule_sync, unschedule_sync
from sync.schema import TABLES
from tests.cli_support import flat, in_process_api, login, runner
from tests.helpers import assert_eventually, new_worker, record_history
from tests.identity_support import bearer, issue_token, principal
from workers.schedules import customer_sync_schedule_id
from workflows.customer_sync import CustomerSyncWorkflow

A = "IT02038490237"


def _customer(db: str, files: int = 2, prefix: str = "f") -> None:
    with session_scope(db) as session:
        add_tenant(session, A, "ACME S.p.A.", "acme@pec.example.it", None)
    _files(db, files, prefix)


def _files(db: str, n: int, prefix: str) -> None:
    with session_scope(db) as session:
        tid = get_tenant_row(session, A).id
        for i in range(n):
            store_file(session, tid, "invoice", f"{A}_{prefix}", "original", f"{prefix}{i}.xml", "application/xml",
                       b"<doc n='%d' p='%s'/>" % (i, prefix.encode()))


def _copy(path: Path) -> dict[str, set[str]]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return {kind: {r.key for r in conn.execute(select(table.c.key))} for kind, table in TABLES.items()}
    finally:
        engine.dispose()


def _source(db: str) -> dict[str, set[str]]:
    with session_scope(db) as session:
        snap = feed.snapshot(session, get_tenant_row(session, A).id)
    return {kind: {str(r["key"]) for r in snap["rows"].get(kind, [])} for kind in TABLES}


@asynccontextmanager
async def _worker(client: Client, settings: Settings) -> AsyncIterator[None]:
    async with new_worker(client, settings, [CustomerSyncWorkflow], [CustomerSyncActivities(settings).apply_feed],
                          task_queue=settings.temporal_task_queue):
        yield


async def _round(client: Client, settings: Settings, vat: str, before: int) -> Any:
    """Trigger a round now and wait for it to close; its handle."""
    handle = client.get_schedule_handle(customer_sync_schedule_id(SearchKeys(settings).customer(vat)))
    await handle.trigger()

    async def closed() -> Any:
        actions = (await handle.describe()).info.recent_actions
        assert len(actions) > before
        started = actions[-1].action
        run = client.get_workflow_handle(started.workflow_id, run_id=started.first_execution_run_id)
        assert (await run.describe()).status != WorkflowExecutionStatus.RUNNING
        return run

    return await assert_eventually(closed, timeout=60, interval=0.2)


async def test_a_scheduled_sync_keeps_the_copy_in_step_paused_resumed_and_refused(
        dev_env: WorkflowEnvironment, settings: Settings, db: str, tmp_path: Path) -> None:
    own = settings.model_copy(update={"temporal_task_queue": f"tq-{uuid.uuid4()}"})
    client = dev_env.client
    _customer(db)
    ops = principal(own)
    target = tmp_path / "copy.db"
    sched = await schedule_sync(own, A, f"sqlite:///{target}", 30, client, as_user=ops)
    key = SearchKeys(own).customer(A)
    assert sched.schedule_id == f"sync-{key}" and A not in sched.schedule_id
    assert (sched.every_minutes, sched.paused) == (30, False)
    handle = client.get_schedule_handle(sched.schedule_id)
    try:
        desc = await handle.describe()
        assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert desc.schedule.policy.catchup_window == timedelta(minutes=30)
        assert desc.schedule.spec.intervals[0].every == timedelta(minutes=30)
        with session_scope(db) as session:  # the URL is sealed: not in clear in our database
            row = session.scalars(select(SyncTarget)).one()
            assert str(target) not in row.database_url_sealed

        async with _worker(client, own):
            run = await _round(client, own, A, 0)
            report = await run.result()
            assert report["resynced"] and report["files"] == 2 and report["behind"] == 0
            assert _copy(target) == _source(db) and len(_copy(target)["file"]) == 2
            info = await run.describe()
            assert info.typed_search_attributes.get(CUSTOMER_KEY) == key
            assert info.typed_search_attributes.get(BUSINESS_STATUS) == "caught-up"
            assert A not in run.id
            await record_history(client, run.id, "customer_sync")

            # paused: the note says who; the rounds wait; resumed, the next round catches up what was added
            paused = await pause_sync(own, A, True, "month-end close", client, as_user=ops)
            assert paused.paused and "month-end close" in paused.note and ops.label in paused.note
            _files(db, 3, "g")
            resumed = await pause_sync(own, A, False, client=client, as_user=ops)
            assert not resumed.paused
            await _round(client, own, A, 1)
            assert _copy(target) == _source(db) and len(_copy(target)["file"]) == 5
            seen = await describe_sync(own, A, client, as_user=ops)
            assert seen.last_success_at and seen.last_behind == 0 and seen.last_error is None

            # the operator who scheduled it is deactivated: the next round is refused, says why, retries not
            with session_scope(db) as session:
                session.get(User, ops.user_id).active = False  # type: ignore[union-attr]
            _files(db, 1, "h")
            run = await _round(client, own, A, 2)
            with pytest.raises(WorkflowFailureError):
                await run.result()
            assert (await run.describe()).typed_search_attributes.get(BUSINESS_STATUS) == "failed"
            assert len(_copy(target)["file"]) == 5  # nothing applied for a refused round
            with session_scope(db) as session:
                row = session.scalars(select(SyncTarget)).one()
                assert row.last_error and "no longer active" in row.last_error
                entries = session.scalars(select(audit.AuditEntry).where(audit.AuditEntry.surface == "schedule")
                                          .order_by(audit.AuditEntry.id)).all()
            assert [e.outcome.split(":")[0] for e in entries] == ["ok", "ok", "refused"]
            assert all(e.customer_vat == A and e.action == "feed.read" for e in entries)
    finally:
        with session_scope(db) as session:
            session.get(User, ops.user_id).active = True  # type: ignore[union-attr]
        await unschedule_sync(own, A, client, as_user=principal(own))
    with session_scope(db) as session:
        assert session.scalars(select(SyncTarget)).first() is None
    with pytest.raises(Exception, match="not found|NOT_FOUND|not exist"):
        await handle.describe()


async def test_scheduling_refusals_write_nothing(settings: Settings, db: str, tmp_path: Path) -> None:
    """Refused before Temporal is asked (there is none here): a customer user may not schedule, a relative
    SQLite path or another database is named as wrong; nothing is written."""
    _customer(db, 0)
    ops, customer = principal(settings), principal(settings, "customer", "c@acme.example", A)
    with pytest.raises(Forbidden, match="operators"):
        await schedule_sync(settings, A, f"sqlite:///{tmp_path}/c.db", as_user=customer)
    for url, words in (("sqlite:///relative.db", "absolute path"), ("mysql://h/db", "not supported"),
                       ("sqlite://", "needs a file"), ("not a url", "not a database URL")):
        with pytest.raises(InvalidInput, match=words):
            await schedule_sync(settings, A, url, as_user=ops)
    with pytest.raises(InvalidInput, match="at least 5"):
        await schedule_sync(settings, A, f"sqlite:///{tmp_path}/c.db", 2, as_user=ops)
    with session_scope(db) as session:
        assert session.scalars(select(SyncTarget)).first() is None


async def test_the_routes_refuse_a_customer_user_and_hide_another_customer(settings: Settings, db: str) -> None:
    _customer(db, 0)
    principal(settings, "customer", "c@acme.example", A)
    app = create_app(settings, run_migrations=False)
    app.state.temporal = object()  # never reached: every request here is refused first
    headers = bearer(issue_token(settings, "c@acme.example"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api",
                                 headers=headers) as api:
        r = await api.put(f"/customers/{A}/sync-schedule", json={"database_url": "sqlite:////tmp/x.db"})
        assert r.status_code == 403 and "sync.schedule" in r.text
        r = await api.post("/customers/IT00743110157/sync-schedule/pause", json={})
        assert r.status_code == 404


@activity.defn(name="customer_sync_apply_feed")
async def _flaky_round(inp: CustomerSyncInput) -> CustomerSyncReport:
    """Fails twice (a target that is down), then applies; target 0 is refused for good."""
    if inp.target_id == 0:
        raise ApplicationError("user:x may no longer read the feed", type="SyncRefused", non_retryable=True)
    if activity.info().attempt < 3:
        raise RuntimeError("the copy's database is down")
    return CustomerSyncReport(applied=7, pages=1, behind=0)


async def test_a_round_retries_a_down_target_and_stops_at_a_refusal(time_env: WorkflowEnvironment,
                                                                     settings: Settings) -> None:
    tq = f"tq-{uuid.uuid4()}"
    async with new_worker(time_env.client, settings, [CustomerSyncWorkflow], [_flaky_round], task_queue=tq):
        report = await time_env.client.execute_workflow(CustomerSyncWorkflow.run, CustomerSyncInput(1),
                                                        id=f"sync-t-{uuid.uuid4()}", task_queue=tq)
        assert report.applied == 7
        with pytest.raises(WorkflowFailureError) as err:
            await time_env.client.execute_workflow(CustomerSyncWorkflow.run, CustomerSyncInput(0),
                                                   id=f"sync-t-{uuid.uuid4()}", task_queue=tq)
        assert "may no longer read" in str(err.value.cause.cause)  # type: ignore[union-attr]


def test_the_history_input_holds_no_database_url() -> None:
    """What crosses the workflow boundary is the target's id: the sealed URL never enters a history."""
    events = json.loads((Path(__file__).parent / "histories" / "customer_sync.json").read_text())["events"]
    payloads = events[0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"]
    assert [json.loads(base64.b64decode(p["data"])) for p in payloads] == [{"target_id": 1}]


async def test_the_cli_schedules_pauses_shows_and_removes(dev_env: WorkflowEnvironment, settings: Settings, db: str,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`einvoice sync schedule/pause/resume/unschedule` as an operator through the API (the CLI is a client);
    a customer user is refused scheduling with the permission named."""
    own = settings.model_copy(update={"temporal_address": dev_env.client.service_client.config.target_host,
                                      "temporal_task_queue": f"tq-{uuid.uuid4()}"})
    _customer(db, 0)
    copy = tmp_path / "cli-copy.db"

    def run(*args: str) -> Any:
        return runner.invoke(cli, list(args))

    def steps() -> None:
        with in_process_api(own, monkeypatch, tmp_path / "config"):
            login(own)
            done = run("sync", "schedule", "--vat", A, "--database-url", f"sqlite:///{copy}", "--every", "45m")
            assert done.exit_code == 0, done.output
            assert "every 45 minutes, active" in flat(done.output) and A in done.output
            paused = run("sync", "pause", "--vat", A, "--note", "audit week", "--json")
            assert paused.exit_code == 0 and json.loads(paused.output)["paused"] is True
            assert "audit week" in json.loads(paused.output)["note"]
            shown = run("sync", "schedule", "--vat", A)
            assert shown.exit_code == 0 and "paused" in flat(shown.output) and "never" in flat(shown.output)
            assert run("sync", "resume", "--vat", A).exit_code == 0
            assert run("sync", "schedule", "--vat", A, "--database-url", "sqlite:///rel.db").exit_code == 2
            gone = run("sync", "unschedule", "--vat", A)
            assert gone.exit_code == 0, gone.output
            assert run("sync", "schedule", "--vat", A).exit_code == 4
            login(own, "customer", "cust-cli@acme.example", A)
            refused = run("sync", "schedule", "--vat", A, "--database-url", f"sqlite:///{copy}")
            assert refused.exit_code == 6 and "sync.schedule" in flat(refused.output)

    await asyncio.to_thread(steps)


async def test_the_demo_step_syncs_into_sqlite_both_ways_and_prints_the_copy(
        dev_env: WorkflowEnvironment, settings: Settings, db: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from fastapi.testclient import TestClient

    from devstack import demo_http, demo_sync

    own = settings.model_copy(update={"temporal_address": dev_env.client.service_client.config.target_host,
                                      "temporal_task_queue": f"tq-{uuid.uuid4()}", "data_dir": tmp_path,
                                      "public_base_url": "http://demo.invalid",
                                      "payload_codec_key": SecretStr("off")})  # the test's worker has no codec
    _customer(db, 2)
    principal(own)
    token = issue_token(own, "operator@einvoice-hub.test")
    app = create_app(own, run_migrations=False)

    def client(*_: Any) -> TestClient:
        return TestClient(app, headers=bearer(token), raise_server_exceptions=False)

    web = client()
    for verb in ("get", "put"):
        monkeypatch.setattr(demo_http.httpx, verb, lambda url, _v=verb, **kw: getattr(web, _v)(
            url.replace(own.public_base_url, ""), **kw))
    monkeypatch.setattr(demo_sync, "api_client", client)
    monkeypatch.setattr(demo_sync, "console", demo_sync.Console(width=200))
    try:
        async with _worker(dev_env.client, own):
            await asyncio.to_thread(demo_sync.step_sync, own, {"vat": A, "operator_token": token})
    finally:
        await unschedule_sync(own, A, dev_env.client, as_user=principal(own))
    out = flat(capsys.readouterr().out)
    assert "2 documents downloaded and checked" in out and "one round triggered now" in out
    assert re.search(r"\bfiles\W+2\W", out), out  # the table of what the copy holds: 2 documents
    for name in (f"{A}-own-server.db", f"{A}-in-stack.db"):
        assert _copy(tmp_path / "demo-sync" / name) == _source(db)
