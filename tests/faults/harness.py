"""The pieces a fault test steers: a dev server on a SQLite file, a worker subprocess, outage proxies."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from temporalio.client import Client

from core.settings import Settings
from core.temporal import data_converter, search_attribute_flags, temporal_cli_path
from tests.faults.proxy import TcpProxy
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]


class DevServer:
    """`temporal server start-dev` on a SQLite file: stoppable and restartable with its state."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.port = free_port()
        self.ui_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.address = f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "temporal.log").open("ab")
        self.proc = subprocess.Popen(
            [temporal_cli_path(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(self.port),
             "--ui-port", str(self.ui_port), "--headless", "--db-filename", str(self.data_dir / "temporal.db"),
             "--log-level", "error", *search_attribute_flags()],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        # Its own thread and loop: callable from sync fixtures and from inside async tests alike.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, self._wait_ready()).result()

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                await Client.connect(self.address)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


def _with_port(url: str, port: int) -> str:
    parts = urlparse(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"{parts.hostname}:{port}"
    return urlunparse(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


@dataclass
class FaultStack:
    """Settings that reach PostgreSQL, SMTP and S3 through proxies the test can cut."""

    base: Settings
    work_dir: Path
    server: DevServer
    db_proxy: TcpProxy = field(init=False)
    smtp_proxy: TcpProxy = field(init=False)
    s3_proxy: TcpProxy = field(init=False)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        db = urlparse(self.base.database_url)
        s3 = urlparse(self.base.s3_endpoint_url)
        self.db_proxy = TcpProxy(db.hostname or "127.0.0.1", db.port or 5432, free_port()).start()
        self.smtp_proxy = TcpProxy(self.base.smtp_host, self.base.smtp_port, free_port()).start()
        self.s3_proxy = TcpProxy(s3.hostname or "127.0.0.1", s3.port or 80, free_port()).start()

    def settings(self, task_queue: str) -> Settings:
        return self.base.model_copy(update={
            "temporal_address": self.server.address,
            "temporal_task_queue": task_queue,
            "database_url": _with_port(self.base.database_url, self.db_proxy.port),
            "smtp_port": self.smtp_proxy.port,
            "s3_endpoint_url": f"http://127.0.0.1:{self.s3_proxy.port}",
            "data_dir": self.work_dir,
        })

    def env(self, settings: Settings, kill_at: str = "", extra_workflows: str = "",
            state_dir: Path | None = None) -> dict[str, str]:
        env = dict(os.environ)
        for name, spec in Settings.model_fields.items():  # every setting, as the worker will read it
            value = getattr(settings, name)
            value = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            env[spec.alias or name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
        env.update({
            "FAULT_KILL_AT": kill_at, "FAULT_STATE_DIR": str(state_dir or self.work_dir),
            "FAULT_EXTRA_WORKFLOWS": extra_workflows, "PYTHONPATH": str(ROOT),
        })
        return env

    def start_worker(self, settings: Settings, kill_at: str = "", extra_workflows: str = "",
                     state_dir: Path | None = None) -> subprocess.Popen[bytes]:
        """A worker process; `state_dir` keeps which kill points already fired (default: the stack's)."""
        log = (self.work_dir / f"worker-{uuid.uuid4().hex[:8]}.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "tests.faults.worker_proc"],
                                env=self.env(settings, kill_at, extra_workflows, state_dir), cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
        self.workers.append(proc)
        return proc

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.workers.clear()

    async def client(self, settings: Settings) -> Client:
        return await Client.connect(settings.temporal_address, data_converter=data_converter(settings))

    def close(self) -> None:
        self.stop_workers()
        for proxy in (self.db_proxy, self.smtp_proxy, self.s3_proxy):
            proxy.stop()


class Supervisor:
    """Keeps one worker alive on a task queue: whenever the kill interceptor takes it down, a new one starts
    (with the same kill points: each point fires once, its marker stays). Counts the deaths."""

    def __init__(self, stack: FaultStack, settings: Settings, kill_at: str, extra_workflows: str = ""):
        self.stack, self.settings, self.kill_at, self.extra = stack, settings, kill_at, extra_workflows
        self.deaths: list[int] = []
        self._task: asyncio.Task[None] | None = None
        self.state_dir = stack.work_dir / f"kills-{uuid.uuid4().hex[:8]}"  # each chain fires its own points
        self.state_dir.mkdir()

    def _start(self) -> subprocess.Popen[bytes]:
        return self.stack.start_worker(self.settings, self.kill_at, self.extra, self.state_dir)

    @property
    def fired(self) -> list[str]:
        return sorted(p.name.removesuffix(".killed") for p in self.state_dir.glob("*.killed"))

    async def __aenter__(self) -> Supervisor:
        self._proc = self._start()
        self._task = asyncio.create_task(self._watch())
        return self

    async def _watch(self) -> None:
        while True:
            code = await asyncio.to_thread(self._proc.wait)
            self.deaths.append(code)
            self._proc = self._start()

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        if self._proc.poll() is None:
            self._proc.terminate()
            await asyncio.to_thread(self._proc.wait, 15)


def kill_points(*activity_types: str, when: str = "after") -> str:
    return ",".join(f"{name}:{when}" for name in activity_types)


def new_task_queue() -> str:
    return f"faults-{uuid.uuid4().hex[:8]}"


@contextmanager
def running_fault_stack(settings: Settings, work_dir: Path) -> Iterator[FaultStack]:
    """A dev server of its own on a SQLite file, and the proxies: what a module of fault tests shares."""
    server = DevServer(work_dir / "temporal")
    server.start()
    stack = FaultStack(settings, work_dir, server)
    try:
        yield stack
    finally:
        stack.close()
        server.stop()
