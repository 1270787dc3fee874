"""Side effects of the contract acceptance workflow: the order in the database, and its e-mails.

Idempotency: an order is keyed by the workflow run id; every history step by a key the workflow derives
(`invitation-1`, `reminder-2`, ...); every e-mail by `<order id>:<step>` (see `activities.mail`); the
acceptance by the link's nonce, marked used in the transaction that enables the customer.

The signed acceptance link is built here, from the nonce the workflow chose, and goes straight into the
e-mail: it never appears in the workflow's history. E-mails are sent through `MailActivities.send_email`
called in-process, for the same reason (its input holds the link and the contract).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.mail import MailActivities
from core.db import session_scope
from core.settings import Settings
from domain.contracts import (
    ContractDocument,
    activation_mail,
    conservation_access_mail,
    contract_filename,
    expired_mail,
    invitation_mail,
    reminder_mail,
    render_contract,
)
from domain.errors import Conflict, InvalidInput, NotFound
from domain.tokens import make_token
from models import contracts as orders
from models.contracts_io import (
    PURPOSE_INVITATION,
    PURPOSE_REMINDER,
    PURPOSE_RESEND,
    AcceptRequest,
    AcceptResult,
    CancelOrder,
    CancelResult,
    InvitationRequest,
    InvitationSent,
    OpenOrder,
    OrderInfo,
    OrderStep,
)
from models.mail import Attachment, EmailRequest

T = TypeVar("T")


@contextmanager
def business_refusals() -> Iterator[None]:
    """A refusal is final (no retry): its type and message reach the workflow and the caller."""
    try:
        yield
    except orders.LinkRefused as err:
        raise ApplicationError(str(err), err.reason, type="LinkRefused", non_retryable=True) from err
    except (Conflict, NotFound, InvalidInput) as err:
        raise ApplicationError(str(err), type=type(err).__name__, non_retryable=True) from err


class ContractActivities:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.mail = MailActivities(settings)

    def _tx(self, work: Callable[..., T], *args: object) -> T:
        with business_refusals(), session_scope(self.settings.database_url) as session:
            return work(session, *args)

    def _send(self, key: str, to: str, subject: str, text: str, kind: str, vat: str | None = None,
              attachments: list[Attachment] | None = None) -> str:
        req = EmailRequest(idempotency_key=key, to=to, subject=subject, body_text=text, kind=kind, tenant_vat=vat,
                           attachments=attachments or [])
        return self.mail.send_email(req).status

    def _record(self, order_id: str, key: str, step: str, detail: str) -> None:
        def work(session):  # type: ignore[no-untyped-def]
            orders.record_event(session, orders.get_order_row(session, order_id), key, step, detail)
        self._tx(work)

    @activity.defn(name="contract_open_order")
    def open_order(self, req: OpenOrder) -> OrderInfo:
        """Idempotent by run id."""
        return self._tx(orders.open_order, req)

    @activity.defn(name="contract_send_invitation")
    def send_invitation(self, req: InvitationRequest) -> InvitationSent:
        """The contract and a personal link to the customer's PEC. Idempotent by nonce (token) and by
        `<order>:<purpose>-<n>` (e-mail, history step)."""
        doc: ContractDocument = self._tx(orders.document_of, req.order_id)
        self._tx(orders.issue_token, req.order_id, req.nonce, req.purpose, req.expires_at)
        token = make_token(self.settings.secret_key.get_secret_value(), req.order_id, req.nonce, req.expires_at)
        link = f"{self.settings.public_base_url.rstrip('/')}/accept/{token}"
        step = f"{req.purpose}-{req.sequence}"
        if req.purpose == PURPOSE_REMINDER:
            mail = reminder_mail(doc, link, req.sequence)
            kind, vat, attachments = "contract-reminder", doc.vat_number, []
        elif req.purpose in (PURPOSE_INVITATION, PURPOSE_RESEND):
            mail = invitation_mail(doc, link, resent=req.purpose == PURPOSE_RESEND)
            contract = render_contract(doc).encode()
            kind, vat = "contract-invitation", None
            attachments = [Attachment(contract_filename(doc.order_id), "text/html",
                                      base64.b64encode(contract).decode())]
        else:
            raise ApplicationError(f"unknown purpose {req.purpose!r}", non_retryable=True)
        status = self._send(f"{req.order_id}:{step}", doc.pec, mail.subject, mail.text, kind, vat, attachments)
        what = {PURPOSE_INVITATION: "contract e-mailed", PURPOSE_RESEND: "contract e-mailed again",
                PURPOSE_REMINDER: f"reminder {req.sequence} e-mailed"}[req.purpose]
        self._record(req.order_id, step, f"{req.purpose}-sent", f"{what} to {doc.pec} ({status})")
        return InvitationSent(doc.pec, status)

    @activity.defn(name="contract_accept_order")
    def accept_order(self, req: AcceptRequest) -> AcceptResult:
        """Marks the nonce used, accepts the order and enables the customer, in one transaction."""
        return self._tx(orders.accept_order, req)

    @activity.defn(name="contract_notify_activation")
    def notify_activation(self, req: OrderStep) -> None:
        """The partner's activation e-mail and the conservation manager's access e-mail. Idempotent by key."""
        doc: ContractDocument = self._tx(orders.document_of, req.order_id)
        view = self._tx(orders.get_order, req.order_id)
        s = self.settings
        activation = activation_mail(doc, view.accepted_at or view.created_at)
        status = self._send(f"{req.order_id}:activation", s.partner_email, activation.subject, activation.text,
                            "contract-activation")
        self._record(req.order_id, "partner-notified", "partner-notified",
                     f"activation e-mailed to the partner {s.partner_email} ({status})")
        access = conservation_access_mail(doc, f"s3://{s.s3_bucket}/{doc.vat_number}/",
                                          f"{s.public_base_url.rstrip('/')}/docs")
        status = self._send(f"{req.order_id}:conservation-access", s.conservation_manager_email, access.subject,
                            access.text, "conservation-access")
        self._record(req.order_id, "conservation-manager-notified", "conservation-manager-notified",
                     f"access e-mailed to the conservation manager {s.conservation_manager_email} ({status})")

    @activity.defn(name="contract_cancel_order")
    def cancel_order(self, req: CancelOrder) -> CancelResult:
        """Idempotent: a cancelled order stays cancelled with its refund."""
        return self._tx(orders.cancel_order, req)

    @activity.defn(name="contract_expire_order")
    def expire_order(self, req: OrderStep) -> bool:
        """Marks the order expired and e-mails the partner. Idempotent by order state and e-mail key."""
        if not self._tx(orders.expire_order, req.order_id):
            return False
        doc: ContractDocument = self._tx(orders.document_of, req.order_id)
        mail = expired_mail(doc)
        status = self._send(f"{req.order_id}:expired", self.settings.partner_email, mail.subject, mail.text,
                            "contract-expired")
        self._record(req.order_id, "partner-notified-expired", "partner-notified",
                     f"expiry e-mailed to the partner {self.settings.partner_email} ({status})")
        return True
