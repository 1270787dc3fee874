"""`einvoice dev up`: the embedded stack as supervised child processes.

Each part is started in its own process group, checked until healthy, and listed with its address.
Ctrl-C (or SIGTERM) stops them in reverse order, SIGKILLs whatever is still there after a grace period,
and returns only when every child is gone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
from rich.console import Console

from core.settings import Settings
from core.temporal import search_attribute_flags, temporal_cli_path

console = Console()


class PortTaken(RuntimeError):
    pass


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a child process needs to see the same stack as this one."""
    env = dict(os.environ)
    env.update(
        {
            "DATA_DIR": str(settings.data_dir),
            "EINVOICE_EMBEDDED": "1",  # the development defaults are allowed here, and only here
            "DATABASE_URL": settings.database_url,
            "TEMPORAL_ADDRESS": settings.temporal_address,
            "TEMPORAL_NAMESPACE": settings.temporal_namespace,
            "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
            "TEMPORAL_UI_PORT": str(settings.temporal_ui_port),
            "S3_ENDPOINT_URL": settings.s3_endpoint_url,
            "S3_BUCKET": settings.s3_bucket,
            "S3_REGION": settings.s3_region,
            "S3_ACCESS_KEY_ID": settings.s3_access_key_id,
            "S3_SECRET_ACCESS_KEY": settings.s3_secret_access_key.get_secret_value(),
            "SMTP_HOST": settings.smtp_host,
            "SMTP_PORT": str(settings.smtp_port),
            "API_HOST": settings.api_host,
            "API_PORT": str(settings.api_port),
            "PUBLIC_BASE_URL": settings.public_base_url,
            "API_TLS": "true" if settings.api_tls else "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if settings.api_tls and not settings.sdi_ca_cert:  # the local SDI calls the API back over HTTPS
        env["SDI_CA_CERT"] = str(ca_file(settings))
    return env


def ca_file(settings: Settings) -> Path:
    """Our CA certificate (the built-in CA's, made by the API or the worker at first start)."""
    return settings.data_dir.resolve() / "ca" / "ca.pem"


def _port_of(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def check_port_free(host: str, port: int, what: str, variable: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            raise PortTaken(
                f"port {port} on {host} for {what} is already in use ({err.strerror}); "
                f"stop what holds it or choose another port with {variable}"
            ) from err


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Part:
    name: str
    argv: list[str]
    where: str
    healthy: Callable[[], bool]
    log_file: Path
    proc: subprocess.Popen[bytes] | None = None


@dataclass
class Stack:
    settings: Settings
    parts: list[Part] = field(default_factory=list)

    def start(self, part: Part, env: dict[str, str], timeout: float = 90.0) -> None:
        part.log_file.parent.mkdir(parents=True, exist_ok=True)
        log = part.log_file.open("ab")
        part.proc = subprocess.Popen(part.argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.parts.append(part)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if part.proc.poll() is not None:
                tail = part.log_file.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{part.name} exited with {part.proc.returncode}; its log:\n{tail}")
            if part.healthy():
                console.print(f"  [green]✓[/] {part.name:<16} {part.where}")
                return
            time.sleep(0.3)
        raise RuntimeError(f"{part.name} did not become healthy in {timeout:.0f}s (log: {part.log_file})")

    def stop(self, grace: float = 10.0) -> None:
        """Stop the parts one by one, last started first: the worker finishes with Temporal, the API and
        the stores still there, so it leaves no half-done task behind."""
        for part in reversed(self.parts):
            if part.proc is None:
                continue
            if part.proc.poll() is None:
                _signal_group(part.proc, signal.SIGTERM)
            try:
                part.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(part.proc, signal.SIGKILL)
                part.proc.wait(timeout=5)
            # Anything the child left in its group goes too.
            _signal_group(part.proc, signal.SIGKILL)
        self.parts.clear()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _temporal_healthy(settings: Settings) -> Callable[[], bool]:
    def check() -> bool:
        host, port = _port_of(settings.temporal_address)
        if not _tcp_open(host, port):
            return False
        try:
            return httpx.get(f"{settings.temporal_ui_url}/", timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    return check


def _http_ok(url: str, cafile: Path | None = None) -> Callable[[], bool]:
    """200 from `url`; over HTTPS verified with `cafile` (read at each check: the API makes it at start)."""
    def check() -> bool:
        try:
            if cafile is None:
                return httpx.get(url, timeout=2).status_code == 200
            if not cafile.exists():
                return False
            return httpx.get(url, timeout=2, verify=ssl.create_default_context(cafile=cafile)).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def _worker_polling(settings: Settings) -> Callable[[], bool]:
    from core.temporal import connect, task_queue_pollers

    async def pollers() -> int:
        client = await connect(settings)
        return await task_queue_pollers(client, settings.temporal_namespace, settings.temporal_task_queue)

    def check() -> bool:
        try:
            return asyncio.run(pollers()) > 0
        except Exception:
            return False

    return check


def plan(settings: Settings) -> list[tuple[Part, str, tuple[str, int]]]:
    """Every part with the variable that moves its port."""
    data = settings.data_dir.resolve()
    logs = data / "logs"
    py = sys.executable
    t_host, t_port = _port_of(settings.temporal_address)
    s3 = urlparse(settings.s3_endpoint_url)
    s3_host, s3_port = s3.hostname or "127.0.0.1", s3.port or 9000
    scheme = "https" if settings.api_tls else "http"
    api_url = f"{scheme}://{settings.api_host}:{settings.api_port}"
    api_ca = ca_file(settings) if settings.api_tls else None
    api_note = f"; mutual TLS, CA {api_ca}" if api_ca else ""
    return [
        (
            Part(
                "temporal",
                [temporal_cli_path(), "server", "start-dev", "--ip", t_host, "--port", str(t_port),
                 "--ui-port", str(settings.temporal_ui_port), "--db-filename", str(data / "temporal.db"),
                 "--namespace", settings.temporal_namespace, "--log-level", "warn",
                 "--ui-codec-endpoint", f"{settings.public_base_url}/codec",
                 *search_attribute_flags()],
                f"{settings.temporal_address}  (Web UI {settings.temporal_ui_url})",
                _temporal_healthy(settings),
                logs / "temporal.log",
            ),
            "TEMPORAL_ADDRESS",
            (t_host, t_port),
        ),
        (
            Part("s3 (moto)", [py, "-m", "moto.server", "-H", s3_host, "-p", str(s3_port)],
                 f"{settings.s3_endpoint_url}  bucket {settings.s3_bucket} (Object Lock)",
                 _http_ok(f"{settings.s3_endpoint_url}/moto-api/"), logs / "s3.log"),
            "S3_ENDPOINT_URL",
            (s3_host, s3_port),
        ),
        (
            Part("smtp sink", [py, "-m", "starters.cli", "smtp-sink", "--port", str(settings.smtp_port),
                               "--out-dir", str(data / "mail")],
                 f"{settings.smtp_host}:{settings.smtp_port}  messages saved in {data / 'mail'}",
                 lambda: _tcp_open(settings.smtp_host, settings.smtp_port), logs / "smtp.log"),
            "SMTP_PORT",
            (settings.smtp_host, settings.smtp_port),
        ),
        (
            Part("api", [py, "-m", "starters.cli", "api"], f"{api_url}  (OpenAPI {api_url}/docs{api_note})",
                 _http_ok(f"{api_url}/healthz", api_ca), logs / "api.log"),
            "API_PORT",
            (settings.api_host, settings.api_port),
        ),
        (  # the local SDI (plain HTTP on loopback; SDI_URL=https://… for mutual TLS)
            Part("sdi (local)", [py, "-m", "starters.cli", "sdi-sim", "--port", str(settings.sdi_sim_port),
                                 "--state-dir", str(data / "sdisim")],
                 f"http://127.0.0.1:{settings.sdi_sim_port}  (SDICoop; calls back {settings.sdi_callback_base})",
                 _http_ok(f"http://127.0.0.1:{settings.sdi_sim_port}/healthz"), logs / "sdisim.log"),
            "SDI_SIM_PORT",
            ("127.0.0.1", settings.sdi_sim_port),
        ),
        (  # the local KSeF (plain HTTP on loopback)
            Part("ksef (local)", [py, "-m", "ksefsim", "--port", str(settings.ksef_sim_port),
                                  "--state-dir", str(data / "ksefsim")],
                 f"http://127.0.0.1:{settings.ksef_sim_port}/v2  (KSeF 2.0 API; control at /control/)",
                 _http_ok(f"http://127.0.0.1:{settings.ksef_sim_port}/healthz"), logs / "ksefsim.log"),
            "KSEF_SIM_PORT",
            ("127.0.0.1", settings.ksef_sim_port),
        ),
    ]


def worker_part(settings: Settings) -> Part:
    return Part("worker", [sys.executable, "-m", "workers.main"],
                f"task queue {settings.temporal_task_queue}", _worker_polling(settings),
                settings.data_dir.resolve() / "logs" / "worker.log")


def run_stack(data_dir: Path | None = None, demo: bool = False, keep_running: bool = True,
              settings: Settings | None = None, tls: bool = False) -> int:
    """Start everything, optionally run the demo, wait for Ctrl-C, stop everything. Returns an exit code."""
    from core.db import migrate
    from devstack.s3 import ensure_archive_bucket

    if settings is None:
        settings = Settings(DATA_DIR=data_dir) if data_dir else Settings()
    if tls and not settings.api_tls:  # validated anew: the API's public address becomes https:// too
        settings = Settings.model_validate({**settings.model_dump(by_alias=True, exclude={"public_base_url"}),
                                            "API_TLS": True})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    parts = plan(settings)
    try:
        for part, variable, (host, port) in parts:
            check_port_free(host, port, part.name, variable)
    except PortTaken as err:
        console.print(f"[bold red]error:[/] {err}")
        return 2

    stack = Stack(settings)
    stopping = {"flag": False}

    def on_signal(signum: int, _frame: object) -> None:
        stopping["flag"] = True
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    env = settings_env(settings)
    code = 0
    try:
        console.print(f"[bold]einvoice-hub embedded stack[/] (data in {settings.data_dir.resolve()})")
        migrate(settings.database_url)
        console.print(f"  [green]✓[/] {'database':<16} {settings.database_url}")
        for part, _, _ in parts:
            stack.start(part, env)
            if part.name.startswith("s3"):
                ensure_archive_bucket(settings)
        stack.start(worker_part(settings), env)
        console.print("[bold green]ready[/] — Ctrl-C stops every part")
        if demo:
            from devstack.demo import run_demo

            code = run_demo(settings)
            if not keep_running:
                return code
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("\nstopping…")
    except RuntimeError as err:
        console.print(f"[bold red]error:[/] {err}")
        code = 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stack.stop()
        console.print("stopped: no process left behind")
    return code
