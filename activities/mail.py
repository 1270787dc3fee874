"""Sending e-mail over SMTP, exactly once per idempotency key as far as SMTP allows.

The key is recorded (status "sending") in its own transaction before the message goes out and marked
"sent" after; a retry that finds "sent" does nothing. A crash between the SMTP hand-off and the mark can
resend once: the Message-ID is derived from the key, so the copy is recognisable as the same message.
"""

from __future__ import annotations

import base64
import hashlib
import smtplib
from email.message import EmailMessage
from email.utils import formatdate

from sqlalchemy import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.db import session_scope
from core.settings import Settings
from domain.notifications import is_known_kind
from models.base import utcnow
from models.mail import EmailRequest, EmailResult
from models.outbox import OutboundEmail
from models.preferences import wants


def message_id_for(key: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@einvoice-hub>"


def build_message(settings: Settings, req: EmailRequest) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = req.to
    msg["Subject"] = req.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id_for(req.idempotency_key)
    msg["X-Einvoice-Kind"] = req.kind
    msg.set_content(req.body_text)
    if req.body_html:
        msg.add_alternative(req.body_html, subtype="html")
    for att in req.attachments:
        maintype, _, subtype = att.content_type.partition("/")
        msg.add_attachment(
            base64.b64decode(att.content_b64), maintype=maintype, subtype=subtype, filename=att.filename
        )
    return msg


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
        s = self.settings
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=20) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
            smtp.send_message(msg)
