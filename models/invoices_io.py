"""What crosses the invoice workflows' boundary (no SQLAlchemy, no lxml): inputs, results, signals, queries.

No key material ever appears here: signing is named by the key alias only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from models.mail import EmailRequest

if TYPE_CHECKING:
    from domain.sdi.messages import Notification

# Invoice states (the `state` column, the query and the BusinessStatus search attribute).
RECEIVED = "received"
VALIDATED = "validated"
SIGNED = "signed"
SENT = "sent"
DELIVERED = "delivered"  # RC ricevuta di consegna
NOT_DELIVERED = "not-delivered"  # MC mancata consegna (the recipient can still pick it up)
REJECTED = "rejected"  # NS notifica di scarto
ACCEPTED = "accepted"  # NE EC01 (a public administration accepted it)
REFUSED = "refused"  # NE EC02 (a public administration refused it)
DEADLINE_PASSED = "deadline-passed"  # DT decorrenza termini (15 days with no outcome)
FAILED = "failed"  # the SDI refused the transmission itself (EI01/EI03)
# BusinessStatus only (the invoice stays "sent"): no answer from the SDI within INVOICE_SDI_SILENCE_HOURS.
SDI_SILENT = "sdi-silent"
# BusinessStatus only (the invoice stays "sent"): an invoice issued offline still without KSeF's answer when
# its deadline day ended (tryby-offline.md); the customer and the operator are e-mailed once.
KSEF_DEADLINE_PASSED = "ksef-deadline-passed"
# Received invoices (passive cycle)
INBOX = "received-from-sdi"
OUTCOME_SENT = "outcome-sent"
# Where a received invoice came from (InvoiceReceiveInput.channel)
SDI = "sdi"
KSEF = "ksef"

SENT_FINAL = frozenset({REJECTED, ACCEPTED, REFUSED, DEADLINE_PASSED, FAILED})

SIGN_MODES = ("cades", "xades", "none")

# Names of the workflows' signal, update and query (used by the starters and the API too).
NOTIFICATION_SIGNAL = "notification"
OUTCOME_UPDATE = "send_outcome"
STATUS_QUERY = "status"


@dataclass
class InvoiceSendInput:
    invoice_id: str  # the SDI file name without extension, e.g. IT01234567890_00001
    vat: str  # the customer (cedente/prestatore)
    file_name: str  # the SDI file name, e.g. IT01234567890_00001.xml.p7m
    sign_mode: str  # cades | xades | none (none: plain, or already signed by the customer)
    key_alias: str | None  # which key of the key store signs (None when not signing)
    pa: bool  # to a public administration (FPA12): an outcome NE or DT follows the RC
    customer_email: str
    number: str = ""  # the first document's number (for e-mails)
    doc_type: str = "TD01"
    doc_date: str = ""  # ISO date of the first document
    sender_name: str = ""
    recipient_id: str = ""  # the recipient's VAT number or codice fiscale
    recipient_name: str = ""
    conserve: bool = True  # hand over to conservation when the cycle closes
    outcome_wait_seconds: int = 16 * 24 * 3600  # DT comes 15 days after delivery; one day of grace
    transmission_wait_seconds: int = 11 * 24 * 3600  # AT follows an MC to a PA within 10 days
    # No RC, MC nor NS this long after transmission: the operator is e-mailed (once) and BusinessStatus says
    # sdi-silent; the workflow keeps waiting. 0: never flagged.
    sdi_silence_seconds: int = 5 * 24 * 3600
    operator_email: str = ""  # who is told (PARTNER_EMAIL, the intermediary's own address)
    actor: str = ""  # who sent it for the customer `vat` ("customer:anna@example.it"); "" before #12.6
    channel: str = "sdi"  # sdi | ksef (models.ksef_io: a Polish customer's FA(3) invoice, #14.3)
    ksef_offline_mode: str = ""  # "" online, or the offline mode it was issued in (domain.ksef.offline)
    ksef_send_by: str = ""  # an offline invoice: the last day (ISO) it may reach KSeF ("" not known yet)
    ksef_send_by_end: str = ""  # the instant that day ends (ISO 8601, the end of the day in Europe/Warsaw)


@dataclass
class PreparedInvoice:
    file_name: str
    file_id: int  # the stored file that goes to the SDI (signed, or the original)
    sha256: str
    size: int
    state: str = SIGNED  # signed, or validated when it goes out unsigned


@dataclass
class TransmitRequest:
    invoice_id: str
    file_name: str
    file_id: int


@dataclass
class TransmitResult:
    sdi_id: int  # identificativo SdI
    received_at: str  # DataOraRicezione
    sent_now: bool  # False when an earlier attempt had already been accepted (nothing sent again)
    # True when an earlier attempt may have reached the SDI without its answer reaching us: the SDI then
    # has the file twice (the second refused with NS 00002) and the first one's notifications are ours.
    resent: bool = False


@dataclass
class NotificationRef:
    """A notification that reached our TrasmissioneFatture endpoint, verified and stored (the signal)."""

    invoice_id: str
    name: str  # e.g. IT01234567890_00001_RC_001.xml
    kind: str  # RC | NS | MC | NE | DT | AT
    sdi_id: int
    file_id: int
    esito: str | None = None  # NE: EC01 | EC02
    errors: list[str] = field(default_factory=list)  # NS: "00200: ..." lines
    description: str | None = None


def notification_ref(invoice_id: str, name: str, file_id: int, n: Notification) -> NotificationRef:
    """The signal for a stored notification: one shape whether the endpoint sends it or the sweep resends it."""
    return NotificationRef(invoice_id=invoice_id, name=name, kind=n.kind, sdi_id=n.identificativo_sdi,
                           file_id=file_id, esito=n.esito, errors=[f"{e.code}: {e.description}" for e in n.errors],
                           description=n.description)


@dataclass
class NotificationSweepInput:
    """A stored notification not settled this long after it was stored counts as stuck (the schedule passes
    NOTIFICATION_STUCK_MINUTES)."""

    stuck_after_seconds: int = 120


@dataclass
class RedeliverRequest:
    stored_before: str  # ISO 8601 with its offset: only notifications stored before it
    limit: int  # a page: at most this many


@dataclass
class RedeliverReport:
    """What one page (or a whole sweep) did: names delivered to their workflow, and late ones (workflow gone)."""

    examined: int = 0
    delivered: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)

    def merge(self, other: RedeliverReport) -> None:
        self.examined += other.examined
        self.delivered += other.delivered
        self.late += other.late


@dataclass
class OutcomeRequest:
    """Record a new state (and the notification that caused it) and tell the customer."""

    invoice_id: str
    state: str
    notification: str | None
    detail: str | None
    email: EmailRequest | None
    sdi_id: int | None = None


@dataclass
class InvoiceStatusView:
    """The workflow's query answer."""

    invoice_id: str
    file_name: str
    state: str
    sdi_id: int | None
    notifications: list[str]
    ignored: list[str]
    history: list[str]  # "<ISO time> <state>"
    ksef_number: str | None = None  # the KSeF channel: the number KSeF gave the accepted invoice
    ksef_send_by: str | None = None  # an offline invoice: its deadline as last read ("" not known yet)
    ksef_deadline_passed: bool = False  # its deadline day ended without KSeF's answer (KSEF_DEADLINE_PASSED)


@dataclass
class OfflineDeadlineRequest:
    """The deadline watch asks again what an offline invoice's deadline is (the announcements may have moved it)."""

    invoice_id: str
    mode: str
    issue_date: str  # P_1 (ISO)


@dataclass
class OfflineDeadlineAnswer:
    """`send_by` (ISO day) and `ends_at` (ISO instant, the end of that day in Europe/Warsaw); both "" when not
    known yet (`pending` says why: look again later) or when a total failure lifted the duty (`lifted`)."""

    send_by: str
    ends_at: str
    pending: str = ""
    lifted: str = ""


@dataclass
class InvoiceReceiveInput:
    invoice_id: str  # in-<identificativo SdI>, or ksef-<tenant>-<KSeF number>
    vat: str  # the customer (cessionario/committente)
    file_name: str
    sdi_id: int | None  # None for an invoice downloaded from KSeF
    pa: bool  # the customer is a public administration: it may answer EC01/EC02 within 15 days
    customer_email: str
    number: str = ""
    sender_name: str = ""
    doc_type: str = "TD01"
    doc_date: str = ""
    sender_vat: str = ""
    recipient_id: str = ""
    recipient_name: str = ""
    conserve: bool = True
    outcome_wait_seconds: int = 15 * 24 * 3600
    channel: str = "sdi"  # where it came from: sdi (RicezioneFatture) | ksef (downloaded, #14.4)
    ksef_number: str = ""


@dataclass
class CustomerOutcome:
    """The recipient's outcome on a received invoice (notifica di esito committente)."""

    esito: str  # EC01 accepted | EC02 refused
    description: str | None = None


@dataclass
class SendOutcomeRequest:
    invoice_id: str
    sdi_id: int
    file_name: str
    esito: str
    description: str | None
    number: str | None
    year: int | None


@dataclass
class ConservationHandover:
    """What conservation needs to know of a closed invoice (the package metadata)."""

    owner_kind: str  # "invoice"
    owner_id: str  # the invoice id
    vat: str  # the customer
    file_name: str
    sdi_id: int | None
    number: str
    doc_date: str
    doc_type: str
    sender_vat: str
    sender_name: str
    recipient_id: str
    recipient_name: str
    actor: str = ""  # who acted for the customer (the sender's user; "sdi" for a received invoice)
