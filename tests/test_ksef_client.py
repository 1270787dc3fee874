"""The KSeF client (#14.1) against the contract itself: every endpoint it calls is the contract's (path, method,
success status, request and response schema), every JSON body it sends validates against the request schema,
and it reads the contract's own example answers. Then its manners: 429 and Retry-After, the shared rate budget,
the token refresh before it lapses, errors naming KSeF's codes, tokens never shown. No network: an httpx
MockTransport answers as the contract's examples say (the local KSeF is driven in test_ksef_sim.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from cryptography.x509.oid import NameOID

from adapters import ksef
from adapters.ksef_budget import BudgetSpent, RateBudget
from domain.ksef.enrollment import check_enrollment_csr, enrollment_request
from domain.ksef.session_crypto import unwrap_key
from domain.signatures.devcert import dev_signer
from domain.signatures.xades import verify_xades
from tests import ksef_support as contract

NIP = "5265877635"
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ministry() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "KSeF test ministry key")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=9))
            .sign(key, hashes.SHA256()))
    return key, base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


class Contract:
    """A KSeF that answers every operation with the contract's own example, and records what it was sent."""

    def __init__(self, ministry_cert_b64: str, now: datetime = NOW):
        self.sent: list[tuple[str, str, httpx.Request]] = []
        self.now = now
        self.override: dict[str, Callable[[httpx.Request], httpx.Response]] = {}
        self.ministry = ministry_cert_b64

    def __call__(self, request: httpx.Request) -> httpx.Response:
        template = contract.template_of(request.url.path.removeprefix("/v2"))
        method = request.method
        self.sent.append((method, template, request))
        if template in self.override:
            return self.override[template](request)
        ep = next(e for e in ksef.ENDPOINTS.values() if e.path == template and e.method == method)
        if template == "/security/public-key-certificates":
            valid = {"validFrom": (self.now - timedelta(days=1)).isoformat(),
                     "validTo": (self.now + timedelta(days=9)).isoformat()}
            body: Any = [{**item, **valid, "certificate": self.ministry} for item in
                         contract.example(template, method, 200)]
        elif template == "/certificates/limits":
            body = {"canRequest": True, "enrollment": {"limit": 300, "remaining": 299},
                    "certificate": {"limit": 100, "remaining": 100}}
        elif template == "/auth/{referenceNumber}":
            examples = contract.operation(template, method)["responses"]["200"]["content"]["application/json"]
            body = next(v["value"] for k, v in examples["examples"].items() if k.startswith("Kod 200"))
        elif template in ("/auth/token/redeem", "/auth/token/refresh"):
            body = contract.example(template, method, 200)  # its tokens valid an hour from our "now"
            for k in ("accessToken", "refreshToken"):
                if k in body:
                    body = {**body, k: {**body[k], "validUntil": (self.now + timedelta(hours=1)).isoformat()}}
        elif ep.response is None:
            return httpx.Response(ep.success, content=b"<UPO/>" if ep.success == 200 else b"",
                                  headers={"Content-Type": "application/xml"} if ep.success == 200 else {})
        else:
            body = contract.example(template, method, ep.success)
        return httpx.Response(ep.success, json=body)

    def bodies(self, template: str) -> list[Any]:
        return [json.loads(r.content) for _m, t, r in self.sent if t == template and r.content
                and r.headers.get("content-type", "").startswith("application/json")]


def client_for(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> ksef.KsefClient:
    base = "https://api-test.ksef.mf.gov.pl/v2"
    http = httpx.Client(base_url=base, transport=httpx.MockTransport(handler))
    kw.setdefault("now", lambda: NOW)
    kw.setdefault("sleep", lambda s: None)
    return ksef.KsefClient(base, http=http, **kw)


def test_every_endpoint_is_the_contracts() -> None:
    for name, ep in ksef.ENDPOINTS.items():
        assert ep.path in contract.SPEC["paths"], f"{name}: {ep.path} is not in open-api.json"
        op = contract.operation(ep.path, ep.method)
        assert str(ep.success) in op["responses"], f"{name}: {ep.method} {ep.path} never answers {ep.success}"
        body = op.get("requestBody", {}).get("content", {})
        if "application/json" in body:
            assert ep.request == contract.schema_ref(body["application/json"]["schema"]), name
        else:
            assert ep.request is None, f"{name}: the contract takes no JSON body"
        content = op["responses"][str(ep.success)].get("content", {})
        if "application/json" in content:
            assert ep.response == contract.schema_ref(content["application/json"]["schema"]), name
        else:
            assert ep.response is None, f"{name}: the contract answers no JSON"
    # the limits of limity-api.md, where it names the endpoint
    assert ksef.ENDPOINTS["send_invoice"].limit == (10, 30, 180)
    assert ksef.ENDPOINTS["query_metadata"].limit == (8, 16, 20)
    assert ksef.ENDPOINTS["get_invoice"].limit == (8, 16, 64)
    assert ksef.ENDPOINTS["invoice_status"].limit == (30, 120, 1200)


def test_what_the_client_sends_is_the_contracts_and_it_reads_the_contracts_answers(
        ministry: tuple[rsa.RSAPrivateKey, str]) -> None:
    ministry_key, ministry_cert = ministry
    ksef_side = Contract(ministry_cert)
    client = client_for(ksef_side)
    signer = dev_signer("Jan Kowalski", key_type="ec")
    until = client.login_xades("Nip", NIP, signer)
    assert until == NOW + timedelta(hours=1)
    xades_body = next(r.content for _m, t, r in ksef_side.sent if t == "/auth/xades-signature")
    assert verify_xades(xades_body).certificate == signer.certificate
    client.login_token("Nip", NIP, "20251010-EC-1234567890-ABCDEF1234-12")
    token_body = ksef_side.bodies("/auth/ksef-token")[0]
    oaep = OAEP(mgf=MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    assert ministry_key.decrypt(base64.b64decode(token_body["encryptedToken"]), oaep).endswith(b"|1752236636015")

    limits = client.certificate_limits()
    assert limits.can_request and limits.enrollment_remaining == 299
    data = client.enrollment_data()
    assert data == {k: v for k, v in contract.example("/certificates/enrollments/data", "GET", 200).items()
                    if v is not None}
    key = ec.generate_private_key(ec.SECP256R1())
    names = {"commonName": NameOID.COMMON_NAME, "countryName": NameOID.COUNTRY_NAME,
             "organizationName": NameOID.ORGANIZATION_NAME, "organizationIdentifier": x509.ObjectIdentifier("2.5.4.97"),
             "givenName": NameOID.GIVEN_NAME, "surname": NameOID.SURNAME, "serialNumber": NameOID.SERIAL_NUMBER,
             "uniqueIdentifier": x509.ObjectIdentifier("2.5.4.45")}
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(names[k], str(v)) for k, v in data.items()]))
           .sign(key, hashes.SHA256()))
    enrolled = client.enroll(enrollment_request(check_enrollment_csr(csr.public_bytes(serialization.Encoding.PEM),
                                                                     data), "Certyfikat testowy", "Authentication"))
    assert enrolled.reference_number == contract.example("/certificates/enrollments", "POST", 202)["referenceNumber"]
    status = client.enrollment_status(enrolled.reference_number)
    assert status.status.code == contract.example("/certificates/enrollments/{referenceNumber}", "GET",
                                                  200)["status"]["code"]
    page = client.query_certificates(status="Active")
    assert page.certificates and page.certificates[0].serial_number
    client.revoke_certificate(page.certificates[0].serial_number, "KeyCompromise")
    with pytest.raises(ksef.KsefRejected, match="Unspecified, Superseded, KeyCompromise"):
        client.revoke_certificate("0123456789ABCDEF", "Stolen")

    session = client.open_online_session()
    opened = ksef_side.bodies("/sessions/online")[0]
    assert unwrap_key(ministry_key, opened["encryption"]).key == session.key.key
    inv = client.send_invoice(session, b"<Faktura/>")
    assert inv == contract.example("/sessions/online/{referenceNumber}/invoices", "POST", 202)["referenceNumber"]
    client.close_online_session(session)
    st = client.session_status(session.reference_number)
    assert st.status.code == contract.example("/sessions/{referenceNumber}", "GET", 200)["status"]["code"]
    inv_st = client.invoice_status(session.reference_number, inv)
    assert inv_st.ksef_number == contract.example("/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}",
                                                  "GET", 200).get("ksefNumber")
    assert client.invoice_upo(session.reference_number, inv) == b"<UPO/>"
    assert client.invoice_upo_by_ksef_number(session.reference_number, "5265877635-20250626-010080DD2B5E-26") == \
        b"<UPO/>"
    assert st.upo_pages and client.session_upo(session.reference_number, st.upo_pages[0].reference_number)
    md = client.query_metadata("Subject2", NOW - timedelta(days=30), NOW)
    example = contract.example("/invoices/query/metadata", "POST", 200)
    assert [m.ksef_number for m in md.invoices] == [m["ksefNumber"] for m in example["invoices"]]
    assert client.get_invoice(md.invoices[0].ksef_number) == b"<UPO/>"

    checked = set()
    for name, ep in ksef.ENDPOINTS.items():
        for body in ksef_side.bodies(ep.path):
            if ep.request is not None:
                assert contract.errors(body, ep.request) == [], name
                checked.add(name)
    assert checked == {n for n, e in ksef.ENDPOINTS.items() if e.request} - {"retrieve"}  # that one: below
    assert {t for _m, t, _r in ksef_side.sent} >= {e.path for e in ksef.ENDPOINTS.values()} - {
        "/certificates/retrieve", "/auth/token/refresh"}  # both driven in their own tests below


def test_certificates_are_retrieved_as_der(ministry: tuple[rsa.RSAPrivateKey, str]) -> None:
    signer = dev_signer("Jan Kowalski", key_type="ec")
    der = base64.b64encode(signer.certificate.public_bytes(serialization.Encoding.DER)).decode()
    ksef_side = Contract(ministry[1])
    example = contract.example("/certificates/retrieve", "POST", 200)
    ksef_side.override["/certificates/retrieve"] = lambda r: httpx.Response(200, json={"certificates": [
        {**example["certificates"][0], "certificate": der}]})
    client = client_for(ksef_side)
    client.login_xades("Nip", NIP, signer)
    [got] = client.retrieve_certificates([example["certificates"][0]["certificateSerialNumber"]])
    assert got.certificate == signer.certificate and got.certificate_type in ("Authentication", "Offline")
    assert contract.errors(ksef_side.bodies("/certificates/retrieve")[0], "RetrieveCertificatesRequest") == []


def test_an_error_names_ksefs_code_and_description(ministry: tuple[rsa.RSAPrivateKey, str]) -> None:
    ksef_side = Contract(ministry[1])
    body = {"exception": {"exceptionDetailList": [{"exceptionCode": 21405, "exceptionDescription":
                          "Błąd walidacji danych wejściowych.", "details": ["csr: niepoprawny format"]}],
                          "serviceCode": "x", "timestamp": NOW.isoformat()}}
    assert contract.errors(body, "ExceptionResponse") == []
    ksef_side.override["/certificates/enrollments"] = lambda r: httpx.Response(400, json=body)
    ksef_side.override["/certificates/limits"] = lambda r: httpx.Response(503, text="down")
    ksef_side.override["/certificates/enrollments/data"] = lambda r: httpx.Response(403, json={
        "title": "Forbidden", "status": 403, "detail": "Brak uprawnień", "reasonCode": "missing-permissions",
        "timestamp": NOW.isoformat()})
    client = client_for(ksef_side)
    client.login_xades("Nip", NIP, dev_signer("Jan Kowalski", key_type="ec"))
    with pytest.raises(ksef.KsefRejected) as err:
        client.enroll({"certificateName": "abcde", "certificateType": "Offline", "csr": "AAAA"})
    assert err.value.codes == (21405,) and "21405 Błąd walidacji" in str(err.value) and "csr: niepoprawny" in str(
        err.value)
    with pytest.raises(ksef.KsefUnavailable, match="HTTP 503"):
        client.certificate_limits()
    with pytest.raises(ksef.KsefRejected, match="missing-permissions Forbidden - Brak uprawnień"):
        client.enrollment_data()


def test_a_failed_authentication_names_its_status(ministry: tuple[rsa.RSAPrivateKey, str]) -> None:
    ksef_side = Contract(ministry[1])
    examples = contract.operation("/auth/{referenceNumber}", "GET")["responses"]["200"]["content"][
        "application/json"]["examples"]
    failed = next(v["value"] for k, v in examples.items() if k.startswith("Kod 400"))
    ksef_side.override["/auth/{referenceNumber}"] = lambda r: httpx.Response(200, json=failed)
    with pytest.raises(ksef.KsefAuthFailed) as err:
        client_for(ksef_side).login_xades("Nip", NIP, dev_signer("Jan Kowalski", key_type="ec"))
    assert err.value.codes == (400,) and "Nieważny certyfikat" in str(err.value)


def test_tokens_are_never_shown_and_the_access_token_is_refreshed_before_it_lapses(
        ministry: tuple[rsa.RSAPrivateKey, str]) -> None:
    clock = {"now": NOW}
    ksef_side = Contract(ministry[1])
    client = client_for(ksef_side, now=lambda: clock["now"], refresh_margin=timedelta(minutes=2))
    client.login_xades("Nip", NIP, dev_signer("Jan Kowalski", key_type="ec"))
    access = client._access
    assert access is not None and access.token not in repr(client) and access.token not in repr(access)
    assert "<hidden>" in repr(client)
    session = client.open_online_session()
    assert session.key.key.hex() not in repr(session)
    client.certificate_limits()
    assert [t for _m, t, _r in ksef_side.sent].count("/auth/token/refresh") == 0
    clock["now"] = NOW + timedelta(minutes=58, seconds=30)  # 90 s left: inside the 2 minutes' margin
    ksef_side.now = clock["now"]
    client.certificate_limits()
    templates = [t for _m, t, _r in ksef_side.sent]
    assert templates[-2:] == ["/auth/token/refresh", "/certificates/limits"]
    refresh_request = ksef_side.sent[-2][2]
    assert refresh_request.headers["Authorization"] == f"Bearer {client._refresh.token}"  # type: ignore[union-attr]
    assert client.access_valid_until == clock["now"] + timedelta(hours=1)


def _storm(times: int, retry_after: str) -> Callable[[httpx.Request], httpx.Response]:
    left = {"n": times}

    def answer(request: httpx.Request) -> httpx.Response:
        if left["n"] > 0:
            left["n"] -= 1
            return httpx.Response(429, headers={"Retry-After": retry_after}, json={"status": {
                "code": 429, "description": "Too Many Requests",
                "details": [f"Przekroczono limit 20 żądań na minutę. Spróbuj ponownie po {retry_after} sekundach."]}})
        return httpx.Response(200, json={"canRequest": True, "enrollment": {"limit": 1, "remaining": 1},
                                         "certificate": {"limit": 1, "remaining": 1}})
    return answer


def test_a_429_waits_its_retry_after_bounded_and_tells_the_other_processes(
        tmp_path: Path, ministry: tuple[rsa.RSAPrivateKey, str]) -> None:
    clock = {"t": 1000.0}
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        clock["t"] += s

    budget = RateBudget(tmp_path / "ksef-budget.sqlite", clock=lambda: clock["t"], sleep=sleep)
    ksef_side = Contract(ministry[1])
    ksef_side.override["/certificates/limits"] = _storm(3, "2")
    client = client_for(ksef_side, budget=budget, sleep=sleep, max_retry_after=30)
    client.login_xades("Nip", NIP, dev_signer("Jan Kowalski", key_type="ec"))
    assert client.certificate_limits().can_request
    assert client.waits == [2.0, 2.0, 2.0]
    assert [t for _m, t, _r in ksef_side.sent].count("/certificates/limits") == 4

    ksef_side.override["/certificates/limits"] = _storm(1, "600")
    with pytest.raises(ksef.KsefRateLimited) as err:
        client.certificate_limits()
    assert err.value.retry_after == 600 and "Retry-After 600 s" in str(err.value)
    assert "Przekroczono limit" in str(err.value)
    # another worker process, the same budget file: it waits out the block instead of hitting KSeF
    other = RateBudget(tmp_path / "ksef-budget.sqlite", clock=lambda: clock["t"], sleep=sleep)
    assert other.try_take(f"Nip:{NIP}", "/certificates/limits", (10, 30, 120)) == pytest.approx(600)
    assert other.try_take(f"Nip:{NIP}", "/certificates/query", (10, 30, 120)) == 0  # its own counter


def test_the_budget_keeps_three_sliding_windows_across_processes(tmp_path: Path) -> None:
    clock = {"t": 5000.0}
    path = tmp_path / "budget.sqlite"
    one = RateBudget(path, clock=lambda: clock["t"])
    two = RateBudget(path, clock=lambda: clock["t"])  # another process: its own connection to the file
    limits = (2, 3, 4)
    assert one.try_take("Nip:1", "/x", limits) == 0
    assert two.try_take("Nip:1", "/x", limits) == 0
    assert one.try_take("Nip:1", "/x", limits) == pytest.approx(1.0)  # 2 in the last second
    assert two.try_take("Nip:2", "/x", limits) == 0  # another context counts apart
    clock["t"] += 1.5
    assert two.try_take("Nip:1", "/x", limits) == 0  # the third of the minute
    assert one.try_take("Nip:1", "/x", limits) == pytest.approx(58.5)  # the minute is full
    clock["t"] += 60
    assert one.try_take("Nip:1", "/x", limits) == 0  # the fourth of the hour
    clock["t"] += 60
    assert two.try_take("Nip:1", "/x", limits) == pytest.approx(3600 - 121.5)  # the hour is full
    slept: list[float] = []
    waiting = RateBudget(path, clock=lambda: clock["t"], sleep=slept.append)
    with pytest.raises(BudgetSpent, match="rate budget for this context is spent"):
        waiting.acquire("Nip:1", "/x", limits, max_wait=60)
    assert slept == []


def test_the_client_of_the_settings_shares_the_data_dirs_budget(tmp_path: Path) -> None:
    from core.settings import Settings

    settings = Settings(DATA_DIR=tmp_path, KSEF_URL="http://127.0.0.1:1/v2")
    with ksef.client_from_settings(settings) as one, ksef.client_from_settings(settings) as two:
        assert one.base_url == "http://127.0.0.1:1/v2" and one.budget is not None and two.budget is not None
        assert one.budget.path == two.budget.path == str(tmp_path / "ksef" / "rate-budget.sqlite")
        with pytest.raises(ksef.KsefUnavailable, match="no answer from http://127.0.0.1:1/v2"):
            one.challenge()
