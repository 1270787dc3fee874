"""The activities of KSeF as an invoice channel (#14.3), over `adapters/ksef.py` (through `KsefLogins`, the
customer's logged-in client in this worker's memory).

- `ksef_enqueue` (async): signal-with-start of the customer's session workflow (`ksef-session-<customer key>`,
  the key computed here from the settings' secret) with one invoice to send. Idempotent: the session workflow
  keeps one request per invoice id.
- `ksef_open_session`: `POST /sessions/online` with a fresh AES-256 key wrapped to the ministry's key; the
  session's key and IV are sealed into `ksef_sessions` (Fernet under SECRET_KEY), so whichever worker sends in
  the session reads them there, and the workflow carries only the reference number. Idempotent by the opening
  key (the session workflow's id and its counter): a retry finds the session the first attempt opened.
- `ksef_send_invoice`: the invoice encrypted and sent in the session. A row is written before it goes out and
  completed with KSeF's invoice reference right after: a retry that finds the reference sends nothing. The one
  window left (KSeF took it, we died before the row) resends it, and KSeF answers the copy as a duplicate (440)
  naming the original: `ksef_await_invoice` adopts that one (its KSeF number and UPO) when it is this session's.
- `ksef_await_invoice`: polls the invoice's status (heartbeating) until KSeF has decided: 200 stores the UPO as
  the invoice's file `<id>_UPO.xml` (role `upo`, so conservation packs it) and the KSeF number; 4xx/5xx statuses
  are the refusal with KSeF's code and description. Still processing after `AWAIT_SECONDS`: a retryable error,
  the retry policy spaces the next look. Idempotent: the outcome recorded once is answered again.
- `ksef_close_session`: `POST /sessions/online/{ref}/close`; a session KSeF already closed (21180) is done; the
  sealed key is erased.

KSeF unreachable, 5xx or rate-limited: retryable (`RETRY_EXTERNAL`: hours of outage are waited out). A 4xx of
KSeF on a request, or a login KSeF refuses: not retryable, named with KSeF's code.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import TypeVar

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from adapters.ksef import (
    KsefAuthFailed,
    KsefClient,
    KsefError,
    KsefRateLimited,
    KsefRejected,
    KsefUnavailable,
    OnlineSession,
)
from adapters.ksef_logins import KsefLogins
from core.db import session_scope
from core.search_keys import SearchKeys
from core.secrets import seal, unseal
from core.settings import Settings
from core.temporal import connect
from domain.identifiers import parse_vat_number
from domain.ksef.fa3 import FORM_CODE
from domain.ksef.session_crypto import SessionKey
from models import ksef_channel as db
from models.files import read_file
from models.invoices import set_state, store_invoice_file
from models.ksef_io import (
    KSEF_ENQUEUE_SIGNAL,
    KsefAwaitItem,
    KsefCloseRequest,
    KsefEnqueueRequest,
    KsefOpened,
    KsefOpenRequest,
    KsefOutcome,
    KsefSendItem,
    KsefSent,
    KsefSessionInput,
)
from models.tenant import get_tenant_row

T = TypeVar("T")
AWAIT_SECONDS = 20.0  # one look at an invoice KSeF is still processing; then the retry policy spaces the next
POLL_SECONDS = 0.5
DUPLICATE = 440  # Duplikat faktury: its status names the original (extensions)
PROCESSING = (100, 150)  # przyjęta, trwa przetwarzanie
SESSION_CLOSED_ALREADY = 21180  # "Status sesji nie pozwala na wykonanie operacji"


def session_workflow_id(customer_key: str) -> str:
    """`ksef-session-<customer key>`: one session workflow per customer, no NIP in the id (core/search_keys)."""
    return f"ksef-session-{customer_key}"


def _nip(vat: str) -> str:
    parsed = parse_vat_number(vat)
    if parsed.country != "PL":
        raise ApplicationError(f"{vat} is not a Polish customer: KSeF takes no invoice of it", type="KsefRefused",
                               non_retryable=True)
    return parsed.number


def _classified(what: str, err: KsefError) -> ApplicationError:
    if isinstance(err, KsefUnavailable | KsefRateLimited):
        return ApplicationError(f"KSeF {what}: {err}", type="KsefUnavailable")
    if isinstance(err, KsefAuthFailed):
        return ApplicationError(f"KSeF refused the login for {what}: {err}", type="KsefAuthFailed",
                                non_retryable=True)
    return ApplicationError(f"KSeF refused the {what}: {err}", type="KsefRefused", non_retryable=True)


class KsefChannelActivities:
    def __init__(self, settings: Settings, client: Client | None = None, logins: KsefLogins | None = None):
        """`client`: the worker's own Temporal client (for `ksef_enqueue`); `logins`: the KSeF clients."""
        self.settings = settings
        self._client = client
        self.logins = logins or KsefLogins(settings)

    def _call(self, vat: str, what: str, fn: Callable[[KsefClient], T]) -> T:
        try:
            return self.logins.call(_nip(vat), fn)
        except KsefError as err:
            raise _classified(what, err) from None

    # ------------------------------------------------------------------ the session workflow's start
    @activity.defn(name="ksef_enqueue")
    async def enqueue(self, req: KsefEnqueueRequest) -> str:
        """Signal-with-start the customer's session workflow with one invoice; returns its workflow id."""
        from temporalio.common import SearchAttributePair, TypedSearchAttributes

        from core.search_attributes import BUSINESS_STATUS, CUSTOMER_KEY, DOCUMENT_ID
        from models.ksef_io import KSEF_SESSION_WORKFLOW, SESSION_OPEN

        if self._client is None:
            self._client = await connect(self.settings)
        keys = SearchKeys(self.settings)
        customer = keys.customer(req.vat)
        workflow_id = session_workflow_id(customer)
        attrs = TypedSearchAttributes([
            SearchAttributePair(CUSTOMER_KEY, customer), SearchAttributePair(DOCUMENT_ID, keys.document(workflow_id)),
            SearchAttributePair(BUSINESS_STATUS, SESSION_OPEN)])
        await self._client.start_workflow(
            KSEF_SESSION_WORKFLOW, KsefSessionInput(req.vat, self.settings.ksef_session_idle_seconds,
                                                       self.settings.ksef_session_margin_seconds),
            id=workflow_id, task_queue=activity.info().task_queue, start_signal=KSEF_ENQUEUE_SIGNAL,
            start_signal_args=[req.request], search_attributes=attrs)
        return workflow_id

    # ------------------------------------------------------------------ the interactive session
    @activity.defn(name="ksef_open_session")
    def open_session(self, req: KsefOpenRequest) -> KsefOpened:
        url = self.settings.database_url
        with session_scope(url) as session:
            found = db.session_by_opening(session, req.opening_key)
            if found is not None:
                return KsefOpened(found.reference_number, found.valid_until.isoformat())
            tenant_id = get_tenant_row(session, req.vat).id
        opened = self._call(
            req.vat, "opening of an interactive session", lambda c: c.open_online_session(FORM_CODE))
        sealed = seal(self.settings, json.dumps({"key": base64.b64encode(opened.key.key).decode(),
                                                 "iv": base64.b64encode(opened.key.iv).decode()}))
        with session_scope(url) as session:
            db.add_session(session, tenant_id, req.opening_key, opened.reference_number, opened.valid_until, sealed)
        activity.logger.info("KSeF session %s opened, valid until %s", opened.reference_number,
                             opened.valid_until.isoformat())
        return KsefOpened(opened.reference_number, opened.valid_until.isoformat())

    def _online(self, reference_number: str) -> OnlineSession:
        with session_scope(self.settings.database_url) as session:
            record = db.get_session(session, reference_number)
        if record.state != "open" or record.key_sealed is None:
            raise ApplicationError(f"KSeF session {reference_number} is closed", type="KsefSessionClosed",
                                   non_retryable=True)
        sealed = json.loads(unseal(self.settings, record.key_sealed))
        key = SessionKey(base64.b64decode(sealed["key"]), base64.b64decode(sealed["iv"]))
        return OnlineSession(reference_number, record.valid_until, key)

    @activity.defn(name="ksef_send_invoice")
    def send_invoice(self, item: KsefSendItem) -> KsefSent:
        url = self.settings.database_url
        with session_scope(url) as session:
            done = db.ksef_invoice(session, item.invoice_id)
            if done is not None and done.invoice_reference and done.session_reference == item.session_reference:
                return KsefSent(done.invoice_reference)
            db.begin_send(session, item.invoice_id, item.session_reference)
            _, content = read_file(session, item.file_id)
        online = self._online(item.session_reference)
        reference = self._call(
            item.vat, "invoice", lambda c: c.send_invoice(online, content, offline_mode=item.offline))
        with session_scope(url) as session:
            db.complete_send(session, item.invoice_id, reference)
            set_state(session, item.invoice_id, "sent")
        activity.logger.info("invoice %s sent in KSeF session %s as %s", item.invoice_id, item.session_reference,
                             reference)
        return KsefSent(reference)

    @activity.defn(name="ksef_await_invoice")
    def await_invoice(self, item: KsefAwaitItem) -> KsefOutcome:
        url = self.settings.database_url
        with session_scope(url) as session:
            row = db.ksef_invoice(session, item.invoice_id)
            if row is not None and row.state in (db.ACCEPTED, db.REJECTED):
                return KsefOutcome(item.invoice_id, row.state == db.ACCEPTED, row.ksef_number, row.upo_file_id,
                                   row.status_code, row.status_description or "")
            resent = row is not None and row.attempts > 1
        deadline = time.monotonic() + AWAIT_SECONDS

        def look(c: KsefClient) -> tuple[int, str, tuple[str, ...], str | None, bytes | None]:
            status = c.invoice_status(item.session_reference, item.invoice_reference)
            st = status.status
            upo = None
            if st.code == 200:
                upo = c.invoice_upo(item.session_reference, item.invoice_reference)
            elif (st.code == DUPLICATE and resent and st.extension("originalKsefNumber")
                  and st.extension("originalSessionReferenceNumber") == item.session_reference):
                # Our own first sending, whose answer was lost (we died before recording its reference): KSeF
                # numbered it and answers the resent copy as its duplicate. The invoice is that one, accepted.
                number = st.extension("originalKsefNumber")
                assert number is not None
                upo = c.invoice_upo_by_ksef_number(item.session_reference, number)
                return 200, "Sukces (the first sending's: the resent copy was its duplicate, 440)", (), number, upo
            return st.code, st.description, st.details, status.ksef_number, upo

        while True:
            code, description, details, number, upo = self._call(
                item.vat, "invoice status", look)
            if code not in PROCESSING:
                break
            activity.heartbeat(f"KSeF status {code}")
            if time.monotonic() > deadline:
                raise ApplicationError(f"KSeF is still processing invoice {item.invoice_reference} ({code})",
                                       type="KsefPending")
            time.sleep(POLL_SECONDS)
        said = description + (f" ({'; '.join(details)})" if details else "")
        upo_file_id = None
        with session_scope(url) as session:
            if code == 200 and number and upo is not None:
                stored = store_invoice_file(session, item.invoice_id, "upo", f"{item.invoice_id}_UPO.xml",
                                            "application/xml", upo)
                upo_file_id = stored.id
                db.record_outcome(session, item.invoice_id, True, number, code, said, upo_file_id)
            else:
                db.record_outcome(session, item.invoice_id, False, None, code, said, None)
        return KsefOutcome(item.invoice_id, code == 200 and upo_file_id is not None, number if code == 200 else None,
                           upo_file_id, code, said)

    @activity.defn(name="ksef_close_session")
    def close_session(self, req: KsefCloseRequest) -> str:
        def close(c: KsefClient) -> None:
            c.close_online_session(req.session_reference)

        try:
            self.logins.call(_nip(req.vat), close)
        except KsefRejected as err:
            if SESSION_CLOSED_ALREADY not in err.codes:
                raise _classified("closing of the session", err) from None
        except KsefError as err:
            raise _classified("closing of the session", err) from None
        with session_scope(self.settings.database_url) as session:
            db.mark_closed(session, req.session_reference)
            still_open = any(True for _ in db.open_sessions(session))
        if not still_open:  # idle: the login (its tokens, its connection) is not kept either
            self.logins.forget(_nip(req.vat))
        activity.logger.info("KSeF session %s closed", req.session_reference)
        return req.session_reference
