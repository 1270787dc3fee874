"""Invoices from Python: send one (checked before anything is written), read state and files, and take in
what the SDI sends us (notifications for sent invoices, received invoices) — the code behind both the CLI
and the HTTP endpoints.

Every function a customer's side calls takes the acting user (`as_user`) and asks the policy first
(`starters.acting`); another customer's invoice is "no invoice <id>", as a missing one. The two the SDI
calls (`receive_notification`, `receive_invoice`) act for no user: the SDI's signature is their credential.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import date as date_type
from pathlib import PurePath
from typing import TYPE_CHECKING

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

import domain.fatturapa  # noqa: F401  (before domain.signatures: the two import each other)
from core.db import session_scope
from core.search_keys import SearchKeys
from core.settings import Settings
from core.temporal import RPC_TIMEOUT, connect
from domain.errors import Conflict, InvalidInput, NotFound
from domain.identifiers import parse_vat_number
from domain.policy import Principal
from domain.sdi import messages, soap
from domain.signing import check_key_alias
from models import invoices as db
from models.files import FileInfo, read_file
from models.invoices_io import (
    INBOX,
    NOTIFICATION_SIGNAL,
    OUTCOME_UPDATE,
    RECEIVED,
    SENT,
    SIGN_MODES,
    SIGNED,
    STATUS_QUERY,
    VALIDATED,
    CustomerOutcome,
    InvoiceReceiveInput,
    InvoiceSendInput,
    notification_ref,
)
from models.tenant import Tenant, get_tenant_row
from starters.acting import STARTER, Acting, acting
from workflows.common import initial_search_attributes

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from domain.fatturapa import InvoiceSummary

WAITING_STATES = frozenset({RECEIVED, VALIDATED, SIGNED, SENT})


async def _client(settings: Settings, client: Client | None) -> Client:
    return client or await connect(settings)


def _key(parts: tuple[object, ...]) -> str:
    return "/".join(str(p) for p in parts)


# ---------------------------------------------------------------- send

async def send_invoice(settings: Settings, vat: str, data: bytes, filename: str, sign: str = "none",
                       key_alias: str | None = None, *, as_user: Principal, surface: str = STARTER,
                       client: Client | None = None, task_queue: str | None = None,
                       conserve: bool = True, ksef_offline: str | None = None,
                       ksef_kod_ii: str | None = None) -> db.InvoiceView:
    """Check the invoice (schema, SDI rules, sender = the customer, not a duplicate), name it, record it and
    start its workflow. A refusal raises InvalidInput listing every problem; nothing is written then. The
    invoice row and the workflow's input record who sent it (`as_user`) for which customer.

    A Polish customer's invoice issued offline (`ksef_offline`: offline24, offline, awaryjny) comes with its KOD II
    (`ksef_kod_ii`): the link the customer signed with its own KSeF offline certificate's key on its own
    machine (`domain.ksef.offline.qr_certificate_link`); we never hold that key, and check the link against
    the customer's offline certificate we hold (its public part)."""
    with acting(settings, as_user, "invoice.send", f"invoice {filename[:150]}", surface) as act:
        parsed = parse_vat_number(vat)
        act.check(str(parsed))
        if parsed.country == "PL":  # KSeF: an FA(3) invoice (#14.3)
            return await _send_ksef(settings, act, str(parsed), data, filename, sign, key_alias, client,
                                    task_queue, conserve, ksef_offline, ksef_kod_ii)
        if ksef_offline or ksef_kod_ii:
            raise InvalidInput.one("ksef_offline", "the offline modes are KSeF's: for a Polish customer only")
        return await _send(settings, act, vat, data, filename, sign, key_alias, client, task_queue, conserve)


async def _send_ksef(settings: Settings, act: Acting, vat: str, data: bytes, filename: str, sign: str,
                     key_alias: str | None, client: Client | None, task_queue: str | None,
                     conserve: bool, offline_mode: str | None = None,
                     kod_ii: str | None = None) -> db.InvoiceView:
    """A Polish customer's FA(3) invoice: checked (domain/ksef/fa3.py, the seller the customer, not a number it
    sent already: KSeF's uniqueness is seller, RodzajFaktury and P_2), recorded, its workflow started on the
    KSeF channel. A refusal raises InvalidInput; nothing is written then."""
    from datetime import date

    from domain.ksef.fa3 import validate_fa3
    from domain.ksef.offline import deadline_end, warsaw_today
    from models.invoices import InvoiceDocument
    from models.ksef_io import CHANNEL_KSEF
    from workflows.invoice_send import InvoiceSendWorkflow, workflow_id_for

    if sign != "none" or key_alias:
        raise InvalidInput.one("sign", "a KSeF invoice is sent unsigned (the session's authentication signs "
                                       f"it): send it with sign none, not {sign!r}")
    from models import ksef_credentials

    with session_scope(settings.database_url) as session:
        tenant = get_tenant_row(session, vat)
        email, enabled, tenant_id = tenant.pec, tenant.enabled, tenant.id
        has_token = ksef_credentials.find(session, tenant_id) is not None
    if not enabled:
        raise Conflict(f"customer {vat} is not enabled: its intermediation contract is not accepted yet")
    if not has_token:  # refused before anything is written, not a workflow that fails at its first login
        raise Conflict(f"customer {vat} has no KSeF token to send with: set one (einvoice ksef token set, "
                       f"PUT /customers/{vat}/ksef-token)")
    summary = validate_fa3(data, vat, today=warsaw_today())  # KSeF's day, not ours
    offline_files, send_by = _offline_codes(settings, vat, data, summary.issue_date, offline_mode, kod_ii)
    number_key = summary.number if len(summary.number) <= 100 else hashlib.sha256(summary.number.encode()).hexdigest()
    key = f"FA3/{summary.invoice_type}/{number_key}"
    with session_scope(settings.database_url) as session:
        from sqlalchemy import select

        if session.scalar(select(InvoiceDocument.id).where(InvoiceDocument.tenant_id == tenant_id,
                                                           InvoiceDocument.key == key)) is not None:
            raise InvalidInput.one("/Faktura/Fa/P_2", f"invoice {summary.number} ({summary.invoice_type}) was "
                                                      "already sent by this customer: KSeF would refuse it as a "
                                                      "duplicate", "440")
        progressive = db.next_file_progressive(session, vat)
        invoice_id = f"{vat}_{progressive}"
        file_name = f"{invoice_id}.xml"
        opaque = SearchKeys(settings)
        customer_key, document_key = opaque.customer(vat), opaque.document(invoice_id)
        wf_id = workflow_id_for(customer_key, document_key)
        view = db.add_invoice(session, vat, db.NewInvoice(
            id=invoice_id, direction="out", file_name=file_name, transmitter_id=vat, sign_mode="none",
            key_alias=None, format="FA(3)", counterparty_name=(summary.buyer_name or "")[:200] or None,
            counterparty_vat=f"PL{summary.buyer_nip}" if summary.buyer_nip else None, recipient_code=None,
            number=summary.number, doc_date=summary.issue_date.isoformat(), total=str(summary.gross),
            currency=summary.currency, documents=1, workflow_id=wf_id, created_by=act.user.label,
        ), [key], [("original", "original-" + PurePath(filename).name[-150:], "application/xml", data),
                   *[(role, f"{invoice_id}_{name}", mime, content) for role, name, mime, content in offline_files]])
    inp = InvoiceSendInput(
        invoice_id=invoice_id, vat=vat, file_name=file_name, sign_mode="none", key_alias=None, pa=False,
        customer_email=email, number=summary.number, doc_type=summary.invoice_type,
        doc_date=summary.issue_date.isoformat(), sender_name=summary.seller_name,
        recipient_id=f"PL{summary.buyer_nip}" if summary.buyer_nip else "", recipient_name=summary.buyer_name or "",
        conserve=conserve, actor=act.user.label, sdi_silence_seconds=0, channel=CHANNEL_KSEF,
        ksef_offline_mode=offline_mode or "", ksef_send_by=send_by,
        ksef_send_by_end=deadline_end(date.fromisoformat(send_by)).isoformat() if send_by else "",
        operator_email=settings.partner_email,
    )
    c: Client | None = None
    try:
        c = await _client(settings, client)
        await c.start_workflow(
            InvoiceSendWorkflow.run, inp, id=wf_id, task_queue=task_queue or settings.temporal_task_queue,
            search_attributes=initial_search_attributes(customer_key, document_key, RECEIVED),
            rpc_timeout=RPC_TIMEOUT,
        )
    except BaseException:
        if c is not None and await _started(c, wf_id):
            return view
        with session_scope(settings.database_url) as session:
            db.delete_invoice(session, invoice_id)
        raise
    return view


async def _send(settings: Settings, act: Acting, vat: str, data: bytes, filename: str, sign: str,
                key_alias: str | None, client: Client | None, task_queue: str | None,
                conserve: bool) -> db.InvoiceView:
    from domain.fatturapa import check_loaded_invoice, load_invoice, sdi_file_name
    from domain.fatturapa.validation import check_strict
    from workflows.invoice_send import InvoiceSendWorkflow, workflow_id_for

    if sign not in SIGN_MODES:
        raise InvalidInput.one("sign", f"must be one of {', '.join(SIGN_MODES)}, got {sign!r}")
    with session_scope(settings.database_url) as session:
        tenant = get_tenant_row(session, vat)
        vat_number, email, enabled = tenant.vat_number, tenant.pec, tenant.enabled
        delegated = bool(tenant.delegated_signing)
        strict = check_strict(tenant.strict_warnings)  # the warnings this customer holds as errors (#17.1)
    if not enabled:
        raise Conflict(f"customer {vat_number} is not enabled: its intermediation contract is not accepted yet")
    alias = (check_key_alias(vat_number, key_alias, settings.sdi_delegated_key_alias, delegated)
             if sign in ("cades", "xades") else None)  # before the file is even read
    if key_alias and alias is None:
        raise InvalidInput.one("key_alias", f"a key is used only to sign (sign cades or xades), not with {sign!r}")
    loaded = load_invoice(data, filename, verify=True)
    if loaded.signed is not None and sign != "none":
        raise InvalidInput.one("sign", f"the file is already signed ({loaded.signature}); send it with --sign none")
    summary = check_loaded_invoice(loaded, vat_number, strict=strict)
    signature = sign if sign != "none" else loaded.signature
    keys = [_key(k) for k in domain.fatturapa.document_keys(summary)]
    first = summary.documents[0]
    original_name = "original-" + PurePath(filename).name[-150:]

    with session_scope(settings.database_url) as session:
        progressive = db.next_file_progressive(session, summary.transmitter_id)
        file_name = sdi_file_name(summary.transmitter_id, progressive, signature)
        invoice_id = messages.invoice_stem(file_name)
        opaque = SearchKeys(settings)
        customer_key, document_key = opaque.customer(vat_number), opaque.document(invoice_id)
        wf_id = workflow_id_for(customer_key, document_key)
        total = first.importo_totale if first.importo_totale is not None else first.imponibile + first.imposta
        view = db.add_invoice(session, vat_number, db.NewInvoice(
            id=invoice_id, direction="out", file_name=file_name, transmitter_id=summary.transmitter_id,
            sign_mode=sign, key_alias=alias, format=summary.format, counterparty_name=summary.recipient_name[:200],
            counterparty_vat=summary.recipient_vat or summary.recipient_fiscal_code,
            recipient_code=summary.codice_destinatario, number=first.numero, doc_date=first.data.isoformat(),
            total=str(total), currency=first.divisa, documents=len(summary.documents), workflow_id=wf_id,
            created_by=act.user.label, warnings=tuple(summary.warnings),
        ), keys, [("original", original_name, "application/octet-stream", data)])

    inp = InvoiceSendInput(
        invoice_id=invoice_id, vat=vat_number, file_name=file_name, sign_mode=sign, key_alias=alias,
        pa=summary.format == "FPA12", customer_email=email, number=first.numero, doc_type=first.tipo_documento,
        doc_date=first.data.isoformat(), sender_name=summary.sender_name,
        recipient_id=summary.recipient_vat or summary.recipient_fiscal_code or "",
        recipient_name=summary.recipient_name, conserve=conserve, actor=act.user.label,
        sdi_silence_seconds=settings.invoice_sdi_silence_hours * 3600, operator_email=settings.partner_email,
    )
    c: Client | None = None
    try:
        c = await _client(settings, client)
        await c.start_workflow(
            InvoiceSendWorkflow.run, inp, id=wf_id, task_queue=task_queue or settings.temporal_task_queue,
            search_attributes=initial_search_attributes(customer_key, document_key, RECEIVED),
            rpc_timeout=RPC_TIMEOUT,
        )
    except BaseException:
        if c is not None and await _started(c, wf_id):  # the start went through, its answer was lost
            return view
        with session_scope(settings.database_url) as session:  # no workflow: no invoice
            db.delete_invoice(session, invoice_id)
        raise
    return view


def _offline_codes(settings: Settings, vat: str, data: bytes, issue_date: date_type, mode: str | None,
                   kod_ii: str | None) -> tuple[list[tuple[str, str, str, bytes]], str]:
    """An invoice issued offline (tryby-offline.md): its deadline, and its two QR codes as a file of the invoice
    (`<id>_QR.txt`, role `qr`): KOD I, computed here, and KOD II as the customer signed it with its own KSeF
    offline certificate (we hold only that certificate, never its key), checked here: signed by one of the
    customer's offline certificates on record (added or active), for this invoice's hash and this seller.

    offline24 is the customer's own choice; `offline` and `awaryjny` need P_1 within an announcement of that kind
    the operator recorded (models/ksef_outages.py), whose end gives the deadline (not ended yet: the deadline is
    not known yet, and the deadline "" then); `awaria-calkowita` is refused: no duty to send to KSeF."""
    from cryptography import x509

    from domain.ksef.numbers import invoice_hash, qr_invoice_link
    from domain.ksef.offline import (
        announced_deadline,
        offline_certificate_serial,
        verify_certificate_link,
        warsaw_today,
    )
    from models import ksef_outages
    from models.certificates import Certificate, certificate_file

    if not mode:
        if kod_ii:
            raise InvalidInput.one("ksef_kod_ii", "a KOD II belongs to an invoice issued offline: name its mode")
        return [], ""
    with session_scope(settings.database_url) as session:
        announced = ksef_outages.announcements(session)
    found = announced_deadline(mode, issue_date, announced)
    deadline = found.send_by
    if deadline is not None and deadline < warsaw_today():  # its day ended in Warsaw
        raise InvalidInput.one("/Faktura/Fa/P_1", f"an {mode} invoice issued {issue_date.isoformat()} had to reach "
                                                  f"KSeF by {deadline.isoformat()}")
    nip = vat.removeprefix("PL")
    if not kod_ii:
        raise InvalidInput.one("ksef_kod_ii", "an invoice issued offline needs its KOD II, signed by the customer "
                                              "with its KSeF offline certificate (domain.ksef.offline."
                                              "qr_certificate_link): we never hold that key")
    if len(kod_ii) > 2048 or not kod_ii.isascii():
        raise InvalidInput.one("ksef_kod_ii", "not a KOD II link (ASCII, at most 2048 characters)")
    xml_hash = invoice_hash(data)
    parts = kod_ii.removeprefix("https://").split("/")
    if len(parts) < 8 or parts[4] != nip or parts[-2] != xml_hash:
        raise InvalidInput.one("ksef_kod_ii", f"not the KOD II of this invoice of NIP {nip}: its seller or its "
                                              "invoice hash differs")
    with session_scope(settings.database_url) as session:
        tenant_id = get_tenant_row(session, vat).id
        from sqlalchemy import select

        ops = list(session.scalars(select(Certificate.operation_id).where(
            Certificate.tenant_id == tenant_id, Certificate.kind == "offline",
            Certificate.state.in_(("added", "active")))))
        certificates = [x509.load_der_x509_certificate(certificate_file(session, op)) for op in ops]
    if not certificates:
        raise InvalidInput.one("ksef_kod_ii", f"{vat} has no KSeF offline certificate on record to check its KOD II "
                                              "against: add it first (the KSeF screen's offline window)")
    if not any(parts[5] == offline_certificate_serial(cert) and verify_certificate_link(kod_ii, cert)
               for cert in certificates):
        raise InvalidInput.one("ksef_kod_ii", f"KOD II is not signed by an offline certificate of {vat} on record "
                                              f"({len(certificates)} checked)")
    kod_i = qr_invoice_link(nip, issue_date, data, settings.ksef_qr_environment)
    from domain.ksef.qr import offline_qr_files  # QR.txt and each code as SVG and PNG with its label

    return (offline_qr_files(mode, deadline, kod_i, kod_ii, found.pending or found.lifted),
            deadline.isoformat() if deadline is not None else "")


async def _started(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe(rpc_timeout=RPC_TIMEOUT)
    except Exception:
        return False
    return True


def _read(settings: Settings, invoice_id: str) -> db.InvoiceView:
    with session_scope(settings.database_url) as session:
        return db.get_invoice(session, invoice_id)


def _checked(settings: Settings, act: Acting, invoice_id: str) -> db.InvoiceView:
    """The invoice, once the policy let the user see its customer's (else "no invoice <id>", as a missing one)."""
    view = _read(settings, invoice_id)
    act.check(view.vat, missing=f"no invoice {invoice_id}")
    return view


def get_invoice(settings: Settings, invoice_id: str, *, as_user: Principal,
                surface: str = STARTER) -> db.InvoiceView:
    with acting(settings, as_user, "invoice.read", f"invoice {invoice_id}", surface) as act:
        return _checked(settings, act, invoice_id)


def list_invoices(settings: Settings, vat: str, direction: str | None = None, *, as_user: Principal,
                  surface: str = STARTER) -> list[db.InvoiceView]:
    with acting(settings, as_user, "invoice.list", f"invoices of {vat}", surface) as act:
        vat_number = str(parse_vat_number(vat))
        act.check(vat_number)
        with session_scope(settings.database_url) as session:
            return db.list_invoices(session, vat_number, direction)


def invoice_files(settings: Settings, invoice_id: str, *, as_user: Principal,
                  surface: str = STARTER) -> list[FileInfo]:
    with acting(settings, as_user, "invoice.read", f"invoice {invoice_id} files", surface) as act:
        _checked(settings, act, invoice_id)
        with session_scope(settings.database_url) as session:
            return db.invoice_files(session, invoice_id)


def ksef_status(settings: Settings, invoice_id: str, *, as_user: Principal,
                surface: str = STARTER) -> tuple[str | None, str | None]:
    """An FA(3) invoice's numer KSeF (KSeF number) and KSeF's status ("200 Sukces", "450 ..."): of a sent
    invoice once KSeF answered, of a received one as downloaded; (None, None) for an SDI invoice."""
    from models.ksef_channel import ksef_invoice
    from models.ksef_download import KsefReceived

    with acting(settings, as_user, "invoice.read", f"invoice {invoice_id} ksef", surface) as act:
        _checked(settings, act, invoice_id)
        with session_scope(settings.database_url) as session:
            sent = ksef_invoice(session, invoice_id)
            if sent is not None:
                status = (f"{sent.status_code} {sent.status_description or ''}".strip()
                          if sent.status_code is not None else None)
                return sent.ksef_number, status
            from sqlalchemy import select

            received = session.scalar(select(KsefReceived.ksef_number).where(KsefReceived.invoice_id == invoice_id))
            return (received, "200 Sukces") if received is not None else (None, None)


def ksef_numbers(settings: Settings, vat: str, *, as_user: Principal, surface: str = STARTER) -> dict[str, str]:
    """The numer KSeF of each of a Polish customer's FA(3) invoices that has one (sent and accepted, or
    downloaded), by invoice id: the list's column, in one query and one audit entry (`invoice.list`)."""
    from sqlalchemy import select

    from models.invoices import Invoice
    from models.ksef_channel import KsefInvoice
    from models.ksef_download import KsefReceived

    with acting(settings, as_user, "invoice.list", f"KSeF numbers of {vat}", surface) as act:
        vat_number = str(parse_vat_number(vat))
        act.check(vat_number)
        with session_scope(settings.database_url) as session:
            tenant = get_tenant_row(session, vat_number)
            ids = select(Invoice.id).where(Invoice.tenant_id == tenant.id)
            sent = session.execute(select(KsefInvoice.invoice_id, KsefInvoice.ksef_number).where(
                KsefInvoice.invoice_id.in_(ids), KsefInvoice.ksef_number.is_not(None))).all()
            received = session.execute(select(KsefReceived.invoice_id, KsefReceived.ksef_number).where(
                KsefReceived.tenant_id == tenant.id)).all()
            return {str(i): str(n) for i, n in [*received, *sent] if n}


@dataclass(frozen=True)
class Download:
    name: str
    mime_type: str
    content: bytes


def download(settings: Settings, invoice_id: str, what: str, *, as_user: Principal,
             surface: str = STARTER) -> list[Download]:
    """original | signed (what went to the SDI) | notifications | html (the AdE stylesheet's rendering) |
    pdf (that rendering printed by headless Chromium) | upo (KSeF's receipt, UPO, of an FA(3) invoice)."""
    with acting(settings, as_user, "invoice.read", f"invoice {invoice_id} {what[:20]}", surface) as act:
        return _download(settings, act, invoice_id, what)


def _download(settings: Settings, act: Acting, invoice_id: str, what: str) -> list[Download]:
    from domain.fatturapa import load_invoice, render_html

    roles = {"original": ("original", "received"), "signed": ("transmitted", "received"),
             "notifications": ("notification", "metadata", "outcome"), "html": ("transmitted", "received"),
             "pdf": ("transmitted", "received"), "upo": ("upo",)}
    chromium = None
    if what == "pdf":  # before reading anything: a machine without a browser says so at once
        from core.pdf import find_chromium

        chromium = find_chromium(settings.chromium_path)
    if what not in roles:
        raise InvalidInput.one("what", f"one of {', '.join(roles)}; got {what!r}")
    _checked(settings, act, invoice_id)
    out: list[Download] = []
    with session_scope(settings.database_url) as session:
        db.get_invoice_row(session, invoice_id)
        for info in db.invoice_files(session, invoice_id):
            if info.role in roles[what]:
                _, content = read_file(session, info.id)
                out.append(Download(info.name, info.mime_type, content))
    if not out:
        raise NotFound(f"invoice {invoice_id} has no {what} file yet")
    if what in ("html", "pdf"):
        first = out[0]
        loaded = load_invoice(first.content, first.name)
        stem = first.name.split(".")[0]
        html = render_html(loaded.xml)
        if chromium is None:
            return [Download(f"{stem}.html", "text/html; charset=utf-8", html.encode("utf-8"))]
        from core.pdf import html_to_pdf

        return [Download(f"{stem}.pdf", "application/pdf", html_to_pdf(html, chromium))]
    return out


async def wait_for_outcome(settings: Settings, invoice_id: str, timeout: float = 300.0,
                           client: Client | None = None, *, as_user: Principal,
                           surface: str = STARTER) -> db.InvoiceView:
    """Until the invoice leaves the waiting states (sent and before): reads the database once a second
    (the policy asked once, before the first read)."""
    with acting(settings, as_user, "invoice.read", f"invoice {invoice_id} outcome", surface) as act:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        view = _checked(settings, act, invoice_id)
        while view.state in WAITING_STATES and loop.time() < deadline:
            await asyncio.sleep(1.0)
            view = _read(settings, invoice_id)
        return view


async def workflow_status(settings: Settings, invoice_id: str, client: Client | None = None, *,
                          as_user: Principal, surface: str = STARTER) -> object:
    with acting(settings, as_user, "invoice.read", f"invoice {invoice_id} status", surface) as act:
        view = _checked(settings, act, invoice_id)
        handle: WorkflowHandle[object, object] = (await _client(settings, client)).get_workflow_handle(
            view.workflow_id)
        return await handle.query(STATUS_QUERY, rpc_timeout=RPC_TIMEOUT)


# ---------------------------------------------------------------- what the SDI sends us

def _check_sdi_signature(settings: Settings, data: bytes, field: str) -> None:
    """An SDI notification must carry a valid XAdES signature by the SDI's certificate (SDI_SIGNER_CERT). With
    no certificate configured nothing is trusted: a notification signed by just anyone must not move an invoice."""
    from cryptography import x509

    from domain.signatures import verify_xades

    path = settings.sdi_signer_cert_path
    if not path.exists():
        raise InvalidInput.one(f"{field}/ds:Signature", f"the SDI's signing certificate is not configured ({path}): "
                               "set SDI_SIGNER_CERT to trust notifications", "00102")
    verified = verify_xades(data)
    expected = x509.load_pem_x509_certificate(path.read_bytes())
    if verified.certificate != expected:
        raise InvalidInput.one(f"{field}/ds:Signature", "not signed by the SDI's certificate", "00102")


@dataclass(frozen=True)
class NotificationReceipt:
    name: str
    kind: str
    invoice_id: str | None
    new: bool
    delivered_to_workflow: bool


async def receive_notification(settings: Settings, body: bytes, client: Client | None = None) -> NotificationReceipt:
    """A TrasmissioneFatture call: verify (SOAP schema, notification schema, SDI signature, that it is about
    one of our files and the same identificativo SdI), store it, then signal the invoice's workflow. The
    store comes first: a notification is never lost, even when the workflow cannot be reached (the sweep,
    workflows/notification_sweep.py, signals it later if the SDI does not deliver it again)."""
    operation, f = soap.read_trasmissione(body)
    n = messages.read_notification(f.file, validate=True, field_name="File")
    expected_kind = soap.TRASMISSIONE_OPERATIONS[operation][1]
    if n.kind != expected_kind:
        raise InvalidInput.one("File", f"operation {operation} carries a {n.kind}, not a {expected_kind}")
    if n.identificativo_sdi != f.identificativo_sdi:
        raise InvalidInput.one("IdentificativoSdI", "differs from the one inside the notification file")
    m = messages.NOTIFICATION_NAME.match(f.nome_file)
    if not m or m.group("kind") != n.kind or n.nome_file is None or messages.invoice_stem(n.nome_file) != m.group(
            "stem"):
        raise InvalidInput.one("NomeFile", f"{f.nome_file!r} does not name a {n.kind} about {n.nome_file}")
    _check_sdi_signature(settings, f.file, "File")

    sha = hashlib.sha256(f.file).hexdigest()
    with session_scope(settings.database_url) as session:
        inv = db.find_sent_by_file_name(session, n.nome_file)
        file_id = None
        if inv is not None:
            file_id = db.store_invoice_file(session, inv.id, "notification", f.nome_file, "application/xml",
                                            f.file).id
        row, new = db.record_notification(session, f.nome_file, inv.id if inv else None, n.kind,
                                          n.identificativo_sdi, sha, file_id)
        row_id, signaled = row.id, row.signaled
        workflow_id = inv.workflow_id if inv else None
        invoice_id = inv.id if inv else None
    if workflow_id is None or invoice_id is None or file_id is None:
        return NotificationReceipt(f.nome_file, n.kind, None, new, False)
    if signaled:
        return NotificationReceipt(f.nome_file, n.kind, invoice_id, new, True)
    ref = notification_ref(invoice_id, f.nome_file, file_id, n)
    handle = (await _client(settings, client)).get_workflow_handle(workflow_id)
    try:
        await handle.signal(NOTIFICATION_SIGNAL, ref, rpc_timeout=RPC_TIMEOUT)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise  # Temporal unreachable: stored, so the SDI's next delivery or the notification sweep signals it
        return NotificationReceipt(f.nome_file, n.kind, invoice_id, new, False)  # a late one: kept, not applied
    with session_scope(settings.database_url) as session:
        db.mark_signaled(session, row_id)
    return NotificationReceipt(f.nome_file, n.kind, invoice_id, new, True)


def _recipient(session: Session, summary: InvoiceSummary) -> Tenant:
    from sqlalchemy import select

    row: Tenant | None
    if summary.recipient_vat:
        row = session.scalar(select(Tenant).where(Tenant.vat_number == summary.recipient_vat))
        if row is not None:
            return row
    row = session.scalar(select(Tenant).where(Tenant.sdi_code == summary.codice_destinatario,
                                              Tenant.sdi_code != "0000000"))
    if row is None:
        raise NotFound(f"no customer for recipient {summary.recipient_vat or summary.codice_destinatario}")
    return row


async def receive_invoice(settings: Settings, body: bytes, client: Client | None = None,
                          task_queue: str | None = None, conserve: bool = True) -> str:
    """A RicezioneFatture.RiceviFatture call: verify the invoice (signature, schema) and its metadata, store
    both for the recipient customer and start the receive workflow. The same identificativo SdI delivered
    again is acknowledged without a second record."""
    from domain.fatturapa import check_loaded_invoice, load_invoice
    from workflows.invoice_receive import InvoiceReceiveWorkflow, workflow_id_for

    f = soap.read_ricevi_fatture(body)
    mt = messages.read_notification(f.metadati, validate=True, field_name="Metadati")
    if mt.kind != "MT" or mt.identificativo_sdi != f.identificativo_sdi:
        raise InvalidInput.one("Metadati", "not the metadata file of this invoice")
    loaded = load_invoice(f.file, f.nome_file, verify=True)
    # delivered by the SDI, so legally received: its content problems are kept as warnings, never a refusal
    summary = check_loaded_invoice(loaded, received=True)
    if not summary.documents:
        raise InvalidInput.one("file", "the delivered invoice has no document with a readable date")
    first = summary.documents[0]
    invoice_id = f"in-{f.identificativo_sdi}"
    with session_scope(settings.database_url) as session:
        if session.get(db.Invoice, invoice_id) is not None:
            return invoice_id
        tenant = _recipient(session, summary)
        vat, email = tenant.vat_number, tenant.pec
        opaque = SearchKeys(settings)
        customer_key, document_key = opaque.customer(vat), opaque.document(invoice_id)
        wf_id = workflow_id_for(customer_key, f.identificativo_sdi)
        total = first.importo_totale if first.importo_totale is not None else first.imponibile + first.imposta
        db.add_invoice(session, vat, db.NewInvoice(
            id=invoice_id, direction="in", file_name=f.nome_file, transmitter_id=summary.transmitter_id,
            sign_mode=loaded.signature or "none", key_alias=None, format=summary.format,
            counterparty_name=summary.sender_name[:200], counterparty_vat=summary.sender_vat,
            recipient_code=summary.codice_destinatario, number=first.numero, doc_date=first.data.isoformat(),
            total=str(total), currency=first.divisa, documents=len(summary.documents), workflow_id=wf_id,
            sdi_id=f.identificativo_sdi, state=INBOX, created_by="sdi", warnings=tuple(summary.warnings),
        ), [], [("received", f.nome_file, "application/octet-stream", f.file),
                ("metadata", f.nome_file_metadati, "application/xml", f.metadati)])
    inp = InvoiceReceiveInput(
        invoice_id=invoice_id, vat=vat, file_name=f.nome_file, sdi_id=f.identificativo_sdi,
        pa=summary.format == "FPA12", customer_email=email, number=first.numero, sender_name=summary.sender_name,
        doc_type=first.tipo_documento, doc_date=first.data.isoformat(), sender_vat=summary.sender_vat,
        recipient_id=summary.recipient_vat or summary.recipient_fiscal_code or "",
        recipient_name=summary.recipient_name, conserve=conserve,
    )
    try:
        c = await _client(settings, client)
        await c.start_workflow(
            InvoiceReceiveWorkflow.run, inp, id=wf_id, task_queue=task_queue or settings.temporal_task_queue,
            search_attributes=initial_search_attributes(customer_key, document_key, INBOX),
            rpc_timeout=RPC_TIMEOUT,
        )
    except BaseException:
        with session_scope(settings.database_url) as session:
            db.delete_invoice(session, invoice_id)
        raise
    return invoice_id


# The answer while the outcome is still on its way to the SDI (accepted by the workflow, the SDI slow or down):
# the invoice's status (`GET /invoices/{id}`) shows accepted or refused once the SDI has it.
OUTCOME_SENDING = "outcome-sending"


async def send_customer_outcome(settings: Settings, invoice_id: str, esito: str, description: str | None = None,
                                client: Client | None = None, *, as_user: Principal, surface: str = STARTER,
                                wait_seconds: float | None = None) -> str:
    """The customer's outcome on a received PA invoice (EC01 accepted / EC02 refused); returns the new state,
    or OUTCOME_SENDING when the SDI has not taken it within `wait_seconds` (default HTTP_WAIT_SECONDS): the
    workflow has it and keeps sending it (#18.5)."""
    with acting(settings, as_user, "invoice.outcome", f"invoice {invoice_id} outcome {esito[:10]}", surface) as act:
        view = _checked(settings, act, invoice_id)
        wait = settings.http_wait_seconds if wait_seconds is None else wait_seconds
        return await _outcome(settings, view, esito, description, client, wait)


async def _outcome(settings: Settings, view: db.InvoiceView, esito: str, description: str | None,
                   client: Client | None, wait_seconds: float) -> str:
    invoice_id, workflow_id = view.id, view.workflow_id
    if view.direction != "in":
        raise InvalidInput.one("id", f"{invoice_id} is not a received invoice")
    handle = (await _client(settings, client)).get_workflow_handle(workflow_id)
    from temporalio.client import WorkflowUpdateFailedError

    from starters.updates import Pending, bounded_update

    try:
        answer = await bounded_update(handle, OUTCOME_UPDATE, CustomerOutcome(esito, description), wait_seconds,
                                      result_type=str)
        return OUTCOME_SENDING if isinstance(answer, Pending) else str(answer)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        raise Conflict(getattr(cause, "message", str(cause))) from err
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise Conflict(f"invoice {invoice_id} no longer accepts an outcome") from err
        raise
