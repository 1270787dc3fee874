"""What crosses the boundary of KSeF's session workflow and its activities (#14.3): no SQLAlchemy, no lxml,
and no secret: a session is named by KSeF's reference number (its AES key is sealed in `ksef_sessions`), a
customer by its VAT number; the access token never leaves the worker's memory (`adapters/ksef_logins.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field

CHANNEL_SDI = "sdi"
CHANNEL_KSEF = "ksef"
KSEF_SESSION_WORKFLOW = "KsefSessionWorkflow"  # its type name (activities start it by name: they import no workflow)
# Signals and query of the session workflow, and the signal its answer comes back to an invoice workflow on.
KSEF_ENQUEUE_SIGNAL = "ksef_enqueue"
KSEF_OUTCOME_SIGNAL = "ksef_outcome"
KSEF_SESSION_QUERY = "ksef_session"
# Sessions opened and idle, the states the session workflow publishes as BusinessStatus.
SESSION_OPEN, SESSION_IDLE_CLOSED = "session-open", "session-closed"


@dataclass
class KsefSendRequest:
    """An invoice workflow asks its customer's session workflow to send one prepared invoice."""

    invoice_id: str
    file_id: int  # the stored FA(3) file (role "transmitted")
    reply_to: str  # the invoice workflow's id: the outcome is signalled there
    offline: bool = False  # issued in an offline mode: sent with offlineMode true (tryby-offline.md)


@dataclass
class KsefEnqueueRequest:
    vat: str
    request: KsefSendRequest


@dataclass
class KsefInFlight:
    request: KsefSendRequest
    session_reference: str
    invoice_reference: str


@dataclass
class KsefSessionInput:
    vat: str
    idle_seconds: int  # close the session this long after its last send or outcome
    lifetime_margin_seconds: int = 600  # close it this long before KSeF's validUntil, whatever is going on
    queue: list[KsefSendRequest] = field(default_factory=list)  # carried over a continue-as-new
    in_flight: list[KsefInFlight] = field(default_factory=list)
    session_reference: str | None = None
    session_valid_until: str | None = None  # ISO 8601
    opened: int = 0  # sessions this workflow id opened so far: the counter in each opening key
    answered: list[str] = field(default_factory=list)  # invoice ids already answered (a repeated request)


@dataclass
class KsefOpenRequest:
    vat: str
    opening_key: str  # idempotency: a retried open finds the session the first attempt opened


@dataclass
class KsefOpened:
    reference_number: str
    valid_until: str  # ISO 8601


@dataclass
class KsefSendItem:
    vat: str
    session_reference: str
    invoice_id: str
    file_id: int
    offline: bool = False


@dataclass
class KsefSent:
    invoice_reference: str


@dataclass
class KsefAwaitItem:
    vat: str
    session_reference: str
    invoice_reference: str
    invoice_id: str


@dataclass
class KsefOutcome:
    """KSeF's answer about one invoice: accepted with its KSeF number and the stored UPO, or refused with KSeF's
    status code and description (`failed`: it never reached KSeF's processing, e.g. the login was refused)."""

    invoice_id: str
    accepted: bool
    ksef_number: str | None = None
    upo_file_id: int | None = None
    code: int | None = None
    description: str = ""
    failed: bool = False


@dataclass
class KsefCloseRequest:
    vat: str
    session_reference: str


@dataclass
class KsefSessionView:
    """The session workflow's query answer."""

    session_reference: str | None
    valid_until: str | None
    queued: list[str]
    in_flight: list[str]
    opened: int
    history: list[str]
