"""The e-mail request that crosses the workflow boundary (no SQLAlchemy here)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Attachment:
    filename: str
    content_type: str  # e.g. "application/pdf"
    content_b64: str


@dataclass
class EmailRequest:
    """One message. `idempotency_key` makes a retried send a no-op once the message went out."""

    idempotency_key: str
    to: str
    subject: str
    body_text: str
    kind: str = "generic"  # see domain.notifications
    body_html: str | None = None
    # Set for customer notifications: their preferences decide whether it is sent.
    tenant_vat: str | None = None
    attachments: list[Attachment] = field(default_factory=list)


@dataclass
class EmailResult:
    status: str  # "sent" | "already-sent" | "suppressed"
    message_id: str
