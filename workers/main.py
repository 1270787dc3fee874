"""The worker: runs every workflow and activity on the task queue until interrupted.

`einvoice worker` or `python -m workers.main`. Activities are synchronous functions (SQLAlchemy, boto3,
smtplib) run on a thread pool; workflows run in Temporal's sandbox.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from activities import ACTIVITY_SLOTS
from core.db import migrate
from core.settings import Settings, get_settings
from core.temporal import connect, ensure_search_attributes
from workers import registry, schedules

log = logging.getLogger("einvoice.worker")


def build_worker(client: Client, settings: Settings, executor: ThreadPoolExecutor,
                 task_queue: str | None = None) -> Worker:
    return Worker(
        client,
        task_queue=task_queue or settings.temporal_task_queue,
        workflows=registry.workflows(),
        activities=registry.activities(settings, client),
        activity_executor=executor,
        max_concurrent_activities=ACTIVITY_SLOTS,
        max_concurrent_local_activities=ACTIVITY_SLOTS,  # they share the executor's threads
    )


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    migrate(settings.database_url)
    client = await connect(settings)
    try:
        await ensure_search_attributes(client, settings.temporal_namespace)
    except Exception as err:  # e.g. no operator permission on a managed cluster: the UI filters suffer only
        log.warning("could not register search attributes: %s", err)
    # The weekly archive verification and the notification sweep (idempotent: an existing schedule is
    # updated, not duplicated).
    for what, ensure in (("archive verification", schedules.ensure_archive_verify_schedule),
                         ("notification sweep", schedules.ensure_notification_sweep_schedule)):
        try:
            await ensure(client, settings)
        except Exception as err:
            log.warning("could not create the %s schedule: %s", what, err)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError) as err:  # not the main thread (tests, the demo), or Windows
            log.debug("no %s handler (%s): the caller stops the worker through `stop`", sig.name, err)
    with ThreadPoolExecutor(max_workers=ACTIVITY_SLOTS, thread_name_prefix="activity") as executor:
        worker = build_worker(client, settings, executor)
        log.info("worker listening on task queue %s at %s", settings.temporal_task_queue,
                 settings.temporal_address)
        async with worker:
            await stop.wait()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    asyncio.run(run_worker(get_settings()))


if __name__ == "__main__":
    main()
