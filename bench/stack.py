"""The embedded stack as `einvoice dev up` runs it, each part its own process, with fresh ports and a
temporary directory: a dev server on a SQLite file (given by the caller), the app database on a SQLite file,
moto's S3 server, an SMTP sink, the local SDI, the API, a worker (`python -m workers.main`, every
registered workflow and activity) and, when asked (`ksef=True`), the local KSeF (`python -m ksefsim`, as
`einvoice dev up` starts it, its limits off: the worker's own rate budget keeps to KSeF's). The benchmark
process holds the client the starters use.

The builders below (a customer, a signing key, an AdE sample invoice) are the small ones the invoice tests
use, copied here so a benchmark needs nothing from tests/.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr
from sqlalchemy import select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import domain.fatturapa  # noqa: F401  (before domain.signatures: the two import each other)
from core.db import migrate, session_scope
from core.settings import Settings
from core.temporal import data_converter
from devstack.procs import command_line, cpu_seconds, free_port, parent_of

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path("/work/shared/standards/fatturapa/samples")
VAT = "IT01234567897"  # the AdE samples' sender with a valid check digit
PEC = "fornitore@pec.example.it"
KEY_ALIAS = "intermediary"
KEY_PASSWORD = "bench-keystore-password"


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
    from models.tenant import Tenant, add_tenant, set_delegated_signing, set_enabled

    with session_scope(settings.database_url) as session:
        if session.scalar(select(Tenant.id).where(Tenant.vat_number == vat)) is None:
            add_tenant(session, vat, "Fornitore di prova S.r.l.", PEC, "0000000")
        set_enabled(session, vat, True)
        set_delegated_signing(session, vat, True)  # the benchmarks sign with the intermediary's key


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
        # the embedded stack's development defaults (SECRET_KEY, the codec key file), as `dev up` allows them
        "EINVOICE_EMBEDDED": True,
    }
    values.update(changes)
    return Settings(**values)  # type: ignore[arg-type]


def part_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a part these settings (each Settings field by its variable name)."""
    env = dict(os.environ)
    for name, value in settings.model_dump(by_alias=True).items():
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[name] = str(value).lower() if isinstance(value, bool) else str(value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@asynccontextmanager
async def s3_server(settings: Settings) -> AsyncIterator[Settings]:
    """moto's S3 server in this process on a free port, with the archive bucket (Object Lock) created (for
    `bench/conservation.py`, which times S3 calls against raw ones on the same server)."""
    import logging

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


ROLES = (("sdi-sim", "local SDI"), ("ksefsim", "local KSeF"), ("temporal", "dev server"), ("workers.main", "worker"),
         ("moto.server", "s3 (moto)"), ("smtp-sink", "smtp sink"), ("starters.cli api", "api"))


def cpu_by_process() -> dict[str, float]:
    """CPU seconds so far of this process and of its children, by role (the stack's parts)."""
    me = os.getpid()
    out = {"bench process": cpu_seconds(me)}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or parent_of(int(entry.name)) != me:
            continue
        cmd = command_line(int(entry.name))
        role = next((name for marker, name in ROLES if marker in cmd), cmd[:30])
        out[role] = out.get(role, 0.0) + cpu_seconds(int(entry.name))
    return out


@dataclass
class Stack:
    settings: Settings
    env: WorkflowEnvironment
    client: Client  # with the product's data converter (payload codec)
    sim_url: str
    task_queue: str
    ksef_url: str = ""  # the local KSeF's base (its API under /v2, control under /control), when started


_OPERATORS: dict[str, object] = {}


def operator(settings: Settings):  # type: ignore[no-untyped-def]
    """The operator the benchmarks act as when they call a starter (a backend system acts as a user too):
    made on first use in this database, read once."""
    from domain.credentials import hash_password
    from models import identity as ident

    if settings.database_url not in _OPERATORS:
        email = "bench-operator@einvoice-hub.test"
        with session_scope(settings.database_url) as session:
            user = ident.find_user(session, email) or ident.add_user(
                session, email, "bench", "operator", hash_password(uuid.uuid4().hex), "bench")
            _OPERATORS[settings.database_url] = ident.principal_of(session, user)
    return _OPERATORS[settings.database_url]


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
                         dt_delay: float = 1.0, ksef: bool = False) -> AsyncIterator[Stack]:
    """Everything but the dev server (given) up, each part its own process as `einvoice dev up` runs them
    (devstack/stack.py `plan`): moto's S3 server, the SMTP sink, the API, the local SDI (and with `ksef` the
    local KSeF) and a worker on its own task queue. This process keeps the client the starters use."""
    from devstack.s3 import ensure_archive_bucket

    api_port, sim_port, smtp_port, s3_port = free_port(), free_port(), free_port(), free_port()
    ksef_port = free_port()
    task_queue = f"bench-invoices-{time.time_ns()}"
    settings = base_settings(
        tmp, SMTP_PORT=smtp_port, SDI_URL=f"http://127.0.0.1:{sim_port}", SDI_SIM_PORT=sim_port,
        SDI_CALLBACK_URL=f"http://127.0.0.1:{api_port}/sdi", SDI_SIGNER_CERT=str(tmp / "sdi-signer.pem"),
        API_PORT=api_port, TEMPORAL_TASK_QUEUE=task_queue,
        TEMPORAL_ADDRESS=env.client.service_client.config.target_host,
        S3_ENDPOINT_URL=f"http://127.0.0.1:{s3_port}",
        KSEF_URL=f"http://127.0.0.1:{ksef_port}/v2", KSEF_SIM_PORT=ksef_port,
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.database_url)
    ensure_customer(settings)
    install_key(settings)
    client = Client(**{**env.client.config(), "data_converter": data_converter(settings)})
    py = sys.executable
    signer_cert = str(tmp / "sdi-signer.pem")
    parts = {
        "s3": [py, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)],
        "smtp": [py, "-m", "starters.cli", "smtp-sink", "--port", str(smtp_port), "--out-dir", str(tmp / "mail")],
        "sdisim": [py, "-m", "starters.cli", "sdi-sim", "--port", str(sim_port), "--delay", str(sim_delay),
                   "--dt-delay", str(dt_delay), "--callback-url",
                   f"http://127.0.0.1:{api_port}/sdi/TrasmissioneFatture", "--signer-cert", signer_cert],
        "api": [py, "-m", "starters.cli", "api"],
    }
    if ksef:
        parts["ksef"] = [py, "-m", "ksefsim", "--port", str(ksef_port), "--state-dir", str(tmp / "ksefsim"),
                         "--limits-multiplier", "0"]
    procs: list[subprocess.Popen[bytes]] = []
    logs = []

    def spawn(name: str, argv: list[str]) -> None:
        log = (tmp / f"{name}.log").open("wb")
        logs.append(log)
        procs.append(subprocess.Popen(argv, cwd=ROOT, env=part_env(settings), stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL))

    try:
        spawn("s3", parts.pop("s3"))
        await asyncio.to_thread(_wait_http, f"http://127.0.0.1:{s3_port}/moto-api/", "moto's S3 server")
        ensure_archive_bucket(settings)
        for name, argv in parts.items():
            spawn(name, argv)
        await asyncio.to_thread(_wait_http, f"http://127.0.0.1:{sim_port}/healthz", "the local SDI")
        await asyncio.to_thread(_wait_http, f"http://127.0.0.1:{api_port}/healthz", "the API")
        if ksef:
            await asyncio.to_thread(_wait_http, f"http://127.0.0.1:{ksef_port}/healthz", "the local KSeF")
        spawn("worker", [py, "-m", "workers.main"])
        await _wait_for_poller(client, settings)
        yield Stack(settings, env, client, f"http://127.0.0.1:{sim_port}", task_queue,
                    f"http://127.0.0.1:{ksef_port}" if ksef else "")
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for log in logs:
            log.close()


async def _wait_for_poller(client: Client, settings: Settings, timeout: float = 60.0) -> None:
    from core.temporal import task_queue_pollers

    deadline = time.monotonic() + timeout
    while await task_queue_pollers(client, settings.temporal_namespace, settings.temporal_task_queue) == 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no worker polls {settings.temporal_task_queue}")
        await asyncio.sleep(0.2)
