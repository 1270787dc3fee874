"""Sending one invoice to the SDI and awaiting its notifications (one workflow per invoice).

    received ──prepare: check again, sign, store──► signed/validated ──transmit (RiceviFile)──► sent
    sent ── RC ──► delivered ──(PA: NE EC01)──► accepted | (NE EC02) refused | (DT, or 15 days) deadline-passed
         ── MC ──► not-delivered (the recipient can still pick it up; PA: closed by AT)
         ── NS ──► rejected (with the SDI's error list)
         ── nothing for INVOICE_SDI_SILENCE_HOURS ──► still sent, BusinessStatus sdi-silent, the operator e-mailed
                                                     once; the answer, when it comes, goes on as above
    transmission refused by the SDI (EI01/EI03) ──► failed

Notifications arrive as the `notification` signal from our TrasmissioneFatture endpoint, already verified
(signature, schema) and stored; here they are checked to belong to this invoice (identificativo SdI),
deduplicated by file name, and applied in the order that makes sense whatever the order of arrival (an NE
before its RC means delivered and accepted; an RC after it changes nothing). A signal that arrives while
the file is still being transmitted waits in the workflow (Temporal keeps it) until the identificativo SdI
is known. Each outcome updates the database, the query and BusinessStatus, and e-mails the customer. When
the cycle closes the invoice with its receipts is handed over to conservation (a child workflow).

The same workflow carries a Polish customer's FA(3) invoice to KSeF (`channel` "ksef", #14.3):

    received ──prepare: FA(3) checked again, stored──► validated ──ksef_enqueue──► (the customer's session
    workflow, workflows/ksef_session.py: one interactive session for a burst) sent ──► accepted (the KSeF
    number and the UPO stored) | rejected (KSeF's code and description) | failed (KSeF refused the session or
    the request itself)

The outcome comes back as the `ksef_outcome` signal; it is e-mailed like an SDI outcome (the customer's
"invoice-outcome" preference) and an accepted invoice is conserved with its UPO in the package.

An invoice issued offline (offline24, offline, awaryjny: tryby-offline.md) has a deadline to reach KSeF. While
KSeF has not answered, a durable timer waits until its deadline day ends (Europe/Warsaw; the instant comes in
the input, computed by the starter): then a local activity reads KSeF's announcements again (a failure
announced meanwhile moves the deadline: wait again; an unknown deadline, its announcement still going on, is
looked at again a day later). Passed: BusinessStatus and the query say ksef-deadline-passed, the customer (its
"invoice-outcome" preference) and the operator are e-mailed once, and the wait for KSeF's answer goes on (the
invoice is still sent). Guarded by the patch `ksef-deadline-watch`: histories recorded before it replay.

History on the delivered path: prepare, a local activity (a marker: it touches only our database, CPU and
key store); transmit, the one activity that reaches outside (the SDI); one wait, under the silence timer
(started and cancelled: two events); the outcome, a local activity beside the child's start. Local activities
run inside the worker's workflow task: at-least-once and retried like any activity, idempotent the same way,
but without an activity task's three events and workflow task.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

from workflows.common import (
    DOCUMENT_ID,
    EXTERNAL_ATTEMPT_TIMEOUT,
    EXTERNAL_TOTAL_TIMEOUT,
    LOCAL_ATTEMPT_TIMEOUT,
    LOCAL_TOTAL_TIMEOUT,
    RETRY_EXTERNAL,
    RETRY_FAST,
    own_search_attributes,
    publish_status,
)

with workflow.unsafe.imports_passed_through():
    from activities.invoices import InvoiceActivities
    from activities.ksef_channel import KsefChannelActivities
    from activities.mail import MailActivities
    from activities.sdi_channel import SdiChannelActivities
    from models.invoices_io import (
        ACCEPTED,
        DEADLINE_PASSED,
        DELIVERED,
        FAILED,
        KSEF_DEADLINE_PASSED,
        NOT_DELIVERED,
        NOTIFICATION_SIGNAL,
        RECEIVED,
        REFUSED,
        REJECTED,
        SDI_SILENT,
        SENT,
        STATUS_QUERY,
        ConservationHandover,
        InvoiceSendInput,
        InvoiceStatusView,
        NotificationRef,
        OfflineDeadlineRequest,
        OutcomeRequest,
        TransmitRequest,
    )
    from models.ksef_io import CHANNEL_KSEF, KSEF_OUTCOME_SIGNAL, KsefEnqueueRequest, KsefOutcome, KsefSendRequest
    from models.mail import EmailRequest

# The deadline watch of an invoice issued offline (#14.3): a workflow.patched id, so older histories replay.
DEADLINE_WATCH_PATCH = "ksef-deadline-watch"
# The hand-over to the KSeF session workflow as a local activity (a signal-with-start: a Temporal call and no
# other side effect, like prepare's local work): a marker instead of an activity's three events and its
# workflow task. Histories recorded before it replay the activity.
ENQUEUE_LOCAL_PATCH = "ksef-enqueue-local"
# An offline invoice's deadline not known yet (its announcement goes on): looked at again this often.
DEADLINE_UNKNOWN_RECHECK = timedelta(days=1)

# Prepare signs and reads the file: give it more than a DB write.
PREPARE_ATTEMPT_TIMEOUT = timedelta(seconds=30)

# States after which nothing more is expected, per flow.
CONSERVED_STATES = frozenset({DELIVERED, NOT_DELIVERED, ACCEPTED, REFUSED, DEADLINE_PASSED})

SUBJECTS = {
    DELIVERED: "delivered to the recipient (RC ricevuta di consegna)",
    NOT_DELIVERED: "not delivered: the recipient can pick it up from its reserved area (MC mancata consegna)",
    REJECTED: "rejected by the SDI (NS notifica di scarto)",
    ACCEPTED: "accepted by the public administration (NE esito EC01)",
    REFUSED: "refused by the public administration (NE esito EC02)",
    DEADLINE_PASSED: "no outcome from the public administration within 15 days (DT decorrenza termini)",
    FAILED: "not accepted for transmission by the SDI",
}
KSEF_SUBJECTS = {
    ACCEPTED: "accepted by KSeF",
    REJECTED: "rejected by KSeF",
    FAILED: "not sent: KSeF refused the request",
}


def workflow_id_for(customer_key: str, document_key: str) -> str:
    """`invoice-<customer key>-<invoice key>` (core/search_keys: the VAT number and the SDI file name are
    personal data): a second start for the same file is refused."""
    return f"invoice-{customer_key}-{document_key}"


@workflow.defn(name="InvoiceSendWorkflow")
class InvoiceSendWorkflow:
    def __init__(self) -> None:
        self._inp: InvoiceSendInput | None = None
        self._state = RECEIVED
        self._sdi_id: int | None = None
        self._pending: list[NotificationRef] = []
        self._seen: set[str] = set()
        self._applied: list[str] = []
        self._ignored: list[str] = []
        self._history: list[str] = []
        self._closed_by_at = False
        self._may_have_twin = False
        self._silent_at: datetime | None = None  # when an SDI still silent is flagged to the operator
        self._silence_flagged = False
        self._ksef: KsefOutcome | None = None
        self._send_by: str | None = None  # an offline invoice's deadline as last read ("" not known yet)
        self._deadline_flagged = False

    # ------------------------------------------------------------ interface
    @workflow.signal(name=NOTIFICATION_SIGNAL)
    def notification(self, ref: NotificationRef) -> None:
        if ref.name in self._seen:  # a duplicate delivery of the same notification
            return
        self._seen.add(ref.name)
        self._pending.append(ref)

    @workflow.signal(name=KSEF_OUTCOME_SIGNAL)
    def ksef_outcome(self, outcome: KsefOutcome) -> None:
        if self._ksef is None and self._inp is not None and outcome.invoice_id == self._inp.invoice_id:
            self._ksef = outcome

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> InvoiceStatusView:
        inp = self._inp
        return InvoiceStatusView(inp.invoice_id if inp else "", inp.file_name if inp else "", self._state,
                                 self._sdi_id, list(self._applied), list(self._ignored), list(self._history),
                                 self._ksef.ksef_number if self._ksef else None, self._send_by,
                                 self._deadline_flagged)

    # ------------------------------------------------------------ the cycle
    @workflow.run
    async def run(self, inp: InvoiceSendInput) -> InvoiceStatusView:
        self._inp = inp
        self._note(RECEIVED)
        # Local work (the database, the CPU, our own key store): a local activity, run in this worker's
        # workflow task, recorded as one marker instead of an activity's three events and workflow task.
        prepared = await workflow.execute_local_activity_method(
            InvoiceActivities.prepare_invoice, inp,
            start_to_close_timeout=PREPARE_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
            retry_policy=RETRY_FAST,
        )
        self._state = prepared.state
        self._note(prepared.state)
        if inp.channel == CHANNEL_KSEF:
            await self._through_ksef(prepared.file_id)
            return self.status()
        try:
            sent = await workflow.execute_activity_method(
                SdiChannelActivities.transmit, TransmitRequest(inp.invoice_id, prepared.file_name, prepared.file_id),
                start_to_close_timeout=EXTERNAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=EXTERNAL_TOTAL_TIMEOUT,
                retry_policy=RETRY_EXTERNAL,
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == "SdiRefused":
                await self._outcome(FAILED, None, cause.message)
                return self.status()
            raise
        self._sdi_id = sent.sdi_id
        self._may_have_twin = sent.resent
        self._state = SENT
        self._note(SENT)
        publish_status(SENT)

        # The SDI must answer (RC, MC or NS) within 5 days. The first wait has a timer: an SDI still silent
        # after INVOICE_SDI_SILENCE_HOURS is flagged to the operator, once, and the wait goes on.
        if inp.sdi_silence_seconds > 0:
            self._silent_at = workflow.now() + timedelta(seconds=inp.sdi_silence_seconds)
        timeout = self._next_timeout()
        while True:
            got = await self._wait(timeout)
            if not got and self._state == SENT:
                await self._flag_silence()
                timeout = self._next_timeout()
                continue
            if not got:
                if self._state == DELIVERED and inp.pa:  # 15 days and no NE nor DT from the SDI
                    await self._outcome(DEADLINE_PASSED, None,
                                        "no outcome and no DT from the SDI within the deadline")
                else:  # NOT_DELIVERED to a PA and no AT in time: the cycle is closed as it is
                    self._note("closed without AT")
                    if inp.conserve:
                        await hand_over_to_conservation(self._handover())
                break
            before = self._state
            details = self._apply_pending()
            if self._state != before:
                await self._outcome(self._state, self._applied[-1] if self._applied else None, details)
            if self._closed():
                break
            timeout = self._next_timeout()
        return self.status()

    async def _through_ksef(self, file_id: int) -> None:
        """Hand the invoice to the customer's KSeF session workflow and wait, durably, for its outcome."""
        inp = self._inp
        assert inp is not None
        enqueue = KsefEnqueueRequest(inp.vat, KsefSendRequest(inp.invoice_id, file_id, workflow.info().workflow_id,
                                                              offline=bool(inp.ksef_offline_mode)))
        if workflow.patched(ENQUEUE_LOCAL_PATCH):  # one marker, in this workflow task (bench ksef-pipeline)
            await workflow.execute_local_activity_method(
                KsefChannelActivities.enqueue, enqueue,
                start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
                retry_policy=RETRY_FAST,
            )
        else:
            await workflow.execute_activity_method(
                KsefChannelActivities.enqueue, enqueue,
                start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
                retry_policy=RETRY_FAST,
            )
        self._state = SENT
        if inp.ksef_offline_mode:
            self._note(f"issued {inp.ksef_offline_mode}: to KSeF with offlineMode by "
                       f"{inp.ksef_send_by or 'a deadline not known yet (its announcement goes on)'}")
        self._note(f"{SENT} (KSeF session workflow)")
        publish_status(SENT)
        if inp.ksef_offline_mode and workflow.patched(DEADLINE_WATCH_PATCH):
            await self._watch_deadline()
        await workflow.wait_condition(lambda: self._ksef is not None)
        outcome = self._ksef
        assert outcome is not None
        if outcome.accepted:
            self._note(f"KSeF number {outcome.ksef_number}, UPO stored")
            await self._outcome(ACCEPTED, "UPO", f"numer KSeF {outcome.ksef_number}")
        elif outcome.failed:
            await self._outcome(FAILED, None, outcome.description)
        else:
            await self._outcome(REJECTED, None, f"KSeF {outcome.code}: {outcome.description}")

    async def _watch_deadline(self) -> None:
        """Until KSeF answers: a timer to the end of the deadline day, then the deadline read again from the
        announcements; moved: wait again; not known: again a day later; passed: flagged once, and return (the
        caller goes on waiting for KSeF's answer)."""
        inp = self._inp
        assert inp is not None
        self._send_by = inp.ksef_send_by
        ends_at = inp.ksef_send_by_end
        while self._ksef is None:
            wait = datetime.fromisoformat(ends_at) - workflow.now() if ends_at else DEADLINE_UNKNOWN_RECHECK
            try:
                await workflow.wait_condition(lambda: self._ksef is not None, timeout=max(wait, timedelta(seconds=1)))
                return
            except TimeoutError:
                pass
            answer = await workflow.execute_local_activity_method(
                InvoiceActivities.ksef_offline_deadline,
                OfflineDeadlineRequest(inp.invoice_id, inp.ksef_offline_mode, inp.doc_date),
                start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
                retry_policy=RETRY_FAST,
            )
            if answer.lifted:
                self._note(f"no KSeF deadline any more: {answer.lifted}")
                self._send_by = ""
                return
            if answer.send_by != self._send_by:
                self._note(f"KSeF deadline moved from {self._send_by or 'not known'} to "
                           f"{answer.send_by or 'not known yet'}" + (f" ({answer.pending})" if answer.pending else ""))
                self._send_by = answer.send_by
            ends_at = answer.ends_at
            if ends_at and workflow.now() >= datetime.fromisoformat(ends_at) and self._ksef is None:
                await self._flag_deadline_passed()
                return

    async def _flag_deadline_passed(self) -> None:
        """The deadline day ended without KSeF's answer: BusinessStatus and the query say so, the customer (its
        invoice-outcome preference) and the operator are e-mailed once (keys of this workflow's)."""
        inp = self._inp
        assert inp is not None
        self._deadline_flagged = True
        self._note(f"no answer from KSeF by the end of {self._send_by} (Europe/Warsaw), the {inp.ksef_offline_mode} "
                   f"deadline: {KSEF_DEADLINE_PASSED}, customer and operator e-mailed; still waiting for KSeF")
        publish_status(KSEF_DEADLINE_PASSED)
        workflow_id = workflow.info().workflow_id
        number = f" n. {inp.number}" if inp.number else ""
        subject = (f"Invoice{number} {inp.file_name}: not in KSeF by its {inp.ksef_offline_mode} deadline "
                   f"{self._send_by}")
        body = (f"Invoice{number} (file {inp.file_name}) of customer {inp.vat}, issued in KSeF's offline mode "
                f"{inp.ksef_offline_mode} (P_1 {inp.doc_date}), had to reach KSeF by the end of {self._send_by} "
                "(Europe/Warsaw), and KSeF has not accepted it yet.\n\n"
                "It stays queued and is sent as soon as KSeF takes it; a late sending is the taxpayer's to answer "
                "for (tryby-offline.md). If KSeF announced a failure meanwhile, the operator records it (einvoice "
                "ksef outage add): the deadline then moves.\n\n"
                f"Workflow: {workflow_id} (BusinessStatus {KSEF_DEADLINE_PASSED})\n")
        mails = [EmailRequest(idempotency_key=f"{workflow_id}/{KSEF_DEADLINE_PASSED}/customer", to=inp.customer_email,
                              subject=subject[:300], body_text=body, kind="invoice-outcome", tenant_vat=inp.vat)]
        if inp.operator_email:
            mails.append(EmailRequest(idempotency_key=f"{workflow_id}/{KSEF_DEADLINE_PASSED}/operator",
                                      to=inp.operator_email, subject=subject[:300], body_text=body,
                                      kind=KSEF_DEADLINE_PASSED))
        for mail in mails:
            await workflow.execute_local_activity_method(
                MailActivities.send_email, mail,
                start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
                retry_policy=RETRY_FAST,
            )

    # ------------------------------------------------------------ helpers
    def _note(self, what: str) -> None:
        self._history.append(f"{workflow.now().isoformat(timespec='seconds')} {what}")

    async def _wait(self, timeout: timedelta | None) -> bool:
        try:
            await workflow.wait_condition(lambda: bool(self._pending), timeout=timeout)
            return True
        except TimeoutError:
            return False

    def _next_timeout(self) -> timedelta | None:
        inp = self._inp
        assert inp is not None
        if self._state == DELIVERED and inp.pa:
            return timedelta(seconds=inp.outcome_wait_seconds)
        if self._state == NOT_DELIVERED and inp.pa:
            return timedelta(seconds=inp.transmission_wait_seconds)
        if self._state == SENT and self._silent_at is not None and not self._silence_flagged:
            return max(self._silent_at - workflow.now(), timedelta(seconds=1))
        return None

    async def _flag_silence(self) -> None:
        """No answer from the SDI in time: say so in BusinessStatus (the invoice stays sent) and e-mail the
        operator once (the e-mail's key is the workflow's); the next notification goes on as usual."""
        inp = self._inp
        assert inp is not None
        self._silence_flagged = True
        hours = inp.sdi_silence_seconds / 3600
        self._note(f"no answer from the SDI {hours:g} h after transmission: {SDI_SILENT}, operator e-mailed")
        publish_status(SDI_SILENT)
        if not inp.operator_email:
            return
        workflow_id = workflow.info().workflow_id
        body = (f"The SDI has not answered (no RC, MC nor NS) {hours:g} hours after invoice file {inp.file_name} "
                f"of customer {inp.vat} was transmitted (identificativo SdI {self._sdi_id}).\n\n"
                "The SDI owes an answer within 5 days: check the SDI channel and the SDI's service status. The "
                "invoice stays 'sent' and its workflow keeps waiting; it completes when the answer comes.\n\n"
                f"Workflow: {workflow_id} (BusinessStatus {SDI_SILENT})\n")
        await workflow.execute_local_activity_method(
            MailActivities.send_email,
            EmailRequest(idempotency_key=f"{workflow_id}/{SDI_SILENT}", to=inp.operator_email,
                         subject=f"No answer from the SDI for {inp.file_name} after {hours:g} h"[:300],
                         body_text=body, kind=SDI_SILENT),
            start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
            retry_policy=RETRY_FAST,
        )

    def _closed(self) -> bool:
        inp = self._inp
        assert inp is not None
        if self._state in (REJECTED, ACCEPTED, REFUSED, DEADLINE_PASSED, FAILED):
            return True
        if self._state in (DELIVERED, NOT_DELIVERED) and not inp.pa:
            return True
        return self._state == NOT_DELIVERED and self._closed_by_at

    def _apply_pending(self) -> str | None:
        """Apply every buffered notification; returns the detail to record (NS errors, NE text)."""
        detail: str | None = None
        pending, self._pending = self._pending, []
        for ref in pending:
            if ref.invoice_id != (self._inp.invoice_id if self._inp else ""):
                self._ignored.append(f"{ref.name} (not this invoice's)")
                continue
            if self._may_have_twin and ref.kind == "NS" and ref.errors and all(
                    e.startswith("00002") for e in ref.errors):
                # Our own retransmission refused as a duplicate file name: the first copy is in the SDI.
                self._ignored.append(f"{ref.name} (00002: the SDI already had this file)")
                continue
            if ref.sdi_id != self._sdi_id:
                if not self._may_have_twin:
                    self._ignored.append(f"{ref.name} (identificativo SdI {ref.sdi_id}, ours {self._sdi_id})")
                    continue
                self._note(f"identificativo SdI {ref.sdi_id} of the first transmission adopted "
                           f"(the answer to it was lost; {self._sdi_id} was the retransmission)")
                self._sdi_id, self._may_have_twin = ref.sdi_id, False
            new = self._transition(ref)
            self._applied.append(ref.name)
            self._note(f"{ref.kind} {ref.name}" + (f" -> {new}" if new else ""))
            if new:
                self._state = new
                if ref.kind == "NS":
                    detail = "; ".join(ref.errors) or ref.description
                elif ref.kind == "NE":
                    detail = f"{ref.esito}: {ref.description or ''}".strip()
                elif ref.kind == "MC":
                    detail = ref.description
        return detail

    def _transition(self, ref: NotificationRef) -> str | None:
        s = self._state
        if ref.kind == "NS":
            return REJECTED if s == SENT else None
        if ref.kind == "RC":
            return DELIVERED if s in (SENT, NOT_DELIVERED) else None
        if ref.kind == "MC":
            return NOT_DELIVERED if s == SENT else None
        if ref.kind == "NE":
            if s in (SENT, DELIVERED, NOT_DELIVERED):
                return ACCEPTED if ref.esito == "EC01" else REFUSED
            return None
        if ref.kind == "DT":
            return DEADLINE_PASSED if s in (SENT, DELIVERED) else None
        if ref.kind == "AT":
            self._closed_by_at = True
            return NOT_DELIVERED if s == SENT else None
        return None

    def _email(self, state: str, notification: str | None, detail: str | None) -> EmailRequest:
        inp = self._inp
        assert inp is not None
        number = f" n. {inp.number}" if inp.number else ""
        if inp.channel == CHANNEL_KSEF:
            body = f"Your invoice{number} (file {inp.file_name}) was {KSEF_SUBJECTS[state]}.\n"
            if detail:
                body += f"\nDetails: {detail}\n"
            body += f"\nState: {state}\n"
            return EmailRequest(
                idempotency_key=f"{workflow.info().workflow_id}/{state}/{notification or '-'}",
                to=inp.customer_email, subject=f"Invoice{number} {inp.file_name}: {KSEF_SUBJECTS[state]}"[:300],
                body_text=body, kind="invoice-outcome", tenant_vat=inp.vat,
            )
        body = (f"Your invoice{number} (file {inp.file_name}, identificativo SdI {self._sdi_id or '-'}) was "
                f"{SUBJECTS[state]}.\n")
        if detail:
            body += f"\nDetails: {detail}\n"
        body += f"\nState: {state}\n"
        return EmailRequest(
            idempotency_key=f"{workflow.info().workflow_id}/{state}/{notification or '-'}",
            to=inp.customer_email, subject=f"Invoice{number} {inp.file_name}: {SUBJECTS[state]}"[:300],
            body_text=body, kind="invoice-outcome", tenant_vat=inp.vat,
        )

    async def _outcome(self, state: str, notification: str | None, detail: str | None) -> None:
        inp = self._inp
        assert inp is not None
        self._state = state
        if not self._history or not self._history[-1].endswith(state):
            self._note(state)
        publish_status(state)
        # A local activity too: our database and our own SMTP relay, milliseconds away, idempotent by the
        # e-mail's key. Run in the workflow task that took in the notification, with the child's start in
        # the same completion: no activity task and no race of two workflow tasks.
        record = workflow.execute_local_activity_method(
            InvoiceActivities.apply_outcome,
            OutcomeRequest(inp.invoice_id, state, notification, detail, self._email(state, notification, detail),
                           self._sdi_id),
            start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
            retry_policy=RETRY_FAST,
        )
        if state in CONSERVED_STATES and self._closed_after(state):
            await asyncio.gather(record, hand_over_to_conservation(self._handover()) if inp.conserve else _nothing())
        else:
            await record

    def _handover(self) -> ConservationHandover:
        inp = self._inp
        assert inp is not None
        return ConservationHandover(
            "invoice", inp.invoice_id, inp.vat, inp.file_name, self._sdi_id, inp.number, inp.doc_date,
            inp.doc_type, inp.vat, inp.sender_name, inp.recipient_id, inp.recipient_name, inp.actor)

    def _closed_after(self, state: str) -> bool:
        inp = self._inp
        assert inp is not None
        if inp.channel == CHANNEL_KSEF:
            return state == ACCEPTED  # in KSeF: accepted is the end of the cycle (a rejected one is not issued)
        if state in (ACCEPTED, REFUSED, DEADLINE_PASSED):
            return True
        if state in (DELIVERED, NOT_DELIVERED):
            return not inp.pa or (state == NOT_DELIVERED and self._closed_by_at)
        return False


async def _nothing() -> None:
    return None


async def hand_over_to_conservation(handover: ConservationHandover) -> None:
    """The one hook to conservation: start its workflow as a child that outlives this one (ABANDON), with
    the id `conserve-invoice-<invoice key>` (a second start is a no-op). The keys are this workflow's own
    search attributes (the starter computed them; a workflow holds no secret)."""
    from temporalio.workflow import ParentClosePolicy

    with workflow.unsafe.imports_passed_through():
        from models.conservation_io import ConservationInput, PackageMetadata
        from workflows.conservation import ConservationWorkflow, workflow_id_for

    h = handover
    meta = PackageMetadata(
        document_number=h.number, document_date=h.doc_date, document_type=h.doc_type, sender_vat=h.sender_vat,
        sender_name=h.sender_name, recipient_id=h.recipient_id, recipient_name=h.recipient_name,
        sdi_file_name=h.file_name, sdi_id=str(h.sdi_id) if h.sdi_id is not None else None,
    )
    child = ConservationInput(h.vat, h.owner_kind, h.owner_id, meta, h.actor)
    # started without its keys (never by our starters): the parent's own id, already opaque, stands in
    document = workflow.info().typed_search_attributes.get(DOCUMENT_ID) or workflow.info().workflow_id
    try:
        await workflow.start_child_workflow(
            ConservationWorkflow.run, child, id=workflow_id_for(h.owner_kind, document),
            parent_close_policy=ParentClosePolicy.ABANDON, search_attributes=own_search_attributes("archiving"),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        workflow.logger.info("conservation of %s already started", h.owner_id)
