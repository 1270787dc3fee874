"""The dataclasses that cross the certificate workflow's boundary (no SQLAlchemy here).

Dates are ISO 8601 strings so histories read plainly and replay identically. Only public data: CSRs and
certificates, never a private key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_REMINDER_DAYS = [30, 7, 1]


@dataclass
class CertificateWorkflowInput:
    operation_id: str
    vat: str
    kind: str
    actor: str
    csr_pem: str | None = None  # a request; None for an uploaded certificate
    # "authorize" (request → decision) then "watch" (reminders → expiry); carried over continue-as-new.
    phase: str = "authorize"
    state: str = "ordered"
    serial: str | None = None
    expires_at: str | None = None
    reminder_days: list[int] = field(default_factory=lambda: list(DEFAULT_REMINDER_DAYS))
    reminders_sent: list[int] = field(default_factory=list)


@dataclass
class CertificateStatus:
    """What the workflow query answers."""

    operation_id: str
    vat: str
    kind: str
    state: str
    serial: str | None = None
    expires_at: str | None = None
    reminders_sent: list[int] = field(default_factory=list)
    error: str | None = None
    revocation_reason: str | None = None


@dataclass
class AwaitDecision:
    """Update argument: answer once the request is decided (active or error) or ended."""


@dataclass
class RevokeRequest:
    reason: str  # one of domain.certificates.REVOCATION_REASONS
    actor: str


@dataclass
class DeleteRequest:
    actor: str


@dataclass
class SubmitInput:
    operation_id: str
    csr_pem: str


@dataclass
class IssuedInfo:
    serial: str
    not_before: str
    not_after: str
    subject: str


@dataclass
class RecordState:
    operation_id: str
    state: str
    error: str | None = None


@dataclass
class RecordIssued:
    operation_id: str
    reference: str


@dataclass
class RevokeInput:
    operation_id: str
    serial: str
    reason: str
    actor: str


@dataclass
class DeleteInput:
    operation_id: str


@dataclass
class ComposeEmail:
    """Which certificate e-mail to write; the activity looks up the address and renders the text."""

    operation_id: str
    vat: str
    kind: str  # a cert-* kind of domain.notifications
    days_left: int | None = None
    error: str | None = None
    reason: str | None = None
    idempotency_key: str = ""  # derived from the workflow id and the step
