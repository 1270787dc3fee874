"""Builders for the certificate tests: keys, CSRs (good and bad), certificates made elsewhere, and an
authority double whose decisions are slow, fail transiently or refuse."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.certificates import CertificateActivities
from activities.mail import MailActivities
from core.db import session_scope
from core.settings import Settings
from devstack.smtp_sink import Mailbox
from domain.authority import (
    Authority,
    AuthorityPending,
    AuthorityRefused,
    AuthorityUnavailable,
    BuiltinCA,
    Issued,
    IssueRequest,
)
from domain.certificates import workflow_id
from domain.csr import ORGANIZATION_IDENTIFIER
from domain.policy import Principal
from models.certificates import Certificate, get_certificate
from models.certificates_io import CertificateStatus
from models.tenant import add_tenant
from starters.certificates import request_certificate
from tests.helpers import assert_eventually, new_worker
from tests.identity_support import operator, principal
from workflows.certificate_authorization import CertificateAuthorizationWorkflow

VAT = "IT02038490237"
NIP = "PL5261040828"
PEC = "acme@pec.example.it"


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def subject(vat: str = VAT, where: str = "serialNumber", value: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, vat[:2]),
             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ACME S.p.A.")]
    if where == "serialNumber":
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, value or vat))
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, "ACME client"))
    elif where == "organizationIdentifier":
        attrs.append(x509.NameAttribute(ORGANIZATION_IDENTIFIER, value or f"VAT{vat[:2]}-{vat[2:]}"))
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, "ACME client"))
    elif where == "CN":
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, value or vat))
    else:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, value or "somebody else"))
    return x509.Name(attrs)


def make_csr(key: Any = None, name: x509.Name | None = None, der: bool = False) -> bytes:
    key = key if key is not None else ec_key()
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = x509.CertificateSigningRequestBuilder().subject_name(name or subject()).sign(key, algorithm)
    return csr.public_bytes(serialization.Encoding.DER if der else serialization.Encoding.PEM)


def tamper_signature(csr_pem: bytes) -> bytes:
    """The same CSR with one bit of its signature flipped (DER)."""
    der = bytearray(x509.load_pem_x509_csr(csr_pem).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    return bytes(der)


def make_certificate(name: x509.Name | None = None, not_before: datetime | None = None,
                     not_after: datetime | None = None) -> bytes:
    """A certificate made elsewhere (self-issued by a throw-away CA), PEM."""
    now = datetime.now(UTC)
    ca_key = ec_key()
    key = ec_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "KSeF test CA")])
    cert = (x509.CertificateBuilder().subject_name(name or subject()).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(days=1))
            .not_valid_after(not_after or now + timedelta(days=60))
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class ScriptedAuthority:
    """Wraps a real authority; each `issue` call first plays the next scripted answer:
    "unavailable" (transient), "pending" (not decided yet), "refuse" (final), then delegates."""

    inner: Authority
    script: list[str] = field(default_factory=list)
    issue_calls: int = 0
    revoke_down: bool = False  # revoke answers "unavailable" (transient) while set
    revoke_calls: int = 0
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def clock(self) -> datetime:
        """For the inner CA: the Temporal server's time as last seen by an activity (on the time-skipping
        server that is days ahead of the wall clock)."""
        return self.now

    def _follow_server_clock(self) -> None:
        if activity.in_activity():
            self.now = activity.info().current_attempt_scheduled_time

    def submit(self, request: IssueRequest) -> str:
        self._follow_server_clock()
        return self.inner.submit(request)

    def issue(self, reference: str) -> Issued:
        self._follow_server_clock()
        with self._lock:
            self.issue_calls += 1
            step = self.script.pop(0) if self.script else None
        if step == "unavailable":
            raise AuthorityUnavailable("the CA is down for maintenance")
        if step == "pending":
            raise AuthorityPending("still being authorized")
        if step == "refuse":
            raise AuthorityRefused("the subject is not authorized for this service")
        return self.inner.issue(reference)

    def revoke(self, serial: str, reason_code: int, when: datetime | None = None) -> None:
        self._follow_server_clock()
        with self._lock:
            self.revoke_calls += 1
        if self.revoke_down:
            raise AuthorityUnavailable("the CA's revocation service is down")
        self.inner.revoke(serial, reason_code, when)

    def crl(self) -> bytes:
        return self.inner.crl()

    def ca_certificate(self) -> bytes:
        return self.inner.ca_certificate()


async def terminate_leftovers(client: Client, database_url: str) -> None:
    """End the workflows a test left running: on the shared time-skipping server a timer firing for a
    worker that is gone would block time skipping for every later test."""
    with session_scope(database_url) as session:
        ops = list(session.scalars(select(Certificate.operation_id)))
    for op in ops:
        handle = client.get_workflow_handle(workflow_id(op))
        try:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test finished")
        except RPCError:
            pass


def certificate_activities(settings: Settings, authority: Authority) -> Sequence[Any]:
    mail = MailActivities(settings)
    certs = CertificateActivities(settings, authority)
    return [mail.send_email, certs.submit, certs.collect, certs.record_state, certs.mark_expired, certs.revoke,
            certs.delete_record, certs.compose_email]


VALIDITY_DAYS = 40


def alice(settings: Settings) -> Principal:
    """A user of the test customer (created on first use): what a customer's own side records."""
    return principal(settings, "customer", "alice@acme.test", VAT)


def bob(settings: Settings) -> Principal:
    return principal(settings, "customer", "bob@acme.test", VAT)


@dataclass
class Rig:
    client: Client
    env: WorkflowEnvironment
    settings: Settings
    worker: Worker
    authority: ScriptedAuthority
    mailbox: Mailbox

    async def request(self, csr: bytes | None = None, **kw: object) -> str:
        result = await request_certificate(self.settings, VAT, csr or make_csr(), client=self.client,
                                           task_queue=self.worker.task_queue, as_user=operator(self.settings),
                                           **kw)  # type: ignore[arg-type]
        return result.certificate.operation_id

    async def result(self, op: str) -> CertificateStatus:
        """The workflow's final status, following continue-as-new, with time skipping."""
        handle = self.client.get_workflow_handle_for(CertificateAuthorizationWorkflow.run, workflow_id(op))
        async with self.env.time_skipping_unlocked():  # type: ignore[attr-defined]
            return await handle.result()

    async def active(self, op: str) -> CertificateStatus:
        """Wait until the certificate is active and its workflow has continued as new and parked on its
        first reminder timer, then ask the `status` query.

        Waiting for that parking first is deliberate: on the time-skipping test server a query that arrives
        while the run continues as new is handed to the closing run, the worker's answer is refused
        ("workflow execution already completed") and the caller waits out its whole RPC deadline. Reading the
        history involves no worker, so it cannot race that way."""
        handle = self.client.get_workflow_handle_for(CertificateAuthorizationWorkflow.run, workflow_id(op))

        async def parked() -> None:
            events = (await handle.fetch_history()).events  # the latest run's
            started = events[0].workflow_execution_started_event_attributes
            assert started.continued_execution_run_id, f"{op} has not continued as new yet"
            assert events[-1].event_type == EventType.EVENT_TYPE_TIMER_STARTED, (
                f"{op}'s new run is not waiting on its timer yet: {[e.event_type for e in events]}")

        await assert_eventually(parked)
        status = await handle.query(CertificateAuthorizationWorkflow.status)
        assert status.state == "active", status
        return status

    def row_state(self, op: str) -> str:
        with session_scope(self.settings.database_url) as session:
            return get_certificate(session, op).state


@asynccontextmanager
async def make_rig(env: WorkflowEnvironment, settings: Settings, db: str, mailbox: Mailbox,
                   tmp_path: Path, **worker_options: Any) -> AsyncIterator[Rig]:
    """A customer, a worker running the certificate workflow with a scripted built-in CA (on the test
    server's clock), and leftovers terminated at the end. `worker_options` go to the `Worker`."""
    with session_scope(db) as session:
        add_tenant(session, VAT, "ACME S.p.A.", PEC, None)
    authority = ScriptedAuthority(BuiltinCA(tmp_path / "ca"), now=await env.get_current_time())
    authority.inner = BuiltinCA(tmp_path / "ca", validity_days=VALIDITY_DAYS, clock=authority.clock)
    async with new_worker(env.client, settings, workflows=[CertificateAuthorizationWorkflow],
                          activities=certificate_activities(settings, authority), **worker_options) as worker:
        try:
            yield Rig(env.client, env, settings, worker, authority, mailbox)
        finally:  # a failed test too: its leftovers would stall the module's later tests
            await terminate_leftovers(env.client, db)
