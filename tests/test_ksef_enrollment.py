"""A KSeF certificate request is checked against what /certificates/enrollments/data dictates before it is
sent (#14.2 groundwork): each differing, missing or extra attribute named; KSeF's key and hash rules."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from domain.errors import InvalidInput
from domain.ksef.enrollment import SUBJECT_FIELDS, check_enrollment_csr, enrollment_request

SPEC = json.loads((Path(__file__).resolve().parent.parent / "domain/ksef/spec/open-api.json").read_text("utf-8"))
# What enrollments/data answers for a company seal (pieczęć firmowa), in its schema's field names.
SEAL = {"commonName": "Firma Testowa", "countryName": "PL", "organizationName": "Firma Testowa Sp. z o.o.",
        "organizationIdentifier": "5265877635"}
PERSON = {"commonName": "Jan Kowalski", "countryName": "PL", "givenName": ["Jan", "Maria"], "surname": "Kowalski",
          "serialNumber": "PNOPL-80010112345"}


def csr_for(subject: dict[str, object], key=None, algorithm=None, extra=()) -> bytes:  # type: ignore[no-untyped-def]
    key = key or ec.generate_private_key(ec.SECP256R1())
    attrs = []
    for name, value in subject.items():
        for v in value if isinstance(value, list) else [value]:
            attrs.append(x509.NameAttribute(SUBJECT_FIELDS[name], str(v)))
    attrs.extend(extra)
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    return builder.sign(key, algorithm or hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def problems(data: bytes, dictated: dict[str, object]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as err:
        check_enrollment_csr(data, dictated)
    return {p.field: p.message for p in err.value.problems}


def test_the_fields_we_compare_are_the_contracts() -> None:
    assert set(SUBJECT_FIELDS) == set(SPEC["components"]["schemas"]["CertificateEnrollmentDataResponse"]
                                      ["properties"])


@pytest.mark.parametrize("dictated", [SEAL, PERSON])
def test_a_csr_with_exactly_the_dictated_subject_is_taken(dictated: dict[str, object]) -> None:
    checked = check_enrollment_csr(csr_for(dictated), dictated)
    assert checked.key_kind == "EC P-256"
    body = enrollment_request(checked, "Certyfikat-Auth-ąę 1", "Authentication", datetime(2026, 12, 8, tzinfo=UTC))
    schema = SPEC["components"]["schemas"]["EnrollCertificateRequest"]
    assert set(schema["required"]) <= set(body) <= set(schema["properties"])
    assert x509.load_der_x509_csr(base64.b64decode(body["csr"])).subject.rfc4514_string()


def test_rsa_2048_is_taken_too() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert check_enrollment_csr(csr_for(SEAL, key), SEAL).key_kind == "RSA 2048"


def test_every_differing_missing_or_extra_attribute_is_named_at_once() -> None:
    mine = {**SEAL, "commonName": "Altra Firma", "serialNumber": "12345"}
    del mine["organizationIdentifier"]
    found = problems(csr_for(mine), SEAL)
    assert set(found) == {"csr.subject.commonName", "csr.subject.organizationIdentifier", "csr.subject.serialNumber"}
    assert "KSeF requires ['Firma Testowa']" in found["csr.subject.commonName"]
    assert found["csr.subject.organizationIdentifier"].startswith("missing")
    assert "remove it" in found["csr.subject.serialNumber"]


def test_given_names_compare_as_a_list_and_unknown_attributes_are_refused() -> None:
    found = problems(csr_for({**PERSON, "givenName": ["Jan"]},
                             extra=[x509.NameAttribute(NameOID.LOCALITY_NAME, "Warszawa")]), PERSON)
    assert set(found) == {"csr.subject.givenName", "csr.subject"} and "2.5.4.7" in found["csr.subject"]


@pytest.mark.parametrize(("key", "named"), [
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=3072), "2048 bits"),
    (lambda: ec.generate_private_key(ec.SECP384R1()), "P-256"),
])
def test_keys_ksef_does_not_take_are_refused(key, named: str) -> None:  # type: ignore[no-untyped-def]
    assert named in problems(csr_for(SEAL, key()), SEAL)["csr.key"]


def test_a_csr_whose_signature_does_not_verify_is_refused() -> None:
    good = csr_for(SEAL, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    tampered = bytearray(good)
    tampered[-5] ^= 0xFF  # inside the RSA signature, the last field of the DER
    assert "does not verify" in problems(bytes(tampered), SEAL)["csr.signature"]


@pytest.mark.parametrize(("name", "kind", "when", "field"), [
    ("abc", "Authentication", None, "certificateName"), ("Cert/1 ok", "Authentication", None, "certificateName"),
    ("Certyfikat 1", "Signing", None, "certificateType"),
    ("Certyfikat 1", "Offline", datetime(2026, 12, 8), "validFrom"),
])
def test_a_wrong_enrollment_request_is_refused_naming_the_field(name: str, kind: str, when: datetime | None,
                                                                field: str) -> None:
    checked = check_enrollment_csr(csr_for(SEAL), SEAL)
    with pytest.raises(InvalidInput) as err:
        enrollment_request(checked, name, kind, when)
    assert [p.field for p in err.value.problems] == [field]
