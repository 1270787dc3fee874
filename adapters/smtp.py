"""The SMTP adapter (smtplib): a message built from an `EmailRequest`, and handed to the configured server.

No Temporal and no records: workflows send through `activities.mail`, which wraps this with the outbox row
that makes a send happen once per idempotency key; the API sends the few messages that belong to a request
itself (an accountant's address confirmation, a delegation invitation) directly through here."""

from __future__ import annotations

import base64
import hashlib
import smtplib
from email.message import EmailMessage
from email.utils import formatdate

from core.settings import Settings
from models.mail import EmailRequest


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


def deliver(settings: Settings, msg: EmailMessage) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=20) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
        smtp.send_message(msg)
