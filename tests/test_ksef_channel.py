"""KSeF as a channel of the invoice workflow (#14.3), on the time-skipping server against the local KSeF (real
HTTP, one uvicorn for the module): a Polish customer's burst of three FA(3) invoices goes through one
interactive session, one of them rejected by KSeF; the KSeF numbers and UPOs are stored, each outcome e-mailed,
the accepted ones conserved with their UPO in the package, and the session closed once idle. Then KSeF down
for longer than an activity's retry budget: the invoice waits and goes through once KSeF is back, sent once. A
bad FA(3) invoice is refused at submission with nothing written."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from lxml import etree
from sqlalchemy import func, select
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from core.db import session_scope
from core.search_keys import SearchKeys
from core.settings import Settings
from devstack.smtp_sink import Mailbox
from domain.errors import Conflict, InvalidInput
from domain.ksef.numbers import parse_ksef_number
from models import ksef_channel as kdb
from models.conservation import package_of_owner
from models.invoices import Invoice, get_invoice, invoice_files
from models.invoices_io import InvoiceStatusView
from models.ksef_io import KsefSessionView
from models.tenant import add_tenant, set_enabled
from starters.invoices import send_invoice
from tests.conservation_support import bucket_settings
from tests.helpers import assert_eventually, new_worker, record_history
from tests.identity_support import operator
from tests.ksef_authority_support import (
    PL_VAT,
    Sim,
    ksef_settings,
    serve_sim,
)
from tests.ksef_credentials_support import give_ksef_token
from workflows.common import EXTERNAL_TOTAL_TIMEOUT
from workflows.invoice_send import InvoiceSendWorkflow
from workflows.ksef_session import KsefSessionWorkflow

SAMPLE = (Path(__file__).resolve().parent / "corpus" / "fa3" / "valid-vat-two-rates.xml").read_bytes()
UPO_NS = "http://upo.schematy.mf.gov.pl/KSeF/v4-3"


def fa3(number: str) -> bytes:
    return SAMPLE.replace(b"<P_2>FV/2026/12/001</P_2>", f"<P_2>{number}</P_2>".encode())


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    with serve_sim(tmp_path_factory.mktemp("ksefsim")) as served:
        yield served


@pytest.fixture
def pl(sim: Sim, settings: Settings, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    sim.configure(limits_multiplier=0)
    local = bucket_settings(ksef_settings(settings, sim, tmp_path / "data"), ksef_session_idle_seconds=300)
    with session_scope(local.database_url) as session:
        add_tenant(session, PL_VAT, "Firma Testowa sp. z o.o.", "biuro@firma.example.pl", None)
        set_enabled(session, PL_VAT, True)
    give_ksef_token(local, sim.sim, PL_VAT)  # the worker logs in with it, never with a key of the customer's
    yield local
    sim.configure()


async def _open_retried(session: WorkflowHandle[Any, Any]) -> None:
    """Until the session workflow's open has been tried at least twice (KSeF down)."""
    async def retried() -> None:
        try:
            desc = await session.describe()
        except RPCError as err:  # not started yet (run first in the module, no earlier run of this id)
            raise AssertionError("no session workflow yet") from err
        pending = desc.raw_description.pending_activities
        assert pending and pending[0].attempt >= 2, "no retried open yet"

    await assert_eventually(retried, timeout=30)


def _session_id(settings: Settings) -> str:
    return f"ksef-session-{SearchKeys(settings).customer(PL_VAT)}"


async def test_a_burst_of_three_in_one_session_one_rejected_numbers_and_upos_stored_closed_when_idle(
        time_env: WorkflowEnvironment, pl: Settings, mailbox: Mailbox) -> None:
    client = time_env.client
    async with new_worker(client, pl) as worker:
        tq = worker.task_queue
        views = [await send_invoice(pl, PL_VAT, fa3(n), f"{n}.xml", client=client, task_queue=tq, conserve=False,
                                    as_user=operator(pl))
                 for n in ("FV/1/2026", "ODRZUC-450-FV/2/2026", "FV/3/2026")]
        handles = [client.get_workflow_handle_for(InvoiceSendWorkflow.run, v.workflow_id) for v in views]
        results: list[InvoiceStatusView] = await asyncio.gather(*(h.result() for h in handles))
        assert [r.state for r in results] == ["accepted", "rejected", "accepted"]
        session = client.get_workflow_handle_for(KsefSessionWorkflow.run, _session_id(pl))
        await time_env.sleep(400)  # idle for 300 s: the session is closed and the run ends
        ended: KsefSessionView = await session.result()
        await record_history(client, session.id, "ksef_session")
        await record_history(client, views[0].workflow_id, "invoice_send.ksef_accepted_local_enqueue")

    assert ended.opened == 1 and ended.session_reference is None, ended
    assert any("closed: idle" in line for line in ended.history), ended.history
    with session_scope(pl.database_url) as s:
        sessions = s.scalars(select(kdb.KsefSession)).all()
        assert [(x.state, x.key_sealed) for x in sessions] == [("closed", None)]  # one session, its key erased
        rows = {r.invoice_id: r for r in s.scalars(select(kdb.KsefInvoice))}
        for view, result in zip(views, results, strict=True):
            row, inv = rows[view.id], get_invoice(s, view.id)
            assert row.session_reference == sessions[0].reference_number
            roles = {f.role: f for f in invoice_files(s, view.id)}
            if result.state == "accepted":
                number = parse_ksef_number(row.ksef_number or "")
                assert number.seller_nip == "5265877635" and result.ksef_number == row.ksef_number
                assert inv.detail == f"numer KSeF {row.ksef_number}"
                upo = etree.fromstring(_content(s, roles["upo"].id))
                assert etree.QName(upo).namespace == UPO_NS
                assert row.ksef_number and row.ksef_number.encode() in _content(s, roles["upo"].id)
            else:
                assert (row.state, row.status_code, row.ksef_number) == ("rejected", 450, None)
                assert inv.detail is not None and inv.detail.startswith("KSeF 450: ")
                assert "upo" not in roles
    subjects = sorted(m["Subject"] for m in mailbox.messages())
    assert sum("accepted by KSeF" in x for x in subjects) == 2 and sum("rejected by KSeF" in x for x in subjects) == 1


def _content(session: object, file_id: int) -> bytes:
    from models.files import read_file

    return read_file(session, file_id)[1]  # type: ignore[arg-type]


async def test_ksef_down_then_back_the_invoice_waits_and_is_sent_once(
        time_env: WorkflowEnvironment, pl: Settings, sim: Sim) -> None:
    client = time_env.client
    sim.configure(limits_multiplier=0, down=True)
    async with new_worker(client, pl) as worker:
        view = await send_invoice(pl, PL_VAT, fa3("FV/9/2026"), "9.xml", client=client, task_queue=worker.task_queue,
                                  conserve=False, as_user=operator(pl))
        session = client.get_workflow_handle_for(KsefSessionWorkflow.run, _session_id(pl))

        await _open_retried(session)
        # Down longer than an activity's whole retry budget (an announced failure can last a week): the open
        # is taken again, the invoice not answered "failed" for want of an answer.
        for _ in range((EXTERNAL_TOTAL_TIMEOUT + timedelta(hours=6)) // timedelta(hours=6)):
            await time_env.sleep(6 * 3600)  # in steps: each is one call, and a long skip outlasts its timeout
        stalled = await session.query(KsefSessionWorkflow.view)
        assert stalled.queued == [view.id] and stalled.session_reference is None, stalled
        assert any("KSeF unreachable for 3 days while opening a session" in h for h in stalled.history)
        sim.configure(limits_multiplier=0)  # back
        await time_env.sleep(11 * 60)  # past the retry policy's longest backoff: the next open goes
        result = await client.get_workflow_handle_for(InvoiceSendWorkflow.run, view.workflow_id).result()
        assert result.state == "accepted"
        await time_env.sleep(400)  # idle: closed, the run ends
        assert (await session.describe()).status == WorkflowExecutionStatus.COMPLETED
        assert (await session.result()).opened == 1
    with session_scope(pl.database_url) as s:
        assert s.scalar(select(func.count()).select_from(kdb.KsefInvoice)) == 1
        assert s.get(kdb.KsefInvoice, view.id).attempts == 1  # type: ignore[union-attr]
    assert len([i for i in sim.sim.state.all("invoice") if i.get("number") == "FV/9/2026"]) == 1


async def test_a_bad_fa3_invoice_is_refused_at_submission_with_nothing_written(pl: Settings) -> None:
    bad = SAMPLE.replace(b"<P_15>2061.00", b"<P_15>2161.00")
    with pytest.raises(InvalidInput) as err:
        await send_invoice(pl, PL_VAT, bad, "bad.xml", as_user=operator(pl))
    assert [p.field for p in err.value.problems] == ["/Faktura/Fa/P_15"]
    with pytest.raises(InvalidInput, match="sent unsigned"):
        await send_invoice(pl, PL_VAT, SAMPLE, "x.xml", sign="xades", as_user=operator(pl))
    from starters.ksef_credentials import remove_ksef_token

    remove_ksef_token(pl, PL_VAT, as_user=operator(pl))  # no credential to send with: refused, not started
    with pytest.raises(Conflict, match="no KSeF token"):
        await send_invoice(pl, PL_VAT, SAMPLE, "x.xml", as_user=operator(pl))
    with session_scope(pl.database_url) as s:
        assert s.scalar(select(func.count()).select_from(Invoice)) == 0


def test_a_sending_whose_answer_was_lost_is_adopted_from_kseFs_duplicate_answer(
        pl: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """KSeF took the invoice but the worker died before recording its reference: the retry sends it again,
    KSeF answers the copy 440 naming the original in this session, and the outcome is the original's: accepted,
    its KSeF number and UPO — not a rejection of an invoice KSeF holds."""
    from activities.ksef_channel import KsefChannelActivities
    from models import invoices as invoices_db
    from models.ksef_io import KsefAwaitItem, KsefOpenRequest, KsefSendItem

    xml = fa3("FV/LOST/1/2026")
    with session_scope(pl.database_url) as s:
        invoices_db.add_invoice(s, PL_VAT, invoices_db.NewInvoice(
            id="PL5265877635_LOST1", direction="out", file_name="lost.xml", transmitter_id=PL_VAT, sign_mode="none",
            key_alias=None, format="FA(3)", counterparty_name=None, counterparty_vat=None, recipient_code=None,
            number="FV/LOST/1/2026", doc_date="2026-12-07", total="2061.00", currency="PLN", documents=1,
            workflow_id="wf-lost-1"), ["FA3/VAT/FV/LOST/1/2026"], [("original", "lost.xml", "application/xml", xml)])
        file_id = invoice_files(s, "PL5265877635_LOST1")[0].id
    acts = KsefChannelActivities(pl)
    opened = acts.open_session(KsefOpenRequest(PL_VAT, "lost-answer-test"))
    item = KsefSendItem(PL_VAT, opened.reference_number, "PL5265877635_LOST1", file_id)
    real_complete = kdb.complete_send

    def died_before_recording(*args: Any, **kw: Any) -> None:
        raise RuntimeError("worker killed after KSeF took the invoice")

    monkeypatch.setattr(kdb, "complete_send", died_before_recording)
    with pytest.raises(RuntimeError, match="worker killed"):
        acts.send_invoice(item)
    monkeypatch.setattr(kdb, "complete_send", real_complete)
    resent = acts.send_invoice(item)  # the retry: no reference recorded, so it goes out again
    outcome = acts.await_invoice(KsefAwaitItem(PL_VAT, opened.reference_number, resent.invoice_reference,
                                               "PL5265877635_LOST1"))
    assert outcome.accepted, outcome
    assert outcome.ksef_number and parse_ksef_number(outcome.ksef_number).seller_nip == "5265877635"
    with session_scope(pl.database_url) as s:
        upo = {f.role for f in invoice_files(s, "PL5265877635_LOST1")}
        row = kdb.ksef_invoice(s, "PL5265877635_LOST1")
        assert "upo" in upo and row is not None and row.attempts == 2 and row.ksef_number == outcome.ksef_number


def _offline_certificate(settings: Settings, record: bool = True) -> tuple[x509.Certificate, Any]:
    """The customer's KSeF certificate of type Offline (Non-Repudiation) and its key. The key stays on the
    customer's side (here: the test); with `record` the certificate alone is on record with us, as the KSeF
    screen's offline window uploads it."""
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from models.certificates import insert_upload

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "Firma Testowa offline")])
    now = datetime.now(UTC)
    usage = x509.KeyUsage(digital_signature=False, content_commitment=True, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30)).add_extension(usage, critical=True).sign(key, hashes.SHA256()))
    if record:
        with session_scope(settings.database_url) as s:
            insert_upload(s, PL_VAT, f"off-{cert.serial_number:x}"[:32], "offline", "CN=Firma Testowa offline",
                          "CN=Firma Testowa offline", f"{cert.serial_number:X}", now - timedelta(days=1),
                          now + timedelta(days=30), cert.public_bytes(serialization.Encoding.DER), "customer:test")
    return cert, key


async def test_an_offline24_invoice_gets_its_qr_codes_and_is_sent_later_with_offline_mode(
        time_env: WorkflowEnvironment, pl: Settings, sim: Sim) -> None:
    from domain.ksef.numbers import invoice_hash
    from domain.ksef.offline import qr_certificate_link, send_deadline, verify_certificate_link, warsaw_today

    cert, key = _offline_certificate(pl)
    today = warsaw_today()  # KSeF's day (P_1, the deadline), not the machine's
    xml = fa3("FV/OFF/1/2026").replace(b"<P_1>2026-12-07</P_1>", f"<P_1>{today.isoformat()}</P_1>".encode())
    # KOD II as the customer signs it on its own machine, with its own offline key: we never hold the key
    signed = qr_certificate_link("Nip", "5265877635", "5265877635", cert, key, xml, pl.ksef_qr_environment).url
    with pytest.raises(InvalidInput, match="no announced KSeF failure .* is on record"):  # none recorded
        await send_invoice(pl, PL_VAT, xml, "off.xml", ksef_offline="awaryjny", ksef_kod_ii=signed,
                           as_user=operator(pl))
    stranger, stranger_key = _offline_certificate(pl, record=False)
    other_invoice = fa3("FV/OFF/2/2026").replace(b"<P_1>2026-12-07</P_1>",
                                                 f"<P_1>{today.isoformat()}</P_1>".encode())
    for kod_ii, said in ((None, "needs its KOD II"),
                         (qr_certificate_link("Nip", "5265877635", "5265877635", cert, key, other_invoice,
                                              pl.ksef_qr_environment).url, "invoice hash differs"),
                         (qr_certificate_link("Nip", "5265877635", "5265877635", stranger, stranger_key, xml,
                                              pl.ksef_qr_environment).url, "not signed by an offline certificate")):
        with pytest.raises(InvalidInput, match=said):
            await send_invoice(pl, PL_VAT, xml, "off.xml", ksef_offline="offline24", ksef_kod_ii=kod_ii,
                               as_user=operator(pl))
    with session_scope(pl.database_url) as s:
        assert s.scalar(select(func.count()).select_from(Invoice)) == 0  # every refusal wrote nothing
    client = time_env.client
    sim.configure(limits_multiplier=0, down=True)  # issued while KSeF is unreachable
    async with new_worker(client, pl) as worker:
        view = await send_invoice(pl, PL_VAT, xml, "off.xml", client=client, task_queue=worker.task_queue,
                                  conserve=False, ksef_offline="offline24", ksef_kod_ii=signed,
                                  as_user=operator(pl))
        with session_scope(pl.database_url) as s:
            qr = {f.name: f for f in invoice_files(s, view.id) if f.role == "qr"}
            text = _content(s, qr[f"{view.id}_QR.txt"].id).decode()
        assert sorted(qr) == sorted(f"{view.id}_{n}" for n in ("QR.txt", "KOD_I.svg", "KOD_I.png", "KOD_II.svg",
                                                               "KOD_II.png"))  # the images: tests/test_ksef_qr.py
        kod_i, kod_ii = (line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("KOD"))
        assert kod_i.endswith(f"/{today.strftime('%d-%m-%Y')}/{invoice_hash(xml)}")
        assert kod_ii == signed and verify_certificate_link(kod_ii, cert)
        deadline = send_deadline("offline24", today)
        assert f"send to KSeF by: {deadline}" in text
        session = client.get_workflow_handle_for(KsefSessionWorkflow.run, _session_id(pl))

        await _open_retried(session)
        sim.configure(limits_multiplier=0)  # KSeF back: the same workflow sends it now
        handle = client.get_workflow_handle_for(InvoiceSendWorkflow.run, view.workflow_id)
        result = await handle.result()
        assert result.state == "accepted"
        assert any(f"issued offline24: to KSeF with offlineMode by {deadline}" in h for h in result.history)
        await time_env.sleep(400)
        assert (await session.describe()).status == WorkflowExecutionStatus.COMPLETED
    [sent] = [i for i in sim.sim.state.all("invoice") if i.get("number") == "FV/OFF/1/2026"]
    assert sent["mode"] == "Offline"  # offlineMode: true reached KSeF


async def test_an_accepted_invoice_is_conserved_with_its_upo_in_the_package(
        time_env: WorkflowEnvironment, pl: Settings) -> None:
    """Last in the module: the time-skipping server stops moving its clock once a conservation ran, so the idle
    close is not waited for here (the burst test above proves it); the session workflow is terminated at the
    end instead."""
    from starters.archive import conservation_workflow_id

    client = time_env.client
    async with new_worker(client, pl) as worker:
        view = await send_invoice(pl, PL_VAT, fa3("FV/7/2026"), "7.xml", client=client,
                                  task_queue=worker.task_queue, as_user=operator(pl))
        result = await client.get_workflow_handle_for(InvoiceSendWorkflow.run, view.workflow_id).result()
        assert result.state == "accepted"
        await client.get_workflow_handle(conservation_workflow_id(pl, "invoice", view.id)).result()
    with session_scope(pl.database_url) as s:
        package = package_of_owner(s, "invoice", view.id)
        assert package is not None and package.document_type == "VAT"
        names = {o.name for o in package.objects}
        assert {f"{view.id}_UPO.xml", view.file_name} <= names, names
    session = client.get_workflow_handle(_session_id(pl))
    if (await session.describe()).status == WorkflowExecutionStatus.RUNNING:  # it may have closed idle meanwhile
        await session.terminate("end of the test module")
