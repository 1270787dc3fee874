"""KSeF authentication's request bodies (uwierzytelnianie): the AuthTokenRequest XML a XAdES signature is put
on, and the KSeF-token alternative, encrypted to the ministry's key.

`POST /auth/challenge` answers a challenge (36 characters, valid 10 minutes) and its `timestampMs`. Either the
challenge goes into an `AuthTokenRequest` (namespace http://ksef.mf.gov.pl/auth/token/2.0, vendored schema
`spec/schemat_auth_v2-0.xsd`) signed with XAdES and posted to `/auth/xades-signature`, or a KSeF token is sent
to `/auth/ksef-token` as `token|timestampMs` encrypted with RSA-OAEP (SHA-256, MGF1 SHA-256) to the ministry's
key of usage KsefTokenEncryption (`InitTokenAuthenticationRequest`). `timestampMs` is used exactly as KSeF
gave it (an integer: never re-derived from the ISO timestamp, which would round). The identifiers are checked
with the schema's own patterns, so a request KSeF's parser would refuse is refused here, naming the field.
"""

from __future__ import annotations

import base64
import re

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from lxml import etree

from domain.errors import InvalidInput, ProblemCollector
from domain.signatures.keystore import Signer
from domain.signatures.xades import sign_xades

AUTH_NS = "http://ksef.mf.gov.pl/auth/token/2.0"
# The schema's patterns (schemat_auth_v2-0.xsd; a test reads them from the file and compares).
CHALLENGE = r"\d{8}-CR-[A-F0-9]{10}-[A-F0-9]{10}-[A-F0-9]{2}"
CONTEXT_PATTERNS = {
    "Nip": r"[1-9]((\d[1-9])|([1-9]\d))\d{7}",
    "InternalId": r"[1-9]((\d[1-9])|([1-9]\d))\d{7}-\d{5}",
    "PeppolId": r"^P[A-Z]{2}[0-9]{6}$",
}
SUBJECT_TYPES = ("certificateSubject", "certificateFingerprint")
_OAEP = OAEP(mgf=MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def _full(pattern: str, value: str) -> bool:
    """XSD patterns match the whole value; a ^ or $ the schema writes (plain characters to XSD) is read as
    the anchor its authors meant (the schema cannot be compiled as written, so this is our reading)."""
    return re.fullmatch(pattern.removeprefix("^").removesuffix("$"), value) is not None


def check_challenge(challenge: str) -> str:
    value = (challenge or "").strip()
    if len(value) != 36 or not _full(CHALLENGE, value):
        raise InvalidInput.one("challenge", "not a KSeF challenge (YYYYMMDD-CR-10 hex-10 hex-2 hex, 36 characters)")
    return value


def check_context(kind: str, value: str) -> tuple[str, str]:
    """A context identifier (whose KSeF context the session acts in). NipVatUe is not supported yet."""
    if kind not in CONTEXT_PATTERNS:
        raise InvalidInput.one("context.type", f"one of {', '.join(CONTEXT_PATTERNS)}, got {kind!r}")
    if not _full(CONTEXT_PATTERNS[kind], value or ""):
        raise InvalidInput.one("context.value", f"{value!r} is not a {kind} as KSeF's schema defines it")
    return kind, value


def auth_token_request(challenge: str, context_kind: str, context_value: str,
                       subject_type: str = "certificateSubject") -> bytes:
    """The unsigned AuthTokenRequest (UTF-8, no BOM), ready for an enveloped XAdES signature."""
    problems = ProblemCollector()
    for check in (lambda: check_challenge(challenge), lambda: check_context(context_kind, context_value)):
        try:
            check()
        except InvalidInput as err:
            for p in err.problems:
                problems.add(p.field, p.message)
    if subject_type not in SUBJECT_TYPES:
        problems.add("subject_type", f"one of {', '.join(SUBJECT_TYPES)}, got {subject_type!r}")
    problems.raise_if_any()
    root = etree.Element(f"{{{AUTH_NS}}}AuthTokenRequest", nsmap={None: AUTH_NS})
    etree.SubElement(root, f"{{{AUTH_NS}}}Challenge").text = challenge.strip()
    context = etree.SubElement(root, f"{{{AUTH_NS}}}ContextIdentifier")
    etree.SubElement(context, f"{{{AUTH_NS}}}{context_kind}").text = context_value
    etree.SubElement(root, f"{{{AUTH_NS}}}SubjectIdentifierType").text = subject_type
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    return data


def token_auth_request(challenge: str, timestamp_ms: int, context_kind: str, context_value: str, ksef_token: str,
                       ministry_key: rsa.RSAPublicKey) -> dict[str, object]:
    """The body of `POST /auth/ksef-token` (InitTokenAuthenticationRequest). The token is never logged: the
    body holds it only encrypted."""
    check_challenge(challenge)
    check_context(context_kind, context_value)
    if not isinstance(timestamp_ms, int) or isinstance(timestamp_ms, bool) or timestamp_ms <= 0:
        raise InvalidInput.one("timestampMs", "the challenge's timestampMs, an integer of milliseconds, as given")
    # A KSeF token holds '|' itself (open-api.json's GenerateTokenResponse example: "<reference>|internalId-
    # <nip>-<id>|<secret>"); KSeF reads the timestamp after the last one, so only an empty token is refused.
    if not ksef_token or ksef_token.strip() != ksef_token:
        raise InvalidInput.one("ksef_token", "empty, or with spaces around it: the KSeF token as KSeF gave it")
    encrypted = ministry_key.encrypt(f"{ksef_token}|{timestamp_ms}".encode(), _OAEP)
    return {"challenge": challenge.strip(), "contextIdentifier": {"type": context_kind, "value": context_value},
            "encryptedToken": base64.b64encode(encrypted).decode("ascii")}


def signed_auth_token_request(challenge: str, context_kind: str, context_value: str, signer: Signer,
                              subject_type: str = "certificateSubject") -> bytes:
    """The AuthTokenRequest with an enveloped XAdES-BES signature (SHA-256; RSA, or ECDSA whose value XML-DSig
    writes as R||S, as KSeF asks: `auth/podpis-xades.md`), the body of `POST /auth/xades-signature`. The
    signer is the customer's KSeF certificate or the intermediary's; its key never leaves the worker."""
    return sign_xades(auth_token_request(challenge, context_kind, context_value, subject_type), signer)
