"""The KSeF 2.0 client (httpx, synchronous like the SDI's channel): authentication, certificates, the
interactive session and the download of invoices, as the vendored contract `domain/ksef/spec/open-api.json`
(API 2.6) states them. One outside system and no Temporal: activities wrap it.

Authentication (uwierzytelnianie): `POST /auth/challenge`, then a XAdES-signed AuthTokenRequest
(`/auth/xades-signature`) or a KSeF token encrypted to the ministry's key (`/auth/ksef-token`); both answer an
authenticationToken that polls `GET /auth/{referenceNumber}` until its status is 200 (100: in progress, 4xx/5xx:
refused, `KsefAuthFailed` with KSeF's code and details), then redeems the pair of tokens once
(`/auth/token/redeem`). The access token is refreshed (`/auth/token/refresh`, with the refresh token) before it
lapses (`refresh_margin` ahead of its validUntil), so a burst of calls never meets a 401 for an expired token;
should KSeF's clock run ahead of ours and answer 401 all the same, the token is refreshed and the call made once
more (a second 401, or a refresh token lapsed too, is `KsefRejected`: log in again).
Tokens live in this object only: never logged, never returned in a result, hidden by every `repr`.

Errors are exceptions naming KSeF's own code and description, read from its error bodies: the default
`ExceptionResponse` (exception.exceptionDetailList[].exceptionCode/exceptionDescription/details), the
problem-details shapes (`title`, `status`, `detail`, `errors[].code/description`, `reasonCode`) and the 429 body
(`status.code/description/details`). `KsefUnavailable` (5xx, no answer) and `KsefRateLimited` mean "later";
`KsefRejected` (another 4xx) means "never as it is".

Rate limits (limity/limity-api.md): KSeF counts requests per context and IP address in sliding windows of one
second, one minute and one hour, all three at once, per endpoint (the unlisted ones 10/30/120 each, with a
counter of their own; `/auth/challenge` 60 per second per IP). The client keeps under them itself with
`RateBudget` (`adapters/ksef_budget.py`): a SQLite file in the data dir holding the time of every request
of the last hour per (context, endpoint). A request is recorded in a `BEGIN IMMEDIATE` transaction after
counting the three windows, so every worker process on the machine shares one budget and two of them can never
both take the last place.
SQLite rather than a file-locked token bucket because the limit is three sliding windows at once, which a
token bucket only approximates (it would either over-send within the hour or under-use the second), and
because sqlite3 is in the standard library and gives the cross-process atomicity a lock file would have to
re-implement. A 429 still comes (KSeF's limits change, other machines share the IP): its `Retry-After` is
honoured, bounded by `max_retry_after` (longer: `KsefRateLimited`, for the activity to retry later), and the
block is written to the budget so the other processes wait too instead of lengthening it (KSeF prolongs a
block that is hammered).
"""

from __future__ import annotations

import base64
import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.ksef_budget import BudgetSpent, RateBudget
from core.settings import Settings
from domain.ksef import auth as ksef_auth
from domain.ksef.limits import Limit, limit_of
from domain.ksef.session_crypto import SessionKey, send_invoice_request
from domain.signatures.keystore import Signer

# ------------------------------------------------------------------ the endpoints the client calls

@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # the contract's path template
    success: int  # the status code of success
    request: str | None = None  # the contract's request schema (components/schemas), None: no JSON body
    response: str | None = None  # the contract's response schema, None: no JSON answer
    bearer: str = "access"  # which token: access | authentication | refresh | none

    @property
    def limit(self) -> Limit:
        """req/s, req/min, req/h (limity-api.md, `domain.ksef.limits`)."""
        return limit_of(self.method, self.path)


ENDPOINTS: dict[str, Endpoint] = {
    "challenge": Endpoint("POST", "/auth/challenge", 200, None, "AuthenticationChallengeResponse",
                          "none"),
    "xades": Endpoint("POST", "/auth/xades-signature", 202, None, "AuthenticationInitResponse", bearer="none"),
    "ksef_token": Endpoint("POST", "/auth/ksef-token", 202, "InitTokenAuthenticationRequest",
                           "AuthenticationInitResponse", bearer="none"),
    "auth_status": Endpoint("GET", "/auth/{referenceNumber}", 200, None, "AuthenticationOperationStatusResponse",
                            bearer="authentication"),
    "redeem": Endpoint("POST", "/auth/token/redeem", 200, None, "AuthenticationTokensResponse",
                       bearer="authentication"),
    "refresh": Endpoint("POST", "/auth/token/refresh", 200, None, "AuthenticationTokenRefreshResponse",
                        bearer="refresh"),
    "public_keys": Endpoint("GET", "/security/public-key-certificates", 200, None, "PublicKeyCertificate",
                            bearer="none"),
    "cert_limits": Endpoint("GET", "/certificates/limits", 200, None, "CertificateLimitsResponse"),
    "enrollment_data": Endpoint("GET", "/certificates/enrollments/data", 200, None,
                                "CertificateEnrollmentDataResponse"),
    "enroll": Endpoint("POST", "/certificates/enrollments", 202, "EnrollCertificateRequest",
                       "EnrollCertificateResponse"),
    "enrollment_status": Endpoint("GET", "/certificates/enrollments/{referenceNumber}", 200, None,
                                  "CertificateEnrollmentStatusResponse"),
    "retrieve": Endpoint("POST", "/certificates/retrieve", 200, "RetrieveCertificatesRequest",
                         "RetrieveCertificatesResponse"),
    "query_certificates": Endpoint("POST", "/certificates/query", 200, "QueryCertificatesRequest",
                                   "QueryCertificatesResponse"),
    "revoke": Endpoint("POST", "/certificates/{certificateSerialNumber}/revoke", 204, "RevokeCertificateRequest"),
    "open_online": Endpoint("POST", "/sessions/online", 201, "OpenOnlineSessionRequest",
                            "OpenOnlineSessionResponse"),
    "send_invoice": Endpoint("POST", "/sessions/online/{referenceNumber}/invoices", 202, "SendInvoiceRequest",
                             "SendInvoiceResponse"),
    "close_online": Endpoint("POST", "/sessions/online/{referenceNumber}/close", 204),
    "session_status": Endpoint("GET", "/sessions/{referenceNumber}", 200, None, "SessionStatusResponse"),
    "invoice_status": Endpoint("GET", "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}", 200, None,
                               "SessionInvoiceStatusResponse"),
    "invoice_upo": Endpoint("GET", "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}/upo", 200),
    "invoice_upo_by_ksef_number": Endpoint("GET", "/sessions/{referenceNumber}/invoices/ksef/{ksefNumber}/upo", 200),
    "session_upo": Endpoint("GET", "/sessions/{referenceNumber}/upo/{upoReferenceNumber}", 200),
    "query_metadata": Endpoint("POST", "/invoices/query/metadata", 200, "InvoiceQueryFilters",
                               "QueryInvoicesMetadataResponse"),
    "get_invoice": Endpoint("GET", "/invoices/ksef/{ksefNumber}", 200),
}

FA3_FORM_CODE = {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"}
REVOCATION_REASONS = ("Unspecified", "Superseded", "KeyCompromise")
SUBJECT_TYPES = ("Subject1", "Subject2", "Subject3", "SubjectAuthorized")
DATE_TYPES = ("Issue", "Invoicing", "PermanentStorage")
AUTH_IN_PROGRESS, AUTH_OK = 100, 200

# ------------------------------------------------------------------ errors


@dataclass(frozen=True)
class KsefProblem:
    code: int | str | None
    description: str
    details: tuple[str, ...] = ()

    def __str__(self) -> str:
        more = f" ({'; '.join(self.details)})" if self.details else ""
        return f"{self.code} {self.description}{more}" if self.code is not None else f"{self.description}{more}"


class KsefError(RuntimeError):
    """KSeF answered an error (or did not answer). `problems` are KSeF's own codes and descriptions."""

    def __init__(self, operation: str, status: int | None, problems: tuple[KsefProblem, ...],
                 message: str | None = None):
        self.operation, self.status, self.problems = operation, status, problems
        said = "; ".join(str(p) for p in problems) or "no error body"
        super().__init__(message or f"KSeF {operation}: HTTP {status}: {said}")

    @property
    def codes(self) -> tuple[int | str | None, ...]:
        return tuple(p.code for p in self.problems)


class KsefRejected(KsefError):
    """A 4xx other than 429 (and 408): this request, as it is, will never succeed."""


class KsefUnavailable(KsefError):
    """KSeF could not be reached or answered 5xx/408: try again later."""


class KsefRateLimited(KsefError):
    """Too many requests: KSeF's 429 with a Retry-After longer than we wait, or our own budget full for
    longer than we wait. `retry_after` is in seconds."""

    def __init__(self, operation: str, status: int | None, problems: tuple[KsefProblem, ...],
                 retry_after: float, message: str | None = None):
        self.retry_after = retry_after
        super().__init__(operation, status, problems, message)


class KsefAuthFailed(KsefError):
    """The authentication operation ended with a failure status (415, 425, 450, 460, 470, 480, 500, 550)."""


def problems_of(response: httpx.Response) -> tuple[KsefProblem, ...]:
    """KSeF's error body, whichever of its shapes it has (see the module's docstring)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()[:300]
        return (KsefProblem(None, text),) if text else ()
    if not isinstance(body, dict):
        return ()
    found: list[KsefProblem] = []
    exception = body.get("exception")
    if isinstance(exception, dict):
        for d in exception.get("exceptionDetailList") or []:
            found.append(KsefProblem(d.get("exceptionCode"), str(d.get("exceptionDescription") or ""),
                                     tuple(d.get("details") or ())))
    status = body.get("status")
    if isinstance(status, dict):
        found.append(KsefProblem(status.get("code"), str(status.get("description") or ""),
                                 tuple(status.get("details") or ())))
    for e in body.get("errors") or []:
        if isinstance(e, dict):
            found.append(KsefProblem(e.get("code"), str(e.get("description") or ""), tuple(e.get("details") or ())))
    if not found and ("title" in body or "detail" in body):
        found.append(KsefProblem(body.get("reasonCode") or body.get("status"),
                                 " - ".join(str(body[k]) for k in ("title", "detail") if body.get(k))))
    return tuple(found)


# ------------------------------------------------------------------ results


def _dt(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _req_dt(value: str) -> datetime:
    parsed = _dt(value)
    assert parsed is not None
    return parsed


@dataclass(frozen=True)
class TokenInfo:
    token: str = field(repr=False)
    valid_until: datetime

    @classmethod
    def of(cls, d: dict[str, Any]) -> TokenInfo:
        return cls(d["token"], _req_dt(d["validUntil"]))


@dataclass(frozen=True)
class Challenge:
    challenge: str
    timestamp: datetime
    timestamp_ms: int
    client_ip: str


@dataclass(frozen=True)
class AuthInit:
    """An authentication operation started: its reference and the authenticationToken that follows it."""

    reference_number: str
    authentication_token: TokenInfo


@dataclass(frozen=True)
class Status:
    """A KSeF status (StatusInfo): its code, description and details."""

    code: int
    description: str
    details: tuple[str, ...] = ()
    # e.g. a duplicate's (440) originalSessionReferenceNumber and originalKsefNumber
    extensions: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, d: dict[str, Any]) -> Status:
        extensions = d.get("extensions") or {}
        return cls(int(d["code"]), str(d["description"]), tuple(d.get("details") or ()),
                   tuple((str(k), str(v)) for k, v in extensions.items()) if isinstance(extensions, dict) else ())

    def extension(self, name: str) -> str | None:
        return dict(self.extensions).get(name)


@dataclass(frozen=True)
class AuthStatus:
    status: Status
    method: str
    start_date: datetime


@dataclass(frozen=True)
class CertificateLimits:
    can_request: bool
    enrollment_limit: int
    enrollment_remaining: int
    certificate_limit: int
    certificate_remaining: int


@dataclass(frozen=True)
class Enrollment:
    reference_number: str
    timestamp: datetime


@dataclass(frozen=True)
class EnrollmentStatus:
    """100 przyjęty do realizacji (taken), 200 obsłużony (issued: `serial_number`), 400 odrzucony (refused),
    500/550 an error."""

    status: Status
    request_date: datetime
    serial_number: str | None


@dataclass(frozen=True)
class RetrievedCertificate:
    serial_number: str
    name: str
    certificate_type: str  # Authentication | Offline
    certificate: x509.Certificate


@dataclass(frozen=True)
class CertificateInfo:
    serial_number: str
    name: str
    certificate_type: str
    common_name: str
    status: str  # Active | Blocked | Revoked | Expired
    subject_identifier: tuple[str, str]
    valid_from: datetime
    valid_to: datetime
    request_date: datetime
    last_use_date: datetime | None


@dataclass(frozen=True)
class CertificatePage:
    certificates: tuple[CertificateInfo, ...]
    has_more: bool


@dataclass(frozen=True)
class PublicKeyCertificate:
    certificate: x509.Certificate
    usage: tuple[str, ...]
    valid_from: datetime
    valid_to: datetime

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        key = self.certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise KsefRejected("public_keys", None, (), "the ministry's key is not RSA")
        return key


@dataclass(frozen=True)
class OnlineSession:
    """An open interactive session. Its AES key stays here, in the worker's memory (never in a history)."""

    reference_number: str
    valid_until: datetime
    key: SessionKey = field(repr=False)


@dataclass(frozen=True)
class UpoPage:
    reference_number: str
    download_url: str
    download_url_expiration: datetime


@dataclass(frozen=True)
class SessionStatus:
    """100 otwarta (open), 170 zamknięta (closed, being processed), 200 przetworzona (processed: UPO),
    415/440/445 failures."""

    status: Status
    invoice_count: int | None
    successful_invoice_count: int | None
    failed_invoice_count: int | None
    upo_pages: tuple[UpoPage, ...]
    valid_until: datetime | None


@dataclass(frozen=True)
class InvoiceStatus:
    """100/150 in progress, 200 accepted (`ksef_number`), 405-450 refused, 500/550 errors."""

    status: Status
    ordinal_number: int
    reference_number: str
    invoice_hash: str | None  # required by the contract, missing from its own example: not relied on
    ksef_number: str | None
    invoice_number: str | None
    acquisition_date: datetime | None
    upo_download_url: str | None


@dataclass(frozen=True)
class InvoiceMetadata:
    ksef_number: str
    invoice_number: str
    issue_date: date
    invoicing_date: datetime
    acquisition_date: datetime
    permanent_storage_date: datetime
    seller_nip: str
    buyer_identifier: tuple[str, str | None]
    gross_amount: float
    currency: str
    invoice_type: str
    invoice_hash: str
    seller_name: str | None = None


@dataclass(frozen=True)
class MetadataPage:
    invoices: tuple[InvoiceMetadata, ...]
    has_more: bool
    is_truncated: bool
    permanent_storage_hwm_date: datetime | None


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (KSeF sends seconds; an HTTP date is read too)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# ------------------------------------------------------------------ the client


class KsefClient:
    """One KSeF context (the NIP the session acts for) on one base URL. Not thread-safe; one per activity
    call or per worker thread."""

    def __init__(self, base_url: str, *, budget: RateBudget | None = None, http: httpx.Client | None = None,
                 timeout: float = 30.0, max_retry_after: float = 60.0, max_429: int = 5,
                 max_budget_wait: float = 60.0, refresh_margin: timedelta = timedelta(minutes=2),
                 poll_interval: float = 0.5, auth_timeout: float = 120.0,
                 sleep: Callable[[float], None] = time.sleep, now: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        self._http = http or httpx.Client(base_url=self.base_url, timeout=timeout)
        self.max_retry_after, self.max_429, self.max_budget_wait = max_retry_after, max_429, max_budget_wait
        self.refresh_margin, self.poll_interval, self.auth_timeout = refresh_margin, poll_interval, auth_timeout
        self.sleep, self.now = sleep, now
        self.context: tuple[str, str] | None = None
        self._access: TokenInfo | None = None
        self._refresh: TokenInfo | None = None
        self._public_keys: list[PublicKeyCertificate] | None = None
        self.waits: list[float] = []  # every Retry-After honoured (seconds), for the caller's metrics
        self._owns_budget = False

    def __repr__(self) -> str:
        context = f"{self.context[0]}:{self.context[1]}" if self.context else "none"
        return f"KsefClient({self.base_url!r}, context={context}, tokens=<hidden>)"

    def close(self) -> None:
        self._http.close()
        if self._owns_budget and self.budget is not None:
            self.budget.close()

    def __enter__(self) -> KsefClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------- the one request loop
    def _call(self, name: str, *, path: dict[str, str] | None = None, json: Any = None, content: bytes | None = None,
              content_type: str | None = None, params: dict[str, Any] | None = None,
              token: str | None = None) -> httpx.Response:
        ep = ENDPOINTS[name]
        url = ep.path.format(**{k: quote(v, safe="") for k, v in (path or {}).items()})
        headers = {"Accept": "application/json" if ep.response else "application/xml"}
        if content_type:
            headers["Content-Type"] = content_type
        if ep.bearer != "none":
            headers["Authorization"] = f"Bearer {token if token is not None else self._access_token()}"
        context = f"{self.context[0]}:{self.context[1]}" if self.context and ep.bearer != "none" else ""
        may_renew = ep.bearer == "access" and token is None  # a 401 of our access token: refresh once, again
        for _ in range(self.max_429 + 2):
            if self.budget is not None:
                try:
                    self.budget.acquire(context, ep.path, ep.limit, self.max_budget_wait)
                except BudgetSpent as spent:
                    raise KsefRateLimited(name, None, (), spent.wait, str(spent)) from None
            try:
                response = self._http.request(ep.method, url, json=json, content=content, params=params,
                                              headers=headers)
            except httpx.HTTPError as err:
                raise KsefUnavailable(name, None, (), f"KSeF {name}: no answer from {self.base_url} "
                                                      f"({type(err).__name__}: {err})") from None
            if response.status_code == ep.success:
                return response
            if response.status_code == 429:
                wait = retry_after_seconds(response.headers.get("Retry-After"), self.now())
                wait = 1.0 if wait is None else wait
                if self.budget is not None:
                    self.budget.block(context, ep.path, wait)
                if wait > self.max_retry_after:
                    problems = problems_of(response)
                    said = "; ".join(str(p) for p in problems) or "no error body"
                    raise KsefRateLimited(name, 429, problems, wait,
                                          f"KSeF {name}: 429 ({said}), Retry-After {wait:.0f} s, longer than the "
                                          f"{self.max_retry_after:.0f} s we wait: try later")
                self.waits.append(wait)
                self.sleep(wait)
                continue
            if response.status_code == 401 and may_renew and self._refresh is not None:
                may_renew = False  # KSeF's clock says it lapsed before ours did: renew it and try once more
                self.refresh()
                assert self._access is not None
                headers["Authorization"] = f"Bearer {self._access.token}"
                continue
            problems = problems_of(response)
            if response.status_code >= 500 or response.status_code == 408:
                raise KsefUnavailable(name, response.status_code, problems)
            raise KsefRejected(name, response.status_code, problems)
        raise KsefRateLimited(name, 429, (), self.max_retry_after,
                              f"KSeF {name}: still 429 after {self.max_429} waits: try later")

    # ---------------------------------------------------------- authentication
    def challenge(self) -> Challenge:
        d = self._call("challenge").json()
        return Challenge(d["challenge"], _req_dt(d["timestamp"]), int(d["timestampMs"]), d["clientIp"])

    def public_key_certificates(self) -> list[PublicKeyCertificate]:
        if self._public_keys is None:
            found = []
            for d in self._call("public_keys").json():
                cert = x509.load_der_x509_certificate(base64.b64decode(d["certificate"]))
                found.append(PublicKeyCertificate(cert, tuple(d["usage"]), _req_dt(d["validFrom"]),
                                                  _req_dt(d["validTo"])))
            self._public_keys = found
        return self._public_keys

    def ministry_key(self, usage: str) -> rsa.RSAPublicKey:
        """The ministry's key for `usage` (KsefTokenEncryption | SymmetricKeyEncryption) valid now."""
        now = self.now()
        for pk in self.public_key_certificates():
            if usage in pk.usage and pk.valid_from <= now <= pk.valid_to:
                return pk.public_key
        raise KsefRejected("public_keys", None, (), f"KSeF publishes no key for {usage} valid now")

    def start_xades(self, context_kind: str, context_value: str, signer: Signer,
                    subject_type: str = "certificateSubject", verify_chain: bool = False) -> AuthInit:
        ch = self.challenge()
        body = ksef_auth.signed_auth_token_request(ch.challenge, context_kind, context_value, signer, subject_type)
        return self.start_xades_signed(context_kind, context_value, body, verify_chain)

    def start_xades_signed(self, context_kind: str, context_value: str, signed_xml: bytes,
                           verify_chain: bool = False) -> AuthInit:
        """Start the XAdES authentication with an AuthTokenRequest someone else signed (the customer, on its
        own machine, for a challenge it got from us: `domain.ksef.credentials.check_signed_auth_request`),
        posted exactly as signed. Its challenge is spent by this call, whatever KSeF answers."""
        self.context = (context_kind, context_value)
        d = self._call("xades", content=signed_xml, content_type="application/xml",
                       params={"verifyCertificateChain": "true" if verify_chain else "false"}).json()
        return AuthInit(d["referenceNumber"], TokenInfo.of(d["authenticationToken"]))

    def start_token(self, context_kind: str, context_value: str, ksef_token: str) -> AuthInit:
        ch = self.challenge()
        body = ksef_auth.token_auth_request(ch.challenge, ch.timestamp_ms, context_kind, context_value, ksef_token,
                                            self.ministry_key("KsefTokenEncryption"))
        self.context = (context_kind, context_value)
        d = self._call("ksef_token", json=body, content_type="application/json").json()
        return AuthInit(d["referenceNumber"], TokenInfo.of(d["authenticationToken"]))

    def auth_status(self, init: AuthInit) -> AuthStatus:
        d = self._call("auth_status", path={"referenceNumber": init.reference_number},
                       token=init.authentication_token.token).json()
        return AuthStatus(Status.of(d["status"]), d["authenticationMethod"], _req_dt(d["startDate"]))

    def wait_authenticated(self, init: AuthInit) -> AuthStatus:
        """Poll until the operation ends: its status if 200, else `KsefAuthFailed` naming KSeF's code."""
        polls = max(1, int(self.auth_timeout / max(self.poll_interval, 0.001)))
        for _ in range(polls):
            st = self.auth_status(init)
            if st.status.code == AUTH_OK:
                return st
            if st.status.code != AUTH_IN_PROGRESS:
                raise KsefAuthFailed("auth_status", 200, (KsefProblem(st.status.code, st.status.description,
                                                                      st.status.details),))
            self.sleep(self.poll_interval)
        raise KsefUnavailable("auth_status", 200, (KsefProblem(st.status.code, st.status.description),),
                              f"KSeF authentication {init.reference_number} still in progress after "
                              f"{self.auth_timeout:.0f} s")

    def redeem(self, init: AuthInit) -> datetime:
        """Take the access and refresh tokens (once: KSeF gives them only once). Answers until when the
        access token is valid; the tokens themselves stay in the client."""
        d = self._call("redeem", token=init.authentication_token.token).json()
        self._access, self._refresh = TokenInfo.of(d["accessToken"]), TokenInfo.of(d["refreshToken"])
        return self._access.valid_until

    def login_xades(self, context_kind: str, context_value: str, signer: Signer,
                    subject_type: str = "certificateSubject") -> datetime:
        init = self.start_xades(context_kind, context_value, signer, subject_type)
        self.wait_authenticated(init)
        return self.redeem(init)

    def login_xades_signed(self, context_kind: str, context_value: str, signed_xml: bytes) -> datetime:
        init = self.start_xades_signed(context_kind, context_value, signed_xml)
        self.wait_authenticated(init)
        return self.redeem(init)

    def login_token(self, context_kind: str, context_value: str, ksef_token: str) -> datetime:
        init = self.start_token(context_kind, context_value, ksef_token)
        self.wait_authenticated(init)
        return self.redeem(init)

    def refresh(self) -> datetime:
        if self._refresh is None:
            raise KsefRejected("refresh", None, (), "not authenticated: log in first")
        d = self._call("refresh", token=self._refresh.token).json()
        self._access = TokenInfo.of(d["accessToken"])
        return self._access.valid_until

    @property
    def access_valid_until(self) -> datetime | None:
        return self._access.valid_until if self._access else None

    def _access_token(self) -> str:
        if self._access is None:
            raise KsefRejected("auth", None, (), "not authenticated: log in first (login_xades or login_token)")
        if self._access.valid_until - self.refresh_margin <= self.now():
            self.refresh()
        assert self._access is not None
        return self._access.token

    # ---------------------------------------------------------- certificates
    def certificate_limits(self) -> CertificateLimits:
        d = self._call("cert_limits").json()
        return CertificateLimits(bool(d["canRequest"]), int(d["enrollment"]["limit"]),
                                 int(d["enrollment"]["remaining"]), int(d["certificate"]["limit"]),
                                 int(d["certificate"]["remaining"]))

    def enrollment_data(self) -> dict[str, object]:
        """The subject the CSR must carry (what domain.ksef.enrollment.check_enrollment_csr compares with)."""
        d: dict[str, object] = {k: v for k, v in self._call("enrollment_data").json().items() if v is not None}
        return d

    def enroll(self, body: dict[str, str]) -> Enrollment:
        """`body`: domain.ksef.enrollment.enrollment_request of a checked CSR."""
        d = self._call("enroll", json=body).json()
        return Enrollment(d["referenceNumber"], _req_dt(d["timestamp"]))

    def enrollment_status(self, reference_number: str) -> EnrollmentStatus:
        d = self._call("enrollment_status", path={"referenceNumber": reference_number}).json()
        return EnrollmentStatus(Status.of(d["status"]), _req_dt(d["requestDate"]), d.get("certificateSerialNumber"))

    def retrieve_certificates(self, serial_numbers: list[str]) -> list[RetrievedCertificate]:
        d = self._call("retrieve", json={"certificateSerialNumbers": serial_numbers}).json()
        return [RetrievedCertificate(c["certificateSerialNumber"], c["certificateName"], c["certificateType"],
                                     x509.load_der_x509_certificate(base64.b64decode(c["certificate"])))
                for c in d["certificates"]]

    def query_certificates(self, *, serial_number: str | None = None, name: str | None = None,
                           certificate_type: str | None = None, status: str | None = None,
                           page_size: int = 10, page_offset: int = 0) -> CertificatePage:
        body = {k: v for k, v in {"certificateSerialNumber": serial_number, "name": name, "type": certificate_type,
                                  "status": status}.items() if v is not None}
        d = self._call("query_certificates", json=body,
                       params={"pageSize": page_size, "pageOffset": page_offset}).json()
        return CertificatePage(tuple(
            CertificateInfo(c["certificateSerialNumber"], c["name"], c["type"], c["commonName"], c["status"],
                            (c["subjectIdentifier"]["type"], c["subjectIdentifier"]["value"]),
                            _req_dt(c["validFrom"]), _req_dt(c["validTo"]), _req_dt(c["requestDate"]),
                            _dt(c.get("lastUseDate"))) for c in d["certificates"]), bool(d["hasMore"]))

    def revoke_certificate(self, serial_number: str, reason: str = "Unspecified") -> None:
        if reason not in REVOCATION_REASONS:
            raise KsefRejected("revoke", None, (), f"revocation reason {reason!r}: KSeF takes "
                                                   f"{', '.join(REVOCATION_REASONS)}")
        self._call("revoke", path={"certificateSerialNumber": serial_number}, json={"revocationReason": reason})

    # ---------------------------------------------------------- the interactive session
    def open_online_session(self, form_code: dict[str, str] | None = None) -> OnlineSession:
        key = SessionKey.new()
        body = {"formCode": form_code or FA3_FORM_CODE,
                "encryption": key.encryption_info(self.ministry_key("SymmetricKeyEncryption"))}
        d = self._call("open_online", json=body).json()
        return OnlineSession(d["referenceNumber"], _req_dt(d["validUntil"]), key)

    def send_invoice(self, session: OnlineSession, xml: bytes, offline_mode: bool = False) -> str:
        """The invoice's reference number in the session (its status tells the KSeF number later)."""
        d = self._call("send_invoice", path={"referenceNumber": session.reference_number},
                       json=send_invoice_request(session.key, xml, offline_mode)).json()
        return str(d["referenceNumber"])

    def close_online_session(self, session: OnlineSession | str) -> None:
        ref = session if isinstance(session, str) else session.reference_number
        self._call("close_online", path={"referenceNumber": ref})

    def session_status(self, reference_number: str) -> SessionStatus:
        d = self._call("session_status", path={"referenceNumber": reference_number}).json()
        pages = tuple(UpoPage(p["referenceNumber"], p["downloadUrl"], _req_dt(p["downloadUrlExpirationDate"]))
                      for p in ((d.get("upo") or {}).get("pages") or []))
        return SessionStatus(Status.of(d["status"]), d.get("invoiceCount"), d.get("successfulInvoiceCount"),
                             d.get("failedInvoiceCount"), pages, _dt(d.get("validUntil")))

    def invoice_status(self, session_reference: str, invoice_reference: str) -> InvoiceStatus:
        d = self._call("invoice_status", path={"referenceNumber": session_reference,
                                               "invoiceReferenceNumber": invoice_reference}).json()
        return InvoiceStatus(Status.of(d["status"]), int(d["ordinalNumber"]), d["referenceNumber"],
                             d.get("invoiceHash"),
                             d.get("ksefNumber"), d.get("invoiceNumber"), _dt(d.get("acquisitionDate")),
                             d.get("upoDownloadUrl"))

    def invoice_upo(self, session_reference: str, invoice_reference: str) -> bytes:
        return self._call("invoice_upo", path={"referenceNumber": session_reference,
                                               "invoiceReferenceNumber": invoice_reference}).content

    def invoice_upo_by_ksef_number(self, session_reference: str, ksef_number: str) -> bytes:
        """The UPO of an invoice known by its KSeF number (a duplicate's original, whose reference we lost)."""
        return self._call("invoice_upo_by_ksef_number", path={"referenceNumber": session_reference,
                                                              "ksefNumber": ksef_number}).content

    def session_upo(self, session_reference: str, upo_reference: str) -> bytes:
        return self._call("session_upo", path={"referenceNumber": session_reference,
                                               "upoReferenceNumber": upo_reference}).content

    # ---------------------------------------------------------- download
    def query_metadata(self, subject_type: str, date_from: datetime, date_to: datetime | None = None,
                       date_type: str = "PermanentStorage", *, page_offset: int = 0, page_size: int = 100,
                       sort_order: str = "Asc", restrict_to_hwm: bool = False) -> MetadataPage:
        """One page of metadata. `restrict_to_hwm` (PermanentStorage only): KSeF cuts the range at its
        high-water mark, below which no invoice will ever appear later (pobieranie-faktur/hwm.md)."""
        if subject_type not in SUBJECT_TYPES:
            raise KsefRejected("query_metadata", None, (), f"subjectType {subject_type!r}: one of "
                                                           f"{', '.join(SUBJECT_TYPES)}")
        if date_type not in DATE_TYPES:
            raise KsefRejected("query_metadata", None, (), f"dateType {date_type!r}: one of {', '.join(DATE_TYPES)}")
        if date_from.tzinfo is None or (date_to is not None and date_to.tzinfo is None):
            raise KsefRejected("query_metadata", None, (), "give the date range a time zone")
        date_range: dict[str, Any] = {"dateType": date_type, "from": date_from.isoformat()}
        if date_to is not None:
            date_range["to"] = date_to.isoformat()
        if restrict_to_hwm:
            if date_type != "PermanentStorage":
                raise KsefRejected("query_metadata", None, (), "restrictToPermanentStorageHwmDate needs the "
                                                               "PermanentStorage date type")
            date_range["restrictToPermanentStorageHwmDate"] = True
        d = self._call("query_metadata", json={"subjectType": subject_type, "dateRange": date_range},
                       params={"pageOffset": page_offset, "pageSize": page_size, "sortOrder": sort_order}).json()
        return MetadataPage(tuple(
            InvoiceMetadata(m["ksefNumber"], m["invoiceNumber"], date.fromisoformat(m["issueDate"]),
                            _req_dt(m["invoicingDate"]), _req_dt(m["acquisitionDate"]),
                            _req_dt(m["permanentStorageDate"]), m["seller"]["nip"],
                            (m["buyer"]["identifier"]["type"], m["buyer"]["identifier"].get("value")),
                            float(m["grossAmount"]), m["currency"], m["invoiceType"], m["invoiceHash"],
                            m["seller"].get("name"))
            for m in d["invoices"]), bool(d["hasMore"]), bool(d["isTruncated"]),
            _dt(d.get("permanentStorageHwmDate")))

    def get_invoice(self, ksef_number: str) -> bytes:
        return self._call("get_invoice", path={"ksefNumber": ksef_number}).content


BUDGET_FILE = Path("ksef") / "rate-budget.sqlite"


def client_from_settings(settings: Settings, **kw: Any) -> KsefClient:
    """The client for `KSEF_URL`, its rate budget the machine's one: `DATA_DIR/ksef/rate-budget.sqlite`, shared
    by every worker process that runs on this data dir. A `sleep` given is the budget's too: a caller that must
    heartbeat while it waits (the download's round) does so in a wait for the budget as in a Retry-After."""
    budget = RateBudget(settings.data_dir / BUDGET_FILE, sleep=kw.get("sleep", time.sleep))
    client = KsefClient(settings.ksef_url, budget=budget, **kw)
    client._owns_budget = True
    return client
