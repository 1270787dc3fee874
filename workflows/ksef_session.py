"""One customer's KSeF interactive session (sesja interaktywna), shared by a burst of its invoices (#14.3).

    (invoice workflows: signal-with-start `ksef_enqueue` through the `ksef_enqueue` activity)
        ──► no session open ──open (activity)──► open ──send each queued invoice (activity)──► await each
            outcome (activity: status, UPO) ──► signal it to its invoice workflow (`ksef_outcome`)
        ──► idle for KSEF_SESSION_IDLE_SECONDS, or KSEF_SESSION_MARGIN_SECONDS before KSeF's validUntil
            ──close (activity)──► nothing queued: the workflow ends (the next invoice starts it again)

Why this shape (and not a session per invoice, nor one held by the invoice workflow):
- KSeF limits how often sessions are opened and an open costs a wrapped AES key and a round trip, while a
  session takes up to 10,000 invoices for 12 hours (`sesja-interaktywna.md`, `limity/`): a burst of a
  customer's invoices belongs in one session. Something must own the session across the invoices: a workflow
  per customer (`ksef-session-<customer key>`, the opaque key of core/search_keys, no NIP in the id) is that
  owner, durable across worker restarts, and the one place that decides when to close.
- Invoice workflows reach it by **signal-with-start** (from an activity: a workflow cannot signal-with-start),
  which starts it when no run exists and otherwise signals the running one, atomically: no race between "is
  it running?" and "start it". The request carries the invoice workflow's id; the answer comes back as the
  `ksef_outcome` signal. A signal rather than an update: the answer takes as long as KSeF takes, and the
  invoice workflow waits durably for it anyway.
- The session is closed by a timer: idle for KSEF_SESSION_IDLE_SECONDS after the last send or outcome, or
  KSEF_SESSION_MARGIN_SECONDS before KSeF's validUntil, whichever comes first; a send that would fall after
  that margin closes the old session and opens a new one first. So no session is left open past its lifetime.
- Once closed with nothing queued or in flight, the run ends; a signal that arrives meanwhile is not lost
  (Temporal refuses a completion while a new signal waits, and the run goes on with it). A long-lived run
  continues as new when the history grows, carrying its queue, its in-flight invoices and its open session.
- KSeF down or unreachable for longer than an activity's EXTERNAL_TOTAL_TIMEOUT (an announced failure can
  last a week) is waited out: the open, send or await is taken again, never answered "failed" for want of an
  answer; only KSeF's refusal fails an invoice. The invoice workflow watches an offline invoice's deadline.
- No secret in the history: the session is named by KSeF's reference number; its AES key is sealed in the
  database by the open activity; the access token lives in the worker's memory (adapters/ksef_logins.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.exceptions import TimeoutError as ActivityTimeout

from workflows.common import (
    EXTERNAL_ATTEMPT_TIMEOUT,
    EXTERNAL_TOTAL_TIMEOUT,
    RETRY_EXTERNAL,
    own_search_attributes,
    publish_status,
)

with workflow.unsafe.imports_passed_through():
    from activities.ksef_channel import KsefChannelActivities
    from models.ksef_io import (
        KSEF_ENQUEUE_SIGNAL,
        KSEF_OUTCOME_SIGNAL,
        KSEF_SESSION_QUERY,
        KSEF_SESSION_WORKFLOW,
        SESSION_IDLE_CLOSED,
        SESSION_OPEN,
        KsefAwaitItem,
        KsefCloseRequest,
        KsefInFlight,
        KsefOpenRequest,
        KsefOutcome,
        KsefSendItem,
        KsefSendRequest,
        KsefSessionInput,
        KsefSessionView,
    )

# Continue as new past this many events (well below Temporal's limits; a burst is a few dozen events).
MAX_HISTORY_EVENTS = 2000
# The invoice workflows' ids answered, remembered across a continue-as-new (a repeated request is ignored).
REMEMBERED = 500
# The patch under which KSeF unreachable for a whole EXTERNAL_TOTAL_TIMEOUT is waited out, not answered "failed".
UNREACHABLE_WAITS = "ksef-unreachable-waits"
# How long the await activity may look before it says "still processing" (then the retry policy waits).
AWAIT_ATTEMPT_TIMEOUT = timedelta(seconds=60)


@workflow.defn(name=KSEF_SESSION_WORKFLOW)
class KsefSessionWorkflow:
    def __init__(self) -> None:
        self._inp: KsefSessionInput | None = None
        self._queue: list[KsefSendRequest] = []
        self._in_flight: list[KsefInFlight] = []
        self._answered: list[str] = []
        self._session: str | None = None
        self._valid_until: datetime | None = None
        self._opened = 0
        self._last_used: datetime | None = None
        self._history: list[str] = []

    @workflow.signal(name=KSEF_ENQUEUE_SIGNAL)
    def enqueue(self, req: KsefSendRequest) -> None:
        known = {r.invoice_id for r in self._queue} | {f.request.invoice_id for f in self._in_flight}
        if req.invoice_id in known or req.invoice_id in self._answered:
            return  # a repeated request (a retried enqueue activity): once is enough
        self._queue.append(req)

    @workflow.query(name=KSEF_SESSION_QUERY)
    def view(self) -> KsefSessionView:
        return KsefSessionView(self._session, self._valid_until.isoformat() if self._valid_until else None,
                               [r.invoice_id for r in self._queue], [f.request.invoice_id for f in self._in_flight],
                               self._opened, list(self._history))

    @workflow.run
    async def run(self, inp: KsefSessionInput) -> KsefSessionView:
        self._inp = inp
        self._queue = list(inp.queue) + self._queue  # carried over first, then any signal of this run
        self._in_flight = list(inp.in_flight)
        self._answered = list(inp.answered)
        self._session = inp.session_reference
        self._valid_until = datetime.fromisoformat(inp.session_valid_until) if inp.session_valid_until else None
        self._opened = inp.opened
        self._last_used = workflow.now()
        while True:
            if self._queue:
                await self._send_next()
            elif self._in_flight:
                await self._answer_next()
            elif self._session is not None:
                await self._idle()
            else:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._queue:
                    return self.view()
            if workflow.info().get_current_history_length() > MAX_HISTORY_EVENTS and not self._queue:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carried(), search_attributes=own_search_attributes(SESSION_OPEN))

    # ------------------------------------------------------------ steps
    def _note(self, what: str) -> None:
        self._history.append(f"{workflow.now().isoformat(timespec='seconds')} {what}")

    def _closing_time(self) -> datetime | None:
        inp = self._inp
        assert inp is not None
        if self._valid_until is None:
            return None
        return self._valid_until - timedelta(seconds=inp.lifetime_margin_seconds)

    async def _send_next(self) -> None:
        inp = self._inp
        assert inp is not None
        closing = self._closing_time()
        if self._session is not None and closing is not None and workflow.now() >= closing:
            await self._close("its lifetime ends")
        if self._session is None:
            try:
                await self._open()
            except ActivityError as err:  # KSeF refused the session or the login: no queued invoice can go
                if self._waits_out(err, "opening a session"):
                    self._opened -= 1  # the same open again, under the same key
                    return  # the queue stays; the loop opens again
                reason = _reason(err)
                for req in self._queue:
                    await self._answer(req, KsefOutcome(req.invoice_id, False, description=reason, failed=True))
                self._queue = []
                return
        req = self._queue.pop(0)
        assert self._session is not None
        try:
            sent = await workflow.execute_activity_method(
                KsefChannelActivities.send_invoice,
                KsefSendItem(inp.vat, self._session, req.invoice_id, req.file_id, req.offline),
                start_to_close_timeout=EXTERNAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=EXTERNAL_TOTAL_TIMEOUT,
                retry_policy=RETRY_EXTERNAL,
            )
        except ActivityError as err:  # KSeF refused the request itself (4xx): the invoice is not in KSeF
            if self._waits_out(err, f"sending {req.invoice_id}"):
                self._queue.insert(0, req)  # sent again, as a retry of the send would be
                return
            await self._answer(req, KsefOutcome(req.invoice_id, False, description=_reason(err), failed=True))
            return
        self._in_flight.append(KsefInFlight(req, self._session, sent.invoice_reference))
        self._note(f"sent {req.invoice_id} as {sent.invoice_reference}")
        self._last_used = workflow.now()

    async def _answer_next(self) -> None:
        inp = self._inp
        assert inp is not None
        item = self._in_flight[0]
        try:
            outcome = await workflow.execute_activity_method(
                KsefChannelActivities.await_invoice,
                KsefAwaitItem(inp.vat, item.session_reference, item.invoice_reference, item.request.invoice_id),
                start_to_close_timeout=AWAIT_ATTEMPT_TIMEOUT, schedule_to_close_timeout=EXTERNAL_TOTAL_TIMEOUT,
                heartbeat_timeout=timedelta(seconds=30), retry_policy=RETRY_EXTERNAL,
            )
        except ActivityError as err:
            if self._waits_out(err, f"asking for {item.request.invoice_id}'s outcome"):
                return  # still in flight: asked again
            outcome = KsefOutcome(item.request.invoice_id, False, description=_reason(err), failed=True)
        self._in_flight.pop(0)
        await self._answer(item.request, outcome)
        self._last_used = workflow.now()

    def _waits_out(self, err: ActivityError, doing: str) -> bool:
        """KSeF did not answer for a whole EXTERNAL_TOTAL_TIMEOUT (down or unreachable: no refusal came). An
        announced failure can last longer than that and an offline invoice must still go when KSeF is back
        (tryby-offline.md; the invoice workflow watches its deadline meanwhile): so the step is taken again
        rather than the invoice answered "failed". Temporal says so by the retry state TIMEOUT (the next retry would
        fall past the budget: the last attempt's error comes with it) or a timeout as the cause. A refusal (a
        non-retryable ApplicationError: retry state NON_RETRYABLE_FAILURE) still ends it."""
        timed_out = err.retry_state == RetryState.TIMEOUT or isinstance(err.cause, ActivityTimeout)
        if not timed_out or not workflow.patched(UNREACHABLE_WAITS):
            return False
        self._note(f"KSeF unreachable for {EXTERNAL_TOTAL_TIMEOUT.days} days while {doing}: trying again")
        return True

    async def _answer(self, req: KsefSendRequest, outcome: KsefOutcome) -> None:
        said = f"accepted {outcome.ksef_number}" if outcome.accepted else f"refused {outcome.code}"
        self._note(f"{req.invoice_id} {said}")
        self._answered = [*self._answered, req.invoice_id][-REMEMBERED:]
        try:
            await workflow.get_external_workflow_handle(req.reply_to).signal(KSEF_OUTCOME_SIGNAL, outcome)
        except ApplicationError as err:  # the invoice workflow is gone (terminated): nothing to tell
            workflow.logger.warning("could not tell %s: %s", req.reply_to, err)

    async def _idle(self) -> None:
        """Wait for more invoices, at most until the session is idle too long or near its lifetime's end."""
        inp = self._inp
        assert inp is not None and self._last_used is not None
        idle_end = self._last_used + timedelta(seconds=inp.idle_seconds)
        closing = self._closing_time()
        until = min(idle_end, closing) if closing is not None else idle_end
        wait = until - workflow.now()
        if wait > timedelta(0):
            try:
                await workflow.wait_condition(lambda: bool(self._queue), timeout=wait)
                return  # more to send: in this session if it has time left (_send_next decides)
            except TimeoutError:
                pass
        await self._close("idle" if closing is None or idle_end <= closing else "its lifetime ends")

    async def _open(self) -> None:
        inp = self._inp
        assert inp is not None
        self._opened += 1
        opened = await workflow.execute_activity_method(
            KsefChannelActivities.open_session,
            KsefOpenRequest(inp.vat, f"{workflow.info().workflow_id}/{self._opened}"),
            start_to_close_timeout=EXTERNAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=EXTERNAL_TOTAL_TIMEOUT,
            retry_policy=RETRY_EXTERNAL,
        )
        self._session, self._valid_until = opened.reference_number, datetime.fromisoformat(opened.valid_until)
        self._note(f"session {opened.reference_number} opened, valid until {opened.valid_until}")
        publish_status(SESSION_OPEN)

    async def _close(self, why: str) -> None:
        inp = self._inp
        assert inp is not None and self._session is not None
        try:
            await workflow.execute_activity_method(
                KsefChannelActivities.close_session, KsefCloseRequest(inp.vat, self._session),
                start_to_close_timeout=EXTERNAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=EXTERNAL_TOTAL_TIMEOUT,
                retry_policy=RETRY_EXTERNAL,
            )
            self._note(f"session {self._session} closed: {why}")
        except ActivityError as err:  # KSeF refused to close it: it ends at its validUntil on its own
            self._note(f"session {self._session} not closed by KSeF ({_reason(err)}): it lapses at its validUntil")
        self._session, self._valid_until = None, None
        publish_status(SESSION_IDLE_CLOSED)

    def _carried(self) -> KsefSessionInput:
        inp = self._inp
        assert inp is not None
        return KsefSessionInput(inp.vat, inp.idle_seconds, inp.lifetime_margin_seconds, list(self._queue),
                                list(self._in_flight), self._session,
                                self._valid_until.isoformat() if self._valid_until else None, self._opened,
                                list(self._answered))


def _reason(err: ActivityError) -> str:
    cause = err.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or err)
