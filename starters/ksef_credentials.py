"""A Polish customer's KSeF token (#14), from Python and the HTTP API: set (or replace), see whether one is set,
remove.

The customer generates the token in KSeF with InvoiceWrite and InvoiceRead and gives it to us: the worker then
logs in to KSeF with it in the customer's context for sending and downloading (`adapters/ksef_credentials.py`),
and never with a key of the customer's. Setting or removing it is the customer's service configuration
(`ksef.token`: its users, operators, an accountant granted config.manage); whether one is set is `ksef.read`.
The token is sealed at rest (`models/ksef_credentials.py`) and no answer, log line or audit entry holds it.

A certificate request is another matter: KSeF enrolls only the subject that logged in by XAdES, and a token
cannot enroll. So the customer signs the login itself: `new_auth_request` hands out KSeF's challenge and the
AuthTokenRequest for the customer's NIP, the customer signs it on its machine (`einvoice cert request
--ksef-seal`), and the certificate request carries it (`attach_signed_request`: checked, sealed by the request's
operation id, used once by the submission and then deleted).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.ksef import KsefClient, KsefRateLimited, KsefRejected, KsefUnavailable, client_from_settings
from core.db import session_scope
from core.secrets import seal
from core.settings import Settings
from domain.errors import InvalidInput, NotFound, Unavailable
from domain.ksef.auth import AUTH_NS, auth_token_request
from domain.ksef.credentials import MAX_SIGNED_REQUEST, SignedAuthRequest, check_ksef_token, check_signed_auth_request
from domain.policy import Principal
from domain.xmlsafe import parse_untrusted
from models import ksef_credentials as creds
from models.base import as_utc, utcnow
from models.tenant import get_tenant_row
from starters.acting import STARTER, acting


def _polish(vat: str) -> None:
    if not vat.startswith("PL"):
        raise InvalidInput.one("vat", f"{vat} is not a Polish customer: a KSeF token is a NIP's (PL...)")


def set_ksef_token(settings: Settings, vat: str, token: str, *, as_user: Principal,
                   surface: str = STARTER) -> creds.KsefTokenStatus:
    """Keep `token` (sealed) as the customer's KSeF token, replacing the one before."""
    with acting(settings, as_user, "ksef.token", f"KSeF token of {vat}", surface) as act:
        act.check(vat)
        checked = check_ksef_token(token)
        with session_scope(settings.database_url) as session:
            tenant = get_tenant_row(session, vat)
            _polish(tenant.vat_number)
            row = creds.put(session, tenant.id, seal(settings, checked), as_user.label)
            return creds.status(tenant.vat_number, row)


def ksef_token_status(settings: Settings, vat: str, *, as_user: Principal,
                      surface: str = STARTER) -> creds.KsefTokenStatus:
    """Whether the customer's KSeF token is set, when and by whom (never the token)."""
    with acting(settings, as_user, "ksef.read", f"KSeF token of {vat}", surface) as act:
        act.check(vat)
        with session_scope(settings.database_url) as session:
            tenant = get_tenant_row(session, vat)
            return creds.status(tenant.vat_number, creds.find(session, tenant.id))


def remove_ksef_token(settings: Settings, vat: str, *, as_user: Principal, surface: str = STARTER) -> None:
    """Forget the customer's KSeF token (it stays valid in KSeF until the customer revokes it there); none set
    is `NotFound`."""
    with acting(settings, as_user, "ksef.token", f"remove KSeF token of {vat}", surface) as act:
        act.check(vat)
        with session_scope(settings.database_url) as session:
            tenant = get_tenant_row(session, vat)
            if not creds.remove(session, tenant.id):
                raise NotFound(f"no KSeF token is set for {tenant.vat_number}")


# ---------------------------------------------------------------- a certificate request signed by the customer

CHALLENGE_LIFETIME = timedelta(minutes=10)  # uwierzytelnianie.md: a challenge is valid 10 minutes


@dataclass
class AuthRequestToSign:
    """What `POST /customers/{vat}/ksef/auth-requests` answers: KSeF's challenge and the AuthTokenRequest for
    the customer's NIP to sign on the customer's own machine (XAdES, with its seal or qualified certificate),
    then sent with the certificate request (`ksef_auth_request`) before `valid_until`."""

    vat: str
    challenge: str
    valid_until: str
    xml: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def new_auth_request(settings: Settings, vat: str, *, as_user: Principal, surface: str = STARTER,
                     make_client: Callable[[], KsefClient] | None = None) -> AuthRequestToSign:
    """Ask KSeF for a challenge (`/auth/challenge`, no login needed) and hand out the AuthTokenRequest for it in
    the customer's NIP context; the challenge is recorded as ours, for this customer."""
    with acting(settings, as_user, "certificate.request", f"KSeF auth request of {vat}", surface) as act:
        act.check(vat)
        with session_scope(settings.database_url) as session:
            tenant = get_tenant_row(session, vat)
            vat_number = tenant.vat_number
        _polish(vat_number)
        nip = vat_number.removeprefix("PL")
        client = (make_client or (lambda: client_from_settings(settings)))()
        try:
            challenge = client.challenge()
        except (KsefUnavailable, KsefRateLimited) as err:
            raise Unavailable(f"KSeF gave no challenge now: {err}") from None
        except KsefRejected as err:
            raise Unavailable(f"KSeF refused a challenge: {err}") from None
        finally:
            client.close()
        xml = auth_token_request(challenge.challenge, "Nip", nip)
        with session_scope(settings.database_url) as session:
            session.add(creds.KsefAuthRequest(tenant_id=get_tenant_row(session, vat_number).id,
                                              challenge=challenge.challenge, challenge_at=challenge.timestamp,
                                              requested_by=as_user.label))
        return AuthRequestToSign(vat_number, challenge.challenge,
                                 (challenge.timestamp + CHALLENGE_LIFETIME).isoformat(), xml.decode("utf-8"))


def attach_signed_request(session: Session, settings: Settings, tenant_id: int, vat_number: str,
                          operation_id: str, signed_xml: bytes, now: datetime | None = None) -> SignedAuthRequest:
    """Check the customer's signed AuthTokenRequest (ours, for this customer, not used, not lapsed, signed and
    for its NIP: `InvalidInput` naming `ksef_auth_request` otherwise) and keep it sealed under the request's
    operation id, in the caller's transaction (with the certificate row: both or neither)."""
    now = now or utcnow()
    field = "ksef_auth_request"
    root = parse_untrusted(signed_xml, field, MAX_SIGNED_REQUEST)
    challenge = (root.findtext(f"{{{AUTH_NS}}}Challenge") or "").strip()
    row = session.scalar(select(creds.KsefAuthRequest).where(creds.KsefAuthRequest.challenge == challenge)
                         .with_for_update())
    if row is None or row.tenant_id != tenant_id:
        raise InvalidInput.one(field, f"its challenge {challenge[:36]!r} was not handed out for {vat_number}: ask "
                                      f"for one (POST /customers/{vat_number}/ksef/auth-requests) and sign that")
    if row.operation_id is not None:
        raise InvalidInput.one(field, f"its challenge was used already (request {row.operation_id}): a signed "
                                      "request logs in once; ask for a new one and sign again")
    if as_utc(row.challenge_at) + CHALLENGE_LIFETIME <= now:
        raise InvalidInput.one(field, "its challenge has expired (KSeF's lapse after 10 minutes): ask for a new "
                                      "one and sign again")
    checked = check_signed_auth_request(signed_xml, row.challenge, vat_number.removeprefix("PL"), now)
    row.operation_id = operation_id
    row.signed_sealed = seal(settings, base64.b64encode(checked.xml).decode("ascii"))
    session.flush()
    return checked
