"""One certificate, from request to its end: authorization, then expiry reminders, then expired.

Reads like PRODUCT.md part 3:

    ordered (zlecony do autoryzacji) ──submit──► accepted (zaakceptowany w trakcie autoryzacji)
        ──authority decides──► active (ATTIVATO)  | error (Uwierzytelnianie zakończone niepowodzeniem) ✉
    active ──continue-as-new──► sleep to each reminder (30/7/1 days before expiry) ✉ ──► expired ✉
    active ──revoke update (reason)──► revoked ✉        any state ──delete update──► (row removed), ends

An uploaded certificate starts in `added` at the watch phase. The authority may be slow or down: while
it deliberates the workflow asks again on durable timers, an unreachable authority is retried
(RETRY_EXTERNAL), both within EXTERNAL_TOTAL_TIMEOUT; a refusal is final. Issue and each reminder
continue-as-new, so a run's history stays a few dozen events. The state is answered by the `status` query,
kept in the database and published as BusinessStatus.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.common import (
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
    from activities.certificates import REFUSED, CertificateActivities
    from activities.mail import MailActivities
    from domain.certificates import ACCEPTED, ACTIVE, ERROR, EXPIRED, ORDERED, REVOKED, check_reason
    from models.certificates_io import (
        AwaitDecision,
        CertificateStatus,
        CertificateWorkflowInput,
        ComposeEmail,
        DeleteInput,
        DeleteRequest,
        RecordIssued,
        RecordState,
        RevokeInput,
        RevokeRequest,
        SubmitInput,
    )
    from models.mail import EmailRequest  # decoded here (compose → send): its module must be in the sandbox

DELETED = "deleted"
# A deliberating authority is asked again after 30 s, then ever less often, at least hourly.
FIRST_POLL = timedelta(seconds=30)
LAST_POLL = timedelta(hours=1)  # BusinessStatus of a deleted certificate's closed workflow


@workflow.defn(name="CertificateAuthorization")
class CertificateAuthorizationWorkflow:
    @workflow.init
    def __init__(self, inp: CertificateWorkflowInput) -> None:
        self._inp = inp
        self._status = CertificateStatus(
            operation_id=inp.operation_id, vat=inp.vat, kind=inp.kind, state=inp.state, serial=inp.serial,
            expires_at=inp.expires_at, reminders_sent=list(inp.reminders_sent),
        )
        self._ending: str | None = None  # a revocation or deletion in flight
        self._ended = False  # revoked or deleted: nothing left to do

    @workflow.run
    async def run(self, inp: CertificateWorkflowInput) -> CertificateStatus:
        if inp.phase == "authorize":
            await self._authorize()
        else:
            await self._watch()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status

    # -- phases ------------------------------------------------------------------------------------

    async def _authorize(self) -> None:
        assert self._inp.csr_pem is not None
        op = self._inp.operation_id
        try:
            reference = await workflow.execute_activity_method(
                CertificateActivities.submit, SubmitInput(op, self._inp.csr_pem),
                start_to_close_timeout=EXTERNAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=EXTERNAL_TOTAL_TIMEOUT,
                retry_policy=RETRY_EXTERNAL)
        except ActivityError as err:
            if await self._stopped():
                return
            await self._fail(_cause(err))
            return
        if await self._stopped():
            return
        await self._set_state(ACCEPTED)
        deadline = workflow.now() + EXTERNAL_TOTAL_TIMEOUT
        interval = FIRST_POLL
        while True:
            collect = workflow.start_activity_method(
                CertificateActivities.collect, RecordIssued(op, reference),
                start_to_close_timeout=EXTERNAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=EXTERNAL_TOTAL_TIMEOUT,
                retry_policy=RETRY_EXTERNAL)
            await workflow.wait_condition(lambda c=collect: c.done() or self._ending is not None)  # type: ignore[misc]
            if not collect.done():  # deleted while the authority is asked
                collect.cancel()
                try:
                    await collect
                except (ActivityError, asyncio.CancelledError):
                    pass
                await self._stopped()
                return
            try:
                decided = collect.result()
            except ActivityError as err:
                if await self._stopped():
                    return
                await self._fail(_cause(err))
                return
            if decided is not None:
                issued = decided
                break
            if workflow.now() >= deadline:
                await self._fail(f"the authority did not decide within {EXTERNAL_TOTAL_TIMEOUT.days} days")
                return
            if await self._sleep_until(workflow.now() + interval):  # deliberating: ask again later
                return
            interval = min(interval * 2, LAST_POLL)
        self._status.serial, self._status.expires_at = issued.serial, issued.not_after
        self._status.state = ACTIVE  # the collect activity recorded it with the certificate
        publish_status(ACTIVE)
        await self._notify("cert-issued", "issued")
        if await self._stopped():
            return
        await self._continue_as_new()

    async def _watch(self) -> None:
        assert self._status.expires_at is not None
        expires = datetime.fromisoformat(self._status.expires_at)
        for days in sorted(self._inp.reminder_days, reverse=True):
            if days in self._status.reminders_sent:
                continue
            at = expires - timedelta(days=days)
            if at <= workflow.now():  # e.g. uploaded with less time left: that reminder is past
                continue
            if await self._sleep_until(at):
                return
            await self._notify("cert-expiry-reminder", f"reminder-{days}", days_left=days)
            self._status.reminders_sent.append(days)
            if await self._stopped():
                return
            await self._continue_as_new()
        if await self._sleep_until(expires):
            return
        self._status.state = EXPIRED
        publish_status(EXPIRED)
        await workflow.execute_activity_method(
            CertificateActivities.mark_expired, DeleteInput(self._inp.operation_id),
            start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
            retry_policy=RETRY_FAST)
        await self._notify("cert-expired", "expired")

    # -- handlers ----------------------------------------------------------------------------------

    @workflow.query
    def status(self) -> CertificateStatus:
        return self._status

    @workflow.update
    async def await_decision(self, _: AwaitDecision) -> CertificateStatus:
        """Answers once the request is decided (active or error), or the certificate is gone."""
        await workflow.wait_condition(lambda: self._status.state not in (ORDERED, ACCEPTED) or self._ended)
        return self._status

    @workflow.update
    async def revoke(self, req: RevokeRequest) -> CertificateStatus:
        self._ending = "revoke"
        try:
            await workflow.execute_activity_method(
                CertificateActivities.revoke,
                RevokeInput(self._inp.operation_id, self._status.serial or "", req.reason, req.actor),
                start_to_close_timeout=EXTERNAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=EXTERNAL_TOTAL_TIMEOUT,
                retry_policy=RETRY_EXTERNAL)
        except ActivityError as err:
            self._ending = None  # the certificate stays active
            raise ApplicationError(f"revocation failed: {_cause(err)}", non_retryable=True) from None
        self._status.state, self._status.revocation_reason = REVOKED, req.reason
        publish_status(REVOKED)
        self._ended = True
        await self._notify("cert-revoked", "revoked", reason=req.reason)
        return self._status

    @revoke.validator
    def _validate_revoke(self, req: RevokeRequest) -> None:
        if self._ended or self._ending is not None or self._status.state != ACTIVE:
            raise ValueError(
                f"only an active certificate can be revoked; {self._inp.operation_id} is {self._status.state}"
                + (" (a revocation or deletion is in progress)" if self._ending else ""))
        check_reason(req.reason)  # InvalidInput is a ValueError: refused before it enters history

    @workflow.update
    async def delete(self, req: DeleteRequest) -> CertificateStatus:
        self._ending = "delete"
        await workflow.execute_activity_method(
            CertificateActivities.delete_record, DeleteInput(self._inp.operation_id),
            start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
            retry_policy=RETRY_FAST)
        self._status.state = DELETED
        publish_status(DELETED)
        self._ended = True
        return self._status

    @delete.validator
    def _validate_delete(self, req: DeleteRequest) -> None:
        if self._ended or self._ending == "delete":
            raise ValueError(f"certificate {self._inp.operation_id} is already {self._status.state}")

    # -- helpers -----------------------------------------------------------------------------------

    async def _stopped(self) -> bool:
        """Let a revocation/deletion in flight finish; True when it ended the certificate."""
        await workflow.wait_condition(lambda: self._ending is None or self._ended)
        return self._ended

    async def _sleep_until(self, at: datetime) -> bool:
        """Durable sleep, cut short by a revocation or deletion; True when the certificate ended."""
        delay = at - workflow.now()
        if delay > timedelta(0):
            try:
                await workflow.wait_condition(lambda: self._ended, timeout=delay)
            except TimeoutError:
                pass
        return await self._stopped()

    async def _set_state(self, state: str, error: str | None = None) -> None:
        publish_status(state)
        await workflow.execute_activity_method(
            CertificateActivities.record_state, RecordState(self._inp.operation_id, state, error),
            start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
            retry_policy=RETRY_FAST)
        # The query and `await_decision` show a state only once it is recorded: a caller that reads the
        # certificate's row right after the update answered (the starter's wait) reads the same state.
        self._status.state = state
        if error is not None:
            self._status.error = error

    async def _fail(self, message: str) -> None:
        await self._set_state(ERROR, message)
        await self._notify("cert-authorization-failed", "authorization-failed", error=message)

    async def _notify(self, kind: str, step: str, days_left: int | None = None, error: str | None = None,
                      reason: str | None = None) -> None:
        key = f"{workflow.info().workflow_id}:{step}"
        req: EmailRequest = await workflow.execute_activity_method(
            CertificateActivities.compose_email,
            ComposeEmail(self._inp.operation_id, self._inp.vat, kind, days_left, error, reason, key),
            start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
            retry_policy=RETRY_FAST)
        if not req.to:  # deleted meanwhile: nobody to tell
            return
        await workflow.execute_activity_method(
            MailActivities.send_email, req,
            start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT, schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT,
            retry_policy=RETRY_FAST)

    async def _continue_as_new(self) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        s = self._status
        workflow.continue_as_new(
            CertificateWorkflowInput(
                operation_id=s.operation_id, vat=s.vat, kind=s.kind, actor=self._inp.actor, csr_pem=None,
                phase="watch", state=s.state, serial=s.serial, expires_at=s.expires_at,
                reminder_days=list(self._inp.reminder_days), reminders_sent=list(s.reminders_sent)),
            search_attributes=own_search_attributes(s.state),
        )


def _cause(err: ActivityError) -> str:
    """The authority's own words for a failed activity (a refusal, or a timeout after days of trying)."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        prefix = "" if cause.type == REFUSED else f"{cause.type}: "
        return f"{prefix}{cause.message}"
    return str(cause or err)
