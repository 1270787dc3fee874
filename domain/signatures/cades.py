"""CAdES-BES attached signatures (the `.p7m` envelope of a FatturaPA file): build, unwrap and verify.

The CMS SignedData is built with asn1crypto and signed with cryptography, so the content is carried byte
for byte (no LF→CRLF rewriting) and the signed attributes are exactly those CAdES-BES asks for:
content-type, message-digest, signing-time and signing-certificate-v2 (RFC 5035), which binds the signer's
certificate to the signature. cryptography cannot verify CMS; `verify_cades` parses with asn1crypto and
checks each signature with cryptography.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from asn1crypto import algos, cms, core, tsp  # noqa: F401  (tsp registers signing-certificate-v2)
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from domain.signatures.errors import CertificateExpired, InvalidSignature, MalformedSignedFile, SignatureError
from domain.signatures.keystore import Signer

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# Digests we accept on a signature we verify (SHA-1 is broken for signatures: refused).
_ACCEPTED_DIGESTS = {"sha256", "sha384", "sha512"}
_BASE64 = re.compile(rb"^[A-Za-z0-9+/=\s]+$")
_PEM = re.compile(rb"-----BEGIN [A-Z0-9 #]+-----(.*?)-----END [A-Z0-9 #]+-----", re.DOTALL)
# A signing time may be a little ahead of our clock (the signer's clock is not ours).
CLOCK_SKEW = timedelta(minutes=10)
MAX_WRAPPING = 3  # base64 layers and nested envelopes we unwrap


@dataclass(frozen=True)
class VerifiedSignature:
    content: bytes  # the signed document, exactly as signed
    certificate: x509.Certificate  # the signer's certificate
    signing_time: datetime | None  # the signing time the signer declared (signed attribute)
    kind: str = "cades"  # "cades" or "xades"
    chain: tuple[x509.Certificate, ...] = field(default_factory=tuple)  # other certificates carried

    @property
    def signer_name(self) -> str:
        return self.certificate.subject.rfc4514_string()


def unwrap_der(data: bytes) -> bytes:
    """The DER bytes of a .p7m, which real senders often base64-encode once or twice, with or without
    PEM armour ("-----BEGIN PKCS7-----")."""
    current = data
    for _ in range(MAX_WRAPPING + 1):
        if current[:1] == b"\x30":
            return current
        stripped = current.strip()
        armour = _PEM.search(stripped)
        if armour:
            stripped = armour.group(1)
        if not stripped or not _BASE64.match(stripped):
            break
        try:
            current = base64.b64decode(re.sub(rb"\s+", b"", stripped), validate=True)
        except (binascii.Error, ValueError):
            break
    raise MalformedSignedFile("not a CMS/PKCS#7 signed file (neither DER nor base64 of DER)", field="file")


def _load_signed_data(p7m: bytes) -> cms.SignedData:
    """The SignedData of an envelope, parsed lazily: opening an envelope for its content needs only the path
    to it, and verification parses the rest itself (`_verify_cades`)."""
    der = unwrap_der(p7m)
    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise MalformedSignedFile(f"the envelope holds {info['content_type'].native}, not signed data")
        signed = info["content"]
    except MalformedSignedFile:
        raise
    except (ValueError, TypeError, KeyError) as err:
        raise MalformedSignedFile(f"corrupt CMS envelope: {err}") from None
    return signed


def _content_of(p7m: bytes) -> bytes:
    """The encapsulated content of an envelope, parsing only what leads to it."""
    signed = _load_signed_data(p7m)
    try:
        return _encapsulated(signed)
    except MalformedSignedFile:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as err:
        raise MalformedSignedFile(f"corrupt CMS envelope: {err}") from None


def _encapsulated(signed: cms.SignedData) -> bytes:
    content = signed["encap_content_info"]["content"]
    if not isinstance(content, core.ParsableOctetString) and content.native is None:
        raise MalformedSignedFile("the envelope carries no content (detached signature)")
    value = content.native
    if not value:
        raise MalformedSignedFile("the envelope carries no content (detached signature)")
    return bytes(value)


def extract_cades_content(p7m: bytes) -> bytes:
    """The document inside a .p7m (without verifying the signature); nested envelopes are opened."""
    content = _content_of(p7m)
    for _ in range(MAX_WRAPPING):
        if content[:1] != b"\x30":
            break
        try:
            content = _content_of(content)
        except MalformedSignedFile:
            break
    return content


def _now() -> datetime:
    return datetime.now(UTC)


def _der(tag: int, body: bytes) -> bytes:
    """One DER element: tag, definite length, body."""
    size = len(body)
    if size < 0x80:
        return bytes((tag, size)) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + body


_SEQUENCE, _SET, _OCTET_STRING, _CONTEXT_0 = 0x30, 0x31, 0x04, 0xA0  # [0], constructed
# The fixed parts of every envelope we build, encoded once by asn1crypto.
_VERSION_1 = core.Integer(1).dump()
_OID_SIGNED_DATA = cms.ContentType("signed_data").dump()
_OID_DATA = cms.ContentType("data").dump()
_SHA256 = algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
_DIGEST_ALGORITHMS = cms.DigestAlgorithms([{"algorithm": "sha256"}]).dump()
_SIGNATURE_ALGORITHMS = {
    name: algos.SignedDigestAlgorithm({"algorithm": name}).dump() for name in ("sha256_rsa", "sha256_ecdsa")
}
_CONTENT_TYPE_DATA = cms.CMSAttribute({"type": "content_type", "values": ["data"]}).dump()


@dataclass(frozen=True)
class _SignerParts:
    """The DER parts of a signature that depend only on the signer's certificates, encoded once per
    certificate (re-encoding whole certificates with asn1crypto costs ten RSA signatures). Public data
    only: the private key is never cached."""

    sid: bytes  # SignerIdentifier: issuerAndSerialNumber
    signing_certificate: bytes  # the signing-certificate-v2 attribute (RFC 5035)
    certificates: bytes  # [0] IMPLICIT CertificateSet: the certificate and its chain


@lru_cache(maxsize=64)
def _signer_parts(cert_der: bytes, chain_der: tuple[bytes, ...]) -> _SignerParts:
    cert = asn1_x509.Certificate.load(cert_der)
    ess_cert = tsp.ESSCertIDv2(
        {
            "cert_hash": hashlib.sha256(cert_der).digest(),
            "issuer_serial": {
                "issuer": [asn1_x509.GeneralName({"directory_name": cert.issuer})],
                "serial_number": cert.serial_number,
            },
        }
    )
    signing_certificate = cms.CMSAttribute(
        {"type": "signing_certificate_v2", "values": [tsp.SigningCertificateV2({"certs": [ess_cert]})]}
    )
    sid = cms.SignerIdentifier(
        {"issuer_and_serial_number": {"issuer": cert.issuer, "serial_number": cert.serial_number}}
    )
    return _SignerParts(
        sid=sid.dump(),
        signing_certificate=signing_certificate.dump(),
        certificates=_der(_CONTEXT_0, b"".join(sorted((cert_der, *chain_der)))),  # a SET OF: sorted
    )


def sign_cades(content: bytes, signer: Signer, signing_time: datetime | None = None) -> bytes:
    """A CAdES-BES attached signature (DER, SHA-256) over `content`, carrying the signer's certificate
    and chain. The content is embedded unchanged.

    The envelope (RFC 5652 ContentInfo / SignedData / SignerInfo) is assembled from DER parts: the per-signer
    ones cached by `_signer_parts`, the signed attributes that change with every signature (signing-time,
    message-digest) encoded by asn1crypto. `verify_cades` reads it back with asn1crypto."""
    when = (signing_time or _now()).astimezone(UTC).replace(microsecond=0)
    parts = _signer_parts(
        signer.certificate.public_bytes(serialization.Encoding.DER),
        tuple(c.public_bytes(serialization.Encoding.DER) for c in signer.chain),
    )
    time_choice = {"utc_time": when} if 1950 <= when.year < 2050 else {"generalized_time": when}
    attributes = [
        _CONTENT_TYPE_DATA,
        cms.CMSAttribute({"type": "signing_time", "values": [cms.Time(time_choice)]}).dump(),
        cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(content).digest()]}).dump(),
        parts.signing_certificate,
    ]
    # DER: the elements of a SET OF are sorted by their encodings. The signature covers the attributes
    # encoded as a SET; the SignerInfo carries the same bytes under the [0] IMPLICIT tag.
    attributes_body = b"".join(sorted(attributes))
    key = signer.private_key
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(_der(_SET, attributes_body), padding.PKCS1v15(), hashes.SHA256())
        sig_alg = "sha256_rsa"
    else:
        signature = key.sign(_der(_SET, attributes_body), ec.ECDSA(hashes.SHA256()))
        sig_alg = "sha256_ecdsa"
    signer_info = _der(
        _SEQUENCE,
        _VERSION_1 + parts.sid + _SHA256 + _der(_CONTEXT_0, attributes_body) + _SIGNATURE_ALGORITHMS[sig_alg]
        + _der(_OCTET_STRING, signature),
    )
    encapsulated = _der(_SEQUENCE, _OID_DATA + _der(_CONTEXT_0, _der(_OCTET_STRING, content)))
    signed_data = _der(
        _SEQUENCE, _VERSION_1 + _DIGEST_ALGORITHMS + encapsulated + parts.certificates + _der(_SET, signer_info)
    )
    return _der(_SEQUENCE, _OID_SIGNED_DATA + _der(_CONTEXT_0, signed_data))


def _signer_certificate(signed: cms.SignedData, sid: cms.SignerIdentifier) -> asn1_x509.Certificate:
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            ias = sid.chosen
            if cert.issuer == ias["issuer"] and cert.serial_number == ias["serial_number"].native:
                return cert
        elif sid.name == "subject_key_identifier" and cert.key_identifier == sid.chosen.native:
            return cert
    raise InvalidSignature("the envelope does not carry the signer's certificate")


def _attr(attrs: cms.CMSAttributes, name: str) -> list[object] | None:
    found = [a for a in attrs if a["type"].native == name]
    if len(found) > 1:
        raise InvalidSignature(f"the signed attribute {name} appears more than once")
    if not found:
        return None
    values = list(found[0]["values"])
    if len(values) != 1:
        raise InvalidSignature(f"the signed attribute {name} must have exactly one value")
    return values


def _check_signature(
    public_key: object, signature: bytes, data: bytes, sig_alg: algos.SignedDigestAlgorithm, digest: str
) -> None:
    hash_alg = _HASHES[digest]()
    algo = sig_alg.signature_algo
    try:
        if algo == "rsassa_pkcs1v15" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hash_alg)
        elif algo == "rsassa_pss" and isinstance(public_key, rsa.RSAPublicKey):
            params = sig_alg["parameters"]
            pss_hash = _HASHES[params["hash_algorithm"]["algorithm"].native]()
            salt = params["salt_length"].native
            public_key.verify(signature, data, padding.PSS(padding.MGF1(pss_hash), salt), pss_hash)
        elif algo == "ecdsa" and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hash_alg))
        else:
            raise InvalidSignature(f"unsupported signature algorithm {sig_alg['algorithm'].native}")
    except _CryptoInvalidSignature:
        raise InvalidSignature("the signature does not match the signed data") from None


def _check_signing_certificate(attrs: cms.CMSAttributes, cert: asn1_x509.Certificate) -> None:
    """CAdES-BES: signing-certificate-v2 (or the legacy v1) must name the certificate that signed."""
    v2 = _attr(attrs, "signing_certificate_v2")
    v1 = _attr(attrs, "signing_certificate")
    if v2 is None and v1 is None:
        raise InvalidSignature("not CAdES-BES: the signing-certificate(-v2) signed attribute is missing")
    value = v2[0] if v2 is not None else v1[0]  # type: ignore[index]
    first = value["certs"][0]  # type: ignore[index]
    alg = first["hash_algorithm"]["algorithm"].native if v2 is not None else "sha1"
    if alg not in _HASHES:
        raise InvalidSignature(f"unsupported certificate hash {alg} in signing-certificate")
    expected = hashlib.new(alg, cert.dump()).digest()
    if first["cert_hash"].native != expected:
        raise InvalidSignature("signing-certificate does not match the signer's certificate")
    issuer_serial = first["issuer_serial"]
    if issuer_serial.native is not None:
        if issuer_serial["serial_number"].native != cert.serial_number:
            raise InvalidSignature("signing-certificate names another serial number")
        names = [g.chosen for g in issuer_serial["issuer"] if g.name == "directory_name"]
        if names and not any(n == cert.issuer for n in names):
            raise InvalidSignature("signing-certificate names another issuer")


def check_validity(cert: x509.Certificate, at: datetime) -> None:
    if not (cert.not_valid_before_utc <= at <= cert.not_valid_after_utc):
        raise CertificateExpired(
            f"the signer's certificate is valid from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} to "
            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, not at signing time {at:%Y-%m-%d %H:%M} UTC"
        )


def verify_cades(p7m: bytes, now: datetime | None = None) -> VerifiedSignature:
    """Verify an attached CAdES-BES envelope (DER or base64/PEM-wrapped): every signer's signature, the
    message digest of the content, the signing-certificate(-v2) binding and the certificate's validity at
    the declared signing time (or `now` when none is declared). Returns the content and the first signer.
    Trust in the certificate's issuer (a qualified CA) is not judged here.

    A part of the envelope that cannot be read (a certificate, a key, an algorithm identifier) is a
    `MalformedSignedFile`, never a library's own exception."""
    try:
        return _verify_cades(p7m, now)
    except SignatureError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, UnsupportedAlgorithm) as err:
        raise MalformedSignedFile(f"corrupt CMS envelope: {err}") from None


def _verify_cades(p7m: bytes, now: datetime | None) -> VerifiedSignature:
    now = now or _now()
    signed = _load_signed_data(p7m)
    signer_infos = list(signed["signer_infos"])
    # The bytes each signature covers, taken before anything parses into the attributes: asn1crypto
    # re-encodes a structure it has parsed (algorithm identifiers count as changed) when it is dumped.
    covered = [info["signed_attrs"].dump() for info in signer_infos]
    # Then every part's structure (0.3 ms; asn1crypto's `.native` would build Python values of it all, 13 ms):
    # corruption anywhere surfaces as MalformedSignedFile (verify_cades).
    signed._parse_children(recurse=True)
    content = _encapsulated(signed)
    content_type = signed["encap_content_info"]["content_type"].native
    if not signer_infos:
        raise InvalidSignature("the envelope has no signature")
    carried = [
        x509.load_der_x509_certificate(c.chosen.dump()) for c in signed["certificates"] or [] if c.name == "certificate"
    ]
    results: list[VerifiedSignature] = []
    for info, raw in zip(signer_infos, covered, strict=True):
        digest = info["digest_algorithm"]["algorithm"].native
        if digest not in _ACCEPTED_DIGESTS:
            raise InvalidSignature(f"digest algorithm {digest} is not accepted (SHA-256 or stronger)")
        asn1_cert = _signer_certificate(signed, info["sid"])
        cert = x509.load_der_x509_certificate(asn1_cert.dump())
        attrs = info["signed_attrs"]
        if not attrs:
            raise InvalidSignature("not CAdES-BES: the signature has no signed attributes")
        message_digest = _attr(attrs, "message_digest")
        if message_digest is None or message_digest[0].native != hashlib.new(digest, content).digest():  # type: ignore[attr-defined]
            raise InvalidSignature("the content does not match the signed message digest")
        declared_type = _attr(attrs, "content_type")
        if declared_type is None or declared_type[0].native != content_type:  # type: ignore[attr-defined]
            raise InvalidSignature("the signed content-type attribute does not match the content")
        _check_signing_certificate(attrs, asn1_cert)
        # The signature covers the DER of the attributes as a SET (tag 0x31), not the [0] IMPLICIT tag.
        _check_signature(cert.public_key(), info["signature"].native, b"\x31" + raw[1:],
                         info["signature_algorithm"], digest)
        time_values = _attr(attrs, "signing_time")
        signing_time = time_values[0].native if time_values else None  # type: ignore[attr-defined]
        if signing_time is not None and signing_time > now + CLOCK_SKEW:
            raise InvalidSignature("the signing time is in the future", code="00105")
        check_validity(cert, signing_time or now)
        chain = tuple(c for c in carried if c != cert)
        results.append(VerifiedSignature(content, cert, signing_time, "cades", chain))
    return results[0]
