"""`python -m tests.faults.worker_proc`: the real worker (every workflow and activity of the registry) with
the kill interceptor, plus any extra workflows named in FAULT_EXTRA_WORKFLOWS ("module:Class,...")."""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
from concurrent.futures import ThreadPoolExecutor

from temporalio.worker import Worker

from core.settings import Settings
from core.temporal import connect
from tests.faults.killer import KillAtBoundary
from workers import registry


def extra_workflows() -> list[type]:
    found = []
    for ref in filter(None, os.environ.get("FAULT_EXTRA_WORKFLOWS", "").split(",")):
        module, _, name = ref.partition(":")
        found.append(getattr(importlib.import_module(module), name))
    return found


async def main() -> None:
    settings = Settings()
    client = await connect(settings)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(max_workers=16) as executor:
        async with Worker(client, task_queue=settings.temporal_task_queue,
                          workflows=registry.workflows() + extra_workflows(),
                          activities=registry.activities(settings), activity_executor=executor,
                          interceptors=[KillAtBoundary()]):
            print("worker ready", flush=True)
            await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
