"""XAdES-BES enveloped signatures of a FatturaPA file, with signxml's XAdES support.

The signature is the last child of the invoice root (where the FatturaPA schema allows a `ds:Signature`)
and its data reference is the whole document (`URI=""` with the enveloped-signature transform).
Verification refuses signature wrapping: exactly one signature, a child of the root, whose one data
reference is the root itself, so no part of the invoice can sit outside what was signed.
"""

from __future__ import annotations

from base64 import b64decode
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml import methods
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidInput as SignxmlInvalidInput
from signxml.exceptions import SignXMLException
from signxml.xades.xades import XAdESSignatureConfiguration, XAdESSigner, XAdESVerifier

from domain.errors import InvalidInput
from domain.sdi.documents import parse_sdi_file
from domain.signatures.cades import CLOCK_SKEW, VerifiedSignature, check_validity
from domain.signatures.errors import InvalidSignature, MalformedSignedFile
from domain.signatures.keystore import Signer

DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"
_SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"
_NS = {"ds": DSIG_NS, "xades": XADES_NS}
_DIGESTS: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "http://www.w3.org/2001/04/xmlenc#sha256": hashes.SHA256,
    "http://www.w3.org/2000/09/xmldsig#sha1": hashes.SHA1,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": hashes.SHA384,
    "http://www.w3.org/2001/04/xmlenc#sha512": hashes.SHA512,
}


def _now() -> datetime:
    return datetime.now(UTC)


def sign_xades(xml: bytes, signer: Signer) -> bytes:
    """The invoice with an enveloped XAdES-BES signature (SHA-256) appended to its root."""
    root = parse_sdi_file(xml)
    if root.find(f"{{{DSIG_NS}}}Signature") is not None:
        raise InvalidSignature("the document is already signed", field="file")
    is_rsa = isinstance(signer.private_key, rsa.RSAPrivateKey)
    xades = XAdESSigner(
        method=methods.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256 if is_rsa else SignatureMethod.ECDSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
    )
    signed = xades.sign(root, key=signer.private_key, cert=[signer.certificate, *signer.chain])
    out: bytes = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
    return out


def _certificates(signature: etree._Element) -> list[x509.Certificate]:
    certs = []
    for node in signature.iterfind("ds:KeyInfo/ds:X509Data/ds:X509Certificate", _NS):
        try:
            certs.append(x509.load_der_x509_certificate(b64decode("".join((node.text or "").split()))))
        except ValueError:
            raise InvalidSignature("a certificate in the signature is unreadable") from None
    if not certs:
        raise InvalidSignature("the signature carries no X.509 certificate")
    return certs


def _signing_certificate(signature: etree._Element, certs: list[x509.Certificate]) -> x509.Certificate:
    """The certificate named first in xades:SigningCertificate(V2); signxml re-checks the digest after
    verifying the signed properties."""
    first = signature.find(".//xades:SignedSignatureProperties/*/xades:Cert/xades:CertDigest", _NS)
    if first is None:
        raise InvalidSignature("not XAdES-BES: no signing certificate in the signed properties")
    method = first.find("ds:DigestMethod", _NS)
    value = first.find("ds:DigestValue", _NS)
    algorithm = _DIGESTS.get(method.get("Algorithm", "") if method is not None else "")
    if algorithm is None or value is None:
        raise InvalidSignature("unsupported signing-certificate digest")
    digest = b64decode("".join((value.text or "").split()))
    for cert in certs:
        if cert.fingerprint(algorithm()) == digest:
            return cert
    raise InvalidSignature("the signing certificate is not among the certificates of the signature")


def _check_references(root: etree._Element, signature: etree._Element) -> None:
    key_info_ids = {f"#{e.get('Id')}" for e in signature.iterfind("ds:KeyInfo", _NS) if e.get("Id")}
    data_refs = [
        ref
        for ref in signature.iterfind("ds:SignedInfo/ds:Reference", _NS)
        if ref.get("Type") != _SIGNED_PROPERTIES_TYPE and ref.get("URI") not in key_info_ids
    ]
    if len(data_refs) != 1:
        raise InvalidSignature(f"the signature must reference the invoice once, not {len(data_refs)} times")
    uri = data_refs[0].get("URI")
    allowed = {""} | ({f"#{root.get('Id')}"} if root.get("Id") else set())
    if uri not in allowed:
        raise InvalidSignature(f"the signature references {uri!r}, not the whole invoice (signature wrapping)")


def _signing_time(node: etree._Element | None) -> datetime | None:
    if node is None or not (node.text or "").strip():
        return None
    try:
        value = datetime.fromisoformat(node.text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidSignature(f"unreadable SigningTime {node.text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def verify_xades(xml: bytes, now: datetime | None = None) -> VerifiedSignature:
    """Verify an enveloped XAdES-BES signature: the signature value, every reference digest, the signed
    properties with the signing-certificate binding, the certificate's validity at the signing time, and
    that the signed reference is the document root. Trust in the issuer is not judged here.

    Any part that cannot be read (bad base64, an undecodable certificate or key, a signature structure the
    XAdES schema refuses) is an `InvalidSignature` too, never a library's own exception."""
    try:
        return _verify_xades(xml, now)
    except InvalidInput:
        raise
    except (ValueError, TypeError, KeyError, IndexError, UnsupportedAlgorithm, etree.LxmlError) as err:
        raise InvalidSignature(f"the XML signature cannot be read: {err}") from None


def _verify_xades(xml: bytes, now: datetime | None) -> VerifiedSignature:
    now = now or _now()
    root = parse_sdi_file(xml)
    signatures = list(root.iter(f"{{{DSIG_NS}}}Signature"))
    if not signatures:
        raise MalformedSignedFile("the document carries no XML signature", field="file")
    if len(signatures) != 1 or signatures[0].getparent() is not root:
        raise InvalidSignature("exactly one enveloped signature, child of the invoice root, is allowed")
    signature = signatures[0]
    _check_references(root, signature)
    certs = _certificates(signature)
    cert = _signing_certificate(signature, certs)
    # The certificate must be valid at the declared signing time; signxml checks validity at the time we
    # give it, so it gets the declared time, which must then be the one the verified properties carry.
    declared = _signing_time(signature.find(".//xades:SignedSignatureProperties/xades:SigningTime", _NS))
    if declared is not None and declared > now + CLOCK_SKEW:
        raise InvalidSignature("the signing time is in the future", code="00105")
    at = declared or now
    check_validity(cert, at)
    try:
        results = XAdESVerifier().verify(
            root,
            x509_cert=cert,
            expect_config=XAdESSignatureConfiguration(expect_references=True, verification_time=at),
        )
    except (SignXMLException, SignxmlInvalidInput, ValueError) as err:
        raise InvalidSignature(f"the XML signature does not verify: {err}") from None
    documents = [r for r in results if r.signed_xml is not None and r.signed_xml.tag == root.tag]
    if len(documents) != 1:
        raise InvalidSignature("the verified signature does not cover the invoice root (signature wrapping)")
    properties = [r for r in results if getattr(r, "signed_properties", None) is not None]
    if not properties:
        raise InvalidSignature("not XAdES-BES: no signed properties")
    signed_properties = getattr(properties[0], "signed_properties")  # noqa: B009 - XAdESVerifyResult only
    signing_time = _signing_time(signed_properties.find("xades:SigningTime", _NS))
    if signing_time != declared:
        raise InvalidSignature("the signing time is not the one covered by the signature")
    chain = tuple(c for c in certs if c != cert)
    return VerifiedSignature(xml, cert, signing_time, "xades", chain)
