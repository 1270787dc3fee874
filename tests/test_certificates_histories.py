"""The certificate workflow's recorded histories cover every path it can park on, not only authorization.

tests/histories/certificate_authorization.json (recorded end to end) holds the request, the authority's
decision and the first continue-as-new. The runs here add the rest of a certificate's life on the
time-skipping server: a reminder timer firing and continuing as new, the expiry timer, a revocation and a
deletion (both updates cutting a timer short). Each scenario runs and is checked on every test run; its
histories are written only when re-recording is asked for (EINVOICE_RECORD_HISTORIES=1), and
`test_the_recorded_histories_cover_every_path` checks the committed files hold what this module says they do,
so a history that lost its timer or its update fails here, not silently in the replay test.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from devstack.smtp_sink import Mailbox
from domain.certificates import workflow_id
from models.certificates_io import DeleteRequest, RevokeRequest
from tests.certificates_support import Rig, make_rig
from tests.helpers import HISTORIES, save_history
from workflows.certificate_authorization import CertificateAuthorizationWorkflow

E = EventType


@pytest.fixture
async def rig(time_env: WorkflowEnvironment, settings: Settings, db: str, mailbox: Mailbox,
              tmp_path: Path) -> AsyncIterator[Rig]:
    async with make_rig(time_env, settings, db, mailbox, tmp_path) as made:
        yield made


async def runs_of(rig: Rig, op: str) -> list[WorkflowHistory]:
    """Every run of the certificate's workflow, first to last, following continue-as-new back."""
    runs: list[WorkflowHistory] = []
    run_id: str | None = None
    while True:
        history = await rig.client.get_workflow_handle(workflow_id(op), run_id=run_id).fetch_history()
        runs.insert(0, history)
        previous = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        if not previous:
            return runs
        run_id = previous


def kinds(history: WorkflowHistory) -> set[int]:
    return {event.event_type for event in history.events}


def updates(history: WorkflowHistory) -> set[str]:
    return {e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
            for e in history.events if e.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED}


def record(name: str, history: WorkflowHistory) -> None:
    save_history(HISTORIES / f"certificate_authorization.{name}.json", history.to_json_dict())


async def test_reminders_then_expiry(rig: Rig) -> None:
    op = await rig.request()
    assert (await rig.result(op)).state == "expired"
    runs = await runs_of(rig, op)
    reminder = next(r for r in runs[1:] if E.EVENT_TYPE_TIMER_FIRED in kinds(r)
                    and E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW in kinds(r))
    last = runs[-1]
    assert {E.EVENT_TYPE_TIMER_FIRED, E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED} <= kinds(last)
    record("reminder", reminder)
    record("expiry", last)


async def test_revoked_while_waiting_for_a_reminder(rig: Rig) -> None:
    op = await rig.request()
    await rig.active(op)
    handle = rig.client.get_workflow_handle_for(CertificateAuthorizationWorkflow.run, workflow_id(op))
    await handle.execute_update(CertificateAuthorizationWorkflow.revoke, RevokeRequest("key-lost", "test"))
    assert (await rig.result(op)).state == "revoked"
    last = (await runs_of(rig, op))[-1]
    assert updates(last) == {"revoke"}
    record("revoke", last)


async def test_deleted_while_waiting_for_a_reminder(rig: Rig) -> None:
    op = await rig.request()
    await rig.active(op)
    handle = rig.client.get_workflow_handle_for(CertificateAuthorizationWorkflow.run, workflow_id(op))
    await handle.execute_update(CertificateAuthorizationWorkflow.delete, DeleteRequest("test"))
    assert (await rig.result(op)).state == "deleted"
    last = (await runs_of(rig, op))[-1]
    assert updates(last) == {"delete"}
    record("delete", last)


EXPECTED: dict[str, tuple[set[int], set[str]]] = {
    "reminder": ({E.EVENT_TYPE_TIMER_FIRED, E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW}, set()),
    "expiry": ({E.EVENT_TYPE_TIMER_FIRED, E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED}, set()),
    "revoke": ({E.EVENT_TYPE_TIMER_STARTED, E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED}, {"revoke"}),
    "delete": ({E.EVENT_TYPE_TIMER_STARTED, E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED}, {"delete"}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_recorded_histories_cover_every_path(name: str) -> None:
    path = HISTORIES / f"certificate_authorization.{name}.json"
    assert path.exists(), f"{path.name} is missing: record it with EINVOICE_RECORD_HISTORIES=1"
    history = WorkflowHistory.from_json(name, json.loads(path.read_text()))
    assert history.events[0].workflow_execution_started_event_attributes.workflow_type.name == \
        "CertificateAuthorization"
    events, names = EXPECTED[name]
    assert events <= kinds(history), f"{path.name} lacks {events - kinds(history)}"
    assert updates(history) == names
