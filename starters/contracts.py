"""Contract orders from Python: start, status, resend, cancel, and accept from a link.

Each function of the intermediary's and the customer's side takes the acting user (`as_user`) and asks the
policy first (`starters.acting`); the order records the user as `requested_by`. The link functions act for
no user: the signed single-use link is the credential. Each takes an optional Temporal `Client` (tests hand
theirs in). Refusals are domain errors:
bad input `InvalidInput`, a wrong state `Conflict`, nothing there `NotFound`; a link that cannot be used
`TokenInvalid` (forged or expired) or `LinkRefused` (reused, accepted, cancelled, expired order).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, FailureError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from core.db import session_scope
from core.search_keys import SearchKeys
from core.settings import Settings
from core.temporal import RPC_TIMEOUT, connect
from domain.contracts import parse_amount, parse_schedule
from domain.errors import Conflict, InvalidInput, RateLimited
from domain.identifiers import parse_vat_number
from domain.policy import Principal, may
from domain.tokens import TokenClaims, read_token
from models import contracts as orders
from models.contracts_io import (
    ACCEPTED,
    ACCEPTING,
    AWAITING,
    CANCELLED,
    CANCELLING,
    EXPIRED,
    AcceptRequest,
    AcceptResult,
    CancelRequest,
    CancelResult,
    ContractStart,
    ContractState,
    ResendRequest,
    ResendResult,
    workflow_id_for,
)
from models.tenant import get_tenant
from starters.acting import STARTER, acting
from starters.updates import update_wait
from workflows.common import BUSINESS_STATUS, initial_search_attributes
from workflows.contract_acceptance import ContractAcceptanceWorkflow

ORDER_STATES = (AWAITING, ACCEPTING, CANCELLING, ACCEPTED, CANCELLED, EXPIRED)


@dataclass(frozen=True)
class Started:
    vat_number: str
    workflow_id: str
    run_id: str
    status: str

    def to_json(self) -> dict[str, object]:
        return {"vat_number": self.vat_number, "workflow_id": self.workflow_id, "run_id": self.run_id,
                "status": self.status}


async def _client(settings: Settings, client: Client | None) -> Client:
    return client or await connect(settings)


def _db(settings: Settings, work: Any, *args: Any) -> Any:
    with session_scope(settings.database_url) as session:
        return work(session, *args)


async def _in_db(settings: Settings, work: Any, *args: Any) -> Any:
    return await asyncio.to_thread(_db, settings, work, *args)


def _refusal(err: BaseException) -> ApplicationError | None:
    """The business refusal inside an update failure (validator, or an activity of the handler)."""
    current: BaseException | None = err
    while current is not None:
        if isinstance(current, ApplicationError):
            return current
        current = current.cause if isinstance(current, FailureError) else current.__cause__
    return None


async def start_contract(settings: Settings, vat: str, amount: str | int = "0", client: Client | None = None, *,
                         as_user: Principal, surface: str = STARTER) -> Started:
    """Open an order for the customer: the contract e-mail goes out at once. One open order per customer."""
    vat_number = str(parse_vat_number(vat))
    with acting(settings, as_user, "contract.start", f"contract order for {vat_number}", surface) as act:
        act.check(vat_number)
        return await _start(settings, vat_number, amount, act.user.label, client)


async def _start(settings: Settings, vat_number: str, amount: str | int, requested_by: str,
                 client: Client | None) -> Started:
    amount_cents = parse_amount(amount)
    days, expiry = parse_schedule(settings.contract_reminder_days, settings.contract_expiry_days)
    tenant = await _in_db(settings, get_tenant, vat_number)
    if tenant.enabled:
        raise Conflict(f"customer {vat_number} is already enabled: its contract was accepted")
    client = await _client(settings, client)
    keys = SearchKeys(settings)
    workflow_id = workflow_id_for(keys.customer(vat_number))
    try:
        handle = await client.start_workflow(
            ContractAcceptanceWorkflow.run,
            ContractStart(vat_number, amount_cents, days, expiry, requested_by,
                          settings.contract_resend_max_per_order, settings.contract_resend_max_per_hour),
            id=workflow_id,
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=initial_search_attributes(keys.customer(vat_number), workflow_id, AWAITING),
            rpc_timeout=RPC_TIMEOUT,
        )
    except WorkflowAlreadyStartedError as err:
        raise Conflict(f"customer {vat_number} already has an order awaiting acceptance ({workflow_id}); "
                       "resend or cancel it") from err
    return Started(vat_number, workflow_id, handle.result_run_id or "", AWAITING)


async def contract_status(settings: Settings, vat: str, client: Client | None = None, *, as_user: Principal,
                          surface: str = STARTER) -> dict[str, Any]:
    """The customer's newest order with its whole history, and its workflow's state in Temporal."""
    vat_number = str(parse_vat_number(vat))
    with acting(settings, as_user, "contract.read", f"contract of {vat_number}", surface) as act:
        act.check(vat_number)
        return await _status(settings, vat_number, client)


async def _status(settings: Settings, vat_number: str, client: Client | None) -> dict[str, Any]:
    view: orders.OrderView = await _in_db(settings, orders.latest_order, vat_number)
    data = view.to_json()
    workflow: dict[str, Any] = {"id": view.workflow_id, "run_id": view.run_id}
    try:
        client = await _client(settings, client)
        desc = await client.get_workflow_handle(view.workflow_id, run_id=view.run_id).describe(rpc_timeout=RPC_TIMEOUT)
        workflow["status"] = desc.status.name if desc.status else None
        workflow["business_status"] = desc.typed_search_attributes.get(BUSINESS_STATUS)
    except (RPCError, RuntimeError, OSError) as err:  # Temporal down or history gone: the DB still answers
        workflow["status"] = None
        workflow["error"] = str(err)
    data["workflow"] = workflow
    return data


def list_contract_orders(settings: Settings, vat: str, *, as_user: Principal,
                         surface: str = STARTER) -> list[orders.OrderView]:
    """The customer's orders, newest first, with their histories (the database's record; no Temporal call)."""
    with acting(settings, as_user, "contract.read", f"contract orders of {vat[:20]}", surface) as act:
        vat_number = str(parse_vat_number(vat))
        act.check(vat_number)
        return list(_db(settings, orders.orders_of, vat_number))


def all_contract_orders(settings: Settings, status: str | None = None, *, as_user: Principal,
                        surface: str = STARTER) -> list[orders.OrderView]:
    """The newest orders of every customer whose orders the user may read (an operator: all), optionally in one
    state."""
    if status is not None and status not in ORDER_STATES:
        raise InvalidInput.one("status", f"unknown order state {status!r}; one of: {', '.join(ORDER_STATES)}")
    with acting(settings, as_user, "contract.list", f"contract orders {status or 'all'}", surface) as act:
        act.check(None)
        found: list[orders.OrderView] = _db(settings, orders.recent_orders, status)
        return [o for o in found if may(act.user, "contract.read", o.vat_number).allowed]


async def query_state(settings: Settings, vat: str, client: Client | None = None, *, as_user: Principal,
                      surface: str = STARTER) -> ContractState:
    """The running order's state, as the workflow itself answers (`state` query)."""
    vat_number = str(parse_vat_number(vat))
    with acting(settings, as_user, "contract.read", f"contract state of {vat_number}", surface) as act:
        act.check(vat_number)
        client = await _client(settings, client)
        handle = client.get_workflow_handle_for(ContractAcceptanceWorkflow.run,
                                                workflow_id_for(SearchKeys(settings).customer(vat_number)))
        return await handle.query(ContractAcceptanceWorkflow.state, rpc_timeout=RPC_TIMEOUT)


T = TypeVar("T")


async def _update(settings: Settings, vat: str, action: str,
                  call: Callable[[WorkflowHandle[Any, Any]], Awaitable[T]], client: Client | None) -> T:
    vat_number = str(parse_vat_number(vat))
    client = await _client(settings, client)
    handle = client.get_workflow_handle_for(ContractAcceptanceWorkflow.run,
                                                workflow_id_for(SearchKeys(settings).customer(vat_number)))
    try:
        return await call(handle)
    except WorkflowUpdateFailedError as err:
        refusal = _refusal(err)
        if refusal is not None and refusal.type == "ResendLimit":
            retry_after = refusal.details[0] if refusal.details else None
            raise RateLimited(refusal.message, retry_after if isinstance(retry_after, int) else None) from err
        raise Conflict(refusal.message if refusal else str(err)) from err
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        # No running order: say what the last one became.
        view: orders.OrderView = await _in_db(settings, orders.latest_order, vat_number)
        raise Conflict(f"cannot {action}: order {view.order_id} is {view.status}, not awaiting documentation "
                       "(attesa documentazione)") from err


async def resend_contract(settings: Settings, vat: str, client: Client | None = None, *, as_user: Principal,
                          surface: str = STARTER) -> ResendResult:
    """E-mail the contract and a new link again; only while the order awaits documentation, and within the
    caps per order and per hour (`RateLimited` otherwise, saying when the next is allowed)."""
    vat_number = str(parse_vat_number(vat))
    with acting(settings, as_user, "contract.resend", f"contract resend for {vat_number}", surface) as act:
        act.check(vat_number)
        by = act.user.label
        return await _update(settings, vat_number, "resend the contract e-mail",
                             lambda h: h.execute_update(ContractAcceptanceWorkflow.resend, ResendRequest(by),
                                                        rpc_timeout=update_wait(settings)),
                             client)


async def cancel_contract(settings: Settings, vat: str, reason: str = "", client: Client | None = None, *,
                          as_user: Principal, surface: str = STARTER) -> CancelResult:
    """Cancel the activation (the amount is recorded as refunded); only while awaiting documentation."""
    vat_number = str(parse_vat_number(vat))
    with acting(settings, as_user, "contract.cancel", f"contract cancel for {vat_number}", surface) as act:
        act.check(vat_number)
        by = act.user.label
        return await _update(settings, vat_number, "cancel the activation",
                             lambda h: h.execute_update(ContractAcceptanceWorkflow.cancel,
                                                        CancelRequest(reason[:300], by),
                                                        rpc_timeout=update_wait(settings)),
                             client)


@dataclass(frozen=True)
class LinkView:
    """What the acceptance page shows before anything is accepted."""

    claims: TokenClaims
    order: orders.OrderView


def _check_link(session: Any, claims: TokenClaims) -> orders.OrderView:
    orders.check_link(session, claims.order_id, claims.nonce)
    return orders.get_order(session, claims.order_id)


def preview_link(settings: Settings, token: str) -> LinkView:
    """Read-only: a genuine, unexpired, unused link of an order still awaiting. Changes nothing."""
    claims = read_token(settings.secret_key.get_secret_value(), token)
    return LinkView(claims, _db(settings, _check_link, claims))


async def accept_link(settings: Settings, token: str, client_ip: str = "", user_agent: str = "",
                      client: Client | None = None) -> AcceptResult:
    """Accept the contract of a link: checked here, then carried out by the order's workflow (update),
    whose activity marks the nonce used and enables the customer in one transaction."""
    claims = read_token(settings.secret_key.get_secret_value(), token)
    view: orders.OrderView = await _in_db(settings, _check_link, claims)
    client = await _client(settings, client)
    handle = client.get_workflow_handle_for(ContractAcceptanceWorkflow.run, view.workflow_id, run_id=view.run_id)
    try:
        return await handle.execute_update(
            ContractAcceptanceWorkflow.accept, AcceptRequest(claims.order_id, claims.nonce, client_ip[:64],
                                                             user_agent[:300]),
            rpc_timeout=update_wait(settings))
    except (WorkflowUpdateFailedError, RPCError) as err:
        if isinstance(err, RPCError) and err.status != RPCStatusCode.NOT_FOUND:
            raise
        # Refused by the workflow (closed meanwhile, link used concurrently): the database says why.
        await _in_db(settings, _check_link, claims)
        refusal = _refusal(err)
        raise orders.LinkRefused("closed", refusal.message if refusal else
                                 "this order is no longer awaiting acceptance") from err
