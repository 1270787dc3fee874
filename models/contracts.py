"""Contract orders (ordini), their history, and the acceptance tokens issued for them.

One row per order in `contract_orders`; every step of the order in `contract_events` (idempotent by a key
the workflow derives, so a retried activity records a step once); every link sent in `contract_tokens`,
whose nonce is marked used in the same transaction that accepts the order and enables the customer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from domain.contracts import ContractDocument, format_eur
from domain.errors import Conflict, NotFound
from domain.identifiers import parse_vat_number
from models.base import Base, Timestamp, as_utc, utcnow
from models.contracts_io import (
    ACCEPTED,
    AWAITING,
    CANCELLED,
    EXPIRED,
    AcceptRequest,
    AcceptResult,
    CancelOrder,
    CancelResult,
    OpenOrder,
    OrderInfo,
)
from models.tenant import Tenant, get_tenant_row, set_enabled


class ContractOrder(Base):
    __tablename__ = "contract_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40), unique=True)  # "IT02038490237-001"
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    vat_number: Mapped[str] = mapped_column(String(16))
    workflow_id: Mapped[str] = mapped_column(String(80))
    run_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(30))
    amount_cents: Mapped[int] = mapped_column(Integer)
    refunded_cents: Mapped[int | None] = mapped_column(Integer)
    deadline: Mapped[datetime] = mapped_column(Timestamp())
    requested_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(Timestamp())
    accepted_at: Mapped[datetime | None] = mapped_column(Timestamp())
    accepted_nonce: Mapped[str | None] = mapped_column(String(64))
    accepted_ip: Mapped[str | None] = mapped_column(String(64))
    accepted_user_agent: Mapped[str | None] = mapped_column(String(300))
    closed_at: Mapped[datetime | None] = mapped_column(Timestamp())
    cancel_reason: Mapped[str | None] = mapped_column(String(300))


class ContractEvent(Base):
    __tablename__ = "contract_events"
    __table_args__ = (UniqueConstraint("order_pk", "key", name="uq_contract_events_order_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_pk: Mapped[int] = mapped_column(ForeignKey("contract_orders.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(80))  # idempotency key of the step
    at: Mapped[datetime] = mapped_column(Timestamp())
    step: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")


class ContractToken(Base):
    __tablename__ = "contract_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_pk: Mapped[int] = mapped_column(ForeignKey("contract_orders.id", ondelete="CASCADE"), index=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))
    issued_at: Mapped[datetime] = mapped_column(Timestamp())
    expires_at: Mapped[datetime] = mapped_column(Timestamp())
    used_at: Mapped[datetime | None] = mapped_column(Timestamp())


@dataclass(frozen=True)
class EventView:
    at: datetime
    step: str
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"at": self.at.isoformat(), "step": self.step, "detail": self.detail}


@dataclass(frozen=True)
class OrderView:
    """An order with its history, as the CLI, HTTP and the acceptance page show it."""

    order_id: str
    vat_number: str
    customer_name: str
    status: str
    amount_cents: int
    refunded_cents: int | None
    deadline: datetime
    created_at: datetime
    accepted_at: datetime | None
    closed_at: datetime | None
    workflow_id: str
    run_id: str
    events: list[EventView] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "order_id": self.order_id,
            "vat_number": self.vat_number,
            "customer_name": self.customer_name,
            "status": self.status,
            "amount": format_eur(self.amount_cents),
            "amount_cents": self.amount_cents,
            "refunded_cents": self.refunded_cents,
            "deadline": self.deadline.isoformat(),
            "created_at": self.created_at.isoformat(),
            "accepted_at": self.accepted_at.isoformat() if self.accepted_at else None,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "history": [e.to_json() for e in self.events],
        }


def _view(session: Session, row: ContractOrder) -> OrderView:
    tenant = session.get(Tenant, row.tenant_id)
    assert tenant is not None
    events = session.scalars(
        select(ContractEvent).where(ContractEvent.order_pk == row.id).order_by(ContractEvent.at, ContractEvent.id)
    )
    return OrderView(
        order_id=row.order_id, vat_number=row.vat_number, customer_name=tenant.name, status=row.status,
        amount_cents=row.amount_cents, refunded_cents=row.refunded_cents, deadline=as_utc(row.deadline),
        created_at=as_utc(row.created_at),
        accepted_at=as_utc(row.accepted_at) if row.accepted_at else None,
        closed_at=as_utc(row.closed_at) if row.closed_at else None,
        workflow_id=row.workflow_id, run_id=row.run_id,
        events=[EventView(as_utc(e.at), e.step, e.detail) for e in events],
    )


def get_order_row(session: Session, order_id: str, for_update: bool = False) -> ContractOrder:
    query = select(ContractOrder).where(ContractOrder.order_id == order_id)
    if for_update:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise NotFound(f"no contract order {order_id}")
    return row


def get_order(session: Session, order_id: str) -> OrderView:
    return _view(session, get_order_row(session, order_id))


def latest_order(session: Session, vat: str) -> OrderView:
    """The customer's newest order (one customer may have an expired or cancelled order before)."""
    vat_number = str(parse_vat_number(vat))
    row = session.scalar(
        select(ContractOrder).where(ContractOrder.vat_number == vat_number).order_by(ContractOrder.id.desc())
        .limit(1)
    )
    if row is None:
        get_tenant_row(session, vat_number)  # NotFound naming the customer when there is none
        raise NotFound(f"customer {vat_number} has no contract order")
    return _view(session, row)


def orders_of(session: Session, vat: str, limit: int = 50) -> list[OrderView]:
    """The customer's orders, newest first, each with its history (the partner's order list, seed 003)."""
    vat_number = str(parse_vat_number(vat))
    get_tenant_row(session, vat_number)  # NotFound naming the customer when there is none
    rows = session.scalars(select(ContractOrder).where(ContractOrder.vat_number == vat_number)
                           .order_by(ContractOrder.id.desc()).limit(limit))
    return [_view(session, row) for row in rows]


def recent_orders(session: Session, status: str | None = None, limit: int = 100) -> list[OrderView]:
    """Every customer's orders, newest first (the partner's list of all its orders, seed 003); `status`: only
    those in that state. The caller filters what its user may see."""
    query = select(ContractOrder).order_by(ContractOrder.id.desc()).limit(max(1, min(limit, 500)))
    if status is not None:
        query = query.where(ContractOrder.status == status)
    return [_view(session, row) for row in session.scalars(query)]


def document_of(session: Session, order_id: str) -> ContractDocument:
    row = get_order_row(session, order_id)
    tenant = session.get(Tenant, row.tenant_id)
    assert tenant is not None
    return ContractDocument(
        order_id=row.order_id, customer_name=tenant.name, vat_number=tenant.vat_number, pec=tenant.pec,
        sdi_code=tenant.sdi_code, amount_cents=row.amount_cents, issued_at=as_utc(row.created_at),
        deadline=as_utc(row.deadline),
    )


def record_event(session: Session, row: ContractOrder, key: str, step: str, detail: str = "",
                 at: datetime | None = None) -> bool:
    """Add a step to the order's history once per key; False when it was already there."""
    exists = session.scalar(
        select(ContractEvent.id).where(ContractEvent.order_pk == row.id, ContractEvent.key == key)
    )
    if exists is not None:
        return False
    session.add(ContractEvent(order_pk=row.id, key=key, at=at or utcnow(), step=step, detail=detail))
    session.flush()
    return True


def open_order(session: Session, req: OpenOrder) -> OrderInfo:
    """Create the order of a workflow run (idempotent by run id): state awaiting documentation."""
    existing = session.scalar(select(ContractOrder).where(ContractOrder.run_id == req.run_id))
    tenant = get_tenant_row(session, req.vat_number)
    if existing is not None:
        return OrderInfo(existing.order_id, tenant.vat_number, tenant.name, tenant.pec)
    if tenant.enabled:
        raise Conflict(f"customer {tenant.vat_number} is already enabled: its contract was accepted")
    count = session.scalar(select(func.count()).select_from(ContractOrder)
                           .where(ContractOrder.tenant_id == tenant.id)) or 0
    now = utcnow()
    row = ContractOrder(
        order_id=f"{tenant.vat_number}-{count + 1:03d}", tenant_id=tenant.id, vat_number=tenant.vat_number,
        workflow_id=req.workflow_id, run_id=req.run_id, status=AWAITING, amount_cents=req.amount_cents,
        deadline=req.deadline, requested_by=req.requested_by, created_at=now,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as err:  # the same run opened concurrently: the retry finds it
        raise Conflict(f"order for run {req.run_id} was opened concurrently") from err
    record_event(session, row, "opened", AWAITING,
                 f"order {row.order_id} for {format_eur(row.amount_cents)} by {req.requested_by}; "
                 f"awaiting documentation (attesa documentazione)", at=now)
    return OrderInfo(row.order_id, tenant.vat_number, tenant.name, tenant.pec)


def issue_token(session: Session, order_id: str, nonce: str, purpose: str, expires_at: datetime) -> None:
    """Record a link before it is sent (idempotent by nonce)."""
    row = get_order_row(session, order_id)
    found = session.scalar(select(ContractToken).where(ContractToken.nonce == nonce))
    if found is not None:
        if found.order_pk != row.id:
            raise Conflict("nonce already issued for another order")
        return
    session.add(ContractToken(order_pk=row.id, nonce=nonce, purpose=purpose, issued_at=utcnow(),
                              expires_at=expires_at))
    session.flush()


class LinkRefused(Conflict):
    """An acceptance link that cannot be used now. `reason`: unknown, reused, accepted, cancelled, expired."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


_CLOSED_MESSAGES = {
    ACCEPTED: "this contract was already accepted",
    CANCELLED: "this order was cancelled: the contract can no longer be accepted",
    EXPIRED: "this order has expired: the contract can no longer be accepted",
}


def check_link(session: Session, order_id: str, nonce: str, for_update: bool = False
               ) -> tuple[ContractOrder, ContractToken]:
    """The order and token of a genuine link, if the link can be used to accept now; `LinkRefused` if not."""
    try:
        row = get_order_row(session, order_id, for_update=for_update)
    except NotFound:
        raise LinkRefused("unknown", "this link is not a valid acceptance link") from None
    query = select(ContractToken).where(ContractToken.nonce == nonce, ContractToken.order_pk == row.id)
    if for_update:
        query = query.with_for_update()
    token = session.scalar(query)
    if token is None:
        raise LinkRefused("unknown", "this link is not a valid acceptance link")
    if token.used_at is not None:
        raise LinkRefused("reused", "this link was already used")
    if row.status in _CLOSED_MESSAGES:
        raise LinkRefused(row.status, _CLOSED_MESSAGES[row.status])
    return row, token


def accept_order(session: Session, req: AcceptRequest) -> AcceptResult:
    """In one transaction: the link's nonce is marked used, the order accepted, the customer enabled.

    Idempotent: a retry after a commit whose answer was lost finds the order accepted with this nonce."""
    row = get_order_row(session, req.order_id, for_update=True)
    if row.status == ACCEPTED and row.accepted_nonce == req.nonce and row.accepted_at is not None:
        return AcceptResult(row.order_id, row.vat_number, as_utc(row.accepted_at))
    row, token = check_link(session, req.order_id, req.nonce, for_update=True)
    now = utcnow()
    if as_utc(token.expires_at) <= now:
        raise LinkRefused("expired", "this acceptance link has expired")
    token.used_at = now
    row.status = ACCEPTED
    row.accepted_at = now
    row.accepted_nonce = req.nonce
    row.accepted_ip = req.client_ip[:64] or None
    row.accepted_user_agent = req.user_agent[:300] or None
    row.closed_at = now
    set_enabled(session, row.vat_number, True)
    record_event(session, row, "accepted", ACCEPTED,
                 f"contract accepted from the link ({token.purpose}) at {req.client_ip or 'unknown address'}",
                 at=now)
    record_event(session, row, "customer-enabled", "customer-enabled", f"customer {row.vat_number} enabled",
                 at=now)
    session.flush()
    return AcceptResult(row.order_id, row.vat_number, now)


def cancel_order(session: Session, req: CancelOrder) -> CancelResult:
    """Cancel the activation; the amount is recorded as refunded (riaccreditato). Idempotent."""
    row = get_order_row(session, req.order_id, for_update=True)
    if row.status == CANCELLED:
        return CancelResult(row.order_id, row.refunded_cents or 0)
    if row.status != AWAITING:
        raise Conflict(f"order {row.order_id} is {row.status}: only an order awaiting documentation can be "
                       "cancelled")
    now = utcnow()
    row.status = CANCELLED
    row.closed_at = now
    row.cancel_reason = req.reason[:300] or None
    row.refunded_cents = row.amount_cents
    reason = f": {req.reason}" if req.reason else ""
    record_event(session, row, "cancelled", CANCELLED, f"activation cancelled by {req.requested_by}{reason}", at=now)
    record_event(session, row, "refunded", "refunded", f"{format_eur(row.amount_cents)} refunded", at=now)
    return CancelResult(row.order_id, row.amount_cents)


def expire_order(session: Session, order_id: str) -> bool:
    """The deadline passed with no acceptance. Idempotent; False if the order was closed otherwise."""
    row = get_order_row(session, order_id, for_update=True)
    if row.status == EXPIRED:
        return True
    if row.status != AWAITING:
        return False
    now = utcnow()
    row.status = EXPIRED
    row.closed_at = now
    record_event(session, row, "expired", EXPIRED, "no acceptance by the deadline: the order expired", at=now)
    return True
