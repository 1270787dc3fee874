"""What crosses the boundary of the contract acceptance workflow (no SQLAlchemy here).

An order (ordine) for a customer opens one workflow, `contract-<vat>`, in the state awaiting documentation
(attesa documentazione). It ends accepted, cancelled (the amount refunded) or expired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Order states. The stable ones are stored in the database; the transient ones (an accept or a cancel being
# carried out) exist only in the workflow, so a second request made meanwhile is refused.
AWAITING = "awaiting-documentation"  # attesa documentazione
ACCEPTING = "accepting"
CANCELLING = "cancelling"
ACCEPTED = "accepted"
CANCELLED = "cancelled"
EXPIRED = "expired"
CLOSED_STATES = frozenset({ACCEPTED, CANCELLED, EXPIRED})

# What a sent e-mail with a link is for.
PURPOSE_INVITATION = "invitation"
PURPOSE_RESEND = "resend"
PURPOSE_REMINDER = "reminder"

WORKFLOW_NAME = "ContractAcceptance"


def workflow_id_for(customer_key: str) -> str:
    """`contract-<customer key>` (core/search_keys, never the VAT number): one order at a time per customer,
    a second start while one runs is refused by Temporal."""
    return f"contract-{customer_key}"


@dataclass
class ContractStart:
    """The workflow's input. The schedule is fixed at start (from settings), so a running order keeps it."""

    vat_number: str
    amount_cents: int
    reminder_days: list[int]
    expiry_days: int
    requested_by: str = "system"
    # Resends allowed (CONTRACT_RESEND_MAX_PER_ORDER, CONTRACT_RESEND_MAX_PER_HOUR); the defaults are the
    # settings' own, for runs started before these fields existed.
    resend_max_per_order: int = 5
    resend_max_per_hour: int = 2


@dataclass
class OpenOrder:
    vat_number: str
    workflow_id: str
    run_id: str
    amount_cents: int
    deadline: datetime
    requested_by: str


@dataclass
class OrderInfo:
    order_id: str
    vat_number: str
    customer_name: str
    pec: str


@dataclass
class InvitationRequest:
    """Send the contract link. The nonce comes from the workflow; the signed token is built inside the
    activity, so no usable link ever enters the workflow's history."""

    order_id: str
    purpose: str  # PURPOSE_*
    sequence: int  # invitation number (1 = first, 2.. = resends) or reminder number
    nonce: str
    expires_at: datetime


@dataclass
class InvitationSent:
    to: str
    status: str  # the e-mail's status: sent | already-sent | suppressed


@dataclass
class AcceptRequest:
    """From the acceptance page: which token (by its nonce) and who clicked."""

    order_id: str
    nonce: str
    client_ip: str = ""
    user_agent: str = ""


@dataclass
class AcceptResult:
    order_id: str
    vat_number: str
    accepted_at: datetime


@dataclass
class ResendRequest:
    requested_by: str = "system"


@dataclass
class ResendResult:
    order_id: str
    invitation_no: int
    sent_to: str


@dataclass
class CancelRequest:
    reason: str = ""
    requested_by: str = "system"


@dataclass
class CancelOrder:
    order_id: str
    reason: str
    requested_by: str


@dataclass
class CancelResult:
    order_id: str
    refunded_cents: int


@dataclass
class OrderStep:
    """A step the activity records in the order's history (idempotent by `key`)."""

    order_id: str
    key: str


@dataclass
class HistoryEntry:
    at: datetime
    step: str
    detail: str = ""


@dataclass
class ContractState:
    """What the workflow query answers."""

    order_id: str
    vat_number: str
    status: str
    deadline: datetime | None
    invitations_sent: int
    reminders_sent: int
    history: list[HistoryEntry] = field(default_factory=list)


@dataclass
class ContractResult:
    order_id: str
    status: str
