"""The cost counter of the benchmarks (bench/history.py) on recorded histories: events and Temporal Cloud
actions, local activities and version markers told apart."""

from __future__ import annotations

from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from bench.history import cost_of

HISTORIES = Path(__file__).parent / "histories"


def recorded(name: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())


def test_the_delivered_invoice_costs_its_starts_activities_signal_and_upserts() -> None:
    cost = cost_of(recorded("invoice_send"))
    assert cost.events == len(list(recorded("invoice_send").events))
    # started, transmit, the RC signal, the child's start, BusinessStatus sent and delivered, two local
    # activities (prepare, outcome), the SDI silence timer (cancelled by the RC)
    assert cost.by_type["ACTIVITY_TASK_SCHEDULED"] == 1 and cost.local_activities == 2
    assert cost.by_type["TIMER_STARTED"] == 1 and cost.by_type["TIMER_CANCELED"] == 1
    assert cost.actions == 1 + 1 + 1 + 1 + 2 + 2 + 1


def test_a_version_marker_and_its_change_version_upsert_are_not_actions() -> None:
    history = recorded("conservation")
    before = cost_of(history)
    marker = HistoryEvent(event_type=EventType.EVENT_TYPE_MARKER_RECORDED)
    marker.marker_recorded_event_attributes.marker_name = "core_patch"
    upsert = HistoryEvent(event_type=EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES)
    upsert.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields[
        "TemporalChangeVersion"].data = b'["record-as-local-activity-1"]'
    patched = cost_of(WorkflowHistory(history.workflow_id, [*history.events, marker, upsert]))
    assert patched.events == before.events + 2
    assert patched.actions == before.actions
    assert patched.local_activities == before.local_activities == 1


def test_an_activity_retry_is_an_action() -> None:
    history = recorded("conservation")
    events = list(history.events)
    started = next(e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    started.activity_task_started_event_attributes.attempt = 3
    retried = cost_of(WorkflowHistory(history.workflow_id, events))
    assert retried.actions == cost_of(recorded("conservation")).actions + 2
