"""A Polish customer's certificate through the one certificate workflow with KSeF as its authority (#14.2), on
the real dev server: requested (with its kind) through the starter, which checks the CSR with KSeF first;
the worker's activities log in to the local KSeF with the customer's seal from the key store, enroll, and the
certificate ends active — or, when KSeF refuses the enrollment, error with KSeF's reason stored and e-mailed
(seed 004)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.certificates import CertificateActivities
from activities.mail import MailActivities
from adapters.ksef_authority import KsefAuthorities
from adapters.ksef_credentials import signed_request
from api.main import create_app
from core.db import session_scope
from core.settings import Settings
from devstack.smtp_sink import Mailbox
from domain.authority import BuiltinCA
from domain.certificates import workflow_id
from domain.signatures.devcert import to_pkcs12
from models.certificates import Certificate, certificate_file, get_certificate
from models.tenant import add_tenant
from starters.certificates import request_certificate
from starters.cli import app as cli_app
from tests.certificates_support import terminate_leftovers
from tests.cli_support import flat, in_process_api, login, runner
from tests.helpers import new_worker, served_api, wait_until
from tests.identity_support import operator
from tests.ksef_authority_support import (
    PL_VAT,
    Sim,
    ksef_csr,
    ksef_settings,
    seal,
    serve_sim,
    signed_login,
)
from tests.ksef_credentials_support import give_ksef_token
from workflows.certificate_authorization import CertificateAuthorizationWorkflow

pytestmark = pytest.mark.integration
EMAIL = "biuro@firma.example.pl"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    with serve_sim(tmp_path_factory.mktemp("ksefsim")) as served:
        yield served


@dataclass
class Rig:
    env: WorkflowEnvironment
    settings: Settings
    worker: Worker
    sim: Sim
    ksef: KsefAuthorities
    token: str
    signed: bytes = b""

    async def request(self, op: str, kind: str) -> str:
        self.signed = signed_login(self.settings)  # on the customer's machine
        result = await request_certificate(self.settings, PL_VAT, ksef_csr(), kind, op, as_user=operator(self.settings),
                                           client=self.env.client, task_queue=self.worker.task_queue, wait=True,
                                           wait_seconds=60, ksef_auth_request=self.signed)
        return result.certificate.state

    async def activities_run(self, op: str) -> list[str]:
        latest = self.env.client.get_workflow_handle(workflow_id(op))
        first = (await latest.describe()).raw_description.workflow_execution_info.first_run_id
        handle = self.env.client.get_workflow_handle(workflow_id(op), run_id=first)  # before continue-as-new
        return [e.activity_task_scheduled_event_attributes.activity_type.name
                async for e in handle.fetch_history_events()
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]


@pytest.fixture
async def rig(dev_env: WorkflowEnvironment, settings: Settings, db: str, tmp_path: Path, sim: Sim,
              monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    sim.configure()
    local = ksef_settings(settings, sim, tmp_path / "data").model_copy(
        update={"temporal_task_queue": f"ksef-certs-{uuid.uuid4().hex[:8]}"})
    with session_scope(db) as session:
        add_tenant(session, PL_VAT, "Firma Testowa", EMAIL, None)
    token = give_ksef_token(local, sim.sim, PL_VAT)  # the worker follows the enrollment with it
    ksef = KsefAuthorities(local)  # as the worker builds it: the signed login and the token from our database
    acts = CertificateActivities(local, BuiltinCA(tmp_path / "ca"), ksef=ksef)
    mail = MailActivities(local)
    async with new_worker(dev_env.client, local, workflows=[CertificateAuthorizationWorkflow],
                          activities=[mail.send_email, acts.submit, acts.collect, acts.record_state,
                                      acts.mark_expired, acts.revoke, acts.delete_record, acts.compose_email],
                          task_queue=local.temporal_task_queue) as worker:
        try:
            yield Rig(dev_env, local, worker, sim, ksef, token)
        finally:
            await terminate_leftovers(dev_env.client, db)
            ksef.close()
            sim.configure()


async def test_a_polish_customer_orders_an_offline_certificate_from_ksef_and_it_becomes_active(
        rig: Rig, mailbox: Mailbox) -> None:
    before = len(rig.sim.enrollments())
    assert await rig.request("ksef-e2e-ok", "offline") == "active"
    with session_scope(rig.settings.database_url) as session:
        row = get_certificate(session, "ksef-e2e-ok")
        cert = x509.load_der_x509_certificate(certificate_file(session, "ksef-e2e-ok"))
    assert row.kind == "offline" and row.serial is not None
    at_ksef = rig.sim.certificate(f"{int(row.serial, 16):016X}")
    assert (at_ksef["type"], at_ksef["name"]) == ("Offline", "einvoice ksef-e2e-ok")
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment
    assert len(rig.sim.enrollments()) == before + 1
    await asyncio.to_thread(wait_until, lambda: len(mailbox.find(to=EMAIL, kind="cert-issued")) == 1, 30, 0.2,
                            "the cert-issued e-mail")
    # ordered → (submitted) accepted → (collected) active, then its e-mail: the same workflow as the CA's
    assert (await rig.activities_run("ksef-e2e-ok"))[:5] == [
        "cert_submit", "cert_record_state", "cert_collect", "cert_compose_email", "send_email"]
    # the worker's KSeF session (its access token), the customer's token and its signed login stayed out of the
    # history (passed by reference: the operation id), and the signed login was deleted once used
    client = rig.ksef(PL_VAT)._client
    assert client is not None and client._access is not None
    history = (await rig.env.client.get_workflow_handle(workflow_id("ksef-e2e-ok")).fetch_history()).to_json()
    assert "ksef-e2e-ok" in history and client._access.token not in history and "PRIVATE KEY" not in history
    assert rig.token not in history and "AuthTokenRequest" not in history and "SignatureValue" not in history
    assert signed_request(rig.settings, "ksef-e2e-ok") is None


async def test_an_enrollment_ksef_refuses_ends_in_error_with_its_reason_e_mailed_and_listed(
        rig: Rig, mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the CLI (a client of the HTTP API), the kind named: `einvoice cert request --kind ... --wait`."""
    rig.sim.configure(enrollments=["refuse"])
    csr = tmp_path / "firma.csr"
    csr.write_bytes(ksef_csr())
    bundle = tmp_path / "pieczec.p12"  # the customer's seal, on its machine
    bundle.write_bytes(to_pkcs12(seal(), "seal", b"haslo"))
    reason = "KSeF 400 Wniosek odrzucony: Klucz publiczny został już certyfikowany przez inny podmiot."
    app = create_app(rig.settings, run_migrations=False)
    app.state.temporal = rig.env.client
    with in_process_api(rig.settings, monkeypatch, tmp_path / "config", app):
        login(rig.settings)
        asked = await asyncio.to_thread(runner.invoke, cli_app, [
            "cert", "request", "--vat", PL_VAT, "--csr", str(csr), "--kind", "authentication",
            "--operation-id", "ksef-e2e-refused", "--wait", "--ksef-seal", str(bundle), "--ksef-password-stdin"],
            input="haslo\n", env={"COLUMNS": "250"})
        assert asked.exit_code == 1, asked.output  # failed authorization: exit 1, KSeF's reason printed
        assert reason in flat(asked.output)
        listed = await asyncio.to_thread(runner.invoke, cli_app, ["cert", "list", "--vat", PL_VAT],
                                         env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    assert "error ksef-e2e-refused: enrollment " in flat(listed.output) and reason in flat(listed.output)
    with session_scope(rig.settings.database_url) as session:
        got = get_certificate(session, "ksef-e2e-refused")
    assert (got.state, got.kind) == ("error", "authentication") and str(got.error).endswith(reason)
    await asyncio.to_thread(wait_until, lambda: len(mailbox.find(to=EMAIL, kind="cert-authorization-failed")) == 1,
                            30, 0.2, "the cert-authorization-failed e-mail")
    [mail] = mailbox.find(to=EMAIL, kind="cert-authorization-failed")
    text = Mailbox.text_of(mail)
    assert "wystąpił błąd" in str(mail["Subject"]) and "został wgrany nieprawidłowo" in text and reason in text


async def test_the_demo_step_enrolls_an_offline_certificate_at_ksef(rig: Rig) -> None:
    """`make demo`'s KSeF certificate step against the app served over HTTP, the worker and the local KSeF: the
    customer's seal made on its side, each login signed there, the wrong CSR refused (nothing written), the
    offline certificate active."""

    from pydantic import SecretStr

    from devstack import demo_http
    from devstack.demo_ksef_certificates import DEMO_PL_VAT, step_ksef_certificates
    from tests.helpers import free_port
    from tests.identity_support import operator_headers

    assert DEMO_PL_VAT == PL_VAT  # the rig's customer, so the step finds it there (409) and its worker
    port = free_port()
    served = rig.settings.model_copy(update={
        "temporal_address": rig.env.client.service_client.config.target_host,
        "payload_codec_key": SecretStr("off"), "public_base_url": f"http://127.0.0.1:{port}"})
    ctx: dict[str, object] = {}
    with served_api(served, port):
        try:
            demo_http.act_as(operator_headers(served)["Authorization"].removeprefix("Bearer "))
            await asyncio.to_thread(step_ksef_certificates, served, ctx)
        finally:
            demo_http.act_as(None)
    with session_scope(rig.settings.database_url) as session:
        view = get_certificate(session, str(ctx["ksef_certificate"]))
        assert session.query(Certificate).count() == 1  # the refused CSR left nothing
    assert (view.state, view.kind) == ("active", "offline")
