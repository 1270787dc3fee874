"""A Polish customer's certificate request signed by the customer itself (#14.2): our API hands out KSeF's
challenge and the AuthTokenRequest, the customer signs it on its machine (the CLI), and the submission logs in
with exactly that, once; nothing of the customer's key reaches us."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from adapters.ksef import KsefClient
from adapters.ksef_authority import KsefAuthority
from adapters.ksef_credentials import forget_signed_request, signed_request
from api.main import create_app
from core.db import session_scope
from core.secrets import unseal
from core.settings import Settings
from domain.authority import AuthorityRefused, IssueRequest
from domain.errors import InvalidInput
from domain.ksef.auth import auth_token_request, signed_auth_token_request
from domain.ksef.credentials import MAX_SIGNED_REQUEST, check_signed_auth_request
from domain.signatures.devcert import to_pkcs12
from domain.signatures.xades import sign_xades
from models.certificates import Certificate
from models.ksef_credentials import KsefAuthRequest
from models.tenant import add_tenant, get_tenant_row
from starters.certificates import request_certificate
from starters.cli import app as cli
from starters.ksef_credentials import attach_signed_request, new_auth_request
from tests.cli_support import flat, in_process_api, login, runner
from tests.identity_support import authenticate, principal
from tests.ksef_authority_support import NIP, PL_VAT, Sim, dictated, ksef_csr, ksef_settings, seal, serve_sim

CHALLENGE = "20261207-CR-0A1B2C3D4E-5F6A7B8C9D-E0"


# ---------------------------------------------------------------- the check of a signed request (pure)

def test_a_signed_request_is_checked_for_our_challenge_the_nip_and_its_signature() -> None:
    signer = seal()
    good = signed_auth_token_request(CHALLENGE, "Nip", NIP, signer)
    assert check_signed_auth_request(good, CHALLENGE, NIP).certificate == signer.certificate
    other = CHALLENGE.replace("0A1B", "FFFF")
    with pytest.raises(InvalidInput, match="not the challenge handed out"):
        check_signed_auth_request(signed_auth_token_request(other, "Nip", NIP, signer), CHALLENGE, NIP)
    with pytest.raises(InvalidInput, match=f"must be Nip={NIP}"):
        check_signed_auth_request(signed_auth_token_request(CHALLENGE, "Nip", "1111111111", signer), CHALLENGE, NIP)
    edited = good.replace(b"certificateSubject", b"certificateFingerprint")
    with pytest.raises(InvalidInput, match="XAdES signature"):
        check_signed_auth_request(edited, CHALLENGE, NIP)
    with pytest.raises(InvalidInput, match="XAdES signature"):  # unsigned
        check_signed_auth_request(auth_token_request(CHALLENGE, "Nip", NIP), CHALLENGE, NIP)
    with pytest.raises(InvalidInput, match="exceeds the limit"):
        check_signed_auth_request(good + b" " * MAX_SIGNED_REQUEST, CHALLENGE, NIP)
    doctype = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'
    with pytest.raises(InvalidInput) as err:
        check_signed_auth_request(doctype, CHALLENGE, NIP)
    assert err.value.problems[0].field == "ksef_auth_request"
    with pytest.raises(InvalidInput, match="not KSeF's AuthTokenRequest"):
        check_signed_auth_request(sign_xades(b"<Faktura/>", signer), CHALLENGE, NIP)


# ---------------------------------------------------------------- through the API and the local KSeF

@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    with serve_sim(tmp_path_factory.mktemp("ksefsim")) as served:
        yield served


@pytest.fixture
def local(settings: Settings, db: str, sim: Sim, tmp_path: Path) -> Settings:
    with session_scope(db) as session:
        add_tenant(session, PL_VAT, "Firma Testowa sp. z o.o.", "biuro@firma.example.pl", None)
        add_tenant(session, "PL7740001454", "Inna sp. z o.o.", "biuro@inna.example.pl", None)
    return ksef_settings(settings, sim, tmp_path / "data")


def _rows(settings: Settings) -> list[KsefAuthRequest]:
    with session_scope(settings.database_url) as session:
        rows = list(session.scalars(select(KsefAuthRequest)))
        session.expunge_all()
        return rows


def test_the_challenge_handed_out_signed_once_for_its_customer_within_its_time(local: Settings) -> None:
    http = authenticate(TestClient(create_app(local, run_migrations=False)), local, "customer",
                        "anna@firma.example.pl", PL_VAT)
    got = http.post(f"/customers/{PL_VAT}/ksef/auth-requests")
    assert got.status_code == 201, got.text
    body = got.json()
    assert f"<Nip>{NIP}</Nip>" in body["xml"] and body["challenge"] in body["xml"]
    [row] = _rows(local)
    assert row.challenge == body["challenge"] and row.operation_id is None and row.signed_sealed is None
    signed = sign_xades(body["xml"].encode(), seal())  # on the customer's machine
    with session_scope(local.database_url) as session:
        other = get_tenant_row(session, "PL7740001454")
        with pytest.raises(InvalidInput, match="was not handed out for PL7740001454"):
            attach_signed_request(session, local, other.id, other.vat_number, "op-x", signed)
    with session_scope(local.database_url) as session:
        tenant = get_tenant_row(session, PL_VAT)
        with pytest.raises(InvalidInput, match="expired"):
            attach_signed_request(session, local, tenant.id, PL_VAT, "op-1", signed,
                                  now=row.challenge_at + timedelta(minutes=10, seconds=1))
    with session_scope(local.database_url) as session:
        attach_signed_request(session, local, get_tenant_row(session, PL_VAT).id, PL_VAT, "op-1", signed)
    [row] = _rows(local)
    assert row.operation_id == "op-1" and row.signed_sealed is not None
    assert b"SignatureValue" not in row.signed_sealed.encode() and unseal(local, row.signed_sealed)  # sealed
    assert signed_request(local, "op-1") == signed
    with session_scope(local.database_url) as session, pytest.raises(InvalidInput, match="used already"):
        attach_signed_request(session, local, get_tenant_row(session, PL_VAT).id, PL_VAT, "op-2", signed)
    forget_signed_request(local, "op-1")
    assert _rows(local) == [] and signed_request(local, "op-1") is None
    accountant = authenticate(TestClient(create_app(local, run_migrations=False)), local, "accountant",
                              "biuro@rachunki.example.pl")
    assert accountant.post(f"/customers/{PL_VAT}/ksef/auth-requests").status_code == 404  # not its customer


def _authority(local: Settings, sim: Sim, xml: bytes | None, forgotten: list[str]) -> KsefAuthority:
    def no_key() -> object:
        raise AssertionError("the customer's key was asked for")

    return KsefAuthority(NIP, lambda: KsefClient(sim.api), no_key,  # type: ignore[arg-type]
                         local.data_dir / "ksef" / "enrollments", lambda op: xml, forgotten.append)


def test_the_submission_logs_in_with_the_customers_signature_once(local: Settings, sim: Sim) -> None:
    sim.configure()
    signer = seal()
    todo = new_auth_request(local, PL_VAT, as_user=principal(local))
    signed = sign_xades(todo.xml.encode(), signer)
    forgotten: list[str] = []
    authority = _authority(local, sim, signed, forgotten)
    before = len(sim.enrollments())
    reference = authority.submit(IssueRequest("op-signed-1", ksef_csr().decode(), "authentication"))
    authority.close()
    assert forgotten == ["op-signed-1"] and len(sim.enrollments()) == before + 1
    assert reference and authority.enrollment_of("op-signed-1") is not None
    enrollment = sim.enrollments()[-1]
    assert enrollment["subject"] == {"type": "Nip", "value": NIP}  # in the signer's own name
    # the same signed login again (a challenge is spent once): refused at KSeF, saying to sign again
    again: list[str] = []
    with pytest.raises(AuthorityRefused, match="sign again"):
        _authority(local, sim, signed, again).submit(IssueRequest("op-signed-2", ksef_csr().decode(),
                                                                  "authentication"))
    assert again == ["op-signed-2"] and len(sim.enrollments()) == before + 1


def test_a_lapsed_challenge_ends_the_request_in_error_saying_to_sign_again(local: Settings, sim: Sim) -> None:
    sim.configure()
    todo = new_auth_request(local, PL_VAT, as_user=principal(local))
    signed = sign_xades(todo.xml.encode(), seal())
    stored = sim.sim.state.get("challenge", todo.challenge)
    sim.sim.state.put("challenge", todo.challenge, {**stored, "at": stored["at"] - 601})  # 10 minutes passed
    forgotten: list[str] = []
    with pytest.raises(AuthorityRefused) as err:
        _authority(local, sim, signed, forgotten).submit(IssueRequest("op-late", ksef_csr().decode(), "offline"))
    assert "within 10 minutes" in str(err.value) and "sign again" in str(err.value) and "21405" in str(err.value)
    assert forgotten == ["op-late"]


async def test_a_csr_not_of_the_signer_is_refused_with_nothing_written(local: Settings) -> None:
    todo = new_auth_request(local, PL_VAT, as_user=principal(local))
    signed = sign_xades(todo.xml.encode(), seal())
    wrong = {**dictated(), "commonName": "Ktoś Inny"}
    with pytest.raises(InvalidInput) as err:
        await request_certificate(local, PL_VAT, ksef_csr(wrong), "offline", "ksef-signed-1",
                                  as_user=principal(local), client=object(),  # type: ignore[arg-type]
                                  ksef_auth_request=signed)
    assert [p.field for p in err.value.problems] == ["csr.subject.commonName"]
    with session_scope(local.database_url) as session:
        assert session.query(Certificate).count() == 0
    [row] = _rows(local)
    assert row.operation_id is None and row.signed_sealed is None  # the challenge stays unused


def test_the_cli_signs_on_the_customers_machine(local: Settings, monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    """`einvoice cert request --ksef-seal`: the challenge fetched, signed here with the PKCS#12, the signed
    login sent with the CSR; the API checks it (a CSR of another subject: refused naming it, nothing kept)."""
    signer = seal()
    bundle = tmp_path / "seal.p12"
    bundle.write_bytes(to_pkcs12(signer, "seal", b"haslo"))
    (tmp_path / "wrong.csr").write_bytes(ksef_csr({**dictated(), "commonName": "Ktoś Inny"}))
    app = create_app(local, run_migrations=False)
    app.state.temporal = object()  # never reached: the refusal comes first
    with in_process_api(local, monkeypatch, tmp_path / "config", app):
        login(local)
        refused = runner.invoke(cli, ["cert", "request", "--vat", PL_VAT, "--csr", str(tmp_path / "wrong.csr"),
                                      "--ksef-seal", str(bundle), "--ksef-password-stdin"], input="haslo\n")
        assert refused.exit_code == 2, refused.output
        assert "csr.subject.commonName" in flat(refused.output)
        wrong_password = runner.invoke(cli, ["cert", "request", "--vat", PL_VAT, "--csr", str(tmp_path / "wrong.csr"),
                                             "--ksef-seal", str(bundle), "--ksef-password-stdin"], input="nie\n")
        assert wrong_password.exit_code == 2 and "PKCS#12" in wrong_password.output
    [row] = _rows(local)  # one challenge handed out (the wrong password asked for none), left unused
    assert row.operation_id is None
