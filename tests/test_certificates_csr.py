"""The CSR policy, the uploaded-certificate checks and the built-in CA, without Temporal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID

from domain.authority import AuthorityPending, AuthorityRefused, BuiltinCA, IssueRequest
from domain.certificates import check_reason, check_uploaded_certificate, reason_code
from domain.csr import MAX_CSR_BYTES, check_csr
from domain.errors import InvalidInput
from tests.certificates_support import NIP, VAT, ec_key, make_certificate, make_csr, rsa_key, subject, tamper_signature


def refused_field(data: bytes, vat: str = VAT) -> str:
    with pytest.raises(InvalidInput) as err:
        check_csr(data, vat)
    assert len(err.value.problems) == 1
    return err.value.problems[0].field


@pytest.mark.parametrize("der", [False, True], ids=["PEM", "DER"])
@pytest.mark.parametrize("where,value", [
    ("serialNumber", "IT02038490237"), ("serialNumber", "TINIT-02038490237"),
    ("organizationIdentifier", "VATIT-02038490237"), ("CN", "IT02038490237"),
])
def test_good_csrs_pass_in_pem_and_der(der: bool, where: str, value: str) -> None:
    checked = check_csr(make_csr(name=subject(VAT, where, value), der=der), VAT)
    assert checked.key == "EC secp256r1"
    assert checked.pem.startswith("-----BEGIN CERTIFICATE REQUEST-----")


@pytest.mark.parametrize("key,label", [
    (lambda: rsa_key(2048), "RSA 2048"), (lambda: ec_key(ec.SECP384R1()), "EC secp384r1"),
])
def test_allowed_keys(key, label: str) -> None:  # type: ignore[no-untyped-def]
    assert check_csr(make_csr(key()), VAT).key == label


@pytest.mark.parametrize("where,value", [
    ("serialNumber", "PL5261040828"), ("serialNumber", "TINPL-5261040828"),
    ("organizationIdentifier", "VATPL-5261040828"), ("CN", "PL5261040828"),
])
def test_polish_nip_subjects(where: str, value: str) -> None:
    check_csr(make_csr(name=subject(NIP, where, value)), NIP)


def test_garbage_is_refused_as_format() -> None:
    assert refused_field(b"this is not a CSR") == "csr.format"
    assert refused_field(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n") \
        == "csr.format"
    assert refused_field(b"") == "csr.format"
    assert refused_field(b"0" * (MAX_CSR_BYTES + 1)) == "csr.format"


@pytest.mark.parametrize("der", [False, True], ids=["PEM", "DER"])
def test_a_bad_signature_is_refused(der: bool) -> None:
    tampered = tamper_signature(make_csr())
    if not der:
        tampered = x509.load_der_x509_csr(tampered).public_bytes(serialization.Encoding.PEM)
    assert refused_field(tampered) == "csr.signature"


@pytest.mark.parametrize("der", [False, True], ids=["PEM", "DER"])
def test_a_short_rsa_key_is_refused(der: bool) -> None:
    with pytest.raises(InvalidInput, match="1024 bits; at least 2048"):
        check_csr(make_csr(rsa_key(1024), der=der), VAT)
    assert refused_field(make_csr(rsa_key(1024), der=der)) == "csr.key"


def test_other_curves_and_algorithms_are_refused() -> None:
    assert refused_field(make_csr(ec_key(ec.SECP521R1()))) == "csr.key"
    assert refused_field(make_csr(ed25519.Ed25519PrivateKey.generate())) == "csr.key"


@pytest.mark.parametrize("der", [False, True], ids=["PEM", "DER"])
@pytest.mark.parametrize("where,value", [
    ("other", "somebody else"), ("serialNumber", "IT01234567897"), ("CN", "ACME"),
    ("organizationIdentifier", "VATPL-5261040828"), ("serialNumber", "VATIT-02038490237"),
])
def test_a_subject_not_naming_the_customer_is_refused(der: bool, where: str, value: str) -> None:
    assert refused_field(make_csr(name=subject(VAT, where, value), der=der)) == "csr.subject"


def test_the_customer_vat_itself_is_checked() -> None:
    assert refused_field(make_csr(), "IT02038490238") == "vat"


def test_uploaded_certificate_checks() -> None:
    now = datetime.now(UTC)
    ok = check_uploaded_certificate(make_certificate(), VAT)
    assert ok.not_after > now and "02038490237" in ok.subject
    for data, field in [
        (b"garbage", "certificate.format"),
        (make_certificate(not_before=now - timedelta(days=10), not_after=now - timedelta(days=1)),
         "certificate.validity"),
        (make_certificate(name=subject(VAT, "other")), "certificate.subject"),
    ]:
        with pytest.raises(InvalidInput) as err:
            check_uploaded_certificate(data, VAT)
        assert err.value.problems[0].field == field


def test_revocation_reasons_map_to_rfc5280_codes() -> None:
    assert {r: reason_code(r) for r in ["key-lost", "activity-ceased", "stolen", "renewal", "malfunction",
                                        "other"]} == {"key-lost": 1, "activity-ceased": 5, "stolen": 1,
                                                      "renewal": 4, "malfunction": 3, "other": 0}
    for bad in ["", None, "bored"]:
        with pytest.raises(InvalidInput) as err:
            check_reason(bad)
        assert err.value.problems[0].field == "reason"


def test_builtin_ca_issues_revokes_and_publishes_a_crl(tmp_path: Path) -> None:
    ca = BuiltinCA(tmp_path / "ca", validity_days=365)
    ca_cert = x509.load_pem_x509_certificate(ca.ca_certificate())
    assert (tmp_path / "ca" / "ca.key").stat().st_mode & 0o777 == 0o600
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    csr = make_csr(rsa_key(2048))
    ref = ca.submit(IssueRequest("op1", csr.decode()))
    assert ca.submit(IssueRequest("op1", csr.decode())) == ref  # idempotent
    with pytest.raises(AuthorityRefused):
        ca.submit(IssueRequest("op1", make_csr().decode()))  # same reference, another CSR
    issued = ca.issue(ref)
    assert ca.issue(ref) == issued  # the same certificate every time
    cert = x509.load_pem_x509_certificate(issued.pem.encode())
    assert cert.subject == x509.load_pem_x509_csr(csr).subject
    assert cert.issuer == ca_cert.subject
    cert.verify_directly_issued_by(ca_cert)
    assert 364 <= (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 366
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])

    ca.revoke(issued.serial, reason_code("stolen"))
    ca.revoke(issued.serial, reason_code("stolen"))  # idempotent
    crl = x509.load_der_x509_crl(ca.crl())
    assert crl.is_signature_valid(ca_cert.public_key())
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    with pytest.raises(AuthorityRefused):
        ca.revoke("ABCDEF", 1)  # not ours

    again = BuiltinCA(tmp_path / "ca")  # kept across restarts
    assert again.ca_certificate() == ca.ca_certificate()


def test_builtin_ca_slow_decision_and_refusal_rule(tmp_path: Path) -> None:
    slow = BuiltinCA(tmp_path / "ca", decision_delay=timedelta(hours=1))
    ref = slow.submit(IssueRequest("op2", make_csr().decode()))
    with pytest.raises(AuthorityPending):
        slow.issue(ref)
    later = BuiltinCA(tmp_path / "ca", decision_delay=timedelta(hours=1),
                      clock=lambda: datetime.now(UTC) + timedelta(hours=2))
    assert later.issue(ref).serial
    strict = BuiltinCA(tmp_path / "ca", deny_subject_pattern="ACME")
    ref3 = strict.submit(IssueRequest("op3", make_csr().decode()))
    with pytest.raises(AuthorityRefused, match="refuses the subject"):
        strict.issue(ref3)
