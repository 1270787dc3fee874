"""The KSeF client (#14.1) driven against the local KSeF (#14.5), one real uvicorn for the module: auth by
certificate and by token, the refresh mid-burst, enrollment accepted / refused / in error and the certificate it
issues, a session of several invoices with rejected ones, UPOs (signed, UPO 4.3), late UPOs, the download,
429s honoured (a storm and the real limits), the service down, the state kept across a restart. Every answer
the simulator gave is then checked against open-api.json's response schemas (the last test)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree

from adapters import ksef
from adapters.ksef_budget import RateBudget
from domain.ksef.enrollment import SUBJECT_FIELDS, check_enrollment_csr, enrollment_request
from domain.ksef.numbers import parse_ksef_number
from domain.ksef.session_crypto import send_invoice_request
from domain.signatures.keystore import Signer
from domain.signatures.xades import verify_xades
from ksefsim.app import Simulator, create_app
from ksefsim.keys import load_keys
from ksefsim.scenarios import SimConfig
from tests import ksef_support as contract

NIP = "5265877635"  # the documentation's example seller
BUYER = "7740001454"
OTHER = "1111111111"
UPO_XSD = Path(contract.SPEC_PATH).parent / "upo-v4-3.xsd"


@dataclass
class Rig:
    url: str
    sim: Simulator
    clock: list[float]
    answers: list[tuple[str, str, int, str, Any]] = field(default_factory=list)

    def advance(self, seconds: float) -> None:
        self.clock[0] += seconds

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock[0], UTC)

    def client(self, **kw: Any) -> ksef.KsefClient:
        def record(response: httpx.Response) -> None:
            response.read()
            path = response.request.url.path.removeprefix("/v2")
            kind = response.headers.get("content-type", "").split(";")[0]
            body = response.json() if kind.endswith("json") and response.content else response.content
            self.answers.append((response.request.method, path, response.status_code, kind, body))

        http = httpx.Client(base_url=f"{self.url}/v2", event_hooks={"response": [record]}, timeout=30)
        kw.setdefault("now", self.now)
        kw.setdefault("sleep", self.advance)  # a wait moves the simulator's clock: no real sleep
        return ksef.KsefClient(f"{self.url}/v2", http=http, **kw)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    folder = tmp_path_factory.mktemp("ksefsim")
    clock = [time.time()]
    sim = Simulator(SimConfig(), folder / "state.sqlite", load_keys(folder), clock=lambda: clock[0])
    server = uvicorn.Server(uvicorn.Config(create_app(sim), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Rig(f"http://127.0.0.1:{port}", sim, clock)
    finally:
        server.should_exit = True
        thread.join(10)
        sim.state.close()


@pytest.fixture(autouse=True)
def fresh_config(rig: Rig) -> None:
    rig.sim.config = SimConfig()


def seal(nip: str, name: str = "Firma Testowa sp. z o.o.") -> Signer:
    """A self-signed company seal as the test environment takes it (auth/podpis-xades.md: VATPL-<NIP>)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                         x509.NameAttribute(x509.ObjectIdentifier("2.5.4.97"), f"VATPL-{nip}"),
                         x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    return Signer(key, cert)


def fa3(number: str, seller: str = NIP, buyer: str = BUYER) -> bytes:
    """A schema-valid FA(3) invoice (the corpus' two-rate VAT invoice) with its own number, seller and buyer."""
    xml = (Path(__file__).parent / "corpus" / "fa3" / "valid-vat-two-rates.xml").read_bytes()
    xml = xml.replace(b"<NIP>5265877635</NIP>", b"<NIP>@SELLER@</NIP>").replace(b"<NIP>1234563218</NIP>",
                                                                              b"<NIP>@BUYER@</NIP>")
    xml = xml.replace(b"@SELLER@", seller.encode()).replace(b"@BUYER@", buyer.encode())
    return xml.replace(b"<P_2>FV/2026/12/001</P_2>", f"<P_2>{number}</P_2>".encode())


def csr_for(data: dict[str, object], key: ec.EllipticCurvePrivateKey) -> bytes:
    names = [x509.NameAttribute(SUBJECT_FIELDS[k], str(v)) for k, v in data.items()]
    return (x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names)).sign(key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM))


def upo_is_valid(xml: bytes) -> etree._Element:
    verified = verify_xades(xml)
    root = etree.fromstring(verified.content)
    for signature in root.findall("{http://www.w3.org/2000/09/xmldsig#}Signature"):
        root.remove(signature)
    schema = etree.XMLSchema(etree.parse(str(UPO_XSD)))
    assert schema.validate(root), schema.error_log
    return root


def test_auth_by_certificate_by_token_and_the_refusals(rig: Rig) -> None:
    client = rig.client()
    client.login_xades("Nip", NIP, seal(NIP))
    assert client.certificate_limits().can_request
    token = httpx.post(f"{rig.url}/control/ksef-tokens", json={"value": NIP}).json()["token"]
    by_token = rig.client()
    by_token.login_token("Nip", NIP, token)
    assert by_token.certificate_limits().certificate_limit == 100
    with pytest.raises(ksef.KsefAuthFailed) as err:
        rig.client().login_token("Nip", NIP, "not-a-token-of-ours")
    assert err.value.codes == (450,) and "Nieprawidłowy token" in str(err.value)
    # an intermediary's seal in its customer's context: refused (415) until the customer grants it
    intermediary = seal(OTHER, "Biuro Rachunkowe")
    with pytest.raises(ksef.KsefAuthFailed) as err:
        rig.client().login_xades("Nip", NIP, intermediary)
    assert err.value.codes == (415,) and "Brak przypisanych uprawnień" in str(err.value)
    httpx.post(f"{rig.url}/control/permissions", json={"subject": OTHER, "context": NIP}).raise_for_status()
    rig.client().login_xades("Nip", NIP, intermediary)
    # a signature that does not verify is refused at once, naming why
    tampered = client.challenge()
    from domain.ksef.auth import signed_auth_token_request
    body = signed_auth_token_request(tampered.challenge, "Nip", NIP, seal(NIP)).replace(NIP.encode(), b"7740001454")
    with pytest.raises(ksef.KsefRejected) as err:
        client._call("xades", content=body, content_type="application/xml")
    assert err.value.codes == (21405,) and "podpis" in str(err.value)
    # the authentication token redeems once
    init = client.start_xades("Nip", NIP, seal(NIP))
    client.wait_authenticated(init)
    client.redeem(init)
    with pytest.raises(ksef.KsefRejected, match="21301"):
        client.redeem(init)


def test_the_access_token_is_refreshed_mid_burst(rig: Rig) -> None:
    rig.sim.config.access_ttl = 300
    client = rig.client(refresh_margin=timedelta(seconds=60))
    client.login_xades("Nip", NIP, seal(NIP))
    first = client.access_valid_until
    for _ in range(6):  # a burst over 6 minutes: the 5-minute token is renewed before it lapses
        client.certificate_limits()
        rig.advance(60)
    assert client.access_valid_until is not None and first is not None and client.access_valid_until > first
    refreshed = [a for a in rig.answers if a[1] == "/auth/token/refresh"]
    assert refreshed and all(a[2] == 200 for a in refreshed)
    lax = rig.client(refresh_margin=timedelta(0))
    lax.login_xades("Nip", NIP, seal(NIP))
    rig.advance(301)
    # KSeF's clock ahead of ours: the client believes its token valid, KSeF answers 401; refreshed, once more
    lax._access = ksef.TokenInfo(lax._access.token, rig.now() + timedelta(hours=1))  # type: ignore[union-attr]
    seen = len(rig.answers)
    assert lax.certificate_limits().can_request
    assert [(a[1], a[2]) for a in rig.answers[seen:]] == [
        ("/certificates/limits", 401), ("/auth/token/refresh", 200), ("/certificates/limits", 200)]
    rig.advance(8 * 24 * 3600)  # past the refresh token too: log in again, said as KSeF's 401
    lax._access = ksef.TokenInfo(lax._access.token, rig.now() + timedelta(hours=1))  # type: ignore[union-attr]
    with pytest.raises(ksef.KsefRejected) as err:
        lax.certificate_limits()
    assert err.value.status == 401 and "refresh" in str(err.value)


def test_enrollment_accepted_refused_in_error_and_the_certificate_it_issues(rig: Rig) -> None:
    client = rig.client()
    client.login_xades("Nip", NIP, seal(NIP))
    data = client.enrollment_data()
    assert data["organizationIdentifier"] == f"VATPL-{NIP}"
    rig.sim.config.enrollment_delay = 30
    key = ec.generate_private_key(ec.SECP256R1())
    # validFrom a day back: the simulator's clock runs ahead of the signer's in this module (its waits skip time)
    body = enrollment_request(check_enrollment_csr(csr_for(data, key), data), "Uwierzytelnianie 1", "Authentication",
                              datetime.now(UTC) - timedelta(days=1))
    enrolled = client.enroll(body)
    assert client.enrollment_status(enrolled.reference_number).status.code == 100  # przyjęty do realizacji
    rig.advance(31)
    status = client.enrollment_status(enrolled.reference_number)
    assert status.status.code == 200 and status.serial_number is not None
    [got] = client.retrieve_certificates([status.serial_number])
    ca = x509.load_pem_x509_certificate(httpx.get(f"{rig.url}/control/ca.pem").content)
    got.certificate.verify_directly_issued_by(ca)
    assert got.certificate.subject == x509.load_pem_x509_csr(csr_for(data, key)).subject
    page = client.query_certificates(status="Active", certificate_type="Authentication")
    assert status.serial_number in [c.serial_number for c in page.certificates]
    # the KSeF certificate authenticates; once revoked it does not (460 Certyfikat odwołany)
    own = rig.client()
    own.login_xades("Nip", NIP, Signer(key, got.certificate))
    assert [a for a in rig.answers if a[1].startswith("/auth/2")][-1][4]["authenticationMethod"] == \
        "InternalCertificate"
    client.revoke_certificate(status.serial_number, "Superseded")
    with pytest.raises(ksef.KsefAuthFailed) as err:
        rig.client().login_xades("Nip", NIP, Signer(key, got.certificate))
    assert err.value.codes == (460,) and "Certyfikat odwołany" in str(err.value)

    rig.sim.config.enrollment_delay = 0
    rig.sim.config.enrollments = ["refuse", "error"]
    for want in (400, 500):
        key = ec.generate_private_key(ec.SECP256R1())
        body = enrollment_request(check_enrollment_csr(csr_for(data, key), data), "Odrzucony wniosek", "Offline")
        st = client.enrollment_status(client.enroll(body).reference_number)
        assert st.status.code == want and st.serial_number is None
    assert "Klucz publiczny" in "".join(
        a[4]["status"].get("details", [""])[0] for a in rig.answers if a[1].startswith("/certificates/enrollments/2")
        and a[4]["status"]["code"] == 400)
    # a CSR whose subject is not the one dictated is refused at once, naming the attribute
    wrong = {**data, "commonName": "Ktoś Inny"}
    body = {"certificateName": "Zly podmiot", "certificateType": "Offline",
            "csr": base64.b64encode(x509.load_pem_x509_csr(csr_for(wrong, key)).public_bytes(
                serialization.Encoding.DER)).decode()}
    with pytest.raises(ksef.KsefRejected) as err:
        client.enroll(body)
    assert err.value.codes == (21405,) and "csr.subject.commonName" in str(err.value)


def test_a_session_of_several_invoices_with_rejected_ones_upos_and_the_download(rig: Rig) -> None:
    client = rig.client()
    client.login_xades("Nip", NIP, seal(NIP))
    stamp = f"{int(rig.clock[0])}"
    invoices = {f"FV/{stamp}/{i}": fa3(f"FV/{stamp}/{i}") for i in range(1, 5)}
    invoices[f"ODRZUC-450-{stamp}"] = fa3(f"ODRZUC-450-{stamp}")
    invoices["dup"] = fa3(f"FV/{stamp}/1")  # the same number again: 440 duplikat
    invoices["other seller"] = fa3(f"FV/{stamp}/X", seller=BUYER)  # not this context's invoice: 410
    invoices["not FA(3)"] = b"<Faktura xmlns='urn:other'/>"  # 430
    rig.sim.config.upo_delay = 120
    session = client.open_online_session()
    refs = {name: client.send_invoice(session, xml) for name, xml in invoices.items()}
    client.close_online_session(session)
    assert client.session_status(session.reference_number).status.code == 170  # UPO late: closed, not yet
    with pytest.raises(ksef.KsefRejected, match="no UPO"):
        client.invoice_upo(session.reference_number, refs[f"FV/{stamp}/2"])
    rig.advance(121)
    statuses = {name: client.invoice_status(session.reference_number, ref) for name, ref in refs.items()}
    codes = {name: s.status.code for name, s in statuses.items()}
    assert codes == {**{f"FV/{stamp}/{i}": 200 for i in range(1, 5)}, f"ODRZUC-450-{stamp}": 450, "dup": 440,
                     "other seller": 410, "not FA(3)": 430}
    dup = [a for a in rig.answers if a[2] == 200 and isinstance(a[4], dict)
           and a[4].get("referenceNumber") == refs["dup"]][-1][4]
    assert dup["status"]["extensions"]["originalKsefNumber"] == statuses[f"FV/{stamp}/1"].ksef_number
    for i in range(1, 5):
        number = statuses[f"FV/{stamp}/{i}"].ksef_number
        assert number is not None and parse_ksef_number(number).seller_nip == NIP
    upo = upo_is_valid(client.invoice_upo(session.reference_number, refs[f"FV/{stamp}/2"]))
    n = {"u": "http://upo.schematy.mf.gov.pl/KSeF/v4-3"}
    assert upo.findtext("u:Dokument/u:NumerKSeFDokumentu", namespaces=n) == statuses[f"FV/{stamp}/2"].ksef_number
    by_number = upo_is_valid(client.invoice_upo_by_ksef_number(session.reference_number,
                                                               str(statuses[f"FV/{stamp}/2"].ksef_number)))
    assert by_number.findtext("u:Dokument/u:NumerKSeFDokumentu", namespaces=n) == statuses[f"FV/{stamp}/2"].ksef_number
    st = client.session_status(session.reference_number)
    assert (st.status.code, st.invoice_count, st.successful_invoice_count, st.failed_invoice_count) == (200, 8, 4, 4)
    whole = upo_is_valid(client.session_upo(session.reference_number, st.upo_pages[0].reference_number))
    assert len(whole.findall("u:Dokument", n)) == 4
    # a session closed is closed; a tampered hash is refused at once
    with pytest.raises(ksef.KsefRejected, match="21180"):
        client.send_invoice(session, fa3("late"))
    other = client.open_online_session()
    body = send_invoice_request(other.key, fa3(f"FV/{stamp}/T"))
    body["invoiceHash"] = base64.b64encode(b"\0" * 32).decode()
    with pytest.raises(ksef.KsefRejected) as err:
        client._call("send_invoice", path={"referenceNumber": other.reference_number}, json=body)
    assert err.value.codes == (21403,)

    # download: ours as seller, and one a supplier sent us (the buyer's side)
    page = client.query_metadata("Subject1", rig.now() - timedelta(hours=1), rig.now() + timedelta(hours=1))
    mine = {m.ksef_number for m in page.invoices}
    assert {statuses[f"FV/{stamp}/{i}"].ksef_number for i in range(1, 5)} <= mine
    number = statuses[f"FV/{stamp}/3"].ksef_number
    assert number is not None and client.get_invoice(number) == invoices[f"FV/{stamp}/3"]
    received = fa3(f"ZAKUP/{stamp}", seller=OTHER, buyer=NIP)
    delivered = httpx.post(f"{rig.url}/control/invoices",
                           json={"invoice_b64": base64.b64encode(received).decode()}).json()
    page = client.query_metadata("Subject2", rig.now() - timedelta(hours=1), rig.now() + timedelta(hours=1))
    assert delivered["ksefNumber"] in [m.ksef_number for m in page.invoices]
    assert client.get_invoice(delivered["ksefNumber"]) == received
    with pytest.raises(ksef.KsefRejected, match="21165"):
        client.get_invoice(f"{NIP}-20261207-000000000000-00")

    # the state is in the file: another simulator on it knows the invoice, the token still opens it
    again = Simulator(SimConfig(), rig.sim.state.path, rig.sim.keys, clock=lambda: rig.clock[0])
    assert client._access is not None
    answer = again.dispatch("GET", f"/invoices/ksef/{number}", {}, {"authorization": f"Bearer {client._access.token}"},
                            b"", "127.0.0.1", rig.url)
    assert (answer.status, answer.body) == (200, invoices[f"FV/{stamp}/3"])
    assert load_keys(Path(rig.sim.state.path).parent).ca_cert == rig.sim.keys.ca_cert  # and its keys are kept


def test_429_storm_and_the_real_limits_are_honoured(rig: Rig, tmp_path: Path) -> None:
    client = rig.client()
    client.login_xades("Nip", NIP, seal(NIP))
    rig.sim.config.storm = {"count": 4, "retry_after": 3}
    before = rig.clock[0]
    assert client.certificate_limits().can_request
    assert client.waits == [3.0] * 4 and rig.clock[0] - before >= 12
    # the real limits (as in production: multiplier 1): /certificates/limits takes 10 a second
    rig.sim.config.limits_multiplier = 1
    rig.advance(3600)
    bare = rig.client()
    bare.login_xades("Nip", NIP, seal(NIP))
    for _ in range(11):
        bare.certificate_limits()
    assert bare.waits and [a[2] for a in rig.answers].count(429) >= 5
    # with the shared budget the client waits before KSeF has to say so
    rig.advance(3600)
    budget = RateBudget(tmp_path / "budget.sqlite", clock=lambda: rig.clock[0], sleep=rig.advance)
    polite = rig.client(budget=budget)
    polite.login_xades("Nip", NIP, seal(NIP))
    seen = len(rig.answers)
    for _ in range(25):
        polite.certificate_limits()
    assert polite.waits == [] and 429 not in [a[2] for a in rig.answers[seen:]]


def test_the_service_down_and_back(rig: Rig) -> None:
    client = rig.client()
    client.login_xades("Nip", NIP, seal(NIP))
    rig.sim.config.down = True
    with pytest.raises(ksef.KsefUnavailable, match="503"):
        client.certificate_limits()
    rig.sim.config.down = False
    assert client.certificate_limits().can_request


def test_the_vendored_upo_schema_is_the_one_its_provenance_names() -> None:
    import hashlib

    assert hashlib.sha256(UPO_XSD.read_bytes()).hexdigest() == \
        "1e5ff386a29324021a9e0126319680aec0b1e0d4f4a18add30b2f5d12ce6fa86"


def test_a_state_file_it_cannot_read_is_refused_naming_it(tmp_path: Path) -> None:
    import sqlite3

    from ksefsim.state import KsefState, StateError

    other = tmp_path / "state.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("PRAGMA user_version = 7")
        db.execute("CREATE TABLE x (y)")
    with pytest.raises(StateError, match=f"{other}.*schema version 7"):
        KsefState(other)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database" * 100)
    with pytest.raises(StateError, match="cannot be read"):
        KsefState(garbage)
    assert garbage.read_bytes() == b"not a database" * 100  # left as it is


def test_an_invoice_the_fa3_schema_refuses_is_430_naming_the_schemas_complaint(rig: Rig) -> None:
    """The local KSeF validates against the FA(3) schema as KSeF does (#14.5): an unknown VAT rate is 430."""
    client = rig.client()
    client.login_xades("Nip", NIP, seal(NIP))
    bad = (Path(__file__).parent / "corpus" / "fa3" / "invalid-schema-unknown-rate.xml").read_bytes()
    bad = bad.replace(b"<P_2>FV/2026/12/001</P_2>", f"<P_2>FV/{int(rig.clock[0])}/S</P_2>".encode())
    session = client.open_online_session()
    ref = client.send_invoice(session, bad)
    status = client.invoice_status(session.reference_number, ref).status
    client.close_online_session(session)
    assert status.code == 430, status
    assert any("P_12" in d for d in status.details), status.details


def test_every_answer_was_the_contracts(rig: Rig) -> None:
    """The independent check of #14.5 (last in the module: it reads what the tests above were answered; run
    alone it fails on too few answers): each JSON answer above against open-api.json's response schema (the
    503 of the 'down' scenario has none in the contract: only its status is checked)."""
    seen: set[tuple[str, str, int]] = set()
    for method, path, status, kind, body in rig.answers:
        template = contract.template_of(path)
        if status == 503:
            continue
        if kind.endswith("json"):
            assert contract.response_errors(template, method, status, body, kind) == [], (method, path, status)
        else:
            assert str(status) in contract.operation(template, method)["responses"], (method, path, status)
        seen.add((method, template, status))
    assert len(rig.answers) > 100
    statuses = {s for _m, _t, s in seen}
    assert {200, 201, 202, 204, 400, 401, 429} <= statuses
    assert {e.path for e in ksef.ENDPOINTS.values()} <= {t for _m, t, _s in seen}
