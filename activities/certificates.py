"""Certificate activities: thin adapters over the authority (domain.authority) and the database.

Each is idempotent, and says how:
- `cert_submit`   the authority's submission is keyed by the operation id (same CSR → same reference);
- `cert_collect`  the authority hands back the same certificate for a reference; storing it is an upsert;
- `cert_record_state`, `cert_mark_expired`, `cert_delete_record`  set/remove a row (repeatable);
- `cert_revoke`   the CA ignores a serial already revoked; the row keeps its first revocation;
- `cert_compose_email`  pure rendering; the send itself is `send_email`, keyed by workflow id + step.

Which authority: a Polish customer's certificates are KSeF's (`adapters/ksef_authority.py`, authenticated
with the customer's own seal from the key store: the workflow carries no credential, only the operation id
from which the activity reads the customer and the kind), every other customer's the built-in CA's
(`core.ca`). The workflow is the same for both.

The authority's answers become Temporal's: unavailable raises (retried by RETRY_EXTERNAL), a refusal is a
non-retryable `AuthorityRefused`, and "not decided yet" is an ordinary answer (None) on which the workflow
sleeps on a durable timer and asks again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.ksef_authority import KsefAuthorities
from core.ca import authority_from_settings
from core.db import session_scope
from core.settings import Settings
from domain.authority import (
    Authority,
    AuthorityPending,
    AuthorityRefused,
    AuthorityUnavailable,
    IssueRequest,
)
from domain.certificates import file_name, reason_code
from domain.identifiers import parse_vat_number
from models.certificates import delete_certificate as delete_row
from models.certificates import get_certificate, set_expired, set_issued, set_revoked, set_state
from models.certificates_io import (
    ComposeEmail,
    DeleteInput,
    IssuedInfo,
    RecordIssued,
    RecordState,
    RevokeInput,
    SubmitInput,
)
from models.mail import EmailRequest
from models.tenant import get_tenant

REFUSED = "AuthorityRefused"
PENDING = "AuthorityPending"
UNAVAILABLE = "AuthorityUnavailable"


T = TypeVar("T")


def _authority_call(fn: Callable[..., T], *args: object) -> T:
    """Map the authority's answers to Temporal's retry semantics."""
    try:
        return fn(*args)
    except AuthorityRefused as err:
        raise ApplicationError(str(err), type=REFUSED, non_retryable=True) from None
    except AuthorityPending as err:
        raise ApplicationError(str(err), type=PENDING) from None
    except AuthorityUnavailable as err:
        raise ApplicationError(str(err), type=UNAVAILABLE) from None


class CertificateActivities:
    def __init__(self, settings: Settings, authority: Authority | None = None,
                 ksef: Callable[[str], Authority] | None = None):
        self.settings = settings
        self.authority = authority or authority_from_settings(settings)  # the built-in CA (or a test's)
        self.ksef = ksef or KsefAuthorities(settings)  # a Polish customer's KSeF, by VAT number; lazy
        ensure = getattr(self.authority, "ensure", None)
        if callable(ensure):  # the built-in CA makes its key and certificate at the worker's first start
            ensure()

    def _authority_of(self, operation_id: str) -> tuple[Authority, str]:
        """The authority of this certificate's customer, and the certificate's kind. A row deleted meanwhile
        (the workflow is ending) leaves nothing to route by: the built-in CA answers, as before KSeF."""
        with session_scope(self.settings.database_url) as session:
            try:
                cert = get_certificate(session, operation_id)
            except LookupError:
                return self.authority, "authentication"
        if parse_vat_number(cert.vat_number).country == "PL":
            return self.ksef(cert.vat_number), cert.kind
        return self.authority, cert.kind

    @activity.defn(name="cert_submit")
    def submit(self, inp: SubmitInput) -> str:
        authority, kind = self._authority_of(inp.operation_id)
        return str(_authority_call(authority.submit, IssueRequest(inp.operation_id, inp.csr_pem, kind)))

    @activity.defn(name="cert_collect")
    def collect(self, inp: RecordIssued) -> IssuedInfo | None:
        """The authority's decision: the issued certificate (recorded, state active), or None while it is
        still deliberating (the workflow asks again after a durable timer)."""
        authority, _ = self._authority_of(inp.operation_id)
        try:
            issued = _authority_call(authority.issue, inp.reference)
        except ApplicationError as err:
            if err.type == PENDING:
                return None
            raise
        cert = x509.load_pem_x509_certificate(issued.pem.encode())
        with session_scope(self.settings.database_url) as session:
            set_issued(session, inp.operation_id, issued.pem, cert.public_bytes(serialization.Encoding.DER),
                       issued.serial, cert.issuer.rfc4514_string(), issued.not_before, issued.not_after)
        return IssuedInfo(serial=issued.serial, not_before=issued.not_before.isoformat(),
                          not_after=issued.not_after.isoformat(), subject=issued.subject)

    @activity.defn(name="cert_record_state")
    def record_state(self, inp: RecordState) -> bool:
        with session_scope(self.settings.database_url) as session:
            return set_state(session, inp.operation_id, inp.state, inp.error)

    @activity.defn(name="cert_mark_expired")
    def mark_expired(self, inp: DeleteInput) -> bool:
        with session_scope(self.settings.database_url) as session:
            return set_expired(session, inp.operation_id)

    @activity.defn(name="cert_revoke")
    def revoke(self, inp: RevokeInput) -> int:
        """Revoke at the authority, then record it; returns the RFC 5280 reason code."""
        code = reason_code(inp.reason)  # KSeF's reason is read from it (domain.ksef.certificates)
        authority, _ = self._authority_of(inp.operation_id)
        _authority_call(authority.revoke, inp.serial, code)
        with session_scope(self.settings.database_url) as session:
            set_revoked(session, inp.operation_id, inp.reason, inp.actor)
        return code

    @activity.defn(name="cert_delete_record")
    def delete_record(self, inp: DeleteInput) -> bool:
        with session_scope(self.settings.database_url) as session:
            return delete_row(session, inp.operation_id)

    @activity.defn(name="cert_compose_email")
    def compose_email(self, inp: ComposeEmail) -> EmailRequest:
        """The e-mail of one step, to the customer's address; with no recipient when the certificate is gone
        (deleted meanwhile: nobody to tell)."""
        with session_scope(self.settings.database_url) as session:
            tenant = get_tenant(session, inp.vat)
            try:
                cert = get_certificate(session, inp.operation_id)
            except LookupError:
                return EmailRequest(idempotency_key=inp.idempotency_key, to="", subject="", body_text="",
                                    kind=inp.kind, tenant_vat=tenant.vat_number)
        name = file_name(inp.operation_id)
        expiry = _it_date(cert.expires_at)
        subjects_bodies: dict[str, tuple[str, str]] = {
            "cert-issued": (
                f"Certificate {name} is active",
                f"Your certificate {name} (serial {cert.serial}) has been issued and is active (ATTIVATO) until "
                f"{expiry}.\nDownload it with: einvoice cert download --vat {tenant.vat_number} "
                f"--id {inp.operation_id}",
            ),
            "cert-authorization-failed": (
                f"Certificate request {inp.operation_id}: authorization failed",
                f"Your certificate request {inp.operation_id} failed authorization (Uwierzytelnianie zakończone "
                f"niepowodzeniem): {inp.error or 'refused by the authority'}.\nThe certificate was not issued; "
                "check the request (CSR) and send a new one.",
            ),
            "cert-expiry-reminder": (
                f"Certificate {name} expires in {inp.days_left} day{'s' if inp.days_left != 1 else ''}",
                f"Your certificate {name} (serial {cert.serial}) expires on {expiry}, in {inp.days_left} "
                f"day{'s' if inp.days_left != 1 else ''}.\nRequest a new one before then to keep working.",
            ),
            "cert-expired": (
                f"Certificate {name} has expired",
                f"Your certificate {name} (serial {cert.serial}) expired on {expiry} and can no longer be "
                "used. Request a new one with einvoice cert request.",
            ),
            "cert-revoked": (
                f"Certificate {name} was revoked",
                f"Your certificate {name} (serial {cert.serial}) was revoked (annullato), reason: "
                f"{inp.reason}. Its serial is published in the CA's revocation list (CRL). You can request a "
                "new certificate at any time.",
            ),
        }
        if inp.kind == "cert-authorization-failed" and tenant.country == "PL":  # seed 004, KSeF's reason in it
            kind_pl = "uwierzytelniający" if cert.kind == "authentication" else "offline"
            subjects_bodies[inp.kind] = (
                f"Certyfikat KSeF {inp.operation_id}: wystąpił błąd - Uwierzytelnianie zakończone niepowodzeniem",
                f"Certyfikat {kind_pl} {inp.operation_id} został wgrany nieprawidłowo: wystąpił błąd "
                f"(Uwierzytelnianie zakończone niepowodzeniem).\nPowód: {inp.error or 'odrzucony przez KSeF'}\n"
                "Certyfikat nie został wystawiony; sprawdź wniosek (CSR) i złóż nowy.\n\n"
                + subjects_bodies[inp.kind][1],
            )
        if inp.kind not in subjects_bodies:
            raise ApplicationError(f"no certificate e-mail of kind {inp.kind!r}", non_retryable=True)
        subject, body = subjects_bodies[inp.kind]
        return EmailRequest(
            idempotency_key=inp.idempotency_key, to=tenant.pec, subject=subject, kind=inp.kind,
            tenant_vat=tenant.vat_number,
            body_text=f"Dear {tenant.name},\n\n{body}\n\n-- einvoice-hub\n",
        )


def _it_date(value: datetime | None) -> str:
    return value.strftime("%d/%m/%Y") if value else "-"
