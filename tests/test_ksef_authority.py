"""KSeF as the issuing authority of a Polish customer's certificates (#14.2): the mapping of its enrollment
statuses, certificate types and revocation reasons (pure), then the certificate activities against the local
KSeF (one uvicorn for the module): accepted (authentication and offline, each with its key usage), a CSR
refused before it is sent (each differing attribute named, nothing at KSeF), an enrollment refused or in error
with KSeF's reason, KSeF down (retryable, then through), a retried submission making no second enrollment,
revocation with KSeF's reason (and again: done), and the starter refusing a wrong CSR with nothing written."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.certificates import REFUSED, UNAVAILABLE, CertificateActivities
from core.db import session_scope
from core.settings import Settings
from domain.authority import BuiltinCA
from domain.certificates import ACCEPTED, ACTIVE, ERROR, REVOCATION_REASONS, reason_code
from domain.errors import InvalidInput
from domain.ksef.certificates import (
    certificate_type,
    key_usage_problem,
    ksef_reason_of_code,
    ksef_revocation_reason,
    state_of_enrollment,
)
from models.certificates import Certificate, certificate_file, get_certificate, insert_request
from models.certificates_io import RecordIssued, RevokeInput, SubmitInput
from models.tenant import add_tenant
from starters.certificates import request_certificate
from tests.identity_support import operator
from tests.ksef_authority_support import (
    PL_VAT,
    Sim,
    authorities,
    dictated,
    ksef_csr,
    ksef_settings,
    seal,
    serve_sim,
    signed_login,
)
from tests.ksef_credentials_support import give_ksef_token

# ------------------------------------------------------------------ pure: the mapping


@pytest.mark.parametrize(("code", "state"), [(100, ACCEPTED), (150, ACCEPTED), (200, ACTIVE), (400, ERROR),
                                             (500, ERROR), (550, ERROR), (450, ERROR), (201, ERROR)])
def test_enrollment_status_codes_map_to_our_states(code: int, state: str) -> None:
    assert state_of_enrollment(code) == state


def test_our_six_revocation_reasons_map_to_ksefs_three_the_same_by_name_and_by_rfc5280_code() -> None:
    by_name = {r: ksef_revocation_reason(r) for r in REVOCATION_REASONS}
    assert by_name == {"key-lost": "KeyCompromise", "stolen": "KeyCompromise", "renewal": "Superseded",
                       "activity-ceased": "Unspecified", "malfunction": "Unspecified", "other": "Unspecified"}
    assert {r: ksef_reason_of_code(reason_code(r)) for r in REVOCATION_REASONS} == by_name
    with pytest.raises(InvalidInput):
        ksef_revocation_reason("bored")


def _with_usage(signs: bool, commits: bool | None) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "t")])
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1)))
    if commits is not None:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=signs, content_commitment=commits, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True)
    return builder.sign(key, hashes.SHA256())


def test_kinds_are_ksef_types_told_apart_by_key_usage() -> None:
    assert (certificate_type("authentication"), certificate_type("Offline")) == ("Authentication", "Offline")
    with pytest.raises(InvalidInput):
        certificate_type("both")
    assert key_usage_problem(_with_usage(True, False), "authentication") is None
    assert key_usage_problem(_with_usage(False, True), "offline") is None
    assert "Digital Signature only" in str(key_usage_problem(_with_usage(False, True), "authentication"))
    assert "Non-Repudiation only" in str(key_usage_problem(_with_usage(True, True), "offline"))
    assert "no key usage" in str(key_usage_problem(_with_usage(True, None), "offline"))


# ------------------------------------------------------------------ the activities against the local KSeF


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    with serve_sim(tmp_path_factory.mktemp("ksefsim")) as served:
        yield served


@pytest.fixture
def pl(sim: Sim, settings: Settings, db: str, tmp_path: Path) -> Iterator[tuple[Settings, CertificateActivities]]:
    sim.configure()
    local = ksef_settings(settings, sim, tmp_path / "data")
    with session_scope(db) as session:
        add_tenant(session, PL_VAT, "Firma Testowa", "biuro@firma.example.pl", None)
    give_ksef_token(local, sim.sim, PL_VAT)  # following and revoking: the customer's KSeF token
    ksef = authorities(local, seal(), sim)  # enrolling: a login the customer signed, per request
    acts = CertificateActivities(local, BuiltinCA(tmp_path / "ca"), ksef=ksef)
    yield local, acts
    sim.configure()
    ksef.close()


def _order(settings: Settings, op: str, csr: bytes, kind: str = "authentication") -> str:
    pem = csr.decode()
    with session_scope(settings.database_url) as session:
        insert_request(session, PL_VAT, op, kind, "subject", pem, hashlib.sha256(pem.encode()).hexdigest(), "t")
    return pem


def _run(fn: object, arg: object) -> object:
    return ActivityEnvironment().run(fn, arg)  # type: ignore[arg-type]


def test_accepted_authentication_and_offline_certificates_each_with_its_key_usage(
        pl: tuple[Settings, CertificateActivities], sim: Sim) -> None:
    settings, acts = pl
    for op, kind, usage in (("ksef-auth-1", "authentication", "digital_signature"),
                            ("ksef-offline-1", "offline", "content_commitment")):
        pem = _order(settings, op, ksef_csr(), kind)
        before = len(sim.enrollments())
        reference = _run(acts.submit, SubmitInput(op, pem))
        assert _run(acts.submit, SubmitInput(op, pem)) == reference  # retried: the same, nothing sent again
        assert len(sim.enrollments()) == before + 1
        issued = _run(acts.collect, RecordIssued(op, str(reference)))
        assert issued is not None
        at_ksef = sim.certificate(f"{int(issued.serial, 16):016X}")
        assert at_ksef["type"] == certificate_type(kind) and at_ksef["name"] == f"einvoice {op}"
        with session_scope(settings.database_url) as session:
            row = get_certificate(session, op)
            assert (row.state, row.kind, row.serial) == (ACTIVE, kind, issued.serial)
        with session_scope(settings.database_url) as session:
            cert = x509.load_der_x509_certificate(certificate_file(session, op))
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert getattr(ku, usage) and not getattr(ku, ({"digital_signature", "content_commitment"} - {usage}).pop())


def test_a_csr_other_than_ksef_dictates_is_refused_before_sending_naming_each_field(
        pl: tuple[Settings, CertificateActivities], sim: Sim) -> None:
    settings, acts = pl
    wrong = {**dictated(), "commonName": "Ktoś Inny", "organizationName": "Inna Firma"}
    pem = _order(settings, "ksef-wrong-1", ksef_csr(wrong))
    before = len(sim.enrollments())
    with pytest.raises(ApplicationError) as err:
        _run(acts.submit, SubmitInput("ksef-wrong-1", pem))
    assert err.value.type == REFUSED and err.value.non_retryable
    assert "csr.subject.commonName" in err.value.message and "csr.subject.organizationName" in err.value.message
    assert "nothing sent" in err.value.message
    assert len(sim.enrollments()) == before


@pytest.mark.parametrize(("outcome", "reason"), [
    ("refuse", "KSeF 400 Wniosek odrzucony: Klucz publiczny został już certyfikowany przez inny podmiot."),
    ("error", "KSeF 500 Nieznany błąd"),
])
def test_an_enrollment_refused_or_in_error_carries_ksefs_reason(
        pl: tuple[Settings, CertificateActivities], sim: Sim, outcome: str, reason: str) -> None:
    settings, acts = pl
    op = f"ksef-{outcome}-1"
    pem = _order(settings, op, ksef_csr())
    sim.configure(enrollments=[outcome])
    reference = _run(acts.submit, SubmitInput(op, pem))
    with pytest.raises(ApplicationError) as err:
        _run(acts.collect, RecordIssued(op, str(reference)))
    assert err.value.type == REFUSED and err.value.non_retryable and err.value.message.endswith(reason)


def test_pending_at_ksef_is_asked_again_and_ksef_down_is_retried(
        pl: tuple[Settings, CertificateActivities], sim: Sim) -> None:
    settings, acts = pl
    pem = _order(settings, "ksef-down-1", ksef_csr())
    sim.configure(down=True)
    with pytest.raises(ApplicationError) as err:
        _run(acts.submit, SubmitInput("ksef-down-1", pem))
    assert err.value.type == UNAVAILABLE and not err.value.non_retryable  # RETRY_EXTERNAL tries again
    sim.configure(enrollment_delay=3600)
    reference = _run(acts.submit, SubmitInput("ksef-down-1", pem))  # the retry, KSeF back
    assert _run(acts.collect, RecordIssued("ksef-down-1", str(reference))) is None  # 100: asked again later
    with session_scope(settings.database_url) as session:
        assert get_certificate(session, "ksef-down-1").state == "ordered"  # the workflow sets accepted


def test_revocation_carries_ksefs_reason_and_a_retry_is_done(
        pl: tuple[Settings, CertificateActivities], sim: Sim) -> None:
    settings, acts = pl
    for op, reason, ksef_reason in (("ksef-rev-1", "stolen", "KeyCompromise"),
                                    ("ksef-rev-2", "renewal", "Superseded"),
                                    ("ksef-rev-3", "activity-ceased", "Unspecified")):
        pem = _order(settings, op, ksef_csr())
        issued = _run(acts.collect, RecordIssued(op, str(_run(acts.submit, SubmitInput(op, pem)))))
        assert issued is not None
        revoke = RevokeInput(op, issued.serial, reason, "ops@example.it")
        assert _run(acts.revoke, revoke) == reason_code(reason)
        at_ksef = sim.certificate(f"{int(issued.serial, 16):016X}")
        assert (at_ksef["status"], at_ksef["revocation_reason"]) == ("Revoked", ksef_reason)
        _run(acts.revoke, revoke)  # retried after a crash: KSeF lists it Revoked, so it is done
        with session_scope(settings.database_url) as session:
            assert get_certificate(session, op).state == "revoked"


async def test_the_starter_refuses_a_polish_csr_ksef_would_refuse_with_nothing_written(
        sim: Sim, settings: Settings, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sim.configure()
    local = ksef_settings(settings, sim, tmp_path / "data")
    with session_scope(db) as session:
        add_tenant(session, PL_VAT, "Firma Testowa", "biuro@firma.example.pl", None)
    before = len(sim.enrollments())
    wrong = {**dictated(), "commonName": "Ktoś Inny"}
    with pytest.raises(InvalidInput) as err:
        await request_certificate(local, PL_VAT, ksef_csr(wrong), "offline", "ksef-starter-1",
                                  as_user=operator(local), ksef_auth_request=signed_login(local))
    assert [p.field for p in err.value.problems] == ["csr.subject.commonName"]
    assert "Ktoś Inny" in str(err.value) and "Firma Testowa sp. z o.o." in str(err.value)
    with pytest.raises(InvalidInput) as unsigned:  # no login signed by the customer: refused, naming how
        await request_certificate(local, PL_VAT, ksef_csr(), "offline", "ksef-starter-2", as_user=operator(local))
    assert [p.field for p in unsigned.value.problems] == ["ksef_auth_request"]
    assert "--ksef-seal" in str(unsigned.value)
    with session_scope(db) as session:
        assert session.query(Certificate).count() == 0
    assert len(sim.enrollments()) == before


async def test_an_uploaded_ksef_certificate_must_have_the_key_usage_of_its_kind(
        settings: Settings, db: str) -> None:
    """Seed 004's two upload windows kept apart: an authentication certificate offered as the offline one (and
    the other way round) is refused naming certificate.key_usage, nothing written."""
    from cryptography.hazmat.primitives import serialization

    from starters.certificates import upload_certificate

    with session_scope(db) as session:
        add_tenant(session, PL_VAT, "Firma Testowa", "biuro@firma.example.pl", None)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.ObjectIdentifier("2.5.4.97"), f"VATPL-{PL_VAT[2:]}")])
    now = datetime.now(UTC)
    for signs, offered in ((True, "offline"), (False, "authentication")):
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(7).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=9))
                .add_extension(x509.KeyUsage(digital_signature=signs, content_commitment=not signs,
                                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                                             key_cert_sign=False, crl_sign=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        with pytest.raises(InvalidInput) as err:
            await upload_certificate(settings, PL_VAT, cert.public_bytes(serialization.Encoding.PEM), offered,
                                     as_user=operator(settings))
        assert [p.field for p in err.value.problems] == ["certificate.key_usage"]
    with session_scope(db) as session:
        assert session.query(Certificate).count() == 0


def test_a_request_without_its_signed_login_or_a_customer_without_a_token_is_refused_naming_the_fix(
        settings: Settings, db: str, tmp_path: Path, sim: Sim) -> None:
    """The worker's own authorities, nothing signed for the request and no KSeF token: the submission and the
    collection are refused (final: no retry for days), each naming what the customer does; no key is read."""
    from adapters.ksef_authority import KsefAuthorities

    local = ksef_settings(settings, sim, tmp_path / "data")
    with session_scope(db) as session:
        add_tenant(session, PL_VAT, "Firma Testowa", "biuro@firma.example.pl", None)
    acts = CertificateActivities(local, BuiltinCA(tmp_path / "ca"), ksef=KsefAuthorities(local))
    pem = _order(local, "ksef-nologin-1", ksef_csr())
    with pytest.raises(ApplicationError) as err:
        _run(acts.submit, SubmitInput("ksef-nologin-1", pem))
    assert err.value.type == REFUSED and err.value.non_retryable
    assert "no login signed by the customer" in err.value.message and "--ksef-seal" in err.value.message
    with pytest.raises(ApplicationError) as err:
        _run(acts.collect, RecordIssued("ksef-nologin-1", "20261207-CE-0000000000-0000000000-00"))
    assert err.value.type == REFUSED and err.value.non_retryable and "has given no KSeF token" in err.value.message
