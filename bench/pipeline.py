"""Invoices end to end on the embedded stack against Temporal's floor, and what one invoice costs in Temporal.

Pipeline: `send_invoice` (accept: schema, SDI rules, record, start) → the invoice workflow (prepare: check
again, sign CAdES, store; transmit to the local SDI; the RC arrives through our API's TrasmissioneFatture
endpoint as a signal; outcome recorded and e-mailed) → its conservation child (package stored on S3 under
Object Lock, read back and checked; recorded). An invoice counts when its conservation child has completed.

Floor: the same shape with nothing in it — a parent workflow of as many no-op activities as the invoice
workflow runs on the RC path, starting (ABANDON) a child of as many no-op activities as conservation runs —
on the same dev server, with a worker of the same size, the same number in flight. The two alternate
(floor, pipeline, pipeline, floor) so a slow patch of the machine hits both alike.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

from bench.floor import noop
from bench.history import Cost, cost_of
from bench.stack import VAT, Stack, cpu_by_process, invoice, operator

# What the invoice workflow runs on the RC path: prepare, transmit, apply_outcome; then conservation:
# store_package, record_package. Checked against the recorded history by `pipeline_shape`. Prepare, the
# outcome and the record are local activities; the floor runs all five as regular ones, as the issue sets it
# ("the same number of no-op activities").
INVOICE_ACTIVITIES = 3
CONSERVATION_ACTIVITIES = 2
SIGN = "cades"
SDI_DELAY = 0.1  # seconds the local SDI waits before it sends the RC


@dataclass
class FloorPipelineInput:
    parent_activities: int
    child_activities: int
    child_id: str


@workflow.defn(name="BenchFloorChild", sandboxed=False)
class FloorChildWorkflow:
    @workflow.run
    async def run(self, activities: int) -> int:
        total = 0
        for step in range(activities):
            total += await workflow.execute_activity(noop, step, start_to_close_timeout=timedelta(seconds=30))
        return total


@workflow.defn(name="BenchFloorPipeline", sandboxed=False)
class FloorPipelineWorkflow:
    """A parent of N no-op activities that starts a child of M, and does not wait for it (ABANDON)."""

    @workflow.run
    async def run(self, inp: FloorPipelineInput) -> int:
        total = 0
        for step in range(inp.parent_activities):
            total += await workflow.execute_activity(noop, step, start_to_close_timeout=timedelta(seconds=30))
        await workflow.start_child_workflow(FloorChildWorkflow.run, inp.child_activities, id=inp.child_id,
                                            parent_close_policy=workflow.ParentClosePolicy.ABANDON)
        return total


async def run_many(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def bounded(i: int) -> None:
        async with sem:
            await one(i)

    began = time.perf_counter()
    await asyncio.gather(*(bounded(i) for i in range(count)))
    return time.perf_counter() - began


class FloorRunner:
    def __init__(self, client: Client, task_queue: str, parent_activities: int = INVOICE_ACTIVITIES,
                 child_activities: int = CONSERVATION_ACTIVITIES):
        self.client = client
        self.task_queue = task_queue
        self.parent_activities, self.child_activities = parent_activities, child_activities
        self.serial = 0

    async def one(self, _: int) -> None:
        self.serial += 1
        wf_id = f"{self.task_queue}-{self.serial}"
        await self.client.execute_workflow(
            FloorPipelineWorkflow.run,
            FloorPipelineInput(self.parent_activities, self.child_activities, f"{wf_id}-c"),
            id=wf_id, task_queue=self.task_queue)
        await self.client.get_workflow_handle(f"{wf_id}-c").result()


class PipelineRunner:
    """FatturaPA invoices through the SDI channel (what `pipeline` measures)."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.serial = 0
        self.states: dict[str, int] = {}
        self.last: tuple[str, str] | None = None  # (invoice workflow id, conservation workflow id)

    async def one(self, _: int) -> None:
        from starters.archive import conservation_workflow_id
        from starters.invoices import send_invoice

        self.serial += 1
        s = self.stack
        view = await send_invoice(s.settings, VAT, invoice(f"B{self.serial}"), f"bench-{self.serial}.xml",
                                  sign=SIGN, client=s.client, task_queue=s.task_queue, as_user=operator(s.settings))
        status = await s.client.get_workflow_handle(view.workflow_id).result()
        state = str(status["state"])
        self.states[state] = self.states.get(state, 0) + 1
        child = conservation_workflow_id(s.settings, "invoice", view.id)
        await s.client.get_workflow_handle(child).result()
        self.last = (view.workflow_id, child)

    def describe(self) -> dict[str, Any]:
        return {"sign": SIGN, "sdi_delay_seconds": SDI_DELAY}

    async def shape(self) -> dict[str, int]:
        assert self.last is not None
        return await pipeline_shape(self.stack.client, *self.last)


class Runner(Protocol):
    """What `throughput` runs against the floor: one invoice end to end per `one`, the final states seen, and
    what was measured (`describe`) and its recorded shape (`shape`)."""

    states: dict[str, int]

    async def one(self, i: int) -> None: ...

    def describe(self) -> dict[str, Any]: ...

    async def shape(self) -> dict[str, Any]: ...


async def pipeline_shape(client: Client, invoice_wf: str, child_wf: str) -> dict[str, int]:
    """Activities and workflows of one invoice as recorded, to check the floor has the same shape."""
    parent = cost_of(await client.get_workflow_handle(invoice_wf).fetch_history())
    child = cost_of(await client.get_workflow_handle(child_wf).fetch_history())
    return {"invoice_activities": parent.by_type.get("ACTIVITY_TASK_SCHEDULED", 0) + parent.local_activities,
            "invoice_local_activities": parent.local_activities,
            "conservation_activities": child.by_type.get("ACTIVITY_TASK_SCHEDULED", 0) + child.local_activities,
            "conservation_local_activities": child.local_activities,
            "workflows": 2}


async def throughput(stack: Stack, count: int, concurrency: int, log: Callable[[str], None],
                     pipe: Runner | None = None,
                     floor_shape: tuple[int, int] = (INVOICE_ACTIVITIES, CONSERVATION_ACTIVITIES)) -> dict[str, Any]:
    """`count` of each, in slices of `concurrency` alternating floor, pipeline, pipeline, floor, …; wall time
    and CPU time (by process) are summed per contender. `pipe`: the FatturaPA pipeline unless given;
    `floor_shape`: the no-op activities of the floor's parent and child, as many as `pipe` runs."""
    floor_tq = f"bench-floor-pipeline-{time.time_ns()}"
    floor = FloorRunner(stack.env.client, floor_tq, *floor_shape)
    pipe = pipe or PipelineRunner(stack)
    runners: dict[str, Callable[[int], Awaitable[None]]] = {"floor": floor.one, "pipeline": pipe.one}
    seconds = dict.fromkeys(runners, 0.0)
    done = dict.fromkeys(runners, 0)
    cpu: dict[str, dict[str, float]] = {name: {} for name in runners}
    with ThreadPoolExecutor(max_workers=32, thread_name_prefix="floor") as executor:
        # The product's worker size (workers.main.build_worker): 32 threads, 32 activities at once.
        async with Worker(stack.env.client, task_queue=floor_tq,
                          workflows=[FloorPipelineWorkflow, FloorChildWorkflow], activities=[noop],
                          activity_executor=executor, max_concurrent_activities=32):
            warm = min(concurrency, 10)
            for one in runners.values():
                await run_many(warm, warm, one)
            pipe.states.clear()
            size = min(count, concurrency)
            slices = max(1, count // size)
            order = [name for i in range(slices) for name in (("floor", "pipeline") if i % 2 == 0
                                                               else ("pipeline", "floor"))]
            for name in order:
                n = size
                before = cpu_by_process()
                took = await run_many(n, concurrency, runners[name])
                after = cpu_by_process()
                seconds[name] += took
                done[name] += n
                for role, value in after.items():
                    cpu[name][role] = cpu[name].get(role, 0.0) + value - before.get(role, 0.0)
                log(f"   {name}: {n} in {took:.1f} s ({n / took:.2f}/s)")
    shape = await pipe.shape()
    rate = {name: done[name] / seconds[name] for name in runners}
    cpu_ms = {name: {role: round(v * 1000 / done[name]) for role, v in sorted(cpu[name].items())}
              for name in runners}
    total_cpu = {name: sum(cpu_ms[name].values()) for name in runners}
    return {
        "invoices": done["pipeline"], "floor_items": done["floor"], "concurrency": concurrency, **pipe.describe(),
        "pipeline_seconds": round(seconds["pipeline"], 2), "pipeline_per_second": round(rate["pipeline"], 2),
        "floor_seconds": round(seconds["floor"], 2), "floor_per_second": round(rate["floor"], 2),
        "ratio": round(rate["pipeline"] / rate["floor"], 3), "goal_ratio": 0.7,
        "cpu_ms_per_item": cpu_ms, "cpu_ms_per_item_total": total_cpu,
        "cpu_ratio": round(total_cpu["floor"] / total_cpu["pipeline"], 3),
        "final_states": pipe.states, "shape": shape,
        "floor_shape": {"parent_activities": floor_shape[0], "child_activities": floor_shape[1], "workflows": 2},
    }


# ------------------------------------------------------------------------------------------------ cost


def cost_row(cost: Cost) -> dict[str, Any]:
    return {"events": cost.events, "actions": cost.actions, "local_activities": cost.local_activities,
            "by_type": dict(sorted(cost.by_type.items()))}


async def invoice_cost(stack: Stack, data: bytes, name: str) -> dict[str, Any]:
    """Send one invoice, wait until it is conserved, and read both histories."""
    from starters.archive import conservation_workflow_id
    from starters.invoices import send_invoice

    s = stack
    view = await send_invoice(s.settings, VAT, data, name, sign=SIGN, client=s.client, task_queue=s.task_queue,
                              as_user=operator(s.settings))
    status = await s.client.get_workflow_handle(view.workflow_id).result()
    child_id = conservation_workflow_id(s.settings, "invoice", view.id)
    await s.client.get_workflow_handle(child_id).result()
    parent = cost_of(await s.client.get_workflow_handle(view.workflow_id).fetch_history())
    child = cost_of(await s.client.get_workflow_handle(child_id).fetch_history())
    # The child's start is one action (Temporal Cloud: "Workflow started … via Child Workflow start"), seen
    # twice: StartChildWorkflowExecutionInitiated in the parent, WorkflowExecutionStarted in the child.
    return {
        "final_state": status["state"],
        "invoice_workflow": cost_row(parent), "conservation_workflow": cost_row(child),
        "total_events": parent.events + child.events, "total_actions": parent.actions + child.actions - 1,
    }


async def floor_shape_cost(client: Client) -> dict[str, Any]:
    """The same shape bare: 3 no-op activities, then a child of 2."""
    task_queue = f"bench-floor-cost-{time.time_ns()}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(client, task_queue=task_queue, workflows=[FloorPipelineWorkflow, FloorChildWorkflow],
                          activities=[noop], activity_executor=executor):
            runner = FloorRunner(client, task_queue)
            await runner.one(0)
    parent = cost_of(await client.get_workflow_handle(f"{task_queue}-1").fetch_history())
    child = cost_of(await client.get_workflow_handle(f"{task_queue}-1-c").fetch_history())
    return {"parent": cost_row(parent), "child": cost_row(child), "total_events": parent.events + child.events,
            "total_actions": parent.actions + child.actions - 1}
