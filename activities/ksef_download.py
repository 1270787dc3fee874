"""The download from KSeF's activities (#14.4): take a customer's received invoices, window by window, into
the passive cycle.

`ksef_download_take` — one round: ask the policy for the user the download acts for (`ksef.download`), log in
to KSeF in the customer's context with the KSeF token the customer gave us (`adapters/ksef_credentials.py`:
never a key of the customer's; the token and the access token live in this call's
client only: never returned, logged or put in a history), then page through the metadata as
`domain/ksef/download.py` says, fetching each invoice not yet taken, verifying it (`domain/ksef/received.py`)
and storing it. Idempotent by the KSeF number: an invoice is stored in one transaction with its
`ksef_received` row, unique per customer, so a retried or concurrent round cannot take it twice; the cursor
past a page is written in the transaction of that page's last new invoice (or alone when the page held none),
so it never stands past an invoice that is not stored. A round killed anywhere resumes from the cursor: the
page is read again and what was stored is skipped before it is fetched.

`ksef_download_pending` and `ksef_download_handed_over` — the hand-over to the passive cycle: the invoices
taken whose InvoiceReceiveWorkflow has not been started yet (with their opaque keys), then the mark once the
workflow started them (a second start of the same id is refused by Temporal, so a crash between start and mark
starts nothing twice).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.ksef import (
    InvoiceMetadata,
    KsefAuthFailed,
    KsefClient,
    KsefRateLimited,
    KsefRejected,
    client_from_settings,
)
from adapters.ksef_credentials import logged_in_client
from core.db import session_scope
from core.search_keys import SearchKeys
from core.settings import Settings
from domain.errors import Conflict, InvalidInput, NotFound, Problem
from domain.ksef.download import Cursor, PageSeen, WindowError, advance, finished, next_query
from domain.ksef.received import CorruptDownload, verify_received
from domain.policy import may
from models import audit
from models import invoices as db
from models.base import utcnow
from models.identity import User, principal_of
from models.invoices_io import INBOX, KSEF, InvoiceReceiveInput
from models.ksef_download import KsefDownload, KsefReceived, known_numbers, not_handed_over
from models.ksef_download_io import (
    HandedOver,
    HandoverBatch,
    KsefDownloadInput,
    KsefRoundReport,
    ReceiveStart,
    ksef_workflow_id_for,
)
from models.tenant import Tenant

log = logging.getLogger("einvoice.ksef_download")

SURFACE = "schedule"
PAGE_SIZE = 100
# One call reads at most this many pages, then returns (the workflow calls again): a call's attempt stays short
# and its progress is in the cursor anyway.
MAX_PAGES_PER_CALL = 20
HANDOVER_BATCH = 100
# One KSeF request of a round waits at most this long for KSeF (the client's 30 s by default): less than the
# take's heartbeat timeout (workflows/ksef_download.py), so a slow answer is never taken for a dead worker.
REQUEST_TIMEOUT = 15.0
# the metadata's invoiceType (open-api.json InvoiceType) as FA(3)'s RodzajFaktury, what conservation records
RODZAJ_FAKTURY = {"Vat": "VAT", "Kor": "KOR", "Zal": "ZAL", "Roz": "ROZ", "Upr": "UPR", "KorZal": "KOR_ZAL",
                  "KorRoz": "KOR_ROZ"}


def _sleep_heartbeating(seconds: float) -> None:
    """The client's waits (a Retry-After, our shared budget) inside a round: heartbeating meanwhile, so a wait
    is never taken for a dead worker."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        activity.heartbeat("waiting for KSeF")
        time.sleep(min(5.0, left))


def invoice_id_for(tenant_id: int, ksef_number: str) -> str:
    return f"ksef-{tenant_id}-{ksef_number}"


@dataclass(frozen=True)
class _Round:
    download_id: int
    tenant_id: int
    vat: str
    nip: str
    subject_type: str
    range_to: datetime | None
    cursor: Cursor
    actor: str


class KsefDownloadActivities:
    def __init__(self, settings: Settings, client: Callable[[], KsefClient] | None = None):
        """`client`: how a round gets its KSeF client (default: the settings' KSEF_URL with the machine's rate
        budget); it logs in with the customer's KSeF token (`adapters/ksef_credentials.py`)."""
        self.settings = settings
        self._client = client or (lambda: client_from_settings(settings, sleep=_sleep_heartbeating,
                                                                      timeout=REQUEST_TIMEOUT))

    # ------------------------------------------------------------------ the round
    def _open(self, download_id: int) -> _Round:
        with session_scope(self.settings.database_url) as session:
            row = session.get(KsefDownload, download_id)
            if row is None:
                raise ApplicationError(f"KSeF download {download_id} no longer exists (unscheduled)",
                                       type="KsefDownloadRefused", non_retryable=True)
            tenant = session.get(Tenant, row.tenant_id)
            user = session.get(User, row.requested_by)
            assert tenant is not None
            vat = tenant.vat_number
            reason, actor = None, "user:gone"
            if user is None or not user.active:
                reason = "the user who asked for this download is no longer active"
            else:
                principal = principal_of(session, user)
                actor = principal.label
                decision = may(principal, "ksef.download", vat)
                if not decision.allowed:
                    reason = f"{principal.label} may no longer download the invoices of {vat}: {decision.reason}"
            rnd = _Round(row.id, tenant.id, vat, vat.removeprefix("PL"), row.subject_type, row.range_to,
                         row.cursor, actor)
        if reason is not None:
            self._finish(rnd, None, reason, refused=True)
            raise ApplicationError(reason, type="KsefDownloadRefused", non_retryable=True)
        return rnd

    @activity.defn(name="ksef_download_take")
    def take(self, inp: KsefDownloadInput) -> KsefRoundReport:
        """Pages of the download's window(s) until caught up with KSeF's HWM, the range's end, or
        MAX_PAGES_PER_CALL pages; each new invoice stored with the cursor as described above."""
        rnd = self._open(inp.download_id)
        report = KsefRoundReport()
        if finished(rnd.cursor, rnd.range_to):
            report.caught_up = report.finished = True
            self._finish(rnd, report, None)
            return report
        try:
            with logged_in_client(self.settings, rnd.vat, self._client) as client:
                cursor = rnd.cursor
                while report.pages < MAX_PAGES_PER_CALL:
                    query = next_query(cursor, rnd.range_to)
                    page = client.query_metadata(rnd.subject_type, query.date_from, query.date_to,
                                                 page_offset=query.page_offset, page_size=PAGE_SIZE,
                                                 restrict_to_hwm=True)
                    report.pages += 1
                    last = page.invoices[-1].permanent_storage_date if page.invoices else None
                    step = advance(cursor, query, PageSeen(len(page.invoices), last, page.has_more,
                                                           page.is_truncated, page.permanent_storage_hwm_date),
                                   rnd.range_to)
                    report.seen += len(page.invoices)
                    report.taken += self._take_page(client, rnd, page.invoices, step.cursor)
                    cursor = step.cursor
                    activity.heartbeat(report.pages, report.taken)
                    if step.caught_up or finished(cursor, rnd.range_to):
                        report.caught_up = True
                        break
                report.finished = finished(cursor, rnd.range_to)
        except KsefRateLimited as err:
            self._finish(rnd, report, str(err))
            # KSeF's (or our budget's) wait, not our backoff: the cursor keeps what this attempt took
            raise ApplicationError(str(err), type="KsefRateLimited",
                                   next_retry_delay=timedelta(seconds=max(1.0, err.retry_after))) from None
        except (KsefRejected, KsefAuthFailed, WindowError, NotFound, InvalidInput) as err:
            # never as it is: KSeF refused the request or the login (the customer's token, named), the window
            # cannot move, or the customer gave no KSeF token; the next round, once it is set, tries again
            self._finish(rnd, report, str(err))
            raise ApplicationError(str(err), type="KsefDownloadRefused", non_retryable=True) from None
        except Exception as err:
            self._finish(rnd, report, f"{type(err).__name__}: {str(err)[:500]}")
            raise  # retried by the workflow's policy, from the cursor
        self._finish(rnd, report, None)
        return report

    def _take_page(self, client: KsefClient, rnd: _Round, invoices: tuple[InvoiceMetadata, ...],
                   after: Cursor) -> int:
        """Store this page's new invoices, the cursor `after` it with the last of them; how many were new."""
        with session_scope(self.settings.database_url) as session:
            known = known_numbers(session, rnd.tenant_id, [m.ksef_number for m in invoices])
        new: dict[str, InvoiceMetadata] = {}
        for m in invoices:
            if m.ksef_number not in known:
                new.setdefault(m.ksef_number, m)
        if not new:
            self._move(rnd.download_id, after)
            return 0
        taken = 0
        for i, meta in enumerate(new.values()):
            xml = client.get_invoice(meta.ksef_number)
            try:
                warnings = verify_received(xml, meta.invoice_hash, meta.ksef_number)
            except CorruptDownload as err:
                raise RuntimeError(str(err)) from None  # retried: fetched again
            last = i == len(new) - 1
            if self._store(rnd, meta, xml, warnings, after if last else None):
                taken += 1
            elif last:
                self._move(rnd.download_id, after)
            activity.heartbeat(meta.ksef_number)
        return taken

    def _store(self, rnd: _Round, meta: InvoiceMetadata, xml: bytes, warnings: tuple[Problem, ...],
               cursor: Cursor | None) -> bool:
        """One invoice, its file and its `ksef_received` row (and the cursor, given one) in one transaction.
        False when another round took it meanwhile (the unique constraint said so)."""
        opaque = SearchKeys(self.settings)
        invoice_id = invoice_id_for(rnd.tenant_id, meta.ksef_number)
        customer_key, document_key = opaque.customer(rnd.vat), opaque.document(invoice_id)
        try:
            with session_scope(self.settings.database_url) as session:
                db.add_invoice(session, rnd.vat, db.NewInvoice(
                    id=invoice_id, direction="in", file_name=f"{meta.ksef_number}.xml", transmitter_id="KSeF",
                    sign_mode="none", key_alias=None, format="FA(3)",
                    counterparty_name=(meta.seller_name or "")[:200] or None,
                    counterparty_vat=f"PL{meta.seller_nip}", recipient_code=None, number=meta.invoice_number[:256],
                    doc_date=meta.issue_date.isoformat(), total=f"{meta.gross_amount:.2f}",
                    currency=meta.currency, documents=1,
                    workflow_id=ksef_workflow_id_for(customer_key, document_key), state=INBOX, created_by=KSEF,
                    warnings=warnings,
                ), [], [("received", f"{meta.ksef_number}.xml", "application/xml", xml)])
                session.add(KsefReceived(tenant_id=rnd.tenant_id, ksef_number=meta.ksef_number,
                                         invoice_id=invoice_id, download_id=rnd.download_id,
                                         invoice_number=meta.invoice_number[:256],
                                         invoice_type=RODZAJ_FAKTURY.get(meta.invoice_type, "VAT"),
                                         permanent_storage_date=meta.permanent_storage_date))
                row = session.get(KsefDownload, rnd.download_id)
                if row is not None:
                    row.taken += 1
                    if cursor is not None:
                        row.move(cursor)
        except (Conflict, IntegrityError):
            with session_scope(self.settings.database_url) as session:
                if meta.ksef_number in known_numbers(session, rnd.tenant_id, [meta.ksef_number]):
                    return False
            raise
        return True

    def _move(self, download_id: int, cursor: Cursor) -> None:
        with session_scope(self.settings.database_url) as session:
            row = session.get(KsefDownload, download_id)
            if row is not None:
                row.move(cursor)

    def _finish(self, rnd: _Round, report: KsefRoundReport | None, error: str | None, refused: bool = False) -> None:
        now = utcnow()
        with session_scope(self.settings.database_url) as session:
            row = session.get(KsefDownload, rnd.download_id)
            if row is not None:
                row.last_run_at, row.last_error = now, error
                if report is not None:
                    row.last_taken = report.taken
                    if error is None:
                        row.last_success_at = now
            outcome = ("ok" if error is None else (f"refused: {error}" if refused else f"failed: {error}"))[:300]
            detail = "" if report is None else f"{report.taken} taken, {report.seen} listed, {report.pages} pages"
            audit.append(session, rnd.actor, SURFACE, "ksef.download", f"KSeF download {rnd.download_id}",
                         outcome, rnd.vat, detail)
        if error is not None:
            log.warning("KSeF download %s of %s: %s", rnd.download_id, rnd.vat, error)

    # ------------------------------------------------------------------ the hand-over to the passive cycle
    @activity.defn(name="ksef_download_pending")
    def pending(self, inp: KsefDownloadInput) -> HandoverBatch:
        """The customer's invoices taken from KSeF whose passive cycle has not been started (any download's)."""
        opaque = SearchKeys(self.settings)
        with session_scope(self.settings.database_url) as session:
            row = session.get(KsefDownload, inp.download_id)
            if row is None:
                return HandoverBatch()
            tenant = session.get(Tenant, row.tenant_id)
            assert tenant is not None
            rows = not_handed_over(session, row.tenant_id, HANDOVER_BATCH + 1)
            batch = HandoverBatch(more=len(rows) > HANDOVER_BATCH)
            for received in rows[:HANDOVER_BATCH]:
                inv = db.get_invoice_row(session, received.invoice_id)
                inp_ = InvoiceReceiveInput(
                    invoice_id=inv.id, vat=tenant.vat_number, file_name=inv.file_name, sdi_id=None, pa=False,
                    customer_email=tenant.pec, number=received.invoice_number[:40],
                    sender_name=inv.counterparty_name or inv.counterparty_vat or "", doc_type=received.invoice_type,
                    doc_date=inv.doc_date, sender_vat=inv.counterparty_vat or "",
                    recipient_id=tenant.vat_number, recipient_name=tenant.name, channel=KSEF,
                    ksef_number=received.ksef_number)
                batch.starts.append(ReceiveStart(inv.id, inv.workflow_id, opaque.customer(tenant.vat_number),
                                                 opaque.document(inv.id), inp_))
        return batch

    @activity.defn(name="ksef_download_handed_over")
    def handed_over(self, inp: HandedOver) -> int:
        """Mark these invoices' passive cycle started (idempotent: marking twice changes nothing)."""
        with session_scope(self.settings.database_url) as session:
            rows = session.scalars(select(KsefReceived).where(KsefReceived.invoice_id.in_(inp.invoice_ids))).all()
            for row in rows:
                row.cycle_started = True
            return len(rows)
