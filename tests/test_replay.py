"""Determinism guard: every recorded history in tests/histories/ replays against today's workflow code.

A change to a workflow that would break running executions (a new activity before an old one, a timer moved)
fails here. Record a new history when a workflow changes on purpose, and keep the old one beside it (with
a `workflow.patched()` branch) while executions of the old shape may still be running — from the first
release on; before it none can be (DEVELOPING.md).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker
from temporalio.workflow import NondeterminismError

from tests.helpers import recording_histories
from workers import registry

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def history_name(workflow_class: type) -> str:
    """tests/histories/<name>.json of a workflow: the name of its module (one workflow per module)."""
    return workflow_class.__module__.rsplit(".", 1)[-1]


def test_every_registered_workflow_has_a_recorded_history() -> None:
    """A missing history fails here: it is never recorded by the run that replays it (CI writes nothing)."""
    recorded = {p.stem for p in HISTORIES}
    missing = sorted(n for n in map(history_name, registry.workflows()) if n not in recorded)
    assert not missing, f"no recorded history for {missing}: record it with EINVOICE_RECORD_HISTORIES=1"


def test_recording_is_refused_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EINVOICE_RECORD_HISTORIES", "1")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(RuntimeError, match="refused under CI"):
        recording_histories()
    monkeypatch.delenv("CI")
    assert recording_histories()
    monkeypatch.delenv("EINVOICE_RECORD_HISTORIES")
    assert not recording_histories()


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    await Replayer(workflows=registry.workflows()).replay_workflow(history)


@dataclass
class Greeting:
    name: str


@activity.defn(name="compose_greeting")
async def compose_greeting(inp: Greeting) -> str:
    return f"Buongiorno, {inp.name}"


@workflow.defn(name="ReplayProbe", sandboxed=False)
class ProbeV1:
    @workflow.run
    async def run(self, inp: Greeting) -> str:
        text = await workflow.execute_activity(compose_greeting, inp, start_to_close_timeout=timedelta(seconds=10))
        await workflow.sleep(timedelta(seconds=1))
        return text


@workflow.defn(name="ReplayProbe", sandboxed=False)
class ProbeV2TimerMoved:
    """The same workflow with its timer moved before the activity: not replay-compatible."""

    @workflow.run
    async def run(self, inp: Greeting) -> str:
        await workflow.sleep(timedelta(seconds=1))
        return await workflow.execute_activity(compose_greeting, inp, start_to_close_timeout=timedelta(seconds=10))


async def test_an_incompatible_change_is_caught(time_env: WorkflowEnvironment) -> None:
    task_queue = f"tq-{uuid.uuid4()}"
    async with Worker(time_env.client, task_queue=task_queue, workflows=[ProbeV1], activities=[compose_greeting]):
        handle = await time_env.client.start_workflow(ProbeV1.run, Greeting("Maria"), id=f"probe-{uuid.uuid4()}",
                                                      task_queue=task_queue)
        assert await handle.result() == "Buongiorno, Maria"
    history = await handle.fetch_history()
    await Replayer(workflows=[ProbeV1]).replay_workflow(history)
    with pytest.raises(NondeterminismError):
        await Replayer(workflows=[ProbeV2TimerMoved]).replay_workflow(history)
