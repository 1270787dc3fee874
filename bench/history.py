"""What a workflow run costs in Temporal: history events and billable actions (as Temporal Cloud counts them).

Actions are counted from the history, by the categories of Temporal Cloud's "Actions" page: a workflow
started (client start, child, continue-as-new), an activity scheduled and each retry, a timer, a signal
received, a search-attribute upsert, an update accepted, a local activity (its marker; one per workflow task
here), a signal sent to another workflow. The marker of `workflow.patched` and its TemporalChangeVersion
upsert are exempt. Queries and heartbeats leave no history event and are not counted here (we use neither on
the measured paths).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

_ONE_ACTION = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
}
LOCAL_ACTIVITY_MARKER = "core_local_activity"  # the marker name the SDK core records for a local activity
CHANGE_VERSION = "TemporalChangeVersion"  # upserted by `workflow.patched`


@dataclass
class Cost:
    events: int
    actions: int
    by_type: dict[str, int]
    local_activities: int = 0

    def __add__(self, other: Cost) -> Cost:
        by_type = Counter(self.by_type)
        by_type.update(other.by_type)
        return Cost(self.events + other.events, self.actions + other.actions, dict(by_type),
                    self.local_activities + other.local_activities)


def cost_of(history: WorkflowHistory) -> Cost:
    events = list(history.events)
    actions = local = 0
    by_type: Counter[str] = Counter()
    for event in events:
        by_type[EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")] += 1
        if event.event_type in _ONE_ACTION:
            actions += 1
        elif event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
            actions += set(fields) != {CHANGE_VERSION}
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            # A local activity is an action; a version marker (`workflow.patched`) is not.
            is_local = event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
            actions += is_local
            local += is_local
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            actions += max(0, event.activity_task_started_event_attributes.attempt - 1)  # retries
    return Cost(len(events), actions, dict(by_type), local)
