"""Invoice activities: prepare (check again, sign, store) and record an outcome (state + e-mail).

Idempotency: `prepare_invoice` is keyed by the invoice id — the signed file is stored under the SDI file
name once, and a retry finds it instead of signing again; `apply_outcome` sets a state (the same state twice
is a no-op) and sends its e-mail with a key derived from the invoice and the notification;
`ksef_offline_deadline` only reads (KSeF's announcements on record, and the deadline they give an offline
invoice now).
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

import domain.fatturapa  # noqa: F401  (before domain.signatures: the two import each other)
from activities.mail import MailActivities
from core.db import session_scope
from core.settings import Settings
from domain.errors import InvalidInput
from models.files import read_file
from models.invoices import get_invoice_row, invoice_files, set_state, store_invoice_file
from models.invoices_io import (
    SIGNED,
    VALIDATED,
    InvoiceSendInput,
    OfflineDeadlineAnswer,
    OfflineDeadlineRequest,
    OutcomeRequest,
    PreparedInvoice,
)
from models.ksef_io import CHANNEL_KSEF

# An opened signing key is kept this long by a worker's key store (opening a PKCS#12 bundle costs tens of ms).
KEY_KEEP_SECONDS = 300.0


def key_store(settings: Settings):  # type: ignore[no-untyped-def]
    from domain.signatures import FileKeyStore

    return FileKeyStore(settings.data_dir / "keys", keep_seconds=KEY_KEEP_SECONDS)


class InvoiceActivities:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.mail = MailActivities(settings)
        self.keys = key_store(settings)  # one per worker: it keeps an opened key a few minutes

    @activity.defn(name="invoice_prepare")
    def prepare_invoice(self, inp: InvoiceSendInput) -> PreparedInvoice:
        """validated → signed in one step: load the stored original, check it again, sign it with the key of
        `key_alias` (the key never leaves this process), store the file that goes to the SDI."""
        from domain.fatturapa import check_loaded_invoice, load_invoice
        from domain.signatures import sign

        url = self.settings.database_url
        with session_scope(url) as session:
            files = {f.role: f for f in invoice_files(session, inp.invoice_id)}
            ready = files.get("transmitted")
            if ready is not None:  # a retry after success: the state was set with the file, in one transaction
                state = get_invoice_row(session, inp.invoice_id).state
                return PreparedInvoice(ready.name, ready.id, ready.sha256, ready.size, state)
            original = files.get("original")
            if original is None:
                raise ApplicationError(f"invoice {inp.invoice_id} has no original file", non_retryable=True)
            _, content = read_file(session, original.id)
        if inp.channel == CHANNEL_KSEF:
            return self._prepare_fa3(inp, content)
        try:
            loaded = load_invoice(content, original.name, verify=True)
            check_loaded_invoice(loaded, inp.vat)
        except InvalidInput as err:  # checked at upload; only a changed rule can get here
            raise ApplicationError(f"invoice no longer valid: {err}", type="InvalidInvoice",
                                   non_retryable=True) from err
        if inp.sign_mode in ("cades", "xades"):
            if loaded.signed is not None:
                raise ApplicationError("the invoice is already signed", type="InvalidInvoice", non_retryable=True)
            try:
                signer = self.keys.signer(inp.key_alias or self.settings.sdi_delegated_key_alias)
            except InvalidInput as err:
                raise ApplicationError(f"cannot use the signing key: {err}", type="SigningKey",
                                       non_retryable=True) from err
            outgoing = sign(loaded.xml, signer, inp.sign_mode)
            mime = "application/pkcs7-mime" if inp.sign_mode == "cades" else "application/xml"
            state = SIGNED
        else:
            outgoing = loaded.signed or loaded.xml
            mime = "application/pkcs7-mime" if loaded.signature == "cades" else "application/xml"
            state = SIGNED if loaded.signed is not None else VALIDATED
        with session_scope(url) as session:
            stored = store_invoice_file(session, inp.invoice_id, "transmitted", inp.file_name, mime, outgoing)
            set_state(session, inp.invoice_id, state)
        return PreparedInvoice(stored.name, stored.id, stored.sha256, stored.size, state)

    def _prepare_fa3(self, inp: InvoiceSendInput, content: bytes) -> PreparedInvoice:
        """An FA(3) invoice for KSeF: checked again (the schema and the rules, the seller the customer), stored
        as it goes out. KSeF takes it unsigned (the session's authentication is the signature)."""
        from domain.ksef.fa3 import validate_fa3

        try:
            validate_fa3(content, inp.vat)
        except InvalidInput as err:  # checked at upload; only a changed rule can get here
            raise ApplicationError(f"invoice no longer valid: {err}", type="InvalidInvoice",
                                   non_retryable=True) from err
        with session_scope(self.settings.database_url) as session:
            stored = store_invoice_file(session, inp.invoice_id, "transmitted", inp.file_name, "application/xml",
                                        content)
            set_state(session, inp.invoice_id, VALIDATED)
        return PreparedInvoice(stored.name, stored.id, stored.sha256, stored.size, VALIDATED)

    @activity.defn(name="invoice_apply_outcome")
    def apply_outcome(self, req: OutcomeRequest) -> str:
        """Record the state (and detail) and e-mail the customer; returns the e-mail status."""
        with session_scope(self.settings.database_url) as session:
            get_invoice_row(session, req.invoice_id)
            set_state(session, req.invoice_id, req.state, req.detail, req.sdi_id)
        if req.email is None:
            return "none"
        return self.mail.send_email(req.email).status

    @activity.defn(name="ksef_offline_deadline")
    def ksef_offline_deadline(self, req: OfflineDeadlineRequest) -> OfflineDeadlineAnswer:
        """An offline invoice's deadline as KSeF's announcements on record give it now (a failure announced
        meanwhile moves it; an announcement that has ended gives it), and the instant its day ends."""
        from datetime import date

        from domain.ksef.offline import announced_deadline, deadline_end
        from models import ksef_outages

        with session_scope(self.settings.database_url) as session:
            announced = ksef_outages.announcements(session)
        try:
            found = announced_deadline(req.mode, date.fromisoformat(req.issue_date), announced)
        except InvalidInput as err:  # its announcement is no longer on record as it was: look again later
            return OfflineDeadlineAnswer("", "", pending=str(err))
        if found.send_by is None:
            return OfflineDeadlineAnswer("", "", found.pending, found.lifted)
        return OfflineDeadlineAnswer(found.send_by.isoformat(), deadline_end(found.send_by).isoformat())
