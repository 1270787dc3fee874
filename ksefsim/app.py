"""The local KSeF as an ASGI app (Starlette under uvicorn): the endpoints of KSeF 2.0 that the client calls,
with the contract's status codes and error bodies (`domain/ksef/spec/open-api.json`).

Authentication: a challenge, then a XAdES-signed AuthTokenRequest (its signature verified with
`domain.signatures.xades`, the challenge and the context checked, the signer identified as KSeF does from its
certificate: organizationIdentifier VATPL-…, serialNumber TINPL-/PNOPL-…, or a KSeF certificate this
simulator issued) or a KSeF token (decrypted with the ministry's key, `token|timestampMs` checked against the
challenge). The operation's status (100, then 200 or 415/450/460), the tokens redeemed once, the access token
refreshed. Certificates: limits, enrollment data (the signer's subject), enrollments checked with
`domain.ksef.enrollment` and issued by the simulator's own test CA, retrieve, query, revoke. The interactive
session: opened with the AES key unwrapped by the ministry's key, invoices decrypted (`domain.ksef.session_crypto`),
their hashes and sizes checked, then checked as an FA(3) invoice (well-formed, safe, the FA(3) root, the FA(3)
schema, the seller's NIP and its check digit, the seller the context, the number, the issue date, no duplicate), a KSeF
number given to each accepted one; the UPO of each invoice and of the session, XAdES-signed, UPO 4.3.
Download: the metadata query and the invoice by KSeF number. Scenarios (`scenarios.py`) and the limits of
limity-api.md (429 with Retry-After). Control endpoints under `/control/` for tests and the demo.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from lxml import etree
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.errors import InvalidInput
from domain.identifiers import parse_vat_number
from domain.ksef.auth import AUTH_NS, CHALLENGE, CONTEXT_PATTERNS
from domain.ksef.enrollment import SUBJECT_FIELDS, check_enrollment_csr
from domain.ksef.fa3 import schema as fa3_schema
from domain.ksef.limits import limit_of
from domain.ksef.numbers import crc8
from domain.ksef.session_crypto import MAX_INVOICE_BYTES, SessionKey, unwrap_key
from domain.xmlsafe import parse_untrusted
from ksefsim.keys import SimKeys, load_keys
from ksefsim.scenarios import INVOICE_CODES, SimConfig, forced_invoice_code
from ksefsim.state import IN_MEMORY, KsefState

FA3_NS = "http://crd.gov.pl/wzor/2025/06/25/13775/"
UPO_NS = "http://upo.schematy.mf.gov.pl/KSeF/v4-3"
FA3_FORM = {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"}
_OAEP = OAEP(mgf=MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
_ORG = re.compile(r"VATPL.*?(\d{10})")
_NIP_SERIAL = re.compile(r"(TINPL|NIP).*?(\d{10})")
_PESEL_SERIAL = re.compile(r"(PNOPL|PESEL).*?(\d{11})")
_CERT_NAME = re.compile(r"^[a-zA-Z0-9_\- ąćęłńóśźżĄĆĘŁŃÓŚŹŻ]{5,100}$")
_SUBJECT_LIMITS = {"Nip": (300, 100), "Pesel": (12, 6), "Fingerprint": (12, 6)}
_INVOICE_TYPES = {"VAT": "Vat", "KOR": "Kor", "ZAL": "Zal", "ROZ": "Roz", "UPR": "Upr", "KOR_ZAL": "KorZal",
                  "KOR_ROZ": "KorRoz"}
MAX_AUTH_REQUEST = 64 * 1024


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _sha_b64(data: bytes) -> str:
    return _b64(hashlib.sha256(data).digest())


@dataclass
class Answer:
    status: int
    body: Any = None  # JSON-able, or bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class Refusal(Exception):
    """An error answer, raised anywhere in a handler."""

    def __init__(self, answer: Answer):
        self.answer = answer


class Simulator:
    def __init__(self, config: SimConfig | None = None, state_file: Path | str = IN_MEMORY,
                 keys: SimKeys | None = None, clock: Callable[[], float] = time.time):
        self.config = config or SimConfig()
        self.state = KsefState(state_file)
        self.keys = keys or load_keys(None)
        self.clock = clock
        self._calls: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self.problem_details = False  # per request: X-Error-Format: problem-details

    # ------------------------------------------------------------ answers
    def now(self) -> float:
        return self.clock()

    def error(self, code: int, description: str, details: list[str] | None = None, status: int = 400,
              path: str = "") -> Refusal:
        if self.problem_details:
            return Refusal(Answer(status, {
                "title": "Bad Request", "status": status, "instance": path, "detail": description,
                "errors": [{"code": code, "description": description, "details": details or []}],
                "timestamp": _iso(self.now()), "traceId": uuid.uuid4().hex}, "application/problem+json"))
        return Refusal(Answer(status, {"exception": {
            "exceptionDetailList": [{"exceptionCode": code, "exceptionDescription": description,
                                     "details": details or None}],
            "serviceCode": uuid.uuid4().hex, "serviceCtx": "srvKSeFsim", "serviceName": "ksef-sim",
            "timestamp": _iso(self.now())}}))

    def unauthorized(self, detail: str, path: str) -> Refusal:
        return Refusal(Answer(401, {"title": "Unauthorized", "status": 401, "detail": detail, "instance": path,
                                    "timestamp": _iso(self.now())}, "application/problem+json"))

    def reference(self, kind: str) -> str:
        day = datetime.fromtimestamp(self.now(), UTC).strftime("%Y%m%d")
        body = f"{day}-{kind}-{secrets.token_hex(5).upper()}-{secrets.token_hex(5).upper()}"
        return f"{body}-{crc8(body.encode()):02X}"

    # ------------------------------------------------------------ limits
    def rate_limited(self, method: str, template: str, who: str) -> Answer | None:
        storm = self.config.storm
        if storm.get("count", 0) > 0:
            storm["count"] -= 1
            return self._too_many(int(storm.get("retry_after", 1)), "scenario: 429 storm")
        if self.config.limits_multiplier <= 0:
            return None
        per_s, per_min, per_h = (int(x * self.config.limits_multiplier) for x in limit_of(method, template))
        now = self.now()
        calls = self._calls[(who, f"{method} {template}")]
        while calls and calls[0] <= now - 3600:
            calls.popleft()
        for window, limit, unit in ((1.0, per_s, "na sekundę"), (60.0, per_min, "na minutę"),
                                    (3600.0, per_h, "na godzinę")):
            inside = [t for t in calls if t > now - window]
            if len(inside) >= limit:
                wait = max(1, int(inside[-limit] + window - now + 0.999))
                return self._too_many(wait, f"Przekroczono limit {limit} żądań {unit}.")
        calls.append(now)
        return None

    def _too_many(self, retry_after: int, why: str) -> Answer:
        return Answer(429, {"status": {"code": 429, "description": "Too Many Requests", "details": [
            f"{why} Spróbuj ponownie po {retry_after} sekundach."]}}, headers={"Retry-After": str(retry_after)})

    # ------------------------------------------------------------ tokens
    def bearer(self, headers: dict[str, str], want: str, path: str) -> dict[str, Any]:
        value = headers.get("authorization", "")
        if not value.startswith("Bearer "):
            raise self.unauthorized("Brak tokena uwierzytelniającego (Authorization: Bearer …)", path)
        token = self.state.get("token", hashlib.sha256(value[7:].encode()).hexdigest())
        if token is None or token["kind"] != want:
            raise self.unauthorized(f"Nieprawidłowy token: an {want} token is needed here", path)
        if token["valid_until"] <= self.now():
            raise self.unauthorized("Token wygasł (expired)", path)
        return token

    def new_token(self, kind: str, auth_ref: str, ttl: float) -> dict[str, str]:
        value = f"ksefsim-{kind}-{secrets.token_urlsafe(24)}"
        until = self.now() + ttl
        self.state.put("token", hashlib.sha256(value.encode()).hexdigest(),
                       {"kind": kind, "auth": auth_ref, "valid_until": until})
        return {"token": value, "validUntil": _iso(until)}

    def session_of(self, headers: dict[str, str], path: str) -> dict[str, Any]:
        """The authentication behind an access token (its context and subject)."""
        token = self.bearer(headers, "access", path)
        op = self.state.get("auth", token["auth"])
        assert op is not None
        return op

    # ------------------------------------------------------------ authentication
    def challenge(self, client_ip: str) -> Answer:
        now = self.now()
        day = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d")
        value = f"{day}-CR-{secrets.token_hex(5).upper()}-{secrets.token_hex(5).upper()}-{secrets.token_hex(1).upper()}"
        ms = int(now * 1000)
        self.state.put("challenge", value, {"at": now, "ms": ms, "used": False})
        return Answer(200, {"challenge": value, "timestamp": _iso(ms / 1000), "timestampMs": ms,
                            "clientIp": client_ip})

    def _take_challenge(self, value: str, path: str) -> dict[str, Any]:
        found = self.state.get("challenge", value or "")
        if found is None or found["used"] or found["at"] + 600 < self.now():
            raise self.error(21405, "Błąd walidacji danych wejściowych.",
                             ["challenge: unknown, already used or older than 10 minutes"], path=path)
        self.state.put("challenge", value, {**found, "used": True})
        return found

    def _identify(self, cert: x509.Certificate) -> tuple[dict[str, str], str, dict[str, Any]]:
        """Who signed: (subject identifier, authentication method, the subject's attributes)."""
        attrs: dict[str, Any] = {}
        by_oid = {oid: name for name, oid in SUBJECT_FIELDS.items()}
        for a in cert.subject:
            name = by_oid.get(a.oid)
            if name is not None:
                value = a.value if isinstance(a.value, str) else a.value.decode()
                attrs[name] = value
        serial = f"{cert.serial_number:016X}"
        own = self.state.get("certificate", serial)
        if own is not None and cert.issuer == self.keys.ca_cert.subject:
            return own["subject"], "InternalCertificate", attrs
        org = _ORG.search(str(attrs.get("organizationIdentifier", "")))
        if org:
            return {"type": "Nip", "value": org.group(1)}, "QualifiedSeal", attrs
        serial_attr = str(attrs.get("serialNumber", ""))
        nip = _NIP_SERIAL.search(serial_attr)
        if nip:
            return {"type": "Nip", "value": nip.group(2)}, "QualifiedSignature", attrs
        pesel = _PESEL_SERIAL.search(serial_attr)
        if pesel:
            return {"type": "Pesel", "value": pesel.group(2)}, "QualifiedSignature", attrs
        fingerprint = cert.fingerprint(hashes.SHA256()).hex().upper()
        return {"type": "Fingerprint", "value": fingerprint}, "QualifiedSignature", attrs

    def _may_act(self, subject: dict[str, str], context: tuple[str, str]) -> bool:
        if subject["type"] == "Nip" and context == ("Nip", subject["value"]):
            return True
        return self.state.get("permission", f"{subject['value']}>{context[0]}:{context[1]}") is not None

    def _start_auth(self, context: tuple[str, str], subject: dict[str, str] | None, method: str, category: str,
                    attrs: dict[str, Any], outcome: tuple[int, str, list[str]], document: bytes) -> Answer:
        ref = self.reference("AU")
        token = self.new_token("authentication", ref, 7 * 24 * 3600.0)
        code, description, details = outcome
        self.state.put("auth", ref, {
            "ref": ref, "started": self.now(), "ready_at": self.now() + self.config.auth_delay,
            "method": method, "category": category, "context": list(context), "subject": subject, "attrs": attrs,
            "outcome": {"code": code, "description": description, "details": details}, "redeemed": False,
            "document_hash": _sha_b64(document)})
        return Answer(202, {"referenceNumber": ref, "authenticationToken": token})

    def xades_signature(self, body: bytes, verify_chain: bool, path: str) -> Answer:
        from domain.signatures.errors import SignatureError
        from domain.signatures.xades import verify_xades

        if len(body) > MAX_AUTH_REQUEST:
            raise self.error(21405, "Błąd walidacji danych wejściowych.", [f"body over {MAX_AUTH_REQUEST} bytes"],
                             path=path)
        try:
            verified = verify_xades(body, datetime.fromtimestamp(self.now(), UTC))
        except SignatureError as err:
            raise self.error(21405, "Błąd walidacji danych wejściowych.", [f"podpis: {err}"], path=path) from None
        except InvalidInput as err:
            raise self.error(21405, "Błąd walidacji danych wejściowych.", [str(err)], path=path) from None
        root = parse_untrusted(verified.content, "AuthTokenRequest", MAX_AUTH_REQUEST)
        n = {"a": AUTH_NS}
        if root.tag != f"{{{AUTH_NS}}}AuthTokenRequest":
            raise self.error(21405, "Błąd walidacji danych wejściowych.",
                             [f"the root is {root.tag}, not AuthTokenRequest of {AUTH_NS}"], path=path)
        challenge = root.findtext("a:Challenge", namespaces=n) or ""
        context_el = root.find("a:ContextIdentifier", n)
        kind = etree.QName(context_el[0]).localname if context_el is not None and len(context_el) else ""
        value = (context_el[0].text or "") if context_el is not None and len(context_el) else ""
        if not re.fullmatch(CHALLENGE, challenge) or kind not in CONTEXT_PATTERNS or not re.fullmatch(
                CONTEXT_PATTERNS[kind].strip("^$"), value):
            raise self.error(21405, "Błąd walidacji danych wejściowych.",
                             [f"Challenge {challenge!r} or ContextIdentifier {kind}={value!r} not as "
                              "schemat_auth_v2-0.xsd says"], path=path)
        self._take_challenge(challenge, path)
        subject, method, attrs = self._identify(verified.certificate)
        failed = "Uwierzytelnianie zakończone niepowodzeniem z powodu błędu certyfikatu"
        outcome: tuple[int, str, list[str]] = (200, "Uwierzytelnianie zakończone sukcesem", [])
        own = self.state.get("certificate", f"{verified.certificate.serial_number:016X}")
        if method == "InternalCertificate" and own is not None:
            if own["status"] == "Revoked":
                outcome = (460, failed, ["Certyfikat odwołany"])
            elif own["type"] != "Authentication":
                outcome = (460, failed, ["Niepoprawny certyfikat"])
        elif verify_chain:
            outcome = (460, failed, ["Niezaufany łańcuch certyfikatów"])
        if outcome[0] == 200 and not self._may_act(subject, (kind, value)):
            outcome = (415, "Uwierzytelnianie zakończone niepowodzeniem", ["Brak przypisanych uprawnień"])
        return self._start_auth((kind, value), subject, method, "XadesSignature", attrs, outcome, body)

    def ksef_token(self, body: dict[str, Any], path: str) -> Answer:
        missing = [k for k in ("challenge", "contextIdentifier", "encryptedToken") if k not in body]
        ctx = body.get("contextIdentifier") or {}
        if missing or not isinstance(ctx, dict) or ctx.get("type") not in CONTEXT_PATTERNS:
            raise self.error(21405, "Błąd walidacji danych wejściowych.",
                             [f"{m}: required" for m in missing] or ["contextIdentifier: type and value"], path=path)
        found = self._take_challenge(str(body["challenge"]), path)
        context = (str(ctx["type"]), str(ctx.get("value", "")))
        failed = "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu"
        try:
            plain = self.keys.token_key.decrypt(base64.b64decode(body["encryptedToken"], validate=True), _OAEP)
            token, _, ms = plain.decode().rpartition("|")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            token, ms = "", ""
        known = self.state.get("ksef_token", hashlib.sha256(token.encode()).hexdigest()) if token else None
        outcome: tuple[int, str, list[str]] = (200, "Uwierzytelnianie zakończone sukcesem", [])
        if not token:
            outcome = (450, failed, ["Nieprawidłowy token"])
        elif ms != str(found["ms"]):
            outcome = (450, failed, ["Nieprawidłowy czas tokena"])
        elif known is None or tuple(known["context"]) != context:
            outcome = (450, failed, ["Nieprawidłowy token"])
        elif known.get("revoked"):
            outcome = (450, failed, ["Token unieważniony"])
        subject = {"type": "Nip", "value": context[1]} if context[0] == "Nip" else None
        attrs = {"commonName": f"Podmiot {context[1]}", "countryName": "PL",
                 "organizationName": f"Podmiot {context[1]}", "organizationIdentifier": f"VATPL-{context[1]}"}
        return self._start_auth(context, subject, "Token", "Token", attrs, outcome, json.dumps(body).encode())

    def auth_status(self, headers: dict[str, str], ref: str, path: str) -> Answer:
        token = self.bearer(headers, "authentication", path)
        op = self.state.get("auth", ref)
        if op is None or token["auth"] != ref:
            raise self.error(21304, "Brak uwierzytelnienia",
                             [f"Operacja uwierzytelniania {ref} nie została znaleziona"], path=path)
        return Answer(200, self._auth_doc(op))

    def _auth_doc(self, op: dict[str, Any]) -> dict[str, Any]:
        status = ({"code": 100, "description": "Uwierzytelnianie w toku"} if self.now() < op["ready_at"]
                  else {k: v for k, v in op["outcome"].items() if v or k != "details"})
        names = {"Token": "Token KSeF", "InternalCertificate": "Certyfikat KSeF",
                 "QualifiedSeal": "Pieczęć kwalifikowana", "QualifiedSignature": "Podpis kwalifikowany"}
        return {"startDate": _iso(op["started"]), "authenticationMethod": op["method"],
                "authenticationMethodInfo": {"category": op["category"], "code": op["method"],
                                             "displayName": names[op["method"]]},
                "status": status, "isTokenRedeemed": op["redeemed"]}

    def redeem(self, headers: dict[str, str], path: str) -> Answer:
        token = self.bearer(headers, "authentication", path)
        op = self.state.get("auth", token["auth"])
        assert op is not None
        if self.now() < op["ready_at"] or op["outcome"]["code"] != 200:
            raise self.error(21301, "Brak autoryzacji", ["the authentication has not succeeded"], path=path)
        if op["redeemed"]:
            raise self.error(21301, "Brak autoryzacji", ["the tokens were already redeemed (once only)"], path=path)
        self.state.put("auth", op["ref"], {**op, "redeemed": True})
        return Answer(200, {"accessToken": self.new_token("access", op["ref"], self.config.access_ttl),
                            "refreshToken": self.new_token("refresh", op["ref"], self.config.refresh_ttl)})

    def refresh(self, headers: dict[str, str], path: str) -> Answer:
        token = self.bearer(headers, "refresh", path)
        return Answer(200, {"accessToken": self.new_token("access", token["auth"], self.config.access_ttl)})

    def public_keys(self) -> Answer:
        out = []
        for cert, usage in ((self.keys.token_cert, "KsefTokenEncryption"),
                            (self.keys.symmetric_cert, "SymmetricKeyEncryption")):
            der = cert.public_bytes(serialization.Encoding.DER)
            spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
            out.append({"certificate": _b64(der), "certificateId": _sha_b64(der), "publicKeyId": _sha_b64(spki),
                        "validFrom": cert.not_valid_before_utc.isoformat(),
                        "validTo": cert.not_valid_after_utc.isoformat(), "usage": [usage]})
        return Answer(200, out)

    # ------------------------------------------------------------ certificates
    def _enrollment_data(self, op: dict[str, Any]) -> dict[str, Any]:
        attrs = dict(op["attrs"])
        attrs.setdefault("countryName", "PL")
        attrs.setdefault("commonName", f"{op['context'][1]}")
        return attrs

    def _subject_counts(self, subject: dict[str, str]) -> tuple[int, int]:
        enrollments = [e for e in self.state.all("enrollment") if e["subject"] == subject]
        active = [c for c in self.state.all("certificate")
                  if c["subject"] == subject and self._cert_status(c) == "Active"]
        return len(enrollments), len(active)

    def _cert_status(self, c: dict[str, Any]) -> str:
        if c["status"] == "Revoked":
            return "Revoked"
        return "Expired" if c["valid_to"] < self.now() else "Active"

    def certificate_limits(self, op: dict[str, Any]) -> Answer:
        subject = op["subject"] or {"type": "Nip", "value": op["context"][1]}
        enroll_limit, cert_limit = _SUBJECT_LIMITS[subject["type"]]
        enrollments, active = self._subject_counts(subject)
        return Answer(200, {"canRequest": enrollments < enroll_limit and active < cert_limit,
                            "enrollment": {"limit": enroll_limit, "remaining": max(0, enroll_limit - enrollments)},
                            "certificate": {"limit": cert_limit, "remaining": max(0, cert_limit - active)}})

    def enroll(self, op: dict[str, Any], body: dict[str, Any], path: str) -> Answer:
        problems = []
        name, kind, csr_b64 = body.get("certificateName"), body.get("certificateType"), body.get("csr")
        if not isinstance(name, str) or not _CERT_NAME.match(name):
            problems.append("certificateName: 5 to 100 letters, digits, spaces, '_' or '-'")
        if kind not in ("Authentication", "Offline"):
            problems.append("certificateType: Authentication or Offline")
        valid_from = self.now()
        if body.get("validFrom"):
            try:
                valid_from = datetime.fromisoformat(str(body["validFrom"]).replace("Z", "+00:00")).timestamp()
            except ValueError:
                problems.append("validFrom: not a date-time")
        try:
            der = base64.b64decode(str(csr_b64 or ""), validate=True)
        except binascii.Error:
            der = b""
        if not der:
            problems.append("csr: a PKCS#10 request, DER in base64")
        if problems:
            raise self.error(21405, "Błąd walidacji danych wejściowych.", problems, path=path)
        try:
            checked = check_enrollment_csr(der, self._enrollment_data(op))
        except InvalidInput as err:
            fields = {p.field for p in err.problems}
            details = [f"{p.field}: {p.message}" for p in err.problems]
            if fields == {"csr.key"}:
                raise self.error(25010, "Nieprawidłowy typ lub długość klucza.", details, path=path) from None
            if fields == {"csr.signature"}:
                raise self.error(25011, "Nieprawidłowy algorytm podpisu CSR", details, path=path) from None
            raise self.error(21405, "Błąd walidacji danych wejściowych.", details, path=path) from None
        subject = op["subject"] or {"type": "Nip", "value": op["context"][1]}
        csr = x509.load_der_x509_csr(checked.der)
        spki = _sha_b64(csr.public_key().public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
        ref = self.reference("CE")
        refused = "Wniosek odrzucony"
        outcome: tuple[int, str, list[str]] = (200, "Wniosek obsłużony (certyfikat wygenerowany)", [])
        forced = self.config.enrollments.pop(0) if self.config.enrollments else None
        enrollments, active = self._subject_counts(subject)
        if forced == "refuse":
            outcome = (400, refused, ["Klucz publiczny został już certyfikowany przez inny podmiot."])
        elif forced == "error":
            outcome = (500, "Nieznany błąd", [])
        elif any(c["spki"] == spki and c["subject"] != subject for c in self.state.all("certificate")):
            outcome = (400, refused, ["Klucz publiczny został już certyfikowany przez inny podmiot."])
        elif active >= _SUBJECT_LIMITS[subject["type"]][1]:
            outcome = (400, refused, ["Osiągnięto dopuszczalny limit posiadanych certyfikatów."])
        serial = None
        if outcome[0] == 200:
            serial = self._issue(csr, str(name), str(kind), subject, valid_from, spki)
        self.state.put("enrollment", ref, {
            "ref": ref, "requested": self.now(), "ready_at": self.now() + self.config.enrollment_delay,
            "subject": subject, "outcome": {"code": outcome[0], "description": outcome[1], "details": outcome[2]},
            "serial": serial})
        return Answer(202, {"referenceNumber": ref, "timestamp": _iso(self.now())})

    def _issue(self, csr: x509.CertificateSigningRequest, name: str, kind: str, subject: dict[str, str],
               valid_from: float, spki: str) -> str:
        while True:
            number = secrets.randbits(63) | (1 << 62)
            serial = f"{number:016X}"
            if self.state.get("certificate", serial) is None:
                break
        start = datetime.fromtimestamp(valid_from, UTC)
        usage = {"digital_signature": kind == "Authentication", "content_commitment": kind == "Offline",
                 "key_encipherment": False, "data_encipherment": False, "key_agreement": False,
                 "key_cert_sign": False, "crl_sign": False, "encipher_only": False, "decipher_only": False}
        cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.keys.ca_cert.subject)
                .public_key(csr.public_key()).serial_number(number).not_valid_before(start)
                .not_valid_after(start + timedelta(days=730))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(**usage), critical=True)
                .sign(self.keys.ca_key, hashes.SHA256()))
        cn = csr.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
        self.state.put("certificate", serial, {
            "serial": serial, "name": name, "type": kind, "subject": subject, "status": "Active", "spki": spki,
            "common_name": str(cn[0].value) if cn else "", "valid_from": start.timestamp(),
            "valid_to": (start + timedelta(days=730)).timestamp(), "request_date": self.now(),
            "der": _b64(cert.public_bytes(serialization.Encoding.DER))})
        return serial

    def enrollment_status(self, op: dict[str, Any], ref: str, path: str) -> Answer:
        e = self.state.get("enrollment", ref)
        subject = op["subject"] or {"type": "Nip", "value": op["context"][1]}
        if e is None or e["subject"] != subject:
            raise self.error(21405, "Błąd walidacji danych wejściowych.", [f"no certificate request {ref}"],
                             path=path)
        doc: dict[str, Any] = {"requestDate": _iso(e["requested"])}
        if self.now() < e["ready_at"]:
            doc["status"] = {"code": 100, "description": "Wniosek przyjęty do realizacji"}
        else:
            doc["status"] = {k: v for k, v in e["outcome"].items() if v or k != "details"}
            if e["serial"]:
                doc["certificateSerialNumber"] = e["serial"]
        return Answer(200, doc)

    def retrieve(self, op: dict[str, Any], body: dict[str, Any], path: str) -> Answer:
        serials = body.get("certificateSerialNumbers")
        if not isinstance(serials, list) or not serials:
            raise self.error(21405, "Błąd walidacji danych wejściowych.", ["certificateSerialNumbers: required"],
                             path=path)
        out = []
        for serial in serials:
            c = self.state.get("certificate", str(serial))
            if c is not None and c["subject"] == (op["subject"] or {}):
                out.append({"certificate": c["der"], "certificateName": c["name"],
                            "certificateSerialNumber": c["serial"], "certificateType": c["type"]})
        return Answer(200, {"certificates": out})

    def query_certificates(self, op: dict[str, Any], body: dict[str, Any], query: dict[str, str]) -> Answer:
        size, offset = int(query.get("pageSize", 10)), int(query.get("pageOffset", 0))
        found = []
        for c in self.state.all("certificate"):
            status = self._cert_status(c)
            if c["subject"] != op["subject"]:
                continue
            if (body.get("certificateSerialNumber") not in (None, c["serial"])
                    or body.get("type") not in (None, c["type"]) or body.get("status") not in (None, status)
                    or (body.get("name") and str(body["name"]).lower() not in c["name"].lower())):
                continue
            found.append({"certificateSerialNumber": c["serial"], "name": c["name"], "type": c["type"],
                          "commonName": c["common_name"], "status": status,
                          "subjectIdentifier": c["subject"], "validFrom": _iso(c["valid_from"]),
                          "validTo": _iso(c["valid_to"]), "requestDate": _iso(c["request_date"])})
        page = found[offset * size:(offset + 1) * size]
        return Answer(200, {"certificates": page, "hasMore": len(found) > (offset + 1) * size})

    def revoke(self, op: dict[str, Any], serial: str, body: dict[str, Any], path: str) -> Answer:
        c = self.state.get("certificate", serial)
        reason = body.get("revocationReason") or "Unspecified"
        if reason not in ("Unspecified", "Superseded", "KeyCompromise"):
            raise self.error(21405, "Błąd walidacji danych wejściowych.",
                             ["revocationReason: Unspecified, Superseded or KeyCompromise"], path=path)
        if c is None or c["subject"] != op["subject"] or c["status"] == "Revoked":
            raise self.error(21405, "Błąd walidacji danych wejściowych.",
                             [f"no active certificate {serial} of this subject"], path=path)
        self.state.put("certificate", serial, {**c, "status": "Revoked", "revocation_reason": reason})
        return Answer(204)

    # ------------------------------------------------------------ sessions
    def open_online(self, op: dict[str, Any], body: dict[str, Any], path: str) -> Answer:
        form, enc = body.get("formCode"), body.get("encryption")
        if form != FA3_FORM:
            raise self.error(21405, "Błąd walidacji danych wejściowych.",
                             [f"formCode: this KSeF takes {FA3_FORM}, got {form!r}"], path=path)
        if not isinstance(enc, dict):
            raise self.error(21405, "Błąd walidacji danych wejściowych.", ["encryption: required"], path=path)
        ref = self.reference("SO")
        try:
            key = unwrap_key(self.keys.symmetric_key, enc)
            state, key_b64, iv_b64 = "open", _b64(key.key), _b64(key.iv)
        except (InvalidInput, ValueError):
            state, key_b64, iv_b64 = "key-error", "", ""
        until = self.now() + 12 * 3600
        self.state.put("session", ref, {"ref": ref, "context": op["context"], "auth": op["ref"], "opened": self.now(),
                                        "valid_until": until, "state": state, "key": key_b64, "iv": iv_b64,
                                        "closed_at": None, "invoices": [], "upo": None, "updated": self.now()})
        return Answer(201, {"referenceNumber": ref, "validUntil": _iso(until)})

    def _own_session(self, op: dict[str, Any], ref: str, path: str) -> dict[str, Any]:
        s = self.state.get("session", ref)
        if s is None or s["context"] != op["context"]:
            raise self.error(21405, "Błąd walidacji danych wejściowych.", [f"no session {ref} in this context"],
                             path=path)
        return s

    def send_invoice(self, op: dict[str, Any], ref: str, body: dict[str, Any], path: str) -> Answer:
        s = self._own_session(op, ref, path)
        if s["state"] != "open" or s["valid_until"] < self.now():
            raise self.error(21180, "Status sesji nie pozwala na wykonanie operacji",
                             [f"the session is {s['state']}"], path=path)
        missing = [k for k in ("invoiceHash", "invoiceSize", "encryptedInvoiceHash", "encryptedInvoiceSize",
                               "encryptedInvoiceContent") if k not in body]
        if missing:
            raise self.error(21405, "Błąd walidacji danych wejściowych.", [f"{m}: required" for m in missing],
                             path=path)
        try:
            encrypted = base64.b64decode(str(body["encryptedInvoiceContent"]), validate=True)
        except binascii.Error:
            raise self.error(21405, "Błąd walidacji danych wejściowych.", ["encryptedInvoiceContent: base64"],
                             path=path) from None
        if len(encrypted) != body["encryptedInvoiceSize"]:
            raise self.error(21402, "Nieprawidłowy rozmiar pliku",
                             ["encryptedInvoiceSize differs from the content's length"], path=path)
        if _sha_b64(encrypted) != body["encryptedInvoiceHash"]:
            raise self.error(21403, "Nieprawidłowy skrót pliku", ["encryptedInvoiceHash differs"], path=path)
        inv_ref = self.reference("EE")
        ordinal = len(s["invoices"]) + 1
        record: dict[str, Any] = {"ref": inv_ref, "session": ref, "ordinal": ordinal, "received": self.now(),
                                  "ready_at": self.now() + self.config.invoice_delay, "hash": body["invoiceHash"],
                                  "mode": "Offline" if body.get("offlineMode") else "Online",
                                  "context": op["context"], "auth_hash": op["document_hash"]}
        plain = b""
        try:
            plain = SessionKey(base64.b64decode(s["key"]), base64.b64decode(s["iv"])).decrypt(encrypted)
        except InvalidInput:
            record["outcome"] = {"code": 435, "description": INVOICE_CODES[435], "details": []}
        if plain:
            if len(plain) != body["invoiceSize"]:
                raise self.error(21402, "Nieprawidłowy rozmiar pliku", ["invoiceSize differs from the invoice"],
                                 path=path)
            if _sha_b64(plain) != body["invoiceHash"]:
                raise self.error(21403, "Nieprawidłowy skrót pliku", ["invoiceHash differs"], path=path)
            record.update(self._check_invoice(plain, op["context"], inv_ref, ref))
        self.state.put("invoice", inv_ref, record, plain or None)
        self.state.put("session", ref, {**s, "invoices": [*s["invoices"], inv_ref], "updated": self.now()})
        return Answer(202, {"referenceNumber": inv_ref})

    def _check_invoice(self, xml: bytes, context: list[str], inv_ref: str, session_ref: str,
                       schema: bool = True) -> dict[str, Any]:
        """KSeF's checks of an FA(3) invoice: the document, the FA(3) schema (the vendored XSD, as KSeF validates
        against its own copy: 430 with the schema's first messages), then what the answer needs. `schema` False
        for a supplier's invoice the control route delivers: it stands for one KSeF took from another system,
        and the download must cope with whatever KSeF hands out (its findings are warnings there)."""
        def rejected(code: int, *details: str) -> dict[str, Any]:
            return {"outcome": {"code": code, "description": INVOICE_CODES[code], "details": list(details)}}

        if len(xml) > MAX_INVOICE_BYTES:
            return rejected(430, f"{len(xml)} bytes: more than {MAX_INVOICE_BYTES}")
        try:
            root = parse_untrusted(xml, "invoice", MAX_INVOICE_BYTES, utf8_only=True)
        except InvalidInput as err:
            return rejected(430, str(err))
        if root.tag != f"{{{FA3_NS}}}Faktura":
            return rejected(430, f"the root is {root.tag}, not Faktura of FA(3) ({FA3_NS})")
        xsd = fa3_schema() if schema else None
        if xsd is not None and not xsd.validate(root):
            return rejected(430, *[f"line {e.line}: {e.message}" for e in list(xsd.error_log)[:5]])
        n = {"f": FA3_NS}

        def text(xpath: str) -> str:
            return (root.findtext(xpath, namespaces=n) or "").strip()

        seller, number, issued = text("f:Podmiot1/f:DaneIdentyfikacyjne/f:NIP"), text("f:Fa/f:P_2"), text("f:Fa/f:P_1")
        problems = []
        for field_name, value in (("Podmiot1/DaneIdentyfikacyjne/NIP", seller), ("Fa/P_2", number),
                                  ("Fa/P_1", issued), ("Fa/KodWaluty", text("f:Fa/f:KodWaluty")),
                                  ("Fa/P_15", text("f:Fa/f:P_15"))):
            if not value:
                problems.append(f"{field_name}: missing")
        if problems:
            return rejected(430, *problems)
        try:
            parse_vat_number("PL" + seller, "Podmiot1/NIP")
            issue_date = date.fromisoformat(issued)
            gross = Decimal(text("f:Fa/f:P_15"))
        except (InvalidInput, ValueError, InvalidOperation) as err:
            return rejected(450, str(err))
        forced = forced_invoice_code(number)
        if forced is not None:
            return rejected(forced, f"scenario: invoice number {number}")
        if context != ["Nip", seller]:
            return rejected(410, f"the seller {seller} is not the context {context[0]} {context[1]}")
        for other in self.state.all("invoice"):
            if other.get("seller") == seller and other.get("number") == number and other.get("ksef_number"):
                out = rejected(440, f"invoice {number} of {seller} is {other['ksef_number']}")
                out["outcome"]["extensions"] = {"originalSessionReferenceNumber": other["session"],
                                                "originalKsefNumber": other["ksef_number"]}
                return out
        net = sum((Decimal(e.text or "0") for e in root.iterfind("f:Fa/*", n)
                   if re.fullmatch(r"P_13_\d+", etree.QName(e).localname)), Decimal(0))
        vat = sum((Decimal(e.text or "0") for e in root.iterfind("f:Fa/*", n)
                   if re.fullmatch(r"P_14_\d+", etree.QName(e).localname)), Decimal(0))
        day = datetime.fromtimestamp(self.now(), UTC).strftime("%Y%m%d")
        body = f"{seller}-{day}-{secrets.token_hex(6).upper()}"
        buyer = text("f:Podmiot2/f:DaneIdentyfikacyjne/f:NIP")
        return {"outcome": {"code": 200, "description": INVOICE_CODES[200], "details": []},
                "ksef_number": f"{body}-{crc8(body.encode()):02X}", "seller": seller, "number": number,
                "seller_name": text("f:Podmiot1/f:DaneIdentyfikacyjne/f:Nazwa") or None,
                "buyer": buyer or None, "buyer_name": text("f:Podmiot2/f:DaneIdentyfikacyjne/f:Nazwa") or None,
                "issue_date": issue_date.isoformat(), "currency": text("f:Fa/f:KodWaluty"), "gross": float(gross),
                "net": float(net), "vat": float(vat),
                "invoice_type": _INVOICE_TYPES.get(text("f:Fa/f:RodzajFaktury"), "Vat")}

    def _invoice_status_code(self, inv: dict[str, Any]) -> dict[str, Any]:
        if self.now() < inv["ready_at"]:
            return {"code": 150, "description": "Trwa przetwarzanie"}
        return {k: v for k, v in inv["outcome"].items() if v or k not in ("details", "extensions")}

    def close_online(self, op: dict[str, Any], ref: str, path: str) -> Answer:
        s = self._own_session(op, ref, path)
        if s["state"] != "open":
            raise self.error(21180, "Status sesji nie pozwala na wykonanie operacji",
                             [f"the session is {s['state']}"], path=path)
        self.state.put("session", ref, {**s, "state": "closed", "closed_at": self.now(), "updated": self.now()})
        return Answer(204)

    def _session_invoices(self, s: dict[str, Any]) -> list[dict[str, Any]]:
        found = [self.state.get("invoice", r) for r in s["invoices"]]
        return [i for i in found if i is not None]

    def session_status(self, op: dict[str, Any], ref: str, base: str, path: str) -> Answer:
        s = self._own_session(op, ref, path)
        invoices = self._session_invoices(s)
        done = [i for i in invoices if self.now() >= i["ready_at"]]
        ok = [i for i in done if i["outcome"]["code"] == 200]
        doc: dict[str, Any] = {"dateCreated": _iso(s["opened"]), "dateUpdated": _iso(s["updated"]),
                               "validUntil": _iso(s["valid_until"]), "invoiceCount": len(invoices),
                               "successfulInvoiceCount": len(ok), "failedInvoiceCount": len(done) - len(ok)}
        if s["state"] == "key-error":
            doc["status"] = {"code": 415, "description": "Błąd odszyfrowania dostarczonego klucza"}
        elif s["state"] == "open":
            doc["status"] = {"code": 100, "description": "Sesja interaktywna otwarta"}
        elif not invoices:
            doc["status"] = {"code": 440, "description": "Sesja anulowana", "details": ["Nie przesłano faktur"]}
        elif len(done) < len(invoices) or self.now() < s["closed_at"] + self.config.upo_delay:
            doc["status"] = {"code": 170, "description": "Sesja interaktywna zamknięta"}
        elif not ok:
            doc["status"] = {"code": 445, "description": "Błąd weryfikacji, brak poprawnych faktur"}
        else:
            upo_ref = s["upo"] or self.reference("UP")
            if s["upo"] is None:
                self.state.put("session", ref, {**s, "upo": upo_ref})
            doc["status"] = {"code": 200, "description": "Sesja interaktywna przetworzona pomyślnie"}
            doc["upo"] = {"pages": [{"referenceNumber": upo_ref, "downloadUrl": f"{base}/sessions/{ref}/upo/{upo_ref}",
                                     "downloadUrlExpirationDate": _iso(self.now() + 3 * 24 * 3600)}]}
        return Answer(200, doc)

    def invoice_status(self, op: dict[str, Any], ref: str, inv_ref: str, base: str, path: str) -> Answer:
        s = self._own_session(op, ref, path)
        inv = self.state.get("invoice", inv_ref)
        if inv is None or inv["session"] != s["ref"]:
            raise self.error(21405, "Błąd walidacji danych wejściowych.", [f"no invoice {inv_ref} in {ref}"],
                             path=path)
        status = self._invoice_status_code(inv)
        doc: dict[str, Any] = {"ordinalNumber": inv["ordinal"], "referenceNumber": inv_ref,
                               "invoiceHash": inv["hash"], "invoicingDate": _iso(inv["received"]),
                               "invoicingMode": inv["mode"], "status": status}
        if status["code"] == 200:
            doc.update(ksefNumber=inv["ksef_number"], invoiceNumber=inv["number"],
                       acquisitionDate=_iso(inv["ready_at"]), permanentStorageDate=_iso(inv["ready_at"]))
            if self._invoice_upo_ready(inv):
                doc.update(upoDownloadUrl=f"{base}/sessions/{ref}/invoices/{inv_ref}/upo",
                           upoDownloadUrlExpirationDate=_iso(self.now() + 3 * 24 * 3600))
        return Answer(200, doc)

    def _invoice_upo_ready(self, inv: dict[str, Any]) -> bool:
        return bool(self.now() >= inv["ready_at"] + self.config.upo_delay and inv["outcome"]["code"] == 200)

    def invoice_upo(self, op: dict[str, Any], ref: str, inv_ref: str, path: str) -> Answer:
        s = self._own_session(op, ref, path)
        inv = self.state.get("invoice", inv_ref)
        if inv is None or inv["session"] != s["ref"]:
            raise self.error(21405, "Błąd walidacji danych wejściowych.", [f"no invoice {inv_ref} in {ref}"],
                             path=path)
        if not self._invoice_upo_ready(inv):
            raise self.error(21405, "Błąd walidacji danych wejściowych.",
                             [f"no UPO for invoice {inv_ref} (yet): its status is "
                              f"{self._invoice_status_code(inv)['code']}"], path=path)
        return Answer(200, self.upo(s, [inv]), "application/xml")

    def invoice_upo_by_number(self, op: dict[str, Any], ref: str, ksef_number: str, path: str) -> Answer:
        s = self._own_session(op, ref, path)
        found = [i for i in self._session_invoices(s) if i.get("ksef_number") == ksef_number]
        if not found or not self._invoice_upo_ready(found[0]):
            raise self.error(21405, "Błąd walidacji danych wejściowych.",
                             [f"no UPO of invoice {ksef_number} in {ref} (yet)"], path=path)
        return Answer(200, self.upo(s, found[:1]), "application/xml")

    def session_upo(self, op: dict[str, Any], ref: str, upo_ref: str, path: str) -> Answer:
        s = self._own_session(op, ref, path)
        if s["upo"] != upo_ref:
            raise self.error(21405, "Błąd walidacji danych wejściowych.", [f"no UPO {upo_ref} of {ref} (yet)"],
                             path=path)
        ok = [i for i in self._session_invoices(s) if i["outcome"]["code"] == 200]
        return Answer(200, self.upo(s, ok, whole_session=True), "application/xml")

    def upo(self, s: dict[str, Any], invoices: list[dict[str, Any]], whole_session: bool = False) -> bytes:
        """A UPO 4.3 (urzędowe poświadczenie odbioru), XAdES-BES signed with the simulator's UPO key."""
        from domain.signatures.keystore import Signer
        from domain.signatures.xades import sign_xades

        E = etree.Element
        root = E(f"{{{UPO_NS}}}Potwierdzenie", nsmap={None: UPO_NS})

        def sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
            el = etree.SubElement(parent, f"{{{UPO_NS}}}{name}")
            if text is not None:
                el.text = text
            return el

        sub(root, "NazwaPodmiotuPrzyjmujacego", "Ministerstwo Finansów")
        sub(root, "NumerReferencyjnySesji", s["ref"])
        auth_el = sub(root, "Uwierzytelnienie")
        ctx = sub(auth_el, "IdKontekstu")
        kind, value = s["context"]
        sub(ctx, {"Nip": "Nip", "InternalId": "IdWewnetrzny", "PeppolId": "IdDostawcyUslugPeppol"}.get(kind, "Nip"),
            value)
        op = self.state.get("auth", s["auth"]) or {}
        sub(auth_el, "SkrotDokumentuUwierzytelniajacego", op.get("document_hash", _sha_b64(b"")))
        if whole_session:
            desc = sub(root, "OpisPotwierdzenia")
            for name, v in (("Strona", 1), ("LiczbaStron", 1), ("ZakresDokumentowOd", 1),
                            ("ZakresDokumentowDo", len(invoices)), ("CalkowitaLiczbaDokumentow", len(invoices))):
                sub(desc, name, str(v))
        sub(root, "NazwaStrukturyLogicznej", "Schemat_FA(3)_v1-0E.xsd")
        sub(root, "KodFormularza", "FA (3)")
        for inv in invoices:
            d = sub(root, "Dokument")
            sub(d, "NipSprzedawcy", inv["seller"])
            sub(d, "NumerKSeFDokumentu", inv["ksef_number"])
            sub(d, "NumerFaktury", inv["number"])
            sub(d, "DataWystawieniaFaktury", inv["issue_date"])
            sub(d, "DataPrzeslaniaDokumentu", _iso(inv["received"]))
            sub(d, "DataNadaniaNumeruKSeF", _iso(inv["ready_at"]))
            sub(d, "SkrotDokumentu", inv["hash"])
            sub(d, "TrybWysylki", inv["mode"])
        xml: bytes = etree.tostring(root, xml_declaration=True, encoding="utf-8")
        return sign_xades(xml, Signer(self.keys.upo_key, self.keys.upo_cert))

    # ------------------------------------------------------------ download
    def query_metadata(self, op: dict[str, Any], body: dict[str, Any], query: dict[str, str], path: str) -> Answer:
        subject_type, date_range = body.get("subjectType"), body.get("dateRange")
        if subject_type not in ("Subject1", "Subject2", "Subject3", "SubjectAuthorized") or not isinstance(
                date_range, dict) or date_range.get("dateType") not in ("Issue", "Invoicing", "PermanentStorage"):
            raise self.error(21405, "Błąd walidacji danych wejściowych.",
                             ["subjectType and dateRange (dateType, from) are required"], path=path)
        try:
            start = datetime.fromisoformat(str(date_range["from"]).replace("Z", "+00:00")).timestamp()
            end = (datetime.fromisoformat(str(date_range["to"]).replace("Z", "+00:00")).timestamp()
                   if date_range.get("to") else float("inf"))
        except (KeyError, ValueError):
            raise self.error(21405, "Błąd walidacji danych wejściowych.", ["dateRange.from/to: date-times"],
                             path=path) from None
        # The high-water mark (hwm.md): nothing will appear later with a PermanentStorage date at or before it.
        # `hwm_lag` keeps it that far behind now, so an invoice may still be numbered late inside (HWM, now].
        hwm = self.now() - self.config.hwm_lag
        permanent = date_range["dateType"] == "PermanentStorage"
        if permanent and date_range.get("restrictToPermanentStorageHwmDate"):
            end = min(end, hwm)
        nip = op["context"][1]
        found = []
        for inv in self.state.all("invoice"):
            if not inv.get("ksef_number") or self.now() < inv.get("visible_at", inv["ready_at"]):
                continue
            if (subject_type == "Subject1" and inv["seller"] != nip) or (
                    subject_type == "Subject2" and inv.get("buyer") != nip) or subject_type in (
                    "Subject3", "SubjectAuthorized"):
                continue
            when = {"Issue": datetime.fromisoformat(inv["issue_date"]).replace(tzinfo=UTC).timestamp(),
                    "Invoicing": inv["received"], "PermanentStorage": inv["ready_at"]}[date_range["dateType"]]
            if start <= when < end:
                found.append((when, inv))
        found.sort(key=lambda p: (p[0], p[1]["ksef_number"]), reverse=query.get("sortOrder", "Asc") == "Desc")
        # the technical limit: at most `metadata_limit` records per set of filters, then isTruncated
        truncated = len(found) > self.config.metadata_limit
        found = found[:self.config.metadata_limit]
        size, offset = int(query.get("pageSize", 10)), int(query.get("pageOffset", 0))
        if not 10 <= size <= 250 or offset < 0:
            raise self.error(21405, "Błąd walidacji danych wejściowych.", ["pageSize 10..250, pageOffset >= 0"],
                             path=path)
        page = found[offset * size:(offset + 1) * size]
        invoices = []
        for _when, inv in page:
            buyer = {"type": "Nip", "value": inv["buyer"]} if inv.get("buyer") else {"type": "None"}
            invoices.append({
                "ksefNumber": inv["ksef_number"], "invoiceNumber": inv["number"], "issueDate": inv["issue_date"],
                "invoicingDate": _iso(inv["received"]), "acquisitionDate": _iso(inv["ready_at"]),
                "permanentStorageDate": _iso(inv["ready_at"]),
                "seller": {"nip": inv["seller"], "name": inv.get("seller_name")},
                "buyer": {"identifier": buyer, "name": inv.get("buyer_name")},
                "netAmount": inv["net"], "grossAmount": inv["gross"], "vatAmount": inv["vat"],
                "currency": inv["currency"], "invoicingMode": inv["mode"], "invoiceType": inv["invoice_type"],
                "formCode": FA3_FORM, "isSelfInvoicing": False, "hasAttachment": False,
                "invoiceHash": inv["hash"]})
        # the HWM answered: the query's upper bound, corrected down to the HWM for the newest period; none for
        # Issue or Invoicing dates
        answered = _iso(min(end, self.now(), hwm)) if permanent else None
        return Answer(200, {"hasMore": len(found) > (offset + 1) * size or truncated, "isTruncated": truncated,
                            "permanentStorageHwmDate": answered, "invoices": invoices})

    def get_invoice(self, op: dict[str, Any], number: str, path: str) -> Answer:
        nip = op["context"][1]
        for inv in self.state.all("invoice"):
            if inv.get("ksef_number") == number and self.now() >= inv.get("visible_at", inv["ready_at"]) and nip in (
                    inv["seller"], inv.get("buyer")):
                content = self.state.blob("invoice", inv["ref"])
                assert content is not None
                return Answer(200, content, "application/xml")
        raise self.error(21165, "Faktura o podanym numerze KSeF nie jest jeszcze dostępna", [number], path=path)

    # ------------------------------------------------------------ control
    def deliver(self, xml: bytes, late: float = 0.0) -> dict[str, Any]:
        """A received invoice: as if its seller had sent it (the buyer downloads it). `late` seconds: numbered
        late, its PermanentStorage date that far back while it shows only from now on. KSeF keeps its promise
        (hwm.md) only inside (HWM, now]: a `late` of `hwm_lag` or more is refused."""
        if late and not 0 < late < self.config.hwm_lag:
            raise InvalidInput.one("late", f"{late} s: a late invoice must fall after the HWM already published "
                                           f"(0 < late < hwm_lag, {self.config.hwm_lag} s)")
        root = parse_untrusted(xml, "invoice", MAX_INVOICE_BYTES, utf8_only=True)
        seller = (root.findtext(f"{{{FA3_NS}}}Podmiot1/{{{FA3_NS}}}DaneIdentyfikacyjne/{{{FA3_NS}}}NIP") or "").strip()
        ref = self.reference("EE")
        record: dict[str, Any] = {"ref": ref, "session": "", "ordinal": 1, "received": self.now() - late,
                                  "ready_at": self.now() - late, "visible_at": self.now(), "hash": _sha_b64(xml),
                                  "mode": "Online", "context": ["Nip", seller], "auth_hash": _sha_b64(b"")}
        record.update(self._check_invoice(xml, ["Nip", seller], ref, "", schema=False))
        self.state.put("invoice", ref, record, xml)
        return {"referenceNumber": ref, "status": record["outcome"], "ksefNumber": record.get("ksef_number")}

    def add_ksef_token(self, context_kind: str, context_value: str) -> str:
        # KSeF's own shape (open-api.json's GenerateTokenResponse example): reference|context-value|secret
        kind = context_kind[:1].lower() + context_kind[1:]
        token = f"{self.reference('EC')}|{kind}-{context_value}|{secrets.token_hex(32)}"
        self.state.put("ksef_token", hashlib.sha256(token.encode()).hexdigest(),
                       {"context": [context_kind, context_value], "revoked": False})
        return token

    # ------------------------------------------------------------ dispatch
    def dispatch(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes,
                 client_ip: str, base: str) -> Answer:
        self.problem_details = headers.get("x-error-format", "") == "problem-details"
        if self.config.down:
            return Answer(503, {"exception": {"exceptionDetailList": [{"exceptionCode": 0, "exceptionDescription":
                                                                       "Usługa niedostępna (scenario: down)"}]}})
        for rx, m, template, handler in _ROUTES:
            match = rx.match(path)
            if match is None or m != method:
                continue
            auth = headers.get("authorization", "")
            who = hashlib.sha256(auth.encode()).hexdigest()[:16] if auth else client_ip
            op = None
            if template not in _PUBLIC:
                token = self.state.get("token", hashlib.sha256(auth[7:].encode()).hexdigest()) if auth else None
                if token is not None:
                    found = self.state.get("auth", token["auth"])
                    who = f"{found['context'][0]}:{found['context'][1]}|{client_ip}" if found else who
                    op = found
            limited = self.rate_limited(method, template, who)
            if limited is not None:
                return limited
            try:
                with self.state.lock:
                    return handler(self, _Call(match.groupdict(), query, headers, body, client_ip, base, path, op))
            except Refusal as refusal:
                return refusal.answer
        return Answer(404, {"title": "Not Found", "status": 404, "detail": f"{method} {path}"},
                      "application/problem+json")


@dataclass
class _Call:
    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    client_ip: str
    base: str
    path: str
    op: dict[str, Any] | None

    def json(self, sim: Simulator) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            raise sim.error(21405, "Błąd walidacji danych wejściowych.", ["the body is not JSON"],
                            path=self.path) from None
        if not isinstance(data, dict):
            raise sim.error(21405, "Błąd walidacji danych wejściowych.", ["the body is not a JSON object"],
                            path=self.path)
        return data


def _access(sim: Simulator, c: _Call) -> dict[str, Any]:
    return sim.session_of(c.headers, c.path)


_Handler = Callable[[Simulator, _Call], Answer]
_TABLE: list[tuple[str, str, _Handler]] = [
    ("POST", "/auth/challenge", lambda s, c: s.challenge(c.client_ip)),
    ("POST", "/auth/xades-signature", lambda s, c: s.xades_signature(
        c.body, c.query.get("verifyCertificateChain", "false").lower() == "true", c.path)),
    ("POST", "/auth/ksef-token", lambda s, c: s.ksef_token(c.json(s), c.path)),
    ("POST", "/auth/token/redeem", lambda s, c: s.redeem(c.headers, c.path)),
    ("POST", "/auth/token/refresh", lambda s, c: s.refresh(c.headers, c.path)),
    ("GET", "/auth/{referenceNumber}", lambda s, c: s.auth_status(c.headers, c.params["referenceNumber"], c.path)),
    ("GET", "/security/public-key-certificates", lambda s, c: s.public_keys()),
    ("GET", "/certificates/limits", lambda s, c: s.certificate_limits(_access(s, c))),
    ("GET", "/certificates/enrollments/data", lambda s, c: Answer(200, s._enrollment_data(_access(s, c)))),
    ("POST", "/certificates/enrollments", lambda s, c: s.enroll(_access(s, c), c.json(s), c.path)),
    ("GET", "/certificates/enrollments/{referenceNumber}", lambda s, c: s.enrollment_status(
        _access(s, c), c.params["referenceNumber"], c.path)),
    ("POST", "/certificates/retrieve", lambda s, c: s.retrieve(_access(s, c), c.json(s), c.path)),
    ("POST", "/certificates/query", lambda s, c: s.query_certificates(_access(s, c), c.json(s), c.query)),
    ("POST", "/certificates/{certificateSerialNumber}/revoke", lambda s, c: s.revoke(
        _access(s, c), c.params["certificateSerialNumber"], c.json(s), c.path)),
    ("POST", "/sessions/online", lambda s, c: s.open_online(_access(s, c), c.json(s), c.path)),
    ("POST", "/sessions/online/{referenceNumber}/invoices", lambda s, c: s.send_invoice(
        _access(s, c), c.params["referenceNumber"], c.json(s), c.path)),
    ("POST", "/sessions/online/{referenceNumber}/close", lambda s, c: s.close_online(
        _access(s, c), c.params["referenceNumber"], c.path)),
    ("GET", "/sessions/{referenceNumber}", lambda s, c: s.session_status(
        _access(s, c), c.params["referenceNumber"], c.base, c.path)),
    ("GET", "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}", lambda s, c: s.invoice_status(
        _access(s, c), c.params["referenceNumber"], c.params["invoiceReferenceNumber"], c.base, c.path)),
    ("GET", "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}/upo", lambda s, c: s.invoice_upo(
        _access(s, c), c.params["referenceNumber"], c.params["invoiceReferenceNumber"], c.path)),
    ("GET", "/sessions/{referenceNumber}/invoices/ksef/{ksefNumber}/upo", lambda s, c: s.invoice_upo_by_number(
        _access(s, c), c.params["referenceNumber"], c.params["ksefNumber"], c.path)),
    ("GET", "/sessions/{referenceNumber}/upo/{upoReferenceNumber}", lambda s, c: s.session_upo(
        _access(s, c), c.params["referenceNumber"], c.params["upoReferenceNumber"], c.path)),
    ("POST", "/invoices/query/metadata", lambda s, c: s.query_metadata(_access(s, c), c.json(s), c.query, c.path)),
    ("GET", "/invoices/ksef/{ksefNumber}", lambda s, c: s.get_invoice(_access(s, c), c.params["ksefNumber"],
                                                                      c.path)),
]
_PUBLIC = {"/auth/challenge", "/auth/xades-signature", "/auth/ksef-token", "/security/public-key-certificates"}
# literal paths before parameterised ones of the same shape (enrollments/data before enrollments/{ref})
_ROUTES = sorted(((re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", t) + "$"), m, t, h) for m, t, h in _TABLE),
                 key=lambda r: r[2].count("{"))

PREFIX = "/v2"  # the real API's base path (https://api-test.ksef.mf.gov.pl/v2)


def create_app(sim: Simulator) -> Starlette:
    async def api(request: Request) -> Response:
        path = request.url.path.removeprefix(PREFIX)
        body = await request.body()
        base = str(request.base_url).rstrip("/") + PREFIX
        headers = {k.lower(): v for k, v in request.headers.items()}
        answer = await run_in_threadpool(sim.dispatch, request.method, path, dict(request.query_params), headers,
                                         body, request.client.host if request.client else "127.0.0.1", base)
        if isinstance(answer.body, bytes):
            return Response(answer.body, answer.status, answer.headers, media_type=answer.content_type)
        if answer.body is None:
            return Response(b"", answer.status, answer.headers)
        return Response(json.dumps(answer.body, ensure_ascii=False).encode(), answer.status, answer.headers,
                        media_type=answer.content_type)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True})

    async def config(request: Request) -> Response:
        data = await request.json()
        for key, value in data.items():
            if not hasattr(sim.config, key):
                return JSONResponse({"error": f"unknown setting {key}"}, 400)
            setattr(sim.config, key, value)
        return JSONResponse(asdict(sim.config))

    async def ksef_tokens(request: Request) -> Response:
        data = await request.json()
        return JSONResponse({"token": sim.add_ksef_token(data.get("type", "Nip"), str(data["value"]))})

    async def permissions(request: Request) -> Response:
        data = await request.json()
        key = f"{data['subject']}>{data.get('type', 'Nip')}:{data['context']}"
        sim.state.put("permission", key, {"granted": sim.now()})
        return JSONResponse({"granted": key})

    async def deliver(request: Request) -> Response:
        data = await request.json()
        try:
            return JSONResponse(await run_in_threadpool(sim.deliver, base64.b64decode(data["invoice_b64"]),
                                                        float(data.get("late", 0))))
        except InvalidInput as err:
            return JSONResponse({"error": str(err)}, 400)

    async def listing(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in ("enrollment", "certificate", "session", "invoice", "auth"):
            return JSONResponse({"error": f"unknown kind {kind}"}, 404)
        return JSONResponse(sim.state.all(kind))

    async def ca(_: Request) -> Response:
        return Response(sim.keys.ca_cert.public_bytes(serialization.Encoding.PEM), media_type="application/x-pem-file")

    return Starlette(routes=[
        Route("/healthz", healthz, methods=["GET"]),
        Route("/control/config", config, methods=["POST"]),
        Route("/control/ksef-tokens", ksef_tokens, methods=["POST"]),
        Route("/control/permissions", permissions, methods=["POST"]),
        Route("/control/invoices", deliver, methods=["POST"]),
        Route("/control/ca.pem", ca, methods=["GET"]),
        Route("/control/{kind}", listing, methods=["GET"]),
        Route(PREFIX + "/{path:path}", api, methods=["GET", "POST"]),
    ])

