"""A received invoice (passive cycle), from the SDI's RicezioneFatture call to the customer's outcome; or
downloaded from KSeF (#14.4: `channel` ksef, stored and verified by the download's activity; no outcome to give
in KSeF, so it closes at once, as a B2B invoice does).

    received-from-sdi (verified and stored by the endpoint) ──e-mail invoice-received──►
      B2B (FPR12): closed
      PA (FPA12): waits up to 15 days for the customer's outcome (update `send_outcome`, EC01/EC02) ──
        NotificaEsito to the SDI──► accepted | refused ;  no outcome in time ──► deadline-passed (DT)
    then the invoice and its files are handed over to conservation.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

from workflows.common import (
    EXTERNAL_ATTEMPT_TIMEOUT,
    EXTERNAL_TOTAL_TIMEOUT,
    LOCAL_ATTEMPT_TIMEOUT,
    LOCAL_TOTAL_TIMEOUT,
    RETRY_EXTERNAL,
    RETRY_FAST,
    publish_status,
)

with workflow.unsafe.imports_passed_through():
    from activities.invoices import InvoiceActivities
    from activities.sdi_channel import SdiChannelActivities
    from models.invoices_io import (
        ACCEPTED,
        DEADLINE_PASSED,
        INBOX,
        KSEF,
        OUTCOME_UPDATE,
        REFUSED,
        STATUS_QUERY,
        ConservationHandover,
        CustomerOutcome,
        InvoiceReceiveInput,
        InvoiceStatusView,
        OutcomeRequest,
        SendOutcomeRequest,
    )
    from models.mail import EmailRequest
    from workflows.invoice_send import hand_over_to_conservation


def workflow_id_for(customer_key: str, sdi_id: int) -> str:
    """`invoice-in-<customer key>-<identificativo SdI>` (the key, never the VAT number: core/search_keys)."""
    return f"invoice-in-{customer_key}-{sdi_id}"

@workflow.defn(name="InvoiceReceiveWorkflow")
class InvoiceReceiveWorkflow:
    def __init__(self) -> None:
        self._inp: InvoiceReceiveInput | None = None
        self._state = INBOX
        self._outcome: CustomerOutcome | None = None
        self._history: list[str] = []

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> InvoiceStatusView:
        inp = self._inp
        return InvoiceStatusView(inp.invoice_id if inp else "", inp.file_name if inp else "", self._state,
                                 inp.sdi_id if inp else None, [], [], list(self._history))

    @workflow.update(name=OUTCOME_UPDATE)
    async def send_outcome(self, outcome: CustomerOutcome) -> str:
        self._outcome = outcome
        await workflow.wait_condition(lambda: self._state in (ACCEPTED, REFUSED))
        return self._state

    @send_outcome.validator
    def _validate_outcome(self, outcome: CustomerOutcome) -> None:
        if self._inp is None or not self._inp.pa:
            raise ValueError("only an invoice to a public administration takes an outcome (EC01/EC02)")
        if outcome.esito not in ("EC01", "EC02"):
            raise ValueError(f"esito must be EC01 (accepted) or EC02 (refused), got {outcome.esito!r}")
        if self._outcome is not None or self._state != INBOX:
            raise ValueError(f"the outcome was already given or the invoice is closed (state {self._state})")

    def _note(self, what: str) -> None:
        self._history.append(f"{workflow.now().isoformat(timespec='seconds')} {what}")

    async def _record(self, state: str, email: EmailRequest | None, detail: str | None = None) -> None:
        inp = self._inp
        assert inp is not None
        await workflow.execute_activity_method(
            InvoiceActivities.apply_outcome, OutcomeRequest(inp.invoice_id, state, None, detail, email, inp.sdi_id),
            start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
            retry_policy=RETRY_FAST,
        )

    @workflow.run
    async def run(self, inp: InvoiceReceiveInput) -> InvoiceStatusView:
        self._inp = inp
        self._note(INBOX)
        number = f" n. {inp.number}" if inp.number else ""
        if inp.channel == KSEF:
            body = f"You received invoice{number} from {inp.sender_name} in KSeF (KSeF number {inp.ksef_number}).\n"
        else:
            body = (f"You received invoice{number} from {inp.sender_name} (file {inp.file_name}, identificativo "
                    f"SdI {inp.sdi_id}).\n")
        if inp.pa:
            body += "\nAs a public administration you may accept (EC01) or refuse (EC02) it within 15 days.\n"
        email = EmailRequest(idempotency_key=f"{workflow.info().workflow_id}/received", to=inp.customer_email,
                             subject=f"Invoice{number} received from {inp.sender_name}"[:300], body_text=body,
                             kind="invoice-received", tenant_vat=inp.vat)
        await self._record(INBOX, email)
        if inp.pa:
            try:
                await workflow.wait_condition(lambda: self._outcome is not None,
                                              timeout=timedelta(seconds=inp.outcome_wait_seconds))
            except TimeoutError:
                self._state = DEADLINE_PASSED
                self._note(DEADLINE_PASSED)
                publish_status(DEADLINE_PASSED)
                await self._record(DEADLINE_PASSED, None, "no outcome given within 15 days (decorrenza termini)")
            if self._outcome is not None:
                assert inp.sdi_id is not None  # a PA outcome only for an invoice the SDI delivered
                outcome = self._outcome
                await workflow.execute_activity_method(
                    SdiChannelActivities.send_outcome,
                    SendOutcomeRequest(inp.invoice_id, inp.sdi_id, inp.file_name, outcome.esito, outcome.description,
                                       inp.number or None, int(inp.doc_date[:4]) if inp.doc_date else None),
                    start_to_close_timeout=EXTERNAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=EXTERNAL_TOTAL_TIMEOUT,
                    retry_policy=RETRY_EXTERNAL,
                )
                state = ACCEPTED if outcome.esito == "EC01" else REFUSED
                await self._record(state, None, f"{outcome.esito}: {outcome.description or ''}".strip())
                self._note(state)
                publish_status(state)
                self._state = state
        if inp.conserve:
            await hand_over_to_conservation(ConservationHandover(
                "invoice", inp.invoice_id, inp.vat, inp.file_name, inp.sdi_id, inp.number, inp.doc_date, inp.doc_type,
                inp.sender_vat, inp.sender_name, inp.recipient_id, inp.recipient_name, inp.channel))
        await asyncio.sleep(0)  # let a finished update handler return before the run does
        return self.status()
