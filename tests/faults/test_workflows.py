"""The reliability suite on the real workflows: a worker SIGKILLed at each activity boundary of the contract,
certificate and invoice workflows (through the SDI and through KSeF, with its session workflow) and of the KSeF
download, restarted, and each job still ends where it would have — side effects once.

"after" kills are the hard case: the activity's work is committed but Temporal never hears of it and runs it
again. Each workflow runs its whole chain of kill points in one execution (every point fires once); the
chains of the different workflows run at the same time, on their own task queues and worker processes.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from sqlalchemy import create_engine, select

from api.main import create_app
from core.db import session_scope
from core.search_keys import SearchKeys
from core.settings import Settings
from devstack.smtp_sink import Mailbox
from models.certificates import Certificate
from models.conservation import ArchivePackage
from models.conservation_io import VerifyInput, VerifyReport
from models.tenant import get_tenant
from starters.archive import conservation_workflow_id, start_conservation, start_verify, verify_local
from starters.certificates import certificate_status, request_certificate, revoke_certificates
from starters.contracts import accept_link, contract_status, start_contract
from starters.invoices import send_invoice
from tests.certificates_support import make_csr
from tests.conservation_support import add_invoice, bucket_settings
from tests.contracts_helpers import add_customer, link_path, new_vat
from tests.faults.harness import ROOT, FaultStack, Supervisor, kill_points, new_task_queue
from tests.helpers import free_port, wait_until
from tests.identity_support import operator
from tests.invoices_support import PEC, VAT, ensure_customer, fresh_progressives, install_key, invoice

pytestmark = [pytest.mark.faults, pytest.mark.integration]

# The contract's activities send their e-mails themselves (the signed link never enters the history).
CONTRACT_POINTS = kill_points("contract_open_order", "contract_send_invitation", "contract_accept_order",
                              "contract_notify_activation")
CERTIFICATE_POINTS = kill_points("cert_submit", "cert_collect", "cert_record_state", "cert_compose_email", "send_email",
                                 "cert_revoke")


async def contract_chain(stack: FaultStack, mailbox: Mailbox) -> None:
    settings = stack.settings(new_task_queue())
    vat = new_vat()
    pec = add_customer(settings, vat)
    async with Supervisor(stack, settings, CONTRACT_POINTS) as supervisor:
        client = await stack.client(settings)
        started = await start_contract(settings, vat, amount="120.00", client=client, as_user=operator(settings))
        await asyncio.to_thread(wait_until, lambda: len(mailbox.find(to=pec, kind="contract-invitation")) == 1,
                                120, 0.3, "the contract e-mail")
        token = link_path(mailbox.find(to=pec, kind="contract-invitation")[0]).rsplit("/", 1)[-1]
        await asyncio.wait_for(accept_link(settings, token, client=client), 150)
        await asyncio.wait_for(client.get_workflow_handle(started.workflow_id).result(), 150)
        status = await contract_status(settings, vat, client=client, as_user=operator(settings))
    assert supervisor.fired == sorted(p.replace(":", ".") for p in CONTRACT_POINTS.split(","))
    assert supervisor.deaths == [-9] * len(supervisor.fired)
    with session_scope(settings.database_url) as session:
        assert get_tenant(session, vat).enabled
    assert "accepted" in str(status).lower()
    # Every e-mail exactly once, though the worker died right after sending some of them.
    assert len(mailbox.find(to=pec, kind="contract-invitation")) == 1
    assert len(mailbox.find(to=settings.partner_email, kind="contract-activation")) == 1
    assert len(mailbox.find(to=settings.conservation_manager_email, kind="conservation-access")) == 1


async def certificate_chain(stack: FaultStack, mailbox: Mailbox) -> None:
    settings = stack.settings(new_task_queue())
    vat = new_vat()
    pec = add_customer(settings, vat)
    csr = make_csr(name=x509.Name([x509.NameAttribute(x509.oid.NameOID.SERIAL_NUMBER, vat),
                                   x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "ACME")]))
    op = f"op{uuid.uuid4().hex[:12]}"
    async with Supervisor(stack, settings, CERTIFICATE_POINTS) as supervisor:
        client = await stack.client(settings)
        await request_certificate(settings, vat, csr, operation_id=op, as_user=operator(settings), client=client)

        async def active() -> None:
            while (await certificate_status(settings, op, client=client, as_user=operator(settings))).state != "active":
                await asyncio.sleep(0.5)

        try:
            await asyncio.wait_for(active(), 150)
        except TimeoutError:
            desc = await client.get_workflow_handle(f"cert-{op}").describe()
            pending = [(a.activity_type.name, a.attempt, a.last_failure.message)
                       for a in desc.raw_description.pending_activities]
            raise AssertionError(f"not active; pending {pending}; deaths {supervisor.deaths}") from None
        revoked = await asyncio.wait_for(revoke_certificates(settings, vat, "key-lost", client=client,
                                                             as_user=operator(settings)), 150)

        async def closed() -> None:
            while (await certificate_status(settings, op, client=client,
                                            as_user=operator(settings))).state != "revoked":
                await asyncio.sleep(0.5)

        await asyncio.wait_for(closed(), 150)
        await asyncio.to_thread(wait_until, lambda: len(mailbox.find(to=pec, kind="cert-revoked")) == 1, 60, 0.3,
                                "the revocation e-mail")
    assert supervisor.fired == sorted(p.replace(":", ".") for p in CERTIFICATE_POINTS.split(","))
    assert supervisor.deaths == [-9] * len(supervisor.fired)
    assert revoked.revoked == [op]
    with session_scope(settings.database_url) as session:
        rows = session.scalars(select(Certificate).where(Certificate.operation_id == op)).all()
        assert [r.state for r in rows] == ["revoked"]
    assert len(mailbox.find(to=pec, kind="cert-issued")) == 1
    assert len(mailbox.find(to=pec, kind="cert-revoked")) == 1


# The outcome's e-mail is sent inside invoice_apply_outcome (one activity, one retry boundary). Prepare, the
# outcome and the record are local activities: killed "after", the workflow task they ran in is lost with the
# worker, and the next worker runs them again once that task times out.
# Then the verification of the archive, a package a page so that it continues as new: killed after reading a
# page, the page is read again and nothing is counted twice. (Not after archive_verify_packages: its attempt is
# noticed lost only by its 2-minute heartbeat timeout, past this suite's budget; it is read-only too.)
INVOICE_POINTS = kill_points("invoice_prepare", "sdi_transmit", "invoice_apply_outcome", "archive_store_package",
                             "archive_record_package", "archive_list_package_page")


@asynccontextmanager
async def sdi_and_api(stack: FaultStack, settings: Settings) -> AsyncIterator[Settings]:
    """Our API (its TrasmissioneFatture endpoint receives the notifications) and the local SDI process."""
    api_port, sim_port = free_port(), free_port()
    own = settings.model_copy(update={
        "sdi_url": f"http://127.0.0.1:{sim_port}", "sdi_callback_url": f"http://127.0.0.1:{api_port}/sdi",
        "sdi_signer_cert": str(stack.work_dir / "sdi-signer.pem")})
    app = create_app(own, run_migrations=False)
    app.state.temporal = await stack.client(own)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=api_port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    sim = subprocess.Popen(
        [sys.executable, "-m", "starters.cli", "sdi-sim", "--port", str(sim_port), "--delay", "0.3",
         "--callback-url", f"http://127.0.0.1:{api_port}/sdi/TrasmissioneFatture", "--signer-cert",
         own.sdi_signer_cert], cwd=ROOT, stdout=(stack.work_dir / "sdisim.log").open("wb"), stderr=subprocess.STDOUT)

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{sim_port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await asyncio.to_thread(wait_until, up, 30, 0.2, "the local SDI")
        yield own
    finally:
        sim.terminate()
        sim.wait(10)
        server.should_exit = True
        await serving


async def invoice_chain(stack: FaultStack, mailbox: Mailbox) -> None:
    settings = bucket_settings(stack.settings(new_task_queue()))
    ensure_customer(settings)
    fresh_progressives(settings)
    install_key(settings)
    async with sdi_and_api(stack, settings) as own, Supervisor(stack, own, INVOICE_POINTS) as supervisor:
        client = await stack.client(own)
        view = await send_invoice(own, VAT, invoice("FAULT-1"), "fault1.xml", sign="cades", client=client,
                                  as_user=operator(own))
        result = await asyncio.wait_for(client.get_workflow_handle(view.workflow_id).result(), 240)
        conserve = conservation_workflow_id(own, "invoice", view.id)
        await asyncio.wait_for(client.get_workflow_handle(conserve).result(), 240)
        sim_files = httpx.get(f"{own.sdi_url}/control/files").json()
        second = await start_conservation(own, add_invoice(own, vat=VAT, number="00777"), client)
        await asyncio.wait_for(second.result(), 240)
        verify_id = await start_verify(own, VerifyInput(vat=VAT, page_size=1, pages_per_run=1), client,
                                       as_user=operator(own))
        verification = client.get_workflow_handle(verify_id, result_type=VerifyReport)
        report = await asyncio.wait_for(verification.result(), 240)
        verify_runs = await verification.describe()
    assert supervisor.fired == sorted(p.replace(":", ".") for p in INVOICE_POINTS.split(","))
    assert supervisor.deaths == [-9] * len(supervisor.fired)
    assert result["state"] == "delivered"
    assert len([f for f in sim_files if f["file_name"] == view.file_name]) == 1  # transmitted once
    assert len(mailbox.find(to=PEC, kind="invoice-outcome")) == 1
    with session_scope(own.database_url) as session:
        packages = session.scalars(select(ArchivePackage).where(ArchivePackage.owner_id == view.id)).all()
    assert len(packages) == 1  # stored once
    expected = verify_local(own, VAT,
                            as_user=operator(own))  # the same checks in this process: each package counted once
    assert (report.packages, report.objects, report.bytes, report.fault_count) == (
        2, expected.objects, expected.bytes, 0) and expected.packages == 2
    assert verify_runs.run_id != verify_runs.raw_description.workflow_execution_info.first_run_id  # continued


KSEF_CERTIFICATE_POINTS = kill_points("cert_submit", "cert_revoke")  # the two whose retry meets KSeF again


async def ksef_certificate_chain(stack: FaultStack, mailbox: Mailbox) -> None:
    """A Polish customer's certificate, KSeF its authority (the local KSeF in this process): the worker dies
    right after KSeF took the enrollment and right after KSeF revoked it; still one enrollment at KSeF, active
    once, revoked there with KSeF's reason for ours, each e-mail once."""
    from models.tenant import add_tenant
    from tests.ksef_authority_support import PL_VAT, ksef_csr, serve_sim, signed_login
    from tests.ksef_credentials_support import give_ksef_token

    email = "biuro@firma-faults.example.pl"
    with serve_sim(stack.work_dir / f"ksefsim-{uuid.uuid4().hex[:8]}") as sim:
        settings = stack.settings(new_task_queue()).model_copy(update={"ksef_url": sim.api})
        with session_scope(settings.database_url) as session:
            add_tenant(session, PL_VAT, "Firma Testowa", email, None)
        give_ksef_token(settings, sim.sim, PL_VAT)  # the worker processes follow and revoke with it
        op = f"pl{uuid.uuid4().hex[:12]}"
        async with Supervisor(stack, settings, KSEF_CERTIFICATE_POINTS) as supervisor:
            client = await stack.client(settings)
            await request_certificate(settings, PL_VAT, ksef_csr(), "authentication", op, as_user=operator(settings),
                                      client=client, ksef_auth_request=signed_login(settings))

            def row_state() -> str:  # read from the database: a query would wait on a worker being restarted
                with session_scope(settings.database_url) as session:
                    return session.scalars(select(Certificate.state).where(Certificate.operation_id == op)).one()

            # the issued e-mail: the restarted worker has taken the collected certificate (a revocation sent in
            # the moment the worker is down would wait on it), and it is active for the workflow too
            await asyncio.to_thread(wait_until, lambda: len(mailbox.find(to=email, kind="cert-issued")) == 1, 150,
                                    0.5, "the cert-issued e-mail")
            assert row_state() == "active"
            revoked = await asyncio.wait_for(revoke_certificates(settings, PL_VAT, "stolen", client=client,
                                                                 as_user=operator(settings)), 150)
            await asyncio.to_thread(wait_until, lambda: row_state() == "revoked", 150, 0.5, "it revoked")
            await asyncio.to_thread(wait_until, lambda: len(mailbox.find(to=email, kind="cert-revoked")) == 1, 60,
                                    0.3, "the revocation e-mail")
        enrollments = sim.enrollments()
        with session_scope(settings.database_url) as session:
            row = session.scalars(select(Certificate).where(Certificate.operation_id == op)).one()
        at_ksef = sim.certificate(f"{int(str(row.serial), 16):016X}")
    assert supervisor.fired == sorted(p.replace(":", ".") for p in KSEF_CERTIFICATE_POINTS.split(","))
    assert supervisor.deaths == [-9] * len(supervisor.fired)
    assert revoked.revoked + revoked.pending == [op] and row.state == "revoked"  # pending: KSeF not confirmed yet
    assert len(enrollments) == 1  # cert_submit ran twice, KSeF was asked once
    assert (at_ksef["name"], at_ksef["status"], at_ksef["revocation_reason"]) == (
        f"einvoice {op}", "Revoked", "KeyCompromise")
    assert len(mailbox.find(to=email, kind="cert-issued")) == 1
    assert len(mailbox.find(to=email, kind="cert-revoked")) == 1


# The KSeF channel: the invoice workflow's prepare (local), enqueue and apply outcome (local), the session
# workflow's open, send, await and close. In one execution they would follow one another for ~3 minutes (an
# "after" kill of an activity costs its attempt timeout, 30 s for KSeF's, then its backoff), past the other
# chains, so the points are dealt to two Polish customers' invoices run at once (~80 s each); together they
# kill at every boundary. The open and the enqueue are in different chains: a kill right after the enqueue
# could otherwise fall on an open in flight (KSeF opened it, not yet recorded), a second session at KSeF.
KSEF_SEND_POINTS = (kill_points("invoice_prepare", "ksef_open_session", "ksef_await_invoice"),
                    kill_points("ksef_enqueue", "ksef_send_invoice", "invoice_apply_outcome", "ksef_close_session"))
KSEF_SAMPLE = ROOT / "tests" / "corpus" / "fa3" / "valid-vat-two-rates.xml"
KSEF_SEND_NIPS = ("5265877003", "5265877026")  # not the certificate chain's customer: each chain its own


async def ksef_invoice_chain(stack: FaultStack, mailbox: Mailbox, points: str, nip: str) -> None:
    """A Polish customer's FA(3) invoice through KSeF (the local KSeF in this process): the invoice workflow
    hands it to the customer's session workflow and gets its `ksef_outcome`. Accepted with its KSeF number and
    UPO stored once, KSeF given it once (by its hash) in one session, one outcome e-mail, the session closed."""
    import base64
    import hashlib

    from models import ksef_channel as kdb
    from models.invoices import invoice_files
    from models.tenant import add_tenant, set_enabled
    from tests.ksef_authority_support import serve_sim
    from tests.ksef_credentials_support import give_ksef_token
    from workflows.invoice_send import InvoiceSendWorkflow
    from workflows.ksef_session import KsefSessionWorkflow

    vat, email = f"PL{nip}", f"biuro@{nip}.example.pl"
    xml = KSEF_SAMPLE.read_bytes().replace(b"<P_2>FV/2026/12/001</P_2>", f"<P_2>FV/FAULT/{nip}</P_2>".encode()).replace(
        b"<NIP>5265877635</NIP>", f"<NIP>{nip}</NIP>".encode())  # the sample's seller made this customer
    with serve_sim(stack.work_dir / f"ksefsim-{uuid.uuid4().hex[:8]}") as sim:
        sim.configure(limits_multiplier=0)
        # idle 1 s: the session is closed right after the outcome (its close is a boundary too)
        settings = stack.settings(new_task_queue()).model_copy(update={"ksef_url": sim.api,
                                                                       "ksef_session_idle_seconds": 1})
        with session_scope(settings.database_url) as session:
            add_tenant(session, vat, "Firma Testowa sp. z o.o.", email, None)
            set_enabled(session, vat, True)
        give_ksef_token(settings, sim.sim, vat)
        async with Supervisor(stack, settings, points) as supervisor:
            client = await stack.client(settings)
            view = await send_invoice(settings, vat, xml, f"{nip}.xml", client=client, conserve=False,
                                      as_user=operator(settings))
            result = await asyncio.wait_for(
                client.get_workflow_handle_for(InvoiceSendWorkflow.run, view.workflow_id).result(), 240)
            session_id = f"ksef-session-{SearchKeys(settings).customer(vat)}"
            ended = await asyncio.wait_for(
                client.get_workflow_handle_for(KsefSessionWorkflow.run, session_id).result(), 240)
        digest = base64.b64encode(hashlib.sha256(xml).digest()).decode()
        at_ksef = [i for i in sim.sim.state.all("invoice") if i["hash"] == digest]
        sessions = [s for s in sim.sim.state.all("session") if s["context"] == ["Nip", nip]]
    assert supervisor.fired == sorted(p.replace(":", ".") for p in points.split(","))
    assert supervisor.deaths == [-9] * len(supervisor.fired)
    assert result.state == "accepted" and result.ksef_number, result
    assert len(at_ksef) == 1 and at_ksef[0]["ksef_number"] == result.ksef_number  # sent once
    assert [s["state"] for s in sessions] == ["closed"]  # one session opened at KSeF, closed there
    assert ended.opened == 1 and ended.session_reference is None, ended
    with session_scope(settings.database_url) as session:
        row = kdb.ksef_invoice(session, view.id)
        assert row is not None and (row.state, row.ksef_number, row.attempts) == (
            "accepted", result.ksef_number, 1)
        assert row.session_reference == sessions[0]["ref"]
        upos = [f for f in invoice_files(session, view.id) if f.role == "upo"]
        assert [f.id for f in upos] == [row.upo_file_id]  # the UPO stored once
        ours = session.scalars(select(kdb.KsefSession).where(
            kdb.KsefSession.reference_number == sessions[0]["ref"])).all()
        assert [(s.state, s.key_sealed) for s in ours] == [("closed", None)]
    assert len(mailbox.find(to=email, kind="invoice-outcome")) == 1


# The download: pending and handed over are local activities (a kill loses the workflow task they ran in);
# take is killed once it has stored every invoice of the range and moved the cursor past them.
KSEF_DOWNLOAD_POINTS = kill_points("ksef_download_pending", "ksef_download_take", "ksef_download_handed_over")
KSEF_DOWNLOAD_NIP = "5265877049"


async def ksef_download_chain(stack: FaultStack, mailbox: Mailbox) -> None:
    """A range of a Polish customer's received invoices downloaded from KSeF (the local KSeF in this process):
    each stored once per KSeF number, none missed, each handed over to one passive cycle (one e-mail)."""
    from datetime import UTC, datetime, timedelta

    from models.invoices import Invoice
    from models.ksef_download import KsefReceived
    from models.ksef_download_io import KsefDownloadResult
    from models.tenant import add_tenant, get_tenant_row, set_enabled
    from starters.ksef_download import download_range
    from tests.ksef_authority_support import serve_sim
    from tests.ksef_credentials_support import give_ksef_token
    from tests.ksef_download_support import SUPPLIER
    from tests.ksef_download_support import fa3 as received_fa3

    nip = KSEF_DOWNLOAD_NIP
    vat, email = f"PL{nip}", f"ksiegowosc@{nip}.example.pl"
    with serve_sim(stack.work_dir / f"ksefsim-{uuid.uuid4().hex[:8]}") as sim:
        sim.configure(limits_multiplier=0)
        settings = bucket_settings(stack.settings(new_task_queue())).model_copy(update={"ksef_url": sim.api})
        with session_scope(settings.database_url) as session:
            add_tenant(session, vat, "Nabywca sp. z o.o.", email, None)
            set_enabled(session, vat, True)
            tenant_id = get_tenant_row(session, vat).id
        give_ksef_token(settings, sim.sim, vat)
        since = datetime.now(UTC) - timedelta(minutes=1)
        numbers = [str(sim.sim.deliver(received_fa3(f"FV/D/{i}", SUPPLIER, nip, gross=f"{100 + i}.00"))["ksefNumber"])
                   for i in range(3)]
        await asyncio.sleep(0.01)  # the range ends after the last of them (its end is not in it)
        async with Supervisor(stack, settings, KSEF_DOWNLOAD_POINTS) as supervisor:
            client = await stack.client(settings)
            view = await download_range(settings, vat, since, datetime.now(UTC), client=client,
                                        as_user=operator(settings))
            assert view.workflow_id is not None
            result = await asyncio.wait_for(client.get_workflow_handle(
                view.workflow_id, result_type=KsefDownloadResult).result(), 240)
            with session_scope(settings.database_url) as session:
                cycles = session.scalars(select(Invoice.workflow_id).where(Invoice.tenant_id == tenant_id)).all()
            for workflow_id in cycles:  # each passive cycle: started once, e-mailed, closed
                await asyncio.wait_for(client.get_workflow_handle(workflow_id).result(), 240)
    assert supervisor.fired == sorted(p.replace(":", ".") for p in KSEF_DOWNLOAD_POINTS.split(","))
    assert supervisor.deaths == [-9] * len(supervisor.fired)
    # the killed take's report was lost: its retry found the range taken (nothing stored twice)
    assert result.finished and result.taken == 0 and result.handed_over == 3, result
    with session_scope(settings.database_url) as session:
        received = session.scalars(select(KsefReceived).where(KsefReceived.tenant_id == tenant_id)).all()
        invoices = session.scalars(select(Invoice.id).where(Invoice.tenant_id == tenant_id)).all()
    assert sorted(r.ksef_number for r in received) == sorted(numbers)  # each once, none missed
    assert all(r.cycle_started for r in received) and len(invoices) == len(cycles) == 3
    # One e-mail per invoice. A kill of this chain's worker can land while a passive cycle's e-mail is in the
    # hands of SMTP (the cycles run on the same worker, beside the download's boundaries): its retry sends it
    # again under the same Message-ID (activities/mail.py: as far as SMTP allows), so count the messages.
    mails = [str(m["Message-ID"]) for m in mailbox.find(to=email, kind="invoice-received")]
    assert len(set(mails)) == 3, mails
    assert len(mails) - len(set(mails)) <= len(supervisor.fired), mails  # at most one copy per kill


async def test_workers_killed_at_every_activity_boundary(stack: FaultStack, db: str, mailbox: Mailbox) -> None:
    await asyncio.gather(contract_chain(stack, mailbox), certificate_chain(stack, mailbox),
                         invoice_chain(stack, mailbox), ksef_certificate_chain(stack, mailbox),
                         *(ksef_invoice_chain(stack, mailbox, points, nip)
                           for points, nip in zip(KSEF_SEND_POINTS, KSEF_SEND_NIPS, strict=True)),
                         ksef_download_chain(stack, mailbox))


async def test_database_down_while_an_invoice_is_prepared_in_its_local_activity(
        stack: FaultStack, db: str, mailbox: Mailbox) -> None:
    """Prepare runs as a local activity inside a workflow task: with PostgreSQL away it is retried there
    (then on a timer) until the database is back — nothing transmitted meanwhile, and once afterwards."""
    settings = bucket_settings(stack.settings(new_task_queue()))
    ensure_customer(settings)
    fresh_progressives(settings)
    install_key(settings)
    async with sdi_and_api(stack, settings) as own:
        client = await stack.client(own)
        view = await send_invoice(own, VAT, invoice("DBDOWN-1"), "dbdown1.xml", sign="cades", client=client,
                                  as_user=operator(own))
        stack.db_proxy.down()  # before any worker takes the invoice: its prepare meets the outage
        try:
            stack.start_worker(own)
            await asyncio.sleep(6)  # a few failed attempts
            sent = [f for f in httpx.get(f"{own.sdi_url}/control/files").json() if f["file_name"] == view.file_name]
            assert sent == []
            failed = [line for log in stack.work_dir.glob("worker-*.log") for line in log.read_text().splitlines()
                      if "Completing activity as failed" in line and view.workflow_id in line
                      and "'invoice_prepare'" in line]
            assert failed, "the prepare never met the outage"
        finally:
            stack.db_proxy.up()
        result = await asyncio.wait_for(client.get_workflow_handle(view.workflow_id).result(), 120)
        conserve = conservation_workflow_id(own, "invoice", view.id)
        await asyncio.wait_for(client.get_workflow_handle(conserve).result(), 120)
        sim_files = httpx.get(f"{own.sdi_url}/control/files").json()
    stack.stop_workers()
    assert result["state"] == "delivered"
    assert len([f for f in sim_files if f["file_name"] == view.file_name]) == 1
    assert len([m for m in mailbox.find(to=PEC, kind="invoice-outcome")
                if view.file_name in str(m["Subject"])]) == 1


# The sweep's one activity signals and marks in the same attempt: killed "after", Temporal retries it (on its
# heartbeat timeout) and the retry finds nothing left to deliver.
SWEEP_POINTS = kill_points("invoice_redeliver_notifications")


def _store_rc_as_the_endpoint_does(settings: Settings, invoice_id: str, file_name: str, sdi_id: int) -> str:
    """The RC our endpoint stored while Temporal was unreachable (the signature is checked at the endpoint,
    not by the sweep: any key will do here)."""
    import hashlib
    from datetime import UTC, datetime

    from domain.sdi import messages
    from models import invoices as invdb
    from sdisim.main import xades_signer

    now = datetime.now(UTC)
    data = messages.build_rc(sdi_id, file_name, now, now, "ABC1234", "Beta", "1", xades_signer())
    name = messages.notification_file_name(file_name, "RC")
    with session_scope(settings.database_url) as session:
        info = invdb.store_invoice_file(session, invoice_id, "notification", name, "application/xml", data)
        invdb.record_notification(session, name, invoice_id, "RC", sdi_id, hashlib.sha256(data).hexdigest(), info.id)
    return name


async def test_worker_killed_right_after_the_sweep_delivered_a_notification(stack: FaultStack, db: str,
                                                                             mailbox: Mailbox) -> None:
    """A notification stored while Temporal was away, the SDI silent since: the sweep signals it and marks it,
    and its worker dies before Temporal hears. The retried activity finds it marked and signals nothing; the
    invoice ends delivered with the RC applied once and one e-mail."""
    from models.invoices import SdiNotification
    from models.invoices_io import NotificationSweepInput
    from starters.invoices import get_invoice
    from workflows.notification_sweep import NotificationSweepWorkflow

    settings = stack.settings(new_task_queue())
    ensure_customer(settings)
    fresh_progressives(settings)
    async with sdi_and_api(stack, settings) as own:
        httpx.post(f"{own.sdi_url}/control/config", json={"delay": 3600}).raise_for_status()  # the SDI stays silent
        async with Supervisor(stack, own, SWEEP_POINTS) as supervisor:
            client = await stack.client(own)
            view = await send_invoice(own, VAT, invoice("SWEEP-1"), "sweepkill.xml", client=client, conserve=False,
                                      as_user=operator(own))
            await asyncio.to_thread(wait_until, lambda: get_invoice(own, view.id,
                                                                    as_user=operator(own)).sdi_id is not None, 120, 0.3,
                                    "the invoice sent")
            sdi_id = get_invoice(own, view.id, as_user=operator(own)).sdi_id
            assert sdi_id is not None
            name = _store_rc_as_the_endpoint_does(own, view.id, view.file_name, sdi_id)
            report = await asyncio.wait_for(client.execute_workflow(
                NotificationSweepWorkflow.run, NotificationSweepInput(stuck_after_seconds=0),
                id=f"sweep-{uuid.uuid4()}", task_queue=own.temporal_task_queue), 150)
            result = await asyncio.wait_for(client.get_workflow_handle(view.workflow_id).result(), 150)
    assert supervisor.fired == ["invoice_redeliver_notifications.after"]
    assert supervisor.deaths == [-9]
    assert report.examined == 0  # the attempt that delivered died with its worker; the retry found it marked
    assert result["state"] == "delivered" and result["notifications"] == [name]
    with session_scope(own.database_url) as session:
        assert session.scalars(select(SdiNotification.signaled).where(SdiNotification.name == name)).all() == [True]
    assert len([m for m in mailbox.find(to=PEC, kind="invoice-outcome") if view.file_name in str(m["Subject"])]) == 1


SYNC_POINTS = kill_points("customer_sync_apply_feed")


async def test_worker_killed_right_after_a_scheduled_sync_round_applied_it(stack: FaultStack, db: str,
                                                                           tmp_path: Path) -> None:
    """The round's worker dies once the copy has committed every page, before Temporal hears: the retried
    round (on the restarted worker) starts from the copy's cursor, applies nothing twice, and the copy equals
    the source. One audit entry per attempt."""
    from models import audit, feed
    from models.files import store_file
    from models.tenant import get_tenant_row
    from starters.sync_schedules import schedule_sync, unschedule_sync
    from sync.schema import TABLES

    settings = stack.settings(new_task_queue())
    vat = new_vat()
    add_customer(settings, vat)
    with session_scope(settings.database_url) as session:
        tid = get_tenant_row(session, vat).id
        for i in range(3):
            store_file(session, tid, "invoice", f"{vat}_SYNC", "original", f"s{i}.xml", "application/xml",
                       b"<s%d/>" % i)
    copy = tmp_path / "copy.db"
    async with Supervisor(stack, settings, SYNC_POINTS) as supervisor:
        client = await stack.client(settings)
        sched = await schedule_sync(settings, vat, f"sqlite:///{copy}", 30, client, as_user=operator(settings))
        try:
            schedule = client.get_schedule_handle(sched.schedule_id)
            await schedule.trigger()

            async def started() -> str:
                actions = (await schedule.describe()).info.recent_actions
                return actions[-1].action.workflow_id if actions else ""

            for _ in range(300):
                if workflow_id := await started():
                    break
                await asyncio.sleep(0.1)
            report = await asyncio.wait_for(client.get_workflow_handle(workflow_id).result(), 120)
        finally:
            await unschedule_sync(settings, vat, client, as_user=operator(settings))
    assert supervisor.fired == ["customer_sync_apply_feed.after"]
    assert supervisor.deaths == [-9]
    assert report["applied"] == 0 and not report["resynced"]  # the retry found the copy caught up
    engine = create_engine(f"sqlite:///{copy}")
    with engine.connect() as conn:
        local = {kind: {r[0] for r in conn.execute(select(t.c.key))} for kind, t in TABLES.items()}
    engine.dispose()
    with session_scope(settings.database_url) as session:
        snap = feed.snapshot(session, get_tenant_row(session, vat).id)
        outcomes = session.scalars(select(audit.AuditEntry.outcome).where(
            audit.AuditEntry.surface == "schedule", audit.AuditEntry.customer_vat == vat)).all()
    assert local == {kind: {str(r["key"]) for r in snap["rows"].get(kind, [])} for kind in TABLES}
    assert len(local["file"]) == 3
    assert outcomes == ["ok", "ok"]  # the attempt that died, and its retry
