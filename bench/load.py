"""Load test: N customers at once sending invoices and now and then requesting a certificate, over HTTP,
against the embedded stack as `einvoice dev up` runs it (every part its own process, on loopback).

Bounded: the stack lives in a temporary data dir on free ports and is stopped with SIGINT at the end; the
load lasts `duration` seconds or `max_invoices` uploads, whichever comes first, then waits at most `drain`
seconds for what is still open. Each customer has `in_flight` uploads going at once, each awaiting its invoice's
outcome before the next.

Latency to RC is read from what the system recorded (the invoice's `created_at`, written when the upload is
accepted, to its `updated_at`, written when the receipt made it `delivered`), so the modest polling that
finds out an invoice is done does not round it up. A certificate is requested with `wait=true` (the API
answers once the authority decided, through a workflow update: no polling at all): its latency is that
request's duration, and its state must be `active`.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devstack.procs import command_line, cpu_seconds, descendants, free_port
from domain.identifiers import partita_iva_check_digit

ROOT = Path(__file__).resolve().parent.parent
WAITING = frozenset({"received", "validated", "signed", "sent"})
PARTS = (  # how a stack process is recognised by its command line, in the order they start
    ("temporal", "server start-dev"), ("s3 (moto)", "moto.server"), ("smtp sink", "smtp-sink"),
    ("api", "starters.cli api"), ("sdi (local)", "sdi-sim"), ("worker", "workers.main"),
    ("dev up", "dev up"),
)


@dataclass
class LoadConfig:
    customers: int = 10
    duration: float = 180.0
    max_invoices: int = 5000
    max_certificates: int = 500
    in_flight: int = 2
    cert_interval: float = 30.0
    poll_interval: float = 1.0
    drain: float = 120.0
    sign: str = "cades"


# ---------------------------------------------------------------- builders (what a customer's backend makes)

def customer_vat(i: int) -> str:
    """A valid partita IVA for customer i: a made-up serial, office 001, and its check digit."""
    first_ten = f"{7000000 + i:07d}001"
    return f"IT{first_ten}{partita_iva_check_digit(first_ten)}"


def make_csr(vat: str, name: str) -> bytes:
    """The customer's CSR (P-256): its private key stays here and is thrown away."""
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, vat[:2]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                         x509.NameAttribute(NameOID.SERIAL_NUMBER, vat),
                         x509.NameAttribute(NameOID.COMMON_NAME, f"{name} client")])
    key = ec.generate_private_key(ec.SECP256R1())
    return (x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM))


# ---------------------------------------------------------------- the stack, as `einvoice dev up`

def stack_env(data_dir: Path) -> dict[str, str]:
    """Every port free and on loopback, the app database the SQLite file in the data dir."""
    moved = ("DATABASE_URL", "PUBLIC_BASE_URL", "SDI_URL", "SDI_CALLBACK_URL", "SDI_SIGNER_CERT",
             "TEMPORAL_UI_URL", "TEMPORAL_ADDRESS", "API_HOST", "SMTP_HOST")
    env = {k: v for k, v in os.environ.items() if k not in moved}
    sim_port = free_port()
    env.update(DATA_DIR=str(data_dir), TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
               TEMPORAL_UI_PORT=str(free_port()), S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
               SMTP_PORT=str(free_port()), API_PORT=str(free_port()), SDI_SIM_PORT=str(sim_port),
               SDI_URL=f"http://127.0.0.1:{sim_port}", COLUMNS="200", PYTHONUNBUFFERED="1")
    return env


class DevUp:
    """`einvoice dev up --data-dir DIR` as a child process (its own session: a Ctrl-C of the benchmark
    reaches only the benchmark, which then stops the stack with SIGINT, as a user would)."""

    def __init__(self, data_dir: Path, env: dict[str, str]):
        self.data_dir = data_dir
        self.env = env
        self.log_path = data_dir.parent / "dev-up.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.env['API_PORT']}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 240.0) -> float:
        began = time.monotonic()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "starters.cli", "dev", "up", "--data-dir", str(self.data_dir)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        while time.monotonic() - began < timeout:
            if "ready" in self.output():
                return time.monotonic() - began
            if self.proc.poll() is not None:
                raise RuntimeError(f"einvoice dev up exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            time.sleep(0.5)
        raise RuntimeError(f"einvoice dev up not ready in {timeout:.0f}s:\n{self.output()[-3000:]}")

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # should not happen: dev up SIGKILLs its parts after 10 s
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(timeout=10)


def process_stats(root: int) -> dict[str, dict[str, float]]:
    """CPU seconds (user + system) and resident memory of dev up and every process under it, by part."""
    out: dict[str, dict[str, float]] = {}
    for pid in [root, *descendants(root)]:
        cmdline = command_line(pid)
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        name = next((part for part, marker in PARTS if marker in cmdline), f"other ({cmdline[:40].strip()})")
        rss_kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        entry = out.setdefault(name, {"cpu_seconds": 0.0, "rss_mb": 0.0, "processes": 0})
        entry["cpu_seconds"] += cpu_seconds(pid)
        entry["rss_mb"] += rss_kb / 1024
        entry["processes"] += 1
    return out


# ---------------------------------------------------------------- the load

@dataclass
class Customer:
    index: int
    vat: str
    pec: str
    name: str


@dataclass
class Tally:
    started: float = 0.0
    uploads: int = 0
    delivered: int = 0
    certificates_requested: int = 0
    certificates_active: int = 0
    created: dict[str, datetime] = field(default_factory=dict)  # invoice id -> accepted (recorded)
    rc_latency: list[float] = field(default_factory=list)  # recorded by the system
    conserved_latency: list[float] = field(default_factory=list)  # accepted -> its conservation closed
    rc_observed: list[float] = field(default_factory=list)  # as the polling customer saw it
    upload_latency: list[float] = field(default_factory=list)
    active_latency: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: dict[str, str] = field(default_factory=dict)
    last_delivered: float = 0.0
    http_requests: int = 0

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.error_samples.setdefault(kind, detail[:500])


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    """Nearest-rank p50/p90/p99, with the count, mean and max, in seconds."""
    if not values:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "mean": None, "max": None}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(ordered[max(0, min(len(ordered) - 1, -(-len(ordered) * p // 100) - 1))], 3)

    return {"count": len(ordered), "p50": rank(50), "p90": rank(90), "p99": rank(99),
            "mean": round(sum(ordered) / len(ordered), 3), "max": round(ordered[-1], 3)}


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


class Load:
    def __init__(self, api: str, data_dir: Path, config: LoadConfig, log: Callable[[str], None]):
        self.api = api
        self.data_dir = data_dir
        self.config = config
        self.log = log
        self.tally = Tally()
        self.stop_sending = 0.0
        self.cert_tasks: set[asyncio.Task[None]] = set()
        self.auth: dict[str, str] = {}  # the operator's Authorization header, once logged in

    async def request(self, http: httpx.AsyncClient, kind: str, method: str, url: str,
                      expect: tuple[int, ...], **kwargs: Any) -> httpx.Response | None:
        """One HTTP call; anything but an expected status is an error of `kind`, counted, never raised."""
        self.tally.http_requests += 1
        try:
            resp = await http.request(method, url, **kwargs)
        except httpx.HTTPError as err:
            self.tally.error(f"{kind}: {type(err).__name__}", str(err) or repr(err))
            return None
        if resp.status_code not in expect:
            self.tally.error(f"{kind}: HTTP {resp.status_code}", resp.text)
            return None
        return resp

    # -------------------------------------------------------- setup: customers, contracts accepted

    async def enroll(self, http: httpx.AsyncClient, customers: list[Customer]) -> list[Customer]:
        """Each customer added, its contract ordered, the link in its e-mail accepted, the customer enabled."""
        from devstack.smtp_sink import Mailbox

        mailbox = Mailbox(self.data_dir / "mail")
        for c in customers:
            await self.request(http, "setup tenant", "POST", f"{self.api}/tenants", (201,),
                               json={"vat": c.vat, "name": c.name, "pec": c.pec, "sdi_code": "0000000"})
        await asyncio.gather(*(self.request(http, "setup contract", "POST", f"{self.api}/contracts", (201,),
                                            json={"vat": c.vat, "amount": "49.00"}) for c in customers))
        links: dict[str, str] = {}
        deadline = time.monotonic() + 120
        while len(links) < len(customers) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            for msg in await asyncio.to_thread(mailbox.find, None, "contract-invitation"):
                for c in customers:
                    if c.pec.lower() in str(msg["To"]).lower():
                        found = [u for u in Mailbox.links_in(msg) if "/accept/" in u]
                        if found:
                            links[c.vat] = found[-1]
        for c in customers:
            if c.vat not in links:
                self.tally.error("setup contract: no invitation e-mail", c.vat)
        await asyncio.gather(*(self.request(http, "setup accept", "POST", link, (200,))
                               for link in links.values()))
        enabled: list[Customer] = []
        deadline = time.monotonic() + 120
        waiting = [c for c in customers if c.vat in links]
        while waiting and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            still = []
            for c in waiting:
                resp = await self.request(http, "setup tenant", "GET", f"{self.api}/tenants/{c.vat}", (200,))
                (enabled if resp is not None and resp.json()["enabled"] else still).append(c)
            waiting = still
        for c in waiting:
            self.tally.error("setup: customer not enabled", c.vat)
        for c in enabled:  # the load signs with the intermediary's key: each customer grants it
            await self.request(http, "setup tenant", "PUT", f"{self.api}/tenants/{c.vat}/delegated-signing", (200,),
                               json={"granted": True})
        return sorted(enabled, key=lambda c: c.index)

    # -------------------------------------------------------- load: invoices and certificates

    async def customer(self, http: httpx.AsyncClient, c: Customer) -> None:
        """`in_flight` uploads at once (each awaits its outcome before the next), and now and then a
        certificate, until the sending time or the upload cap is over."""
        numbers = itertools.count(1)
        certificates = asyncio.create_task(self.certificates_of(http, c))
        try:
            await asyncio.gather(*(self.slot(http, c, numbers) for _ in range(self.config.in_flight)))
        finally:
            certificates.cancel()
            await asyncio.gather(certificates, return_exceptions=True)

    def sending(self) -> bool:
        return time.monotonic() < self.stop_sending and self.tally.uploads < self.config.max_invoices

    async def certificates_of(self, http: httpx.AsyncClient, c: Customer) -> None:
        """A certificate request every cert_interval, the customers staggered across it; each runs on its own
        (drained in `run`), so the invoices go on meanwhile."""
        await asyncio.sleep(self.config.cert_interval * (c.index + 1) / self.config.customers)
        while self.sending() and self.tally.certificates_requested < self.config.max_certificates:
            self.tally.certificates_requested += 1
            task = asyncio.create_task(self.certificate(http, c))
            self.cert_tasks.add(task)
            task.add_done_callback(self.cert_tasks.discard)
            await asyncio.sleep(self.config.cert_interval)

    async def slot(self, http: httpx.AsyncClient, c: Customer, numbers: Iterator[int]) -> None:
        from devstack.demo_invoices import demo_invoice

        while self.sending():
            self.tally.uploads += 1
            number = f"L{c.index}-{next(numbers)}"
            began = time.monotonic()
            resp = await self.request(
                http, "invoice upload", "POST", f"{self.api}/invoices", (201,),
                data={"vat": c.vat, "sign": self.config.sign},
                files={"file": (f"{number}.xml", demo_invoice(c.vat, number), "application/xml")})
            if resp is None:
                await asyncio.sleep(0.5)  # do not spin on a failing API
                continue
            accepted = time.monotonic()
            self.tally.upload_latency.append(accepted - began)
            inv = resp.json()
            self.tally.created[inv["id"]] = _parse(inv["created_at"])
            await self.await_outcome(http, inv["id"], accepted)

    async def await_outcome(self, http: httpx.AsyncClient, invoice_id: str, accepted: float) -> None:
        """Read the invoice every poll_interval until it leaves the waiting states (or the drain ends)."""
        give_up = max(self.stop_sending, accepted) + self.config.drain
        while time.monotonic() < give_up:
            await asyncio.sleep(self.config.poll_interval)
            resp = await self.request(http, "invoice status", "GET", f"{self.api}/invoices/{invoice_id}", (200,))
            if resp is None:
                continue
            inv = resp.json()
            if inv["state"] in WAITING:
                continue
            if inv["state"] != "delivered":
                self.tally.error(f"invoice: ended {inv['state']}", f"{invoice_id}: {inv.get('detail')}")
                return
            self.tally.delivered += 1
            self.tally.last_delivered = time.monotonic()
            self.tally.rc_observed.append(time.monotonic() - accepted)
            self.tally.rc_latency.append((_parse(inv["updated_at"]) - _parse(inv["created_at"])).total_seconds())
            return
        self.tally.error("invoice: no outcome before the drain ended", invoice_id)

    async def certificate(self, http: httpx.AsyncClient, c: Customer) -> None:
        csr = await asyncio.to_thread(make_csr, c.vat, c.name)
        began = time.monotonic()
        resp = await self.request(http, "certificate request", "POST", f"{self.api}/tenants/{c.vat}/certificates",
                                  (202,), files={"csr": ("load.csr", csr)},
                                  data={"kind": "authentication", "wait": "true"}, headers={"X-User": "load"})
        if resp is None:
            return
        cert = resp.json()
        # still being authorized after HTTP_WAIT_SECONDS (202 with the state so far): follow the Location
        give_up = max(self.stop_sending, time.monotonic()) + self.config.drain
        while cert["state"] in ("ordered", "accepted") and time.monotonic() < give_up:
            await asyncio.sleep(self.config.poll_interval)
            polled = await self.request(http, "certificate status", "GET", f"{self.api}{resp.headers['location']}",
                                        (200,))
            if polled is not None:
                cert = polled.json()
        if cert["state"] != "active":
            self.tally.error(f"certificate: ended {cert['state']}", f"{cert['operation_id']}: {cert.get('error')}")
            return
        self.tally.certificates_active += 1
        self.tally.active_latency.append(time.monotonic() - began)

    async def run(self, customers: list[Customer]) -> None:
        limits = httpx.Limits(max_connections=4 * len(customers) + 8, max_keepalive_connections=4 * len(customers))
        async with httpx.AsyncClient(timeout=httpx.Timeout(120.0), limits=limits, headers=self.auth) as http:
            self.tally.started = time.monotonic()
            self.stop_sending = self.tally.started + self.config.duration
            await asyncio.gather(*(self.customer(http, c) for c in customers))
            if self.cert_tasks:
                done, pending = await asyncio.wait(set(self.cert_tasks), timeout=self.config.drain)
                for task in pending:
                    task.cancel()
                    self.tally.error("certificate: not decided before the drain ended", "")


SETTLING = ("ExecutionStatus = 'Running' AND (WorkflowType = 'InvoiceSendWorkflow' OR "
            "WorkflowType = 'ConservationWorkflow')")


async def settle(env: dict[str, str], tally: Tally, timeout: float) -> float:
    """After the load: wait (checking every 2 s) until no invoice or conservation workflow is still running,
    so the stack is stopped idle; then read when each invoice's conservation closed. Certificate workflows
    stay open by design (they watch the expiry) and are not waited for."""
    from temporalio.client import Client, WorkflowExecutionStatus

    client = await Client.connect(env["TEMPORAL_ADDRESS"], namespace=env.get("TEMPORAL_NAMESPACE", "default"))
    began = time.monotonic()
    running = (await client.count_workflows(SETTLING)).count
    while running and time.monotonic() - began < timeout:
        await asyncio.sleep(2)
        running = (await client.count_workflows(SETTLING)).count
    if running:
        tally.error("workflows still running after the drain", f"{running} invoice/conservation workflows")
    # conservation ids hold the invoice's opaque key (core/search_keys, #18.8), not its id
    from core.search_keys import document_key
    from core.settings import DEV_SEARCH_KEY_SECRET

    secret = env.get("SEARCH_KEY_SECRET") or DEV_SEARCH_KEY_SECRET
    by_workflow = {f"conserve-invoice-{document_key(secret, invoice_id)}": invoice_id for invoice_id in tally.created}
    async for wf in client.list_workflows("WorkflowType = 'ConservationWorkflow'"):
        invoice_id = by_workflow.get(wf.id)
        if invoice_id is None:
            continue
        if wf.status != WorkflowExecutionStatus.COMPLETED or wf.close_time is None:
            tally.error(f"conservation: {wf.status.name if wf.status else 'unknown'}", wf.id)
            continue
        tally.conserved_latency.append((wf.close_time - tally.created[invoice_id]).total_seconds())
    missing = len(tally.created) - len(tally.conserved_latency)
    if missing and not running:
        tally.error("conservation: not started", f"{missing} invoices")
    return time.monotonic() - began


async def run_load(config: LoadConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Start the stack, enrol the customers, run the load, stop the stack; the numbers."""
    import tempfile

    from core.settings import Settings
    from devstack.demo_invoices import ensure_demo_key

    with tempfile.TemporaryDirectory(prefix="einvoice-load-") as tmp:
        data_dir = Path(tmp) / "data"
        env = stack_env(data_dir)
        if config.sign in ("cades", "xades"):  # the intermediary's key, as `einvoice demo` makes it
            ensure_demo_key(Settings(DATA_DIR=data_dir))
        stack = DevUp(data_dir, env)
        result: dict[str, Any] = {"config": config.__dict__.copy()}
        during: dict[str, list[str]] = {}
        try:
            log(f"   starting einvoice dev up in {data_dir}")
            result["stack_ready_seconds"] = round(await asyncio.to_thread(stack.start), 1)
            assert stack.proc is not None
            load = Load(stack.api, data_dir, config, log)
            load.auth = await _operator_login(stack.api, data_dir)
            customers = [Customer(i, customer_vat(i), f"cliente{i}@pec.carico.example.it",
                                  f"Cliente di carico {i} S.r.l.") for i in range(config.customers)]
            began = time.monotonic()
            enrolled = await _enroll(load, customers)
            result["setup_seconds"] = round(time.monotonic() - began, 1)
            result["customers_enabled"] = len(enrolled)
            log(f"   {len(enrolled)} customers enabled in {result['setup_seconds']} s; load for "
                f"{config.duration:.0f} s")
            cpu_before = process_stats(stack.proc.pid)
            result["machine_load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
            await load.run(enrolled)
            result["settle_seconds"] = round(await settle(env, load.tally, config.drain), 1)
            ended = time.monotonic()
            cpu_after = process_stats(stack.proc.pid)
            result["machine_load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
            during = error_lines(data_dir / "logs")
            result.update(report(load.tally, ended, cpu_before, cpu_after))
        finally:
            result["stack_exit_code"] = await asyncio.to_thread(stack.stop)
            result["stack_log_tail"] = [line for line in stack.output().splitlines()[-12:] if line.strip()]
            at_end = error_lines(data_dir / "logs")
            result["stack_log_errors"] = {
                "during_load": summarise_lines(during),
                "at_shutdown": summarise_lines({name: lines[len(during.get(name, [])):]
                                                for name, lines in at_end.items()})}
            if (data_dir / "logs").exists():  # kept for a look after the data dir is gone
                kept = Path(tempfile.mkdtemp(prefix="einvoice-load-logs-"))
                for path in (data_dir / "logs").glob("*.log"):
                    shutil.copy2(path, kept / path.name)
                shutil.copy2(stack.log_path, kept / stack.log_path.name)
                result["stack_logs_kept_in"] = str(kept)
                log(f"   the stack's logs: {kept}")
    if "invoices" in result:
        result["summary"] = summary(config, result)
    return result


def summary(config: LoadConfig, result: dict[str, Any]) -> str:
    inv, cert, errors = result["invoices"], result["certificates"], result["errors"]
    rc, active = inv["latency_to_rc_seconds"], cert["latency_to_active_seconds"]
    logged = sum(f["count"] for f in result["stack_log_errors"]["during_load"].values())
    def ps(p: dict[str, Any]) -> str:
        return "/".join("-" if p[k] is None else f"{p[k]:.1f}" for k in ("p50", "p90", "p99"))

    return (f"{config.customers} customers, {config.duration:.0f} s: {inv['delivered']} invoices to RC "
            f"({inv['per_minute']}/min), p50/p90/p99 {ps(rc)} s; {cert['active']} certificates active "
            f"({cert['per_minute']}/min), p50/p90/p99 {ps(active)} s; errors {errors['total']} (stack log error "
            f"lines {logged}); stack {result['stack_cpu_seconds']:.0f} CPU-s, "
            f"{result['stack_rss_mb_at_end']:.0f} MB RSS")


ERROR_LINE = re.compile(r"^Traceback|\b(ERROR|CRITICAL|FATAL)\b|\"level\":\s*\"(error|fatal)\"|"
                        r"\blevel=(error|fatal|ERROR|FATAL)\b")


def error_lines(logs: Path) -> dict[str, list[str]]:
    """Error lines (and tracebacks) in each part's log: failures retried inside the stack, which no customer
    saw, are reported beside the customers' errors."""
    return {path.name: [line for line in path.read_text(errors="replace").splitlines() if ERROR_LINE.search(line)]
            for path in sorted(logs.glob("*.log"))}


def summarise_lines(found: dict[str, list[str]], samples: int = 5) -> dict[str, dict[str, Any]]:
    return {name: {"count": len(lines), "samples": [line[:400] for line in lines[:samples]]}
            for name, lines in found.items() if lines}


async def _enroll(load: Load, customers: list[Customer]) -> list[Customer]:
    async with httpx.AsyncClient(timeout=60, headers=load.auth) as http:
        return await load.enroll(http, customers)


async def _operator_login(api: str, data_dir: Path) -> dict[str, str]:
    """The load's operator: made by the admin path on the stack's database, then logged in over HTTP."""
    import secrets

    from core.settings import Settings
    from starters.identity import create_operator

    made = await asyncio.to_thread(create_operator, Settings(DATA_DIR=data_dir),
                                   f"load-{secrets.token_hex(3)}@einvoice-hub.local", "Load operator")
    async with httpx.AsyncClient(timeout=60) as http:
        resp = await http.post(f"{api}/auth/login", json={"email": made.email, "password": made.password})
        resp.raise_for_status()
        return {"Authorization": f"Bearer {resp.json()['token']}"}


def report(t: Tally, ended: float, before: dict[str, dict[str, float]],
           after: dict[str, dict[str, float]]) -> dict[str, Any]:
    elapsed = ended - t.started
    busy_until = max(t.last_delivered, t.started + 1e-9)
    processes = {}
    for name, now in after.items():
        used = now["cpu_seconds"] - before.get(name, {}).get("cpu_seconds", 0.0)
        processes[name] = {"cpu_seconds_during_load": round(used, 1),
                           "cpu_percent_of_one_core": round(100 * used / elapsed, 1),
                           "rss_mb_at_end": round(now["rss_mb"], 1), "processes": int(now["processes"])}
    total_cpu = sum(p["cpu_seconds_during_load"] for p in processes.values())
    return {
        "elapsed_seconds": round(elapsed, 1),
        "invoices": {"uploaded": t.uploads, "delivered": t.delivered,
                     "per_minute": round(60 * t.delivered / (busy_until - t.started), 1) if t.delivered else 0.0,
                     "latency_to_rc_seconds": percentiles(t.rc_latency),
                     "latency_to_rc_observed_seconds": percentiles(t.rc_observed),
                     "latency_to_conserved_seconds": percentiles(t.conserved_latency),
                     "upload_seconds": percentiles(t.upload_latency)},
        "certificates": {"requested": t.certificates_requested, "active": t.certificates_active,
                         "per_minute": round(60 * t.certificates_active / elapsed, 1),
                         "latency_to_active_seconds": percentiles(t.active_latency)},
        "http_requests": t.http_requests,
        "errors": {"total": sum(t.errors.values()), "by_kind": dict(t.errors), "samples": t.error_samples},
        "stack_processes": processes,
        "stack_cpu_seconds": round(total_cpu, 1),
        "stack_rss_mb_at_end": round(sum(p["rss_mb_at_end"] for p in processes.values()), 1),
    }
