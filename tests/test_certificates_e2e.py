"""End to end on a real Temporal dev server: the `einvoice` CLI (a client of the HTTP API, logged in as an
operator) and the HTTP API, against PostgreSQL, the SMTP sink and the built-in CA in DATA_DIR/ca."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core.ca import authority_from_settings
from core.db import session_scope
from core.settings import Settings
from devstack.smtp_sink import Mailbox
from domain.certificates import workflow_id
from models.certificates import get_certificate
from models.tenant import add_tenant
from starters.cli import app as cli_app
from tests.certificates_support import (
    PEC,
    VAT,
    ScriptedAuthority,
    certificate_activities,
    make_certificate,
    make_csr,
    rsa_key,
    terminate_leftovers,
)
from tests.cli_support import in_process_api, login, runner
from tests.helpers import new_worker, recording_histories, served_api
from tests.identity_support import operator_headers
from workflows.certificate_authorization import CertificateAuthorizationWorkflow

pytestmark = pytest.mark.integration
HISTORY = Path(__file__).parent / "histories" / "certificate_authorization.json"


@dataclass
class Stack:
    client: Client
    settings: Settings
    authority: ScriptedAuthority
    tmp: Path
    env: dict[str, str]

    async def cli(self, *args: str, code: int = 0) -> str:
        """`einvoice ARGS` in the test's directory, its API the app in-process (in a thread: this loop runs
        the worker meanwhile)."""
        result = await asyncio.to_thread(runner.invoke, cli_app, list(args), env={"COLUMNS": "250"})
        assert result.exit_code == code, f"einvoice {' '.join(args)} → {result.exit_code}\n{result.output}"
        return result.output

    def http(self) -> httpx.AsyncClient:
        app = create_app(self.settings, run_migrations=False)
        app.state.temporal = self.client
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://einvoice.test",
                                 headers=operator_headers(self.settings))


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment, settings: Settings, db: str, tmp_path: Path,
                mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Stack]:
    with session_scope(db) as session:
        add_tenant(session, VAT, "ACME S.p.A.", PEC, None)
    queue = f"certs-{os.urandom(4).hex()}"
    local = settings.model_copy(update={"data_dir": tmp_path / "data", "temporal_task_queue": queue})
    authority = ScriptedAuthority(authority_from_settings(local))
    env = {**os.environ, "DATABASE_URL": local.database_url, "DATA_DIR": str(local.data_dir),
           "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host, "TEMPORAL_NAMESPACE": "default",
           "TEMPORAL_TASK_QUEUE": queue, "PAYLOAD_CODEC_KEY": "off", "SMTP_PORT": str(local.smtp_port),
           "COLUMNS": "250"}
    app = create_app(local, run_migrations=False)
    app.state.temporal = dev_env.client
    monkeypatch.chdir(tmp_path)
    async with new_worker(dev_env.client, local, workflows=[CertificateAuthorizationWorkflow],
                          activities=certificate_activities(local, authority), task_queue=queue):
        with in_process_api(local, monkeypatch, tmp_path / "config", app):
            login(local)
            yield Stack(dev_env.client, local, authority, tmp_path, env)
        await terminate_leftovers(dev_env.client, db)


async def first_run_history(client: Client, op: str) -> str:
    """The JSON history of the workflow's first run (request → active, then continue-as-new)."""
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id(op), run_id=run_id).fetch_history()
        started = history.events[0]
        assert started.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        previous = started.workflow_execution_started_event_attributes.continued_execution_run_id
        if not previous:
            return history.to_json()
        run_id = previous


async def test_cli_request_list_download_revoke_crl(stack: Stack, mailbox: Mailbox) -> None:
    (stack.tmp / "acme.csr").write_bytes(make_csr(rsa_key(2048)))
    requested = json.loads(await stack.cli("cert", "request", "--vat", VAT, "--csr", "acme.csr", "--wait", "--json"))
    op = requested["operation_id"]
    assert requested["state"] == "active" and requested["added_by"] == "operator:operator-cli@einvoice-hub.test"
    assert requested["file_name"] == f"certificato{op}.cer" and requested["expires_at"]

    (stack.tmp / "der.csr").write_bytes(make_csr(der=True))
    second = await stack.cli("cert", "request", "--vat", VAT, "--csr", "der.csr", "--kind", "offline", "--wait")
    assert "active (ATTIVATO)" in second

    (stack.tmp / "bad.csr").write_bytes(make_csr(rsa_key(1024)))
    refused = await stack.cli("cert", "request", "--vat", VAT, "--csr", "bad.csr", code=2)
    assert "csr.key" in refused and "at least 2048" in refused

    listed = json.loads(await stack.cli("cert", "list", "--vat", VAT, "--json"))
    assert [c["state"] for c in listed["certificates"]] == ["active", "active"]
    assert listed["offline_certificate"].startswith("correctly added")  # the offline one is active
    human = await stack.cli("cert", "list", "--vat", VAT)
    day = requested["requested_at"][:10].split("-")
    assert f"{day[2]}/{day[1]}/{day[0]}" in human and f"certificato{op}.cer" in human

    await stack.cli("cert", "download", "--vat", VAT, "--id", op, "--out", "mine.cer")
    await stack.cli("cert", "ca", "--out", "ca.pem")
    cert = x509.load_der_x509_certificate((stack.tmp / "mine.cer").read_bytes())
    ca = x509.load_pem_x509_certificate((stack.tmp / "ca.pem").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert format(cert.serial_number, "X") == requested["serial"]

    await stack.cli("prefs", "set", "--vat", VAT, "--kind", "cert-revoked", "--off")
    shown = json.loads(await stack.cli("prefs", "show", "--vat", VAT, "--json"))
    assert shown["cert-revoked"] is False and shown["cert-issued"] is True
    revoked = json.loads(await stack.cli("cert", "revoke", "--vat", VAT, "--reason", "key-lost", "--json"))
    assert revoked["cumulative"] and revoked["revoked_count"] == 2
    missing_reason = await stack.cli("cert", "revoke", "--vat", VAT, code=2)
    assert "reason" in missing_reason

    await stack.cli("cert", "crl", "--out", "ca.crl")
    crl = x509.load_der_x509_crl((stack.tmp / "ca.crl").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    assert len(mailbox.find(to=PEC, kind="cert-issued")) == 2
    assert mailbox.find(to=PEC, kind="cert-revoked") == []  # turned off

    if recording_histories():
        HISTORY.write_text(await first_run_history(stack.client, op))


async def test_an_http_wait_is_bounded_and_answers_the_state_so_far(stack: Stack) -> None:
    """A deliberating authority (#18.5): the request with wait=true answers 202 within HTTP_WAIT_SECONDS with
    the state so far and the link to follow, instead of holding the connection until it decides."""
    stack.authority.script = ["pending"] * 1000
    stack.settings = stack.settings.model_copy(update={"http_wait_seconds": 1.0})
    async with stack.http() as http:
        began = time.monotonic()
        resp = await http.post(f"/tenants/{VAT}/certificates", files={"csr": ("a.csr", make_csr())},
                               data={"wait": "true", "operation_id": "slow-1"})
        took = time.monotonic() - began
        assert resp.status_code == 202, resp.text
        assert resp.json()["state"] in ("ordered", "accepted") and took < 30, (resp.json(), took)
        assert resp.headers["location"] == f"/tenants/{VAT}/certificates/slow-1"
        followed = await http.get(resp.headers["location"])
        assert followed.status_code == 200 and followed.json()["operation_id"] == "slow-1"


async def test_http_request_refusals_upload_delete_preferences(stack: Stack, mailbox: Mailbox) -> None:
    async with stack.http() as http:
        resp = await http.post(f"/tenants/{VAT}/certificates", files={"csr": ("a.csr", make_csr())},
                               data={"wait": "true", "operation_id": "http-1"}, headers={"X-User": "mario"})
        assert resp.status_code == 202, resp.text
        body = resp.json()
        # the authenticated user is recorded; a claimed X-User header is not an identity
        assert (body["state"], body["added_by"], body["duplicate"]) == (
            "active", "operator:operator@einvoice-hub.test", False)
        again = await http.post(f"/tenants/{VAT}/certificates", files={"csr": ("a.csr", b"garbage")},
                                data={"operation_id": "http-2"})
        assert again.status_code == 422 and again.json()["problems"][0]["field"] == "csr.format"
        big = await http.post(f"/tenants/{VAT}/certificates", files={"csr": ("a.csr", b"A" * 70_000)})
        assert big.status_code == 422 and "larger than" in big.json()["detail"]
        huge = await http.post(f"/tenants/{VAT}/certificates", files={"csr": ("a.csr", b"A" * 300_000)})
        assert huge.status_code == 413
        assert (await http.get("/tenants/IT01234567897/certificates")).status_code == 404

        uploaded = await http.post(f"/tenants/{VAT}/certificates/uploads",
                                   files={"certificate": ("ksef.pem", make_certificate())}, data={"kind": "offline"})
        assert uploaded.status_code == 201 and uploaded.json()["state"] == "added"
        listed = (await http.get(f"/tenants/{VAT}/certificates")).json()
        assert listed["offline_certificate"].startswith("correctly added")
        assert {c["operation_id"] for c in listed["certificates"]} == {"http-1", uploaded.json()["operation_id"]}

        download = await http.get(f"/tenants/{VAT}/certificates/http-1/download")
        assert download.headers["content-type"] == "application/pkix-cert"
        assert 'filename="certificatohttp-1.cer"' in download.headers["content-disposition"]
        ca = x509.load_pem_x509_certificate((await http.get("/certificates/ca.pem")).content)
        x509.load_der_x509_certificate(download.content).verify_directly_issued_by(ca)

        prefs = await http.put(f"/tenants/{VAT}/preferences", json={"cert-revoked": False})
        assert prefs.status_code == 200 and prefs.json()["cert-revoked"] is False
        assert (await http.put(f"/tenants/{VAT}/preferences", json={"nope": False})).status_code == 422
        assert (await http.get(f"/tenants/{VAT}/preferences")).json()["cert-expiry-reminder"] is True

        bad = await http.post(f"/tenants/{VAT}/certificates/revocations", json={"reason": "bored"})
        assert bad.status_code == 422
        revoked = await http.post(f"/tenants/{VAT}/certificates/revocations", json={"reason": "other"})
        assert revoked.status_code == 200 and revoked.json()["revoked"] == ["http-1"]
        crl = x509.load_der_x509_crl((await http.get("/certificates/crl")).content)
        assert crl.is_signature_valid(ca.public_key()) and len(list(crl)) == 1

        assert (await http.delete(f"/tenants/{VAT}/certificates/http-1")).status_code == 204
        assert (await http.delete(f"/tenants/{VAT}/certificates/{uploaded.json()['operation_id']}")).status_code \
            == 204
        after = (await http.get(f"/tenants/{VAT}/certificates")).json()
        assert after["certificates"] == [] and after["offline_certificate"].startswith("no certificate")


async def test_the_demo_step_requests_lists_and_revokes(stack: Stack, dev_env: WorkflowEnvironment) -> None:


    from devstack import demo_http
    from devstack.demo_certificates import step_certificates
    from tests.helpers import free_port

    port = free_port()
    served = stack.settings.model_copy(update={
        "temporal_address": dev_env.client.service_client.config.target_host,
        "payload_codec_key": SecretStr("off"), "public_base_url": f"http://127.0.0.1:{port}"})
    with served_api(served, port, timeout=10):
        try:
            ctx: dict[str, object] = {"vat": VAT}
            demo_http.act_as(operator_headers(served)["Authorization"].removeprefix("Bearer "))  # as step 0 logs in
            await asyncio.to_thread(step_certificates, served, ctx)
            op = str(ctx["certificate"])
            assert (await stack.client.get_workflow_handle(workflow_id(op)).describe()).status.name == "COMPLETED"
            with session_scope(stack.settings.database_url) as session:
                view = get_certificate(session, op)
            assert (view.state, view.revocation_reason) == ("revoked", "renewal")
            assert view.created_by == "operator:operator@einvoice-hub.test"  # the demo's operator, as it logged in
        finally:
            demo_http.act_as(None)
