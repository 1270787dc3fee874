"""Small test helpers in the style of Temporal's sdk-python tests."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from temporalio.client import Client
from temporalio.worker import Worker

from core.settings import Settings
from devstack.procs import free_port as free_port  # re-exported: the tests' one way to a free port
from workers import registry

T = TypeVar("T")


@asynccontextmanager
async def new_worker(
    client: Client,
    settings: Settings,
    workflows: Sequence[type] | None = None,
    activities: Sequence[Callable[..., Any]] | None = None,
    task_queue: str | None = None,
    **options: Any,
) -> AsyncIterator[Worker]:
    """A worker on a fresh task queue (default: everything the real worker registers); `options` go to
    `Worker` as they are (e.g. a `workflow_runner`)."""
    with ThreadPoolExecutor(max_workers=16) as executor:
        worker = Worker(
            client,
            task_queue=task_queue or f"tq-{uuid.uuid4()}",
            workflows=list(workflows if workflows is not None else registry.workflows()),
            activities=list(activities if activities is not None else registry.activities(settings, client)),
            activity_executor=executor,
            **options,
        )
        async with worker:
            yield worker


async def assert_eventually(
    check: Callable[[], Awaitable[T]], timeout: float = 10.0, interval: float = 0.1
) -> T:
    """Retry an async assertion until it passes or the timeout expires (then re-raise its error)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(interval)


def wait_until(check: Callable[[], bool], timeout: float = 10.0, interval: float = 0.1,
               message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)


HISTORIES = Path(__file__).resolve().parent / "histories"


def recording_histories() -> bool:
    """True when a developer asked to re-record (EINVOICE_RECORD_HISTORIES=1 after an intended workflow change).

    Never under CI: a history recorded by the run that then replays it proves nothing, so CI writes nothing
    into tests/histories/, and a missing history fails tests/test_replay.py instead of being made up."""
    if not os.environ.get("EINVOICE_RECORD_HISTORIES"):
        return False
    if os.environ.get("CI"):
        raise RuntimeError("EINVOICE_RECORD_HISTORIES is refused under CI: histories are recorded by a developer")
    return True


def save_history(path: Path, history_json: dict[str, object]) -> None:
    """Write a recorded history, only when re-recording was asked for (see recording_histories)."""
    if recording_histories():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(history_json, indent=1))


async def record_history(client: Client, workflow_id: str, name: str) -> None:
    """Save a real run's history as tests/histories/<name>.json for the replay test, when re-recording was
    asked for (recording_histories); otherwise nothing is written."""
    if recording_histories():
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        save_history(HISTORIES / f"{name}.json", history.to_json_dict())


@contextmanager
def served_api(settings: Settings, port: int, timeout: float = 30.0) -> Iterator[None]:
    """Our API (create_app on `settings`) served by uvicorn in a thread on 127.0.0.1:`port` for the block: for
    what must reach it over real HTTP (the demo's steps, a browser)."""
    import threading

    import uvicorn

    from api.main import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(settings, run_migrations=False), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout, 0.05, "the API to start")
        yield
    finally:
        server.should_exit = True
        thread.join(20)
