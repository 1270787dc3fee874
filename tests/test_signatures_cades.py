"""CAdES-BES: sign and verify round-trips with throw-away keys; every tampering refused."""

from __future__ import annotations

import base64
import pickle
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms

from domain.errors import InvalidInput
from domain.fatturapa import load_invoice
from domain.signatures import (
    CertificateExpired,
    FileKeyStore,
    InvalidSignature,
    MalformedSignedFile,
    Signer,
    sign_cades,
    verify_cades,
)
from domain.signatures.devcert import dev_signer, to_pkcs12

INVOICE = Path("/work/shared/standards/fatturapa/samples/p7m/IT01234567890_FPR03.xml").read_bytes()


@pytest.fixture(scope="module")
def signer() -> Signer:
    return dev_signer("Mario Rossi", tax_id="RSSMRA85T10A562S")


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
def test_round_trip_keeps_content_byte_for_byte(key_type: str) -> None:
    s = dev_signer(key_type=key_type)
    content = INVOICE.replace(b"\n", b"\r\n", 3)  # mixed line endings survive untouched
    p7m = sign_cades(content, s)
    verified = verify_cades(p7m)
    assert verified.content == content
    assert verified.certificate == s.certificate
    assert verified.kind == "cades"
    assert verified.signing_time is not None
    assert abs(verified.signing_time - datetime.now(UTC)) < timedelta(hours=1)


def test_signed_attributes_are_cades_bes(signer: Signer) -> None:
    info = cms.ContentInfo.load(sign_cades(INVOICE, signer))
    signer_info = info["content"]["signer_infos"][0]
    types = {a["type"].native for a in signer_info["signed_attrs"]}
    assert types == {"content_type", "message_digest", "signing_time", "signing_certificate_v2"}
    assert signer_info["digest_algorithm"]["algorithm"].native == "sha256"
    assert info["content"]["encap_content_info"]["content"].native == INVOICE


def test_signed_invoice_loads_in_any_wrapping(signer: Signer) -> None:
    p7m = sign_cades(INVOICE, signer)
    for data in (p7m, base64.b64encode(p7m), base64.b64encode(base64.encodebytes(p7m))):
        loaded = load_invoice(data, verify=True)
        assert loaded.xml == INVOICE and loaded.signature == "cades"
        assert loaded.verified is not None and loaded.verified.certificate == signer.certificate


def test_tampered_content_refused(signer: Signer) -> None:
    p7m = sign_cades(INVOICE, signer)
    tampered = p7m.replace(b"<Numero>123</Numero>", b"<Numero>124</Numero>")
    assert tampered != p7m
    with pytest.raises(InvalidSignature) as err:
        verify_cades(tampered)
    assert err.value.problems[0].code == "00102"


def test_tampered_signature_refused(signer: Signer) -> None:
    info = cms.ContentInfo.load(sign_cades(INVOICE, signer))
    signer_info = info["content"]["signer_infos"][0]
    raw = bytearray(signer_info["signature"].native)
    raw[10] ^= 0xFF
    signer_info["signature"] = bytes(raw)
    with pytest.raises(InvalidSignature):
        verify_cades(info.dump(force=True))


def test_signature_by_another_key_refused(signer: Signer) -> None:
    """Swapping in another certificate breaks the signing-certificate-v2 binding."""
    other = dev_signer("Someone else")
    info = cms.ContentInfo.load(sign_cades(INVOICE, signer))
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding

    forged = asn1_x509.Certificate.load(other.certificate.public_bytes(Encoding.DER))
    signer_info = info["content"]["signer_infos"][0]
    signer_info["sid"] = cms.SignerIdentifier(
        {"issuer_and_serial_number": {"issuer": forged.issuer, "serial_number": forged.serial_number}}
    )
    info["content"]["certificates"] = [forged]
    with pytest.raises(InvalidSignature):
        verify_cades(info.dump(force=True))


def test_expired_certificate_refused() -> None:
    now = datetime.now(UTC)
    expired = dev_signer("Expired", not_before=now - timedelta(days=400), not_after=now - timedelta(days=30))
    with pytest.raises(CertificateExpired) as err:
        verify_cades(sign_cades(INVOICE, expired))
    assert err.value.problems[0].code == "00100"


def test_certificate_checked_at_signing_time_not_today() -> None:
    now = datetime.now(UTC)
    old = dev_signer("Old", not_before=now - timedelta(days=400), not_after=now - timedelta(days=30))
    p7m = sign_cades(INVOICE, old, signing_time=now - timedelta(days=60))
    assert verify_cades(p7m).content == INVOICE
    future = sign_cades(INVOICE, dev_signer("Clock"), signing_time=now + timedelta(days=2))
    with pytest.raises(InvalidSignature) as err:
        verify_cades(future)
    assert err.value.problems[0].code == "00105"


def test_official_signed_sample_verifies() -> None:
    sample = Path("/work/shared/standards/fatturapa/samples/p7m/IT01234567890_FPR03.xml.p7m")
    verified = verify_cades(sample.read_bytes())
    assert verified.content == INVOICE
    assert verified.signing_time == datetime(2018, 12, 21, 15, 58, 13, tzinfo=UTC)


def test_sample_without_signing_certificate_attribute_is_not_cades_bes() -> None:
    data = Path("/work/shared/standards/fatturapa/samples/p7m/IT01234567890_12001.xml.p7m").read_bytes()
    with pytest.raises(InvalidSignature, match="signing-certificate"):
        verify_cades(data)


def test_garbage_refused() -> None:
    with pytest.raises(MalformedSignedFile):
        verify_cades(b"\x30\x03\x02\x01")
    with pytest.raises(MalformedSignedFile):
        verify_cades(b"hello")


# ---------------------------------------------------------------------------------------------- key store


def test_file_key_store_and_signer_never_serialised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = dev_signer("Store")
    (tmp_path / "customer-1.p12").write_bytes(to_pkcs12(s, "customer-1", b"s3cret-pass"))
    monkeypatch.setenv("EINVOICE_KEYSTORE_PASSWORD", "s3cret-pass")
    store = FileKeyStore(tmp_path)
    loaded = store.signer("customer-1")
    assert loaded.certificate == s.certificate
    assert len(loaded.chain) == 1
    assert store.aliases() == ["customer-1"]
    assert verify_cades(sign_cades(INVOICE, loaded)).certificate == s.certificate
    assert "s3cret" not in repr(store) and "hidden" in repr(loaded)
    with pytest.raises(TypeError):
        pickle.dumps(loaded)
    with pytest.raises(InvalidInput):
        FileKeyStore(tmp_path, password="wrong").signer("customer-1")
    with pytest.raises(InvalidInput):
        store.signer("../customer-1")
    with pytest.raises(LookupError):
        store.signer("nobody")


def test_signer_refuses_mismatched_certificate() -> None:
    a, b = dev_signer("A"), dev_signer("B")
    with pytest.raises(InvalidInput):
        Signer(a.private_key, b.certificate)


def test_an_opened_key_is_kept_only_while_its_file_and_password_stay_and_for_a_while(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EINVOICE_KEYSTORE_PASSWORD", "s3cret-pass")
    (tmp_path / "k.p12").write_bytes(to_pkcs12(dev_signer("First"), "k", b"s3cret-pass"))
    store = FileKeyStore(tmp_path, keep_seconds=60)
    first = store.signer("k")
    assert store.signer("k") is first  # opened once
    assert FileKeyStore(tmp_path).signer("k") is not FileKeyStore(tmp_path).signer("k")  # 0: never kept

    # The bundle replaced on disk (a renewed key): the new one at once.
    renewed = dev_signer("Renewed")
    (tmp_path / "k.p12").write_bytes(to_pkcs12(renewed, "k", b"s3cret-pass"))
    assert store.signer("k").certificate == renewed.certificate

    # The password changed: opened again with it, and a wrong one is refused even though a key is kept.
    store.signer("k")
    monkeypatch.setenv("EINVOICE_KEYSTORE_PASSWORD", "wrong")
    with pytest.raises(InvalidInput):
        store.signer("k")

    # Past keep_seconds it is opened again.
    monkeypatch.setenv("EINVOICE_KEYSTORE_PASSWORD", "s3cret-pass")
    kept = store.signer("k")
    clock = [time.monotonic() + 61]
    monkeypatch.setattr("domain.signatures.keystore.time.monotonic", lambda: clock[0])
    assert store.signer("k") is not kept
    (tmp_path / "k.p12").unlink()
    with pytest.raises(LookupError):
        store.signer("k")  # a deleted key is gone at once
