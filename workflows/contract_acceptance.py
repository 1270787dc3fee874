"""Contract acceptance: one workflow per customer's order, id `contract-<vat>`.

    awaiting documentation (attesa documentazione)
        │ the contract and a personal link e-mailed to the customer's PEC
        │ reminders after 3, 7, 14 days (configurable)        ◄── resend (update, only while awaiting,
        │                                                         capped per order and per hour)
        ├── accept (update from the acceptance page) ──► accepted: customer enabled, partner and
        │                                                 conservation manager e-mailed
        ├── cancel (update) ──► cancelled: the amount recorded as refunded
        └── deadline (30 days, configurable) ──► expired: the partner e-mailed

Every step is in the order's history: the `contract_events` table, the `state` query, and the
BusinessStatus search attribute.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.common import (
    DOCUMENT_ID,
    LOCAL_ATTEMPT_TIMEOUT,
    LOCAL_TOTAL_TIMEOUT,
    RETRY_FAST,
    publish_status,
)

with workflow.unsafe.imports_passed_through():
    from activities.contracts import ContractActivities
    from models.contracts_io import (
        ACCEPTED,
        ACCEPTING,
        AWAITING,
        CANCELLED,
        CANCELLING,
        EXPIRED,
        PURPOSE_INVITATION,
        PURPOSE_REMINDER,
        PURPOSE_RESEND,
        WORKFLOW_NAME,
        AcceptRequest,
        AcceptResult,
        CancelOrder,
        CancelRequest,
        CancelResult,
        ContractResult,
        ContractStart,
        ContractState,
        HistoryEntry,
        InvitationRequest,
        InvitationSent,
        OpenOrder,
        OrderStep,
        ResendRequest,
        ResendResult,
    )

_BUSY = (ACCEPTING, CANCELLING)
_RESEND_WINDOW = timedelta(hours=1)  # the cap per hour is over any hour, not the clock's


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


A = TypeVar("A")  # an activity's input
R = TypeVar("R")  # and its result


@workflow.defn(name=WORKFLOW_NAME)
class ContractAcceptanceWorkflow:
    @workflow.init
    def __init__(self, inp: ContractStart) -> None:
        self.vat_number = inp.vat_number
        self.order_id = ""
        self.status = AWAITING
        self.deadline: datetime | None = None
        self.invitations_sent = 0  # contract e-mails gone (the first and each resend)
        self._invitations_numbered = 0  # numbers handed out, e-mails possibly still in flight
        self.reminders_sent = 0
        self.history: list[HistoryEntry] = []
        # When each resend was asked for (taken when it is accepted, so requests at once count): bounded by
        # the cap per order, which keeps the history and the customer's PEC box from growing without end.
        self._resends: list[datetime] = []
        self._resend_max_per_order = inp.resend_max_per_order
        self._resend_max_per_hour = inp.resend_max_per_hour

    # ---- the order's life -------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: ContractStart) -> ContractResult:
        started = workflow.now()
        self.deadline = started + timedelta(days=inp.expiry_days)
        info = workflow.info()
        order = await self._act(ContractActivities.open_order, OpenOrder(
            inp.vat_number, info.workflow_id, info.run_id, inp.amount_cents, self.deadline, inp.requested_by))
        self.order_id = order.order_id
        workflow.upsert_search_attributes([DOCUMENT_ID.value_set(order.order_id)])
        self._step(AWAITING, f"order {order.order_id} opened by {inp.requested_by}: awaiting documentation "
                             "(attesa documentazione)")
        await self._send_link(PURPOSE_INVITATION)

        reminders = [started + timedelta(days=d) for d in inp.reminder_days]
        while True:
            await workflow.wait_condition(lambda: self.status not in _BUSY)
            if self.status != AWAITING:
                break
            due = reminders[self.reminders_sent] if self.reminders_sent < len(reminders) else self.deadline
            wait = due - workflow.now()
            if wait > timedelta(0):
                try:
                    await workflow.wait_condition(lambda: self.status != AWAITING, timeout=wait)
                    continue  # accepting or cancelling: see how it ends
                except TimeoutError:
                    pass
            if self.status != AWAITING:
                continue
            if self.reminders_sent < len(reminders):
                self.reminders_sent += 1
                await self._send_link(PURPOSE_REMINDER, self.reminders_sent)
            else:
                await self._expire()

        if self.status == ACCEPTED:
            await self._act(ContractActivities.notify_activation, OrderStep(self.order_id, "activation"))
            self._step("activated", "activation e-mailed to the partner; access e-mailed to the conservation "
                                    "manager (responsabile della conservazione)")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ContractResult(self.order_id, self.status)

    async def _expire(self) -> None:
        self._set(EXPIRED)
        await self._act(ContractActivities.expire_order, OrderStep(self.order_id, "expired"))
        self._step(EXPIRED, "no acceptance by the deadline; the partner was e-mailed")

    async def _send_link(self, purpose: str, sequence: int | None = None) -> tuple[int, InvitationSent]:
        """A reminder carries its number; a contract e-mail takes the next one now, before anything is awaited,
        so requests that overlap (a resend while the first e-mail is going out, two resends at once) never
        share a number, which is also the e-mail's idempotency key."""
        assert self.deadline is not None
        if sequence is None:
            self._invitations_numbered += 1
            sequence = self._invitations_numbered
        sent = await self._act(ContractActivities.send_invitation, InvitationRequest(
            self.order_id, purpose, sequence, workflow.uuid4().hex, self.deadline))
        if purpose == PURPOSE_REMINDER:
            self._step("reminder-sent", f"reminder {sequence} to {sent.to} ({sent.status})")
        else:
            self.invitations_sent += 1
            what = "contract and acceptance link" + (" sent again" if purpose == PURPOSE_RESEND else "")
            self._step(f"{purpose}-sent", f"{what} to {sent.to} ({sent.status})")
        return sequence, sent

    # ---- requests while awaiting -----------------------------------------------------------------------

    def _only_while_awaiting(self, action: str) -> None:
        if not self.order_id:
            raise ApplicationError(f"the order is still being opened; try to {action} again in a moment",
                                   type="NotReady")
        if self.status != AWAITING:
            raise ApplicationError(
                f"cannot {action}: order {self.order_id} is {self.status}, not awaiting documentation "
                "(attesa documentazione)", type="WrongState")

    @workflow.update
    async def resend(self, req: ResendRequest) -> ResendResult:
        """The contract e-mail again, with a new link (earlier links stay valid until accepted)."""
        self._resends.append(workflow.now())  # before anything is awaited: the next validator counts it
        number, sent = await self._send_link(PURPOSE_RESEND)
        return ResendResult(self.order_id, number, sent.to)

    @resend.validator
    def _validate_resend(self, req: ResendRequest) -> None:
        self._only_while_awaiting("resend the contract e-mail")
        self._check_resend_caps()

    def _check_resend_caps(self) -> None:
        """Refused in the validator: nothing is sent and nothing enters the history. The error's detail is the
        number of seconds until the next resend is allowed (None: never again for this order)."""
        cap = self._resend_max_per_order
        if len(self._resends) >= cap:
            raise ApplicationError(
                f"cannot resend the contract e-mail: it was already sent again {_times(len(self._resends))} for order "
                f"{self.order_id}, the most allowed per order (CONTRACT_RESEND_MAX_PER_ORDER={cap}); the "
                "reminders still go out, or cancel the order and open a new one", None, type="ResendLimit")
        now = workflow.now()
        recent = [t for t in self._resends if t > now - _RESEND_WINDOW]
        cap = self._resend_max_per_hour
        if len(recent) >= cap:
            next_at = recent[len(recent) - cap] + _RESEND_WINDOW
            wait = math.ceil((next_at - now).total_seconds())
            raise ApplicationError(
                f"cannot resend the contract e-mail: it was sent again {_times(len(recent))} in the last hour for "
                f"order {self.order_id}, the most allowed per hour (CONTRACT_RESEND_MAX_PER_HOUR={cap}); the next "
                f"resend is allowed from {next_at.isoformat(timespec='seconds')} (in {math.ceil(wait / 60)} min)",
                wait, type="ResendLimit")

    @workflow.update
    async def cancel(self, req: CancelRequest) -> CancelResult:
        """Cancel the activation: the amount is recorded as refunded (riaccreditato)."""
        self._set(CANCELLING)
        try:
            result = await self._act(ContractActivities.cancel_order,
                                     CancelOrder(self.order_id, req.reason, req.requested_by))
        except Exception:
            self._set(AWAITING)
            raise
        self._set(CANCELLED)
        self._step(CANCELLED, f"cancelled by {req.requested_by}" + (f": {req.reason}" if req.reason else ""))
        self._step("refunded", f"{result.refunded_cents / 100:.2f} EUR refunded")
        return result

    @cancel.validator
    def _validate_cancel(self, req: CancelRequest) -> None:
        self._only_while_awaiting("cancel the activation")

    @workflow.update
    async def accept(self, req: AcceptRequest) -> AcceptResult:
        """From the acceptance page. The activity marks the link's nonce used, accepts the order and enables
        the customer in one transaction; a refusal (link reused or expired) leaves the order awaiting."""
        self._set(ACCEPTING)
        try:
            result = await self._act(ContractActivities.accept_order, req)
        except Exception:
            self._set(AWAITING)
            raise
        self._set(ACCEPTED)
        self._step(ACCEPTED, f"contract accepted from the acceptance link; customer {self.vat_number} enabled")
        return result

    @accept.validator
    def _validate_accept(self, req: AcceptRequest) -> None:
        self._only_while_awaiting("accept the contract")
        if req.order_id != self.order_id:
            raise ApplicationError(f"this link is for order {req.order_id}, not {self.order_id}",
                                   type="WrongOrder")

    @workflow.query
    def state(self) -> ContractState:
        return ContractState(self.order_id, self.vat_number, self.status, self.deadline, self.invitations_sent,
                             self.reminders_sent, list(self.history))

    # ---- helpers ----------------------------------------------------------------------------------------

    def _set(self, status: str) -> None:
        self.status = status
        publish_status(status)

    def _step(self, step: str, detail: str) -> None:
        self.history.append(HistoryEntry(workflow.now(), step, detail))

    async def _act(self, method: Callable[[Any, A], R], arg: A) -> R:
        return await workflow.execute_activity_method(
            method, arg, start_to_close_timeout=LOCAL_ATTEMPT_TIMEOUT,
            schedule_to_close_timeout=LOCAL_TOTAL_TIMEOUT, retry_policy=RETRY_FAST)
