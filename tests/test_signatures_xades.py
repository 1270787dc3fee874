"""XAdES-BES enveloped: round-trips, tampering, expired certificates and signature wrapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from signxml import DigestAlgorithm, SignatureMethod, methods
from signxml.xades import XAdESSigner

from domain.errors import InvalidInput
from domain.fatturapa import load_invoice, validate_invoice
from domain.signatures import CertificateExpired, InvalidSignature, Signer, sign_xades, verify_xades
from domain.signatures.devcert import dev_signer

DS = "http://www.w3.org/2000/09/xmldsig#"
INVOICE = Path("/work/shared/standards/fatturapa/samples/p7m/IT01234567890_FPR03.xml").read_bytes()


@pytest.fixture(scope="module")
def signer() -> Signer:
    return dev_signer("Mario Rossi")


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
def test_round_trip(key_type: str) -> None:
    s = dev_signer(key_type=key_type)
    signed = sign_xades(INVOICE, s)
    verified = verify_xades(signed)
    assert verified.kind == "xades"
    assert verified.certificate == s.certificate
    assert verified.content == signed
    assert verified.signing_time is not None
    assert abs(verified.signing_time - datetime.now(UTC)) < timedelta(hours=1)


def test_signed_invoice_is_still_a_valid_invoice(signer: Signer) -> None:
    signed = sign_xades(INVOICE, signer)
    loaded = load_invoice(signed, verify=True)
    assert loaded.signature == "xades" and loaded.signed == signed and loaded.xml == signed
    assert loaded.verified is not None and loaded.verified.certificate == signer.certificate
    summary = validate_invoice(loaded.xml, sender_vat="IT02780790107")
    assert [d.numero for d in summary.documents] == ["123", "456"]


def test_tampered_invoice_refused(signer: Signer) -> None:
    signed = sign_xades(INVOICE, signer)
    tampered = signed.replace(b"<Numero>123</Numero>", b"<Numero>124</Numero>")
    assert tampered != signed
    with pytest.raises(InvalidSignature) as err:
        verify_xades(tampered)
    assert err.value.problems[0].code == "00102"


def test_tampered_signing_time_refused(signer: Signer) -> None:
    signed = sign_xades(INVOICE, signer)
    root = etree.fromstring(signed)
    node = root.find(".//{http://uri.etsi.org/01903/v1.3.2#}SigningTime")
    # Still inside the certificate's validity, so only the broken digest can refuse it.
    node.text = (signer.certificate.not_valid_before_utc + timedelta(hours=1)).isoformat()
    with pytest.raises(InvalidSignature):
        verify_xades(etree.tostring(root))


def test_expired_certificate_refused() -> None:
    now = datetime.now(UTC)
    expired = dev_signer("Expired", not_before=now - timedelta(days=400), not_after=now - timedelta(days=1))
    with pytest.raises(CertificateExpired) as err:
        verify_xades(sign_xades(INVOICE, expired))
    assert err.value.problems[0].code == "00100"


def test_already_signed_refused(signer: Signer) -> None:
    with pytest.raises(InvalidSignature):
        sign_xades(sign_xades(INVOICE, signer), signer)


def _sign_fragment(xml: bytes, signer: Signer, target_xpath: str) -> etree._Element:
    """A signature whose data reference is one inner element (Id="signed"), as a wrapping attack needs."""
    root = etree.fromstring(xml)
    root.find(target_xpath).set("Id", "signed")
    xades = XAdESSigner(method=methods.enveloped, signature_algorithm=SignatureMethod.RSA_SHA256,
                        digest_algorithm=DigestAlgorithm.SHA256)
    return xades.sign(root, key=signer.private_key, cert=[signer.certificate, *signer.chain],
                      reference_uri="#signed")


def test_reference_to_a_fragment_refused(signer: Signer) -> None:
    """Only part of the invoice is signed: the rest (here the header) could be changed at will."""
    signed = _sign_fragment(INVOICE, signer, "FatturaElettronicaBody")
    signed.find("FatturaElettronicaHeader/DatiTrasmissione/CodiceDestinatario").text = "EVIL123"
    with pytest.raises(InvalidSignature, match="wrapping|whole invoice"):
        verify_xades(etree.tostring(signed))


def test_signature_wrapping_refused(signer: Signer) -> None:
    """XSW: the genuinely signed body is moved inside the signature's ds:Object and a forged body takes
    its place in the invoice. The signature still verifies cryptographically over the moved element."""
    signed = _sign_fragment(INVOICE, signer, "FatturaElettronicaBody")
    body = signed.find("FatturaElettronicaBody")
    forged = etree.fromstring(etree.tostring(body))
    del forged.attrib["Id"]
    forged.find("DatiGenerali/DatiGeneraliDocumento/Numero").text = "999"
    signature = signed.find(f"{{{DS}}}Signature")
    wrapper = etree.SubElement(signature, f"{{{DS}}}Object")
    body.addprevious(forged)
    wrapper.append(body)
    with pytest.raises(InvalidSignature, match="wrapping|whole invoice"):
        verify_xades(etree.tostring(signed))


def test_signature_not_child_of_root_refused(signer: Signer) -> None:
    root = etree.fromstring(sign_xades(INVOICE, signer))
    signature = root.find(f"{{{DS}}}Signature")
    root.find("FatturaElettronicaBody").append(signature)
    with pytest.raises(InvalidSignature):
        verify_xades(etree.tostring(root))


def test_two_signatures_refused(signer: Signer) -> None:
    root = etree.fromstring(sign_xades(INVOICE, signer))
    signature = root.find(f"{{{DS}}}Signature")
    root.append(etree.fromstring(etree.tostring(signature)))
    with pytest.raises(InvalidSignature):
        verify_xades(etree.tostring(root))


def test_unsigned_and_unsafe_documents_refused() -> None:
    with pytest.raises(InvalidInput):
        verify_xades(INVOICE)
    with pytest.raises(InvalidInput, match="DOCTYPE"):
        verify_xades(b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>')
