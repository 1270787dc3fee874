"""The embedded stack in one benchmark process: a dev server on a SQLite file, the app database on a SQLite
file, moto's S3 server, an SMTP sink, the local SDI as a subprocess, the API under uvicorn, and a worker
built from `workers.registry` — as `einvoice dev up` runs them, with fresh ports and a temporary directory.

The builders below (a customer, a signing key, an AdE sample invoice) are the small ones the invoice tests
use, copied here so a benchmark needs nothing from tests/.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import domain.fatturapa  # noqa: F401  (before domain.signatures: the two import each other)
from core.db import migrate, session_scope
from core.settings import Settings
from core.temporal import data_converter

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path("/work/shared/standards/fatturapa/samples")
VAT = "IT01234567897"  # the AdE samples' sender with a valid check digit
PEC = "fornitore@pec.example.it"
KEY_ALIAS = "intermediary"
KEY_PASSWORD = "bench-keystore-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def invoice(number: str, code: str | None = None, pa: bool = False) -> bytes:
    """An AdE sample (FPR01, or FPA01 to a PA) from VAT, with its own number and recipient code."""
    name = "IT01234567890_FPA01.xml" if pa else "IT01234567890_FPR01.xml"
    data = (SAMPLES / "invoices" / name).read_bytes()
    data = data.replace(b"01234567890", b"01234567897").replace(b"09876543210", b"09876543217")
    data = data.replace(b"<Numero>123</Numero>", f"<Numero>{number}</Numero>".encode())
    if code is not None:
        old = "AAAAAA" if pa else "ABC1234"
        data = data.replace(f"<CodiceDestinatario>{old}</CodiceDestinatario>".encode(),
                            f"<CodiceDestinatario>{code}</CodiceDestinatario>".encode())
    return data


def ensure_customer(settings: Settings, vat: str = VAT) -> None:
    from models.tenant import Tenant, add_tenant, set_enabled

    with session_scope(settings.database_url) as session:
        if session.scalar(select(Tenant.id).where(Tenant.vat_number == vat)) is None:
            add_tenant(session, vat, "Fornitore di prova S.r.l.", PEC, "0000000")
        set_enabled(session, vat, True)


def install_key(settings: Settings, alias: str = KEY_ALIAS) -> None:
    """A development PKCS#12 key in DATA_DIR/keys, its password in the environment (as in production)."""
    from domain.signatures.devcert import dev_signer, to_pkcs12

    keys = settings.data_dir / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    os.environ["EINVOICE_KEYSTORE_PASSWORD"] = KEY_PASSWORD
    path = keys / f"{alias}.p12"
    if not path.exists():
        path.write_bytes(to_pkcs12(dev_signer("Intermediario (benchmark)"), alias, KEY_PASSWORD.encode()))


def base_settings(tmp: Path, **changes: object) -> Settings:
    """Settings for the embedded stack under `tmp`: the app database is a SQLite file, as by default."""
    values: dict[str, object] = {
        "DATA_DIR": tmp / "data", "DATABASE_URL": f"sqlite:///{tmp / 'einvoice.db'}",
        # moto keeps every server's objects in one in-process store: a bucket of its own per run.
        "S3_BUCKET": f"bench-archive-{uuid.uuid4().hex[:12]}", "PAYLOAD_CODEC_KEY": "",
    }
    values.update(changes)
    return Settings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def s3_server(settings: Settings) -> AsyncIterator[Settings]:
    """moto's S3 server on a free port, with the archive bucket (Object Lock) created."""
    from moto.server import ThreadedMotoServer

    from devstack.s3 import ensure_archive_bucket

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        own = settings.model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{port}"})
        ensure_archive_bucket(own)
        yield own
    finally:
        try:  # drop what this run stored (moto's store outlives the server in this process)
            httpx.post(f"http://127.0.0.1:{port}/moto-api/reset", timeout=10)
        except httpx.HTTPError:
            pass
        server.stop()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (Linux /proc); 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_process() -> dict[str, float]:
    """CPU seconds so far of this process and of its children, by role: the dev server, the local SDI."""
    me = os.getpid()
    out = {"bench process": _cpu_seconds(me)}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) != me:
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        role = "local SDI" if "sdi-sim" in cmd else "dev server" if "temporal" in cmd else cmd[:30]
        out[role] = out.get(role, 0.0) + _cpu_seconds(int(entry.name))
    return out


@dataclass
class Stack:
    settings: Settings
    env: WorkflowEnvironment
    client: Client  # with the product's data converter (payload codec)
    sim_url: str
    task_queue: str


def _wait_http(url: str, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up at {url}")


@asynccontextmanager
async def embedded_stack(tmp: Path, env: WorkflowEnvironment, sim_delay: float = 0.1,
                         dt_delay: float = 1.0) -> AsyncIterator[Stack]:
    """Everything but the dev server (given) up, with a worker on its own task queue."""
    import uvicorn

    from api.main import create_app
    from devstack.smtp_sink import start_sink
    from workers.main import build_worker

    api_port, sim_port, smtp_port = free_port(), free_port(), free_port()
    task_queue = f"bench-invoices-{time.time_ns()}"
    settings = base_settings(
        tmp, SMTP_PORT=smtp_port, SDI_URL=f"http://127.0.0.1:{sim_port}", SDI_SIM_PORT=sim_port,
        SDI_CALLBACK_URL=f"http://127.0.0.1:{api_port}/sdi", SDI_SIGNER_CERT=str(tmp / "sdi-signer.pem"),
        API_PORT=api_port, TEMPORAL_TASK_QUEUE=task_queue,
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.database_url)
    ensure_customer(settings)
    install_key(settings)
    client = Client(**{**env.client.config(), "data_converter": data_converter(settings)})
    sink = start_sink("127.0.0.1", smtp_port, tmp / "mail")
    log = (tmp / "sdisim.log").open("wb")
    sim = subprocess.Popen(
        [sys.executable, "-m", "starters.cli", "sdi-sim", "--port", str(sim_port), "--delay", str(sim_delay),
         "--dt-delay", str(dt_delay), "--callback-url", f"http://127.0.0.1:{api_port}/sdi/TrasmissioneFatture",
         "--signer-cert", str(tmp / "sdi-signer.pem")],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    server: uvicorn.Server | None = None
    serving: asyncio.Task[None] | None = None
    try:
        async with s3_server(settings) as settings:
            app = create_app(settings, run_migrations=False)
            app.state.temporal = client
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=api_port, log_level="warning"))
            serving = asyncio.create_task(server.serve())
            await asyncio.to_thread(_wait_http, f"http://127.0.0.1:{sim_port}/healthz", "the local SDI")
            await asyncio.to_thread(_wait_http, f"http://127.0.0.1:{api_port}/healthz", "the API")
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=32, thread_name_prefix="activity") as executor:
                async with build_worker(client, settings, executor, task_queue):
                    yield Stack(settings, env, client, f"http://127.0.0.1:{sim_port}", task_queue)
    finally:
        if server is not None and serving is not None:
            server.should_exit = True
            await serving
        sim.terminate()
        sim.wait(10)
        log.close()
        sink.stop()
