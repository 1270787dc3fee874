"""KSeF 2.0 certificate enrollment as an issuing authority (`domain.authority.Authority`), for one customer.

The certificate workflow is the same for every customer; its activities ask `KsefAuthorities` for a Polish
customer's authority and the built-in CA for the others. The protocol reads on KSeF like this:

- `submit`   `/certificates/limits` (a full limit is refused, naming it), `/certificates/enrollments/data` and
             the CSR checked against it (`domain.ksef.enrollment`: every differing attribute named, refused
             before anything is sent), then `POST /certificates/enrollments` with the certificateType of the
             request's kind and the name `einvoice <operation id>`. The answer's referenceNumber is recorded
             under the operation id before `submit` returns, so a retried submission (a worker killed after
             KSeF took it) answers the same reference and sends nothing: one enrollment per operation id;
- `issue`    `GET /certificates/enrollments/{ref}`: 100 is pending, 200 the certificate (`/certificates/retrieve`,
             its type and key usage checked against the kind asked for), 400/500/550 a refusal carrying KSeF's
             code, description and details (`domain.ksef.certificates`);
- `revoke`   `POST /certificates/{serial}/revoke` with KSeF's reason for the RFC 5280 code; a certificate KSeF
             already lists as Revoked is done (a retried revocation is not an error);
- `crl`, `ca_certificate`  KSeF's API publishes neither: refused, saying so (the CRL and CA download stay our
             built-in CA's; a KSeF certificate's status is KSeF's `/certificates/query`).

**How we authenticate for the customer.** KSeF issues a certificate only "in one's own name": the subject is read
from the certificate the request was authenticated with (`certyfikaty-KSeF.md`, section 3), enrollment data is
given only after a XAdES authentication, and "authentication with a KSeF token does not allow a certificate
request" (same page). We hold no key of the customer's, so the customer signs that login itself, on its own
machine, for a challenge our API handed out (`starters/ksef_credentials.py`, `einvoice cert request
--ksef-seal`); `submit` posts exactly that signed AuthTokenRequest, kept sealed by the operation id, once, and
deletes it. Following the enrollment, fetching the certificate and revoking it log in with the customer's KSeF
token (`adapters/ksef_credentials.py`). No key, token or signed request crosses a workflow boundary; the access
and refresh tokens stay in the client in the worker's memory (`adapters/ksef.py`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives import serialization

from adapters.ksef import (
    KsefAuthFailed,
    KsefClient,
    KsefError,
    KsefRateLimited,
    KsefRejected,
    KsefUnavailable,
    client_from_settings,
)
from adapters.ksef_credentials import forget_signed_request, logged_in_client
from adapters.ksef_credentials import signed_request as signed_request_of
from core.settings import Settings
from domain.authority import (
    AuthorityPending,
    AuthorityRefused,
    AuthorityUnavailable,
    Issued,
    IssueRequest,
    describe_issued,
)
from domain.certificates import ACCEPTED, ACTIVE
from domain.errors import InvalidInput, NotFound
from domain.identifiers import parse_vat_number
from domain.ksef.certificates import (
    KINDS_OF_TYPE,
    certificate_type,
    enrollment_reason,
    key_usage_problem,
    ksef_reason_of_code,
    state_of_enrollment,
)
from domain.ksef.enrollment import CheckedEnrollmentCsr, check_enrollment_csr, enrollment_request

_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
T = TypeVar("T")


def certificate_name(operation_id: str) -> str:
    """The certificateName KSeF lists it under (5-100 letters, digits, spaces, '_' or '-')."""
    return f"einvoice {operation_id}"


class KsefAuthority:
    """KSeF's certificate enrollment for one customer (its NIP, the context and the authenticated subject).
    Thread-safe: one call at a time (the client is not)."""

    def __init__(self, nip: str, make_client: Callable[[], KsefClient], token_login: Callable[[], KsefClient],
                 records: Path, signed_request: Callable[[str], bytes | None] = lambda _: None,
                 forget_signed: Callable[[str], None] = lambda _: None):
        self.nip = nip
        self._make_client = make_client
        self._token_login = token_login
        self._signed_request, self._forget_signed = signed_request, forget_signed
        self.records = Path(records)
        self._client: KsefClient | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"KsefAuthority(nip={self.nip!r})"

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- the session with KSeF ---------------------------------------------------------------------

    def _logged_in(self) -> KsefClient:
        """The session held, or a login with the customer's KSeF token: enough to follow an enrollment, fetch
        the certificate and revoke it (the token's subject is the customer's NIP), never to enroll."""
        if self._client is None:
            try:
                self._client = self._token_login()
            except NotFound as err:  # no KSeF token given (adapters.ksef_credentials.NoKsefToken)
                raise AuthorityRefused(str(err)) from None
        return self._client

    def _login_signed(self, operation_id: str, signed_xml: bytes) -> None:
        """Log in with the AuthTokenRequest the customer signed for this request (KSeF then enrolls in the
        signer's name), replacing any session held. Its challenge is spent whatever KSeF answers, so the
        signed request is deleted; a refusal (a challenge lapsed or used) says to sign again."""
        with self._lock:
            self.close()
            client = self._make_client()
            try:
                client.login_xades_signed("Nip", self.nip, signed_xml)
            except (KsefAuthFailed, KsefRejected) as err:
                client.close()
                self._forget_signed(operation_id)
                raise AuthorityRefused(
                    f"KSeF refused the login the customer signed for request {operation_id} ({err}): a signed "
                    "request logs in once, within 10 minutes of its challenge; request the certificate again "
                    "and sign again") from None
            except (KsefUnavailable, KsefRateLimited) as err:
                client.close()
                raise AuthorityUnavailable(f"KSeF login with the customer's signed request: {err}") from None
            except BaseException:
                client.close()
                raise
            self._forget_signed(operation_id)
            self._client = client

    def _call(self, what: str, fn: Callable[[KsefClient], T]) -> T:
        """Run `fn` with a logged-in client; KSeF's answers become the protocol's. A 401 (the session gone at
        KSeF) logs in again once."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    return fn(self._logged_in())
                except KsefRejected as err:
                    if err.status == 401 and attempt == 1:
                        self.close()
                        continue
                    raise _refused(what, err) from None
                except KsefAuthFailed as err:
                    self.close()
                    raise AuthorityRefused(f"KSeF authentication of {self.nip} failed: {err}") from None
                except (KsefUnavailable, KsefRateLimited) as err:
                    raise AuthorityUnavailable(f"KSeF {what}: {err}") from None
            raise AssertionError("unreachable")

    # -- records: one enrollment per operation id --------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.records.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.records / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _path(self, name: str, folder: str) -> Path:
        if not _SAFE.match(name):
            raise AuthorityRefused(f"malformed reference {name!r}")
        return self.records / folder / f"{name}.json"

    def _write(self, path: Path, record: dict[str, str]) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)

    def enrollment_of(self, operation_id: str) -> dict[str, str] | None:
        """What was sent to KSeF for an operation id (its referenceNumber, kind, CSR digest), or None."""
        path = self._path(operation_id, "operations")
        return json.loads(path.read_text()) if path.exists() else None

    # -- the check before sending ------------------------------------------------------------------

    def check_csr(self, csr_pem: str | bytes) -> CheckedEnrollmentCsr:
        """The CSR against what `/certificates/enrollments/data` dictates for this customer: `InvalidInput`
        naming each differing attribute (`csr.subject.<name>`), the key or the signature. KSeF unreachable is
        `AuthorityUnavailable`."""
        data = self._call("enrollment data", lambda c: c.enrollment_data())
        return check_enrollment_csr(csr_pem.encode() if isinstance(csr_pem, str) else csr_pem, data)

    # -- the protocol ------------------------------------------------------------------------------

    def submit(self, request: IssueRequest) -> str:
        op_path = self._path(request.reference, "operations")
        digest = hashlib.sha256(request.csr_pem.encode()).hexdigest()
        ksef_type = certificate_type(request.kind)
        with self._locked():
            if op_path.exists():
                record = json.loads(op_path.read_text())
                if record["csr_sha256"] != digest or record["kind"] != request.kind:
                    raise AuthorityRefused(f"reference {request.reference} was submitted with another CSR")
                return str(record["ksef_reference"])
            signed = self._signed_request(request.reference)
            if signed is None:
                raise AuthorityRefused(
                    f"no login signed by the customer for request {request.reference} (KSeF enrolls only in the "
                    "name of whoever signs it, and we hold no key of the customer's): request the certificate "
                    "again with the login signed, `einvoice cert request --ksef-seal ...`")
            self._login_signed(request.reference, signed)
            limits = self._call("certificate limits", lambda c: c.certificate_limits())
            if not limits.can_request:
                raise AuthorityRefused(
                    f"KSeF takes no certificate request of {self.nip} now: enrollments left "
                    f"{limits.enrollment_remaining} of {limits.enrollment_limit}, active certificates left "
                    f"{limits.certificate_remaining} of {limits.certificate_limit}")
            try:
                checked = self.check_csr(request.csr_pem)
            except InvalidInput as err:
                raise AuthorityRefused("the CSR is not what KSeF's /certificates/enrollments/data dictates "
                                       f"(nothing sent): {err}") from None
            body = enrollment_request(checked, certificate_name(request.reference), ksef_type)
            enrollment = self._call("enrollment", lambda c: c.enroll(body))
            record = {"operation_id": request.reference, "kind": request.kind, "csr_sha256": digest,
                      "ksef_reference": enrollment.reference_number}
            self._write(self._path(enrollment.reference_number, "enrollments"), record)
            self._write(op_path, record)
        return enrollment.reference_number

    def issue(self, reference: str) -> Issued:
        path = self._path(reference, "enrollments")
        kind = json.loads(path.read_text())["kind"] if path.exists() else None
        status = self._call("enrollment status", lambda c: c.enrollment_status(reference))
        code = status.status.code
        reason = enrollment_reason(code, status.status.description, status.status.details)
        state = state_of_enrollment(code)
        if state == ACCEPTED:
            raise AuthorityPending(f"enrollment {reference}: {reason}")
        if state != ACTIVE:
            raise AuthorityRefused(f"enrollment {reference}: {reason}")
        if not status.serial_number:
            raise AuthorityUnavailable(f"enrollment {reference}: {reason}, but without its serial number yet")
        serial = status.serial_number
        found = self._call("certificate retrieval", lambda c: c.retrieve_certificates([serial]))
        if not found:
            raise AuthorityUnavailable(f"enrollment {reference}: certificate {serial} not retrievable yet")
        got = found[0]
        kind = kind or KINDS_OF_TYPE.get(got.certificate_type, "")
        if kind not in KINDS_OF_TYPE.values():
            raise AuthorityRefused(f"certificate {serial}: unknown KSeF certificateType {got.certificate_type!r}")
        if got.certificate_type != certificate_type(kind):
            raise AuthorityRefused(f"certificate {serial} is KSeF type {got.certificate_type}, "
                                   f"{certificate_type(kind)} was requested")
        problem = key_usage_problem(got.certificate, kind)
        if problem is not None:
            raise AuthorityRefused(f"certificate {serial}: {problem}")
        return describe_issued(got.certificate.public_bytes(serialization.Encoding.PEM).decode())

    def revoke(self, serial: str, reason_code: int, when: datetime | None = None) -> None:
        try:
            number = f"{int(serial, 16):016X}"
        except ValueError:
            raise AuthorityRefused(f"{serial!r} is not a certificate serial number") from None
        reason = ksef_reason_of_code(reason_code)
        try:
            self._call("revocation", lambda c: c.revoke_certificate(number, reason))
        except AuthorityRefused:
            page = self._call("certificate query", lambda c: c.query_certificates(serial_number=number))
            if any(c.serial_number == number and c.status == "Revoked" for c in page.certificates):
                return  # revoked already (a retried revocation): done
            raise

    def crl(self) -> bytes:
        raise AuthorityRefused("KSeF publishes no CRL through its API; a KSeF certificate's status is "
                               "POST /certificates/query")

    def ca_certificate(self) -> bytes:
        raise AuthorityRefused("KSeF's API does not publish its CA certificate")


def _refused(what: str, err: KsefError) -> AuthorityRefused:
    return AuthorityRefused(f"KSeF refused the {what}: {err}")


class KsefAuthorities:
    """A Polish customer's `KsefAuthority`, one per NIP for the life of the process (its KSeF session kept).
    `signed_request`, `forget_signed`: where a request's signed login is kept (default: sealed in our database,
    `adapters/ksef_credentials.py`)."""

    def __init__(self, settings: Settings, make_client: Callable[[], KsefClient] | None = None,
                 signed_request: Callable[[str], bytes | None] | None = None,
                 forget_signed: Callable[[str], None] | None = None):
        self.settings = settings
        self._make_client = make_client or (lambda: client_from_settings(settings))
        self._signed_request = signed_request or (lambda op: signed_request_of(settings, op))
        self._forget_signed = forget_signed or (lambda op: forget_signed_request(settings, op))
        self._by_nip: dict[str, KsefAuthority] = {}
        self._lock = threading.Lock()

    def __call__(self, vat: str) -> KsefAuthority:
        parsed = parse_vat_number(vat)
        if parsed.country != "PL":
            raise ValueError(f"{vat} is not a Polish customer: KSeF issues no certificate for it")
        nip = parsed.number
        with self._lock:
            found = self._by_nip.get(nip)
            if found is None:
                found = KsefAuthority(nip, self._make_client,
                                      lambda: logged_in_client(self.settings, f"PL{nip}", self._make_client),
                                      self.settings.data_dir / "ksef" / "enrollments", self._signed_request,
                                      self._forget_signed)
                self._by_nip[nip] = found
            return found

    def close(self) -> None:
        with self._lock:
            for authority in self._by_nip.values():
                authority.close()
            self._by_nip.clear()
