"""The floor Temporal itself sets: a bare workflow running N no-op activities one after another."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow


@dataclass
class FloorInput:
    activities: int


@activity.defn(name="bench_noop")
def noop(step: int) -> int:
    return step


@workflow.defn(name="BenchFloor", sandboxed=False)
class FloorWorkflow:
    @workflow.run
    async def run(self, inp: FloorInput) -> int:
        total = 0
        for step in range(inp.activities):
            total += await workflow.execute_activity(
                noop, step, start_to_close_timeout=timedelta(seconds=30)
            )
        return total
