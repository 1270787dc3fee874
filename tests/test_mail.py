"""The e-mail activity against the SMTP sink: sent once per key, preferences respected."""

from __future__ import annotations

import base64

from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.mail import MailActivities
from core.db import session_scope
from core.settings import Settings
from devstack.smtp_sink import Mailbox
from models.mail import Attachment, EmailRequest
from models.outbox import OutboundEmail
from models.preferences import get_preferences, set_preference
from models.tenant import add_tenant


def test_sends_once_per_idempotency_key(settings: Settings, db: str, mailbox: Mailbox) -> None:
    acts = MailActivities(settings)
    req = EmailRequest(idempotency_key="test:1", to="a@example.it", subject="Hello", body_text="body",
                       attachments=[Attachment("c.txt", "text/plain", base64.b64encode(b"contract").decode())])
    env = ActivityEnvironment()
    first = env.run(acts.send_email, req)
    second = env.run(acts.send_email, req)
    assert (first.status, second.status) == ("sent", "already-sent")
    assert first.message_id == second.message_id
    messages = mailbox.to("a@example.it")
    assert len(messages) == 1
    attachments = list(messages[0].iter_attachments())
    assert attachments[0].get_filename() == "c.txt"
    assert attachments[0].get_content() == "contract"
    with session_scope(db) as session:
        row = session.scalar(select(OutboundEmail))
        assert row is not None and row.status == "sent"


def test_a_notification_turned_off_is_not_sent(settings: Settings, db: str, mailbox: Mailbox) -> None:
    with session_scope(db) as session:
        add_tenant(session, "IT02038490237", "ACME", "acme@pec.it", None)
        assert all(get_preferences(session, "IT02038490237").values())  # on by default
        set_preference(session, "IT02038490237", "invoice-outcome", False)
    acts = MailActivities(settings)
    env = ActivityEnvironment()
    off = EmailRequest("test:2", "acme@pec.it", "Delivered", "x", kind="invoice-outcome",
                       tenant_vat="IT02038490237")
    on = EmailRequest("test:3", "acme@pec.it", "Expiring", "x", kind="cert-expiry-reminder",
                      tenant_vat="IT02038490237")
    assert env.run(acts.send_email, off).status == "suppressed"
    assert env.run(acts.send_email, on).status == "sent"
    assert [m["Subject"] for m in mailbox.messages()] == ["Expiring"]
