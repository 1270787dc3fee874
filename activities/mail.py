"""Sending e-mail over SMTP, exactly once per idempotency key as far as SMTP allows.

The key is recorded (status "sending") in its own transaction before the message goes out and marked
"sent" after; a retry that finds "sent" does nothing. A crash between the SMTP hand-off and the mark can
resend once: the Message-ID is derived from the key, so the copy is recognisable as the same message.
"""

from __future__ import annotations

from email.message import EmailMessage

from sqlalchemy import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.smtp import build_message, deliver, message_id_for
from core.db import session_scope
from core.settings import Settings
from domain.notifications import is_known_kind
from models.base import utcnow
from models.mail import EmailRequest, EmailResult
from models.outbox import OutboundEmail
from models.preferences import wants


class MailActivities:
    def __init__(self, settings: Settings):
        self.settings = settings

    @activity.defn(name="send_email")
    def send_email(self, req: EmailRequest) -> EmailResult:
        if not is_known_kind(req.kind):
            raise ApplicationError(f"unknown e-mail kind {req.kind!r}", non_retryable=True)
        message_id = message_id_for(req.idempotency_key)
        url = self.settings.database_url
        with session_scope(url) as session:
            row = session.scalar(
                select(OutboundEmail).where(OutboundEmail.idempotency_key == req.idempotency_key)
            )
            if row is not None and row.status in ("sent", "suppressed"):
                return EmailResult("already-sent" if row.status == "sent" else "suppressed", message_id)
            allowed = req.tenant_vat is None or wants(session, req.tenant_vat, req.kind)
            if row is None:
                row = OutboundEmail(
                    idempotency_key=req.idempotency_key,
                    recipient=req.to,
                    subject=req.subject[:300],
                    kind=req.kind,
                    message_id=message_id,
                    status="sending" if allowed else "suppressed",
                    created_at=utcnow(),
                )
                session.add(row)
        if not allowed:
            activity.logger.info("e-mail %s suppressed by the customer's preferences", req.kind)
            return EmailResult("suppressed", message_id)
        self._deliver(build_message(self.settings, req))
        with session_scope(url) as session:
            sent = session.scalar(
                select(OutboundEmail).where(OutboundEmail.idempotency_key == req.idempotency_key)
            )
            assert sent is not None
            sent.status = "sent"
            sent.sent_at = utcnow()
        return EmailResult("sent", message_id)

    def _deliver(self, msg: EmailMessage) -> None:
        deliver(self.settings, msg)
