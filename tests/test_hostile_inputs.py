"""Every file of the hostile-input corpus (`tests/corpus/`, described in its README) through its entry point.

Each is refused with the documented error naming what is wrong (`InvalidInput` and its signature subclasses,
`TokenInvalid`, `SoapFault`), both by the domain function and over HTTP (422/413 JSON problems, 400/410 pages,
a SOAP `Client` fault on the SDICoop endpoints), never a 500 of ours; and nothing is left behind: every table's
row count and the data directory are unchanged, no workflow is started (the app's Temporal client fails any
use), and nothing connects to the local listener whose port the network payloads name.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from sqlalchemy import func, select

import domain.fatturapa  # noqa: F401  (before domain.signatures)
from api.main import create_app
from core.db import session_scope
from core.settings import Settings
from domain.archive.index import MAX_INDEX_BYTES, parse_index
from domain.certificates import MAX_CERTIFICATE_BYTES, check_uploaded_certificate
from domain.csr import MAX_CSR_BYTES, check_csr
from domain.errors import InvalidInput
from domain.fatturapa import MAX_FILE_SIZE, check_loaded_invoice, load_invoice
from domain.sdi import messages, soap
from domain.sdi.documents import MAX_ENVELOPE_SIZE, MAX_NOTIFICATION_SIZE
from domain.signatures import SignatureError, verify_xades
from domain.tokens import TokenInvalid, make_token, read_token
from models import Base
from models import contracts as orders
from models.contracts_io import AcceptRequest, OpenOrder
from models.tenant import add_tenant
from tests.contracts_helpers import new_vat
from tests.identity_support import operator_client
from tests.invoices_support import ensure_customer

pytestmark = pytest.mark.faults

CORPUS = Path(__file__).resolve().parent / "corpus"
CSR_VAT = "IT02038490237"  # the customer the CSR/certificate files are for
INVOICE_VAT = "IT01234567897"  # the sender of the invoice files
SECRET = "test-secret-key-0123456789abcdef"  # the settings fixture's SECRET_KEY
TODAY = date(2026, 6, 1)
RC_NAME = "IT01234567897_00001_RC_001.xml"
LEAKS = (b"root:x:", b"/bin/bash", b"Traceback")  # /etc/passwd content, a Python traceback


def files(kind: str) -> list[Path]:
    return sorted(p for p in (CORPUS / kind).iterdir() if p.is_file())


def ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


# ---------------------------------------------------------------- what each file must be refused with

# The XML attacks every XML kind has, and what the refusal's message must say (regex).
XML_ATTACKS = {
    "xxe-file.xml": r"DOCTYPE|entit",
    "xxe-network.xml": r"DOCTYPE|entit",
    "xxe-parameter-entity.xml": r"DOCTYPE|entit",
    "external-dtd.xml": r"DOCTYPE",
    "billion-laughs.xml": r"DOCTYPE|entit|amplification",
    "quadratic-blowup.xml": r"DOCTYPE|entit|amplification",
    "utf16-xxe.xml": r"DOCTYPE|entit",
    "xinclude.xml": r"include.*not expected|not valid",
    "truncated.xml": r"not well-formed",
    "not-xml.bin": r"not well-formed",
    "latin1-declared-utf8.xml": r"not well-formed|UTF-8",
    "double-bom.xml": r"not well-formed",
    "bom-utf16-declared-utf8.xml": r"not well-formed",
}
NOT_UTF8 = r"not UTF-8 XML"
SCHEMA_NEEDS_SIGNATURE = r"Missing child element|Signature"
WRAPPING = r"exactly one enveloped signature|signature wrapping|does not verify"

EXPECTED: dict[str, dict[str, str | None]] = {
    "csr": {
        "empty.pem": r"^csr\.format: .*empty", "garbage.bin": r"^csr\.format", "truncated.pem": r"^csr\.format",
        "truncated.der": r"^csr\.format", "bad-base64.pem": r"^csr\.format", "utf16.pem": r"^csr\.format",
        "certificate-instead.pem": r"^csr\.format", "private-key.pem": r"^csr\.format",
        "version-5.der": r"^csr\.format: .*version", "bad-signature.der": r"^csr\.signature: .*does not verify",
        "rsa-1024.pem": r"^csr\.key: RSA key of 1024 bits", "ed25519.pem": r"^csr\.key: Ed25519",
        "secp256k1.pem": r"^csr\.key: EC curve secp256k1", "wrong-subject.pem": r"^csr\.subject: .*does not name",
        "bad-subject-encoding.der": r"^csr\.subject: the subject cannot be read",
    },
    "certificate": {
        "empty.pem": r"^certificate\.format: .*empty", "garbage.bin": r"^certificate\.format",
        "truncated.pem": r"^certificate\.format", "truncated.der": r"^certificate\.format",
        "utf16.pem": r"^certificate\.format", "csr-instead.pem": r"^certificate\.format",
        "version-4.der": r"^certificate\.format: .*version", "unknown-curve.der": r"^certificate\.format: .*[Cc]urve",
        "bad-key.der": r"^certificate\.format: .*cannot be read",
        "bad-subject-encoding.der": r"^certificate\.format: .*cannot be read",
        "expired.pem": r"^certificate\.validity: .*expired on 31/12/2020",
        "not-yet-valid.pem": r"^certificate\.validity: .*not valid before 01/01/2090",
        "wrong-subject.pem": r"^certificate\.subject: .*does not name",
    },
    "invoice": {
        **XML_ATTACKS, "utf16-xxe.xml": NOT_UTF8, "bom-utf16-declared-utf8.xml": NOT_UTF8, "double-bom.xml": NOT_UTF8,
        "utf16.xml": NOT_UTF8, "utf16le-declared-utf8.xml": NOT_UTF8,
        "latin1-declared-utf8.xml": r"not UTF-8 text", "declared-latin1.xml": r"must be UTF-8 encoded",
        "not-xml.bin": r"not a CMS/PKCS#7 signed file", "wrong-root.xml": r"not a FatturaPA 1.2 invoice",
        "xades-wrapping-moved-signature.xml": r"Signature.*not valid against FatturaPA|" + WRAPPING,
        "xades-wrapping-two-signatures.xml": r"Signature.*not valid against FatturaPA|" + WRAPPING,
        "xades-wrapping-fragment-reference.xml": r"not valid against FatturaPA.*'Id'|" + WRAPPING,
        "xades-wrapping-object.xml": WRAPPING, "xades-tampered.xml": r"does not verify: Digest mismatch",
        "cades-truncated.xml.p7m": r"corrupt CMS envelope", "cades-bad-base64.xml.p7m": r"not a CMS/PKCS#7",
        "cades-nested-garbage.xml.p7m": r"corrupt CMS envelope",
        "cades-tampered.xml.p7m": r"content does not match the signed message digest",
    },
    "notification": {
        **XML_ATTACKS, "utf16.xml": SCHEMA_NEEDS_SIGNATURE, "utf16le-declared-utf8.xml": SCHEMA_NEEDS_SIGNATURE,
        "declared-latin1.xml": SCHEMA_NEEDS_SIGNATURE, "rc-unsigned.xml": SCHEMA_NEEDS_SIGNATURE,
        "rc-signed-by-an-impostor.xml": None,  # a genuine signature: refused at the endpoint (not the SDI's key)
        "wrong-root.xml": r"not an SDI notification",
        "xades-wrapping-moved-signature.xml": r"not allowed|not expected|" + WRAPPING,
        "xades-wrapping-two-signatures.xml": r"not expected|" + WRAPPING,
        "xades-wrapping-fragment-reference.xml": r"'Id' is not allowed|" + WRAPPING,
        "xades-wrapping-object.xml": r"Missing child|" + WRAPPING, "xades-tampered.xml": r"Digest mismatch",
        "mt-sdi-id-5000-leading-zeros.xml": None,  # xs:integer 4243 all the same (crashed before)
        "mt-sdi-id-superscript.xml": r"IdentificativoSdI",
    },
    "soap": {
        **XML_ATTACKS, "xinclude.xml": r"include.*not expected",
        # Consistently encoded envelopes are legal XML: read correctly (checked below), refused further in.
        "utf16.xml": None, "utf16le-declared-utf8.xml": None, "declared-latin1.xml": None,
        "hostile-notification-inside.xml": None, "wrapped-notification-inside.xml": None,
        "not-soap.xml": r"not a SOAP 1\.1 envelope", "soap12.xml": r"not a SOAP 1\.1 envelope",
        "no-body.xml": r"missing SOAP Body", "two-body-elements.xml": r"expected one element in the Body, found 2",
        "unknown-operation.xml": r"unexpected body element .*ricevutaInventata",
        "schema-broken.xml": r"IdentificativoSdI.*forty-two", "bad-base64.xml": r"File.*base64",
        "fault.xml": r"soapenv:Server: pretending", "ricezione-hostile-invoice-inside.xml": None,
        "sdi-id-5000-leading-zeros.xml": None,  # xs:integer 4242 all the same (crashed before)
        "risposta-hour-24.xml": r"DataOraRicezione: unreadable time",
        "risposta-year-12026.xml": r"DataOraRicezione: unreadable time",
    },
    "token": {
        "garbage.txt": "forged", "overlong.txt": "forged", "unicode.txt": "forged", "other-key.txt": "forged",
        "payload-swapped.txt": "forged", "signature-tampered.txt": "forged", "signature-stripped.txt": "forged",
        "jwt-alg-none.txt": "forged", "other-purpose-salt.txt": "forged", "wrong-claim-types.txt": "forged",
        "expired.txt": "expired",
    },
    "index": {
        **XML_ATTACKS, "utf16.xml": None, "utf16le-declared-utf8.xml": None, "declared-latin1.xml": None,
        "off-schema.xml": r"^index:/.*not expected",
        "year-beyond-9999.xml": r"^index:i:MetadatiDocumento/i:Data: not a calendar date",
        "negative-year.xml": r"^index:i:MetadatiDocumento/i:Data: not a calendar date",
        "date-with-timezone.xml": r"^index:i:MetadatiDocumento/i:Data: not a calendar date",
        "hour-24.xml": r"^index:i:DescrizioneIndice/i:DataOraCreazione: not a UTC time",
        "size-5000-digits.xml": r"^index:i:Pacchetto/i:File/i:Dimensione: .* is not a file size",
    },
}


def test_every_corpus_file_has_an_expectation() -> None:
    for kind, expected in EXPECTED.items():
        assert set(ids(files(kind))) == set(expected), kind


def with_port(data: bytes, port: int) -> bytes:
    return data.replace(b"__PORT__", str(port).encode())


@pytest.fixture(scope="module")
def listener() -> Iterator[tuple[socket.socket, int]]:
    """A local port the network payloads point at: nothing may ever connect to it."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        server.setblocking(False)
        yield server, server.getsockname()[1]


def assert_no_connection(server: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        conn, _ = server.accept()
        conn.close()


def refusal(call: Callable[[], object], kinds: tuple[type[Exception], ...] = (InvalidInput,)) -> Exception:
    """The refusal `call` raises: one of `kinds`, never anything else, never nothing."""
    try:
        result = call()
    except kinds as err:
        return err
    raise AssertionError(f"accepted: {result!r}")


# ---------------------------------------------------------------- the domain entry points

def _invoice(data: bytes) -> object:
    loaded = load_invoice(data, verify=True)
    return check_loaded_invoice(loaded, INVOICE_VAT, TODAY)


def _notification(data: bytes) -> object:
    """As the SDICoop endpoints read one: the schema, and the signature of the kinds the SDI signs."""
    n = messages.read_notification(data, validate=True)
    if n.kind in messages.SIGNED_KINDS:
        verify_xades(data)
    return n


def _soap(name: str) -> Callable[[bytes], object]:
    if name.startswith("risposta"):
        return soap.read_ricevi_file_response
    return soap.read_ricevi_fatture if name.startswith("ricezione") else soap.read_trasmissione


DOMAIN: dict[str, Callable[[str, bytes], object]] = {
    "csr": lambda _, d: check_csr(d, CSR_VAT),
    "certificate": lambda _, d: check_uploaded_certificate(d, CSR_VAT),
    "invoice": lambda _, d: _invoice(d),
    "notification": lambda _, d: _notification(d),
    "soap": lambda name, d: _soap(name)(d),
    "token": lambda _, d: read_token(SECRET, d.decode()),
    "index": lambda _, d: parse_index(d),
}
ERRORS: dict[str, tuple[type[Exception], ...]] = {"token": (TokenInvalid,), "soap": (InvalidInput, soap.SoapFault)}


@pytest.mark.parametrize("path", [p for k in EXPECTED for p in files(k)],
                         ids=[f"{k}/{p.name}" for k in EXPECTED for p in files(k)])
def test_domain_entry_point_refuses_with_a_clear_error(path: Path, listener: tuple[socket.socket, int]) -> None:
    kind, name = path.parent.name, path.name
    expected = EXPECTED[kind][name]
    data = with_port(path.read_bytes(), listener[1])
    call = DOMAIN[kind]
    if expected is None:
        call(name, data)  # accepted here; each is refused further in (see the HTTP tests)
    elif kind == "token":
        err = refusal(lambda: call(name, data), (TokenInvalid,))
        assert isinstance(err, TokenInvalid) and err.reason == expected
        assert "acceptance link" in str(err)
    else:
        err = refusal(lambda: call(name, data), ERRORS.get(kind, (InvalidInput,)))
        message = str(err)
        assert re.search(expected, message, re.S), message
        assert not any(leak.decode() in message for leak in LEAKS)
        if isinstance(err, InvalidInput):
            assert all(p.field and p.message for p in err.problems)
    assert_no_connection(listener[0])


@pytest.mark.parametrize("name", [n for n in EXPECTED["notification"] if n.startswith("xades-")])
@pytest.mark.parametrize("kind", ["invoice", "notification"])
def test_signature_wrapping_is_named_by_the_verifier(kind: str, name: str) -> None:
    """Where the schema refuses first, the signature check alone still refuses each wrapping for its reason."""
    err = refusal(lambda: verify_xades((CORPUS / kind / name).read_bytes()), (SignatureError,))
    reason = {"xades-wrapping-moved-signature.xml": "exactly one enveloped signature, child of the",
              "xades-wrapping-two-signatures.xml": "exactly one enveloped signature, child of the",
              "xades-wrapping-fragment-reference.xml": "references '#signed-part', not the whole invoice",
              "xades-wrapping-object.xml": "Digest mismatch", "xades-tampered.xml": "Digest mismatch"}[name]
    assert reason in str(err) and err.problems[0].code == "00102"


@pytest.mark.parametrize("name", ["utf16.xml", "utf16le-declared-utf8.xml", "declared-latin1.xml"])
def test_consistently_encoded_envelopes_and_indexes_are_read_exactly(name: str) -> None:
    """Legal XML in another encoding is decoded right (no mojibake), or it would have to be refused."""
    operation, f = soap.read_trasmissione((CORPUS / "soap" / name).read_bytes())
    assert (operation, f.identificativo_sdi, f.nome_file, f.file) == ("RicevutaConsegna", 4242, RC_NAME, b"file")
    index = parse_index((CORPUS / "index" / name).read_bytes())
    assert index.document.number == "FT/2026/1" and index.document.sender.name == "ACME S.p.A."


def test_thousands_of_leading_zeros_are_the_number_the_schema_says() -> None:
    _, f = soap.read_trasmissione((CORPUS / "soap" / "sdi-id-5000-leading-zeros.xml").read_bytes())
    assert f.identificativo_sdi == 4242
    for validate in (True, False):
        data = (CORPUS / "notification" / "mt-sdi-id-5000-leading-zeros.xml").read_bytes()
        assert messages.read_notification(data, validate=validate).identificativo_sdi == 4243
        bad = (CORPUS / "notification" / "mt-sdi-id-superscript.xml").read_bytes()
        err = refusal(lambda bad=bad, validate=validate: messages.read_notification(bad, validate=validate))  # type: ignore[misc]
        assert "IdentificativoSdI" in str(err)


def test_envelopes_carrying_hostile_files_open_but_their_content_is_refused() -> None:
    _, f = soap.read_trasmissione((CORPUS / "soap" / "hostile-notification-inside.xml").read_bytes())
    assert "DOCTYPE" in str(refusal(lambda: messages.read_notification(f.file)))
    _, f = soap.read_trasmissione((CORPUS / "soap" / "wrapped-notification-inside.xml").read_bytes())
    assert "Digest mismatch" in str(refusal(lambda: verify_xades(f.file)))
    r = soap.read_ricevi_fatture((CORPUS / "soap" / "ricezione-hostile-invoice-inside.xml").read_bytes())
    assert messages.read_notification(r.metadati).kind == "MT"
    assert "DOCTYPE" in str(refusal(lambda: load_invoice(r.file)))


def test_oversized_inputs_are_refused_before_parsing() -> None:
    cases: list[tuple[Callable[[bytes], object], int, str]] = [
        (lambda d: check_csr(d, CSR_VAT), MAX_CSR_BYTES, "csr.format"),
        (lambda d: check_uploaded_certificate(d, CSR_VAT), MAX_CERTIFICATE_BYTES, "certificate.format"),
        (load_invoice, MAX_FILE_SIZE, "file"),
        (messages.read_notification, MAX_NOTIFICATION_SIZE, "notification"),
        (soap.read_trasmissione, MAX_ENVELOPE_SIZE, "envelope"),
        (parse_index, MAX_INDEX_BYTES, "index"),
    ]
    for call, limit, field in cases:
        # A document that would be valid-looking XML/PEM up to the limit, one byte over it.
        data = b"<" + b"a" * limit
        err = refusal(lambda call=call, data=data: call(data))  # type: ignore[misc]
        assert isinstance(err, InvalidInput) and err.problems[0].field == field, (field, str(err)[:200])
        assert re.search(r"larger|exceeds|limit", str(err)), str(err)[:200]
    assert refusal(lambda: load_invoice(b" " * (MAX_FILE_SIZE + 1))).problems[0].code == "00003"  # type: ignore[attr-defined]
    err = refusal(lambda: read_token(SECRET, "a" * 100_000), (TokenInvalid,))
    assert isinstance(err, TokenInvalid) and err.reason == "forged"


# ---------------------------------------------------------------- over HTTP, with nothing left behind

class NoTemporal:
    """The app's Temporal client: any use fails the test (no workflow may be started or signalled)."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"a refused request reached Temporal ({name})")


@pytest.fixture
def http(settings: Settings, db: str) -> Iterator[TestClient]:
    assert settings.secret_key.get_secret_value() == SECRET
    app = create_app(settings, run_migrations=False)
    app.state.temporal = NoTemporal()
    with operator_client(app, settings) as client:
        yield client


# A refusal is recorded in the audit trail on purpose (tests/test_identity.py checks it); the test's own
# operator and its token are made by the fixture. Everything else must be as it was.
IDENTITY_BOOKKEEPING = {"audit_log", "users", "api_tokens"}


def snapshot(settings: Settings) -> tuple[dict[str, int], dict[str, int]]:
    """Row counts of every table, and every file under the data directory with its size."""
    with session_scope(settings.database_url) as session:
        rows = {t.name: session.scalar(select(func.count()).select_from(t)) or 0 for t in Base.metadata.sorted_tables
                if t.name not in IDENTITY_BOOKKEEPING}
    data = settings.data_dir
    tree = {str(p.relative_to(data)): p.stat().st_size for p in data.rglob("*") if p.is_file()} if data.exists() else {}
    return rows, tree


def assert_clear_json_refusal(resp, status: tuple[int, ...] = (422,)) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert resp.status_code in status, resp.text[:500]
    body = resp.json()
    assert body["problems"] and all(p["field"] and p["message"] for p in body["problems"])
    assert not any(leak in resp.content for leak in LEAKS)
    return body  # type: ignore[no-any-return]


def assert_client_fault(resp) -> None:  # type: ignore[no-untyped-def]
    """SOAP 1.1 over HTTP carries every fault with status 500; ours must say the caller is at fault."""
    assert resp.status_code == 500 and resp.headers["content-type"].startswith("text/xml"), resp.text[:300]
    assert b"<faultcode>soapenv:Client</faultcode>" in resp.content, resp.text[:500]
    assert re.search(rb"<faultstring>[^<]{5,}</faultstring>", resp.content)
    assert not any(leak in resp.content for leak in LEAKS)


def _customer(settings: Settings, vat: str) -> None:
    with session_scope(settings.database_url) as session:
        add_tenant(session, vat, "ACME S.p.A.", f"{vat.lower()}@pec.example.it", "0000000")


@pytest.mark.parametrize("kind", ["csr", "certificate"])
def test_certificate_uploads_refused_over_http(http: TestClient, settings: Settings, kind: str,
                                               listener: tuple[socket.socket, int]) -> None:
    _customer(settings, CSR_VAT)
    url = f"/tenants/{CSR_VAT}/certificates" + ("" if kind == "csr" else "/uploads")
    part = "csr" if kind == "csr" else "certificate"
    before = snapshot(settings)
    for path in files(kind):
        data = path.read_bytes()
        body = assert_clear_json_refusal(http.post(url, files={part: (path.name, data)}))
        expected = EXPECTED[kind][path.name]
        assert expected is not None and re.search(expected, body["detail"]), (path.name, body["detail"])
        if path.name == "private-key.pem":  # never echoed back
            secret_lines = [ln for ln in data.splitlines() if ln and not ln.startswith(b"-----")]
            assert not any(ln in body["detail"].encode() for ln in secret_lines)
    limit = MAX_CSR_BYTES if kind == "csr" else MAX_CERTIFICATE_BYTES
    body = assert_clear_json_refusal(http.post(url, files={part: ("big.pem", b"-----BEGIN" + b"A" * limit)}))
    assert body["problems"][0]["field"] == f"{kind}.format" and "larger than" in body["detail"]
    huge = http.post(url, files={part: ("huge.pem", b"A" * (8 * limit))})
    assert huge.status_code == 413 and "larger than" in huge.text
    assert snapshot(settings) == before
    assert_no_connection(listener[0])


def test_invoice_uploads_refused_over_http(http: TestClient, settings: Settings,
                                           listener: tuple[socket.socket, int]) -> None:
    ensure_customer(settings, INVOICE_VAT)
    before = snapshot(settings)
    for path in files("invoice"):
        resp = http.post("/invoices", data={"vat": INVOICE_VAT},
                         files={"file": (path.name, with_port(path.read_bytes(), listener[1]))})
        body = assert_clear_json_refusal(resp)
        expected = EXPECTED["invoice"][path.name]
        assert expected is not None and re.search(expected, body["detail"], re.S), (path.name, body["detail"])
        assert all(p["code"] for p in body["problems"]), body  # every refusal carries the SDI's code
    body = assert_clear_json_refusal(http.post("/invoices", data={"vat": INVOICE_VAT},
                                               files={"file": ("big.xml", b"<" * (MAX_FILE_SIZE + 1))}))
    assert body["problems"][0]["code"] == "00003"
    body = assert_clear_json_refusal(http.post("/invoices", data={"vat": INVOICE_VAT},
                                               files={"file": ("huge.xml", b"<" * (MAX_FILE_SIZE + 512 * 1024))}),
                                     (413,))
    assert body["problems"][0]["code"] == "00003"
    assert snapshot(settings) == before
    assert_no_connection(listener[0])


@pytest.fixture
def sdi_certificate(settings: Settings) -> Iterator[Path]:
    """The SDI's signing certificate where the endpoint looks for it (a fresh one, not the corpus signer's)."""
    path = settings.sdi_signer_cert_path
    previous = path.read_bytes() if path.exists() else None  # another test's simulator may have left one
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sistema di Interscambio (test)")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    try:
        yield path
    finally:
        if previous is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(previous)


async def _raw_post(app: Any, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[int, bytes]:
    """A request straight to the ASGI app, headers byte for byte (httpx would re-encode them as UTF-8)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
               "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
               "client": ("127.0.0.1", 1), "server": ("testserver", 80)}, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def test_a_content_length_in_other_digits_is_no_length(http: TestClient, settings: Settings) -> None:
    """A header is read as Latin-1, and "\u00b2".isdigit() is true while int("\u00b2") fails: such a
    Content-Length was a 500 of ours. It is no length at all; the body is still bounded as it is read."""
    _customer(settings, CSR_VAT)
    before = snapshot(settings)
    superscript = [(b"content-length", b"\xb2")]
    for endpoint in ("/sdi/TrasmissioneFatture", "/sdi/RicezioneFatture"):
        status, body = await _raw_post(http.app, endpoint, superscript, b"<x/>")
        assert status == 500 and b"<faultcode>soapenv:Client</faultcode>" in body, body[:300]
    form = b'--b\r\nContent-Disposition: form-data; name="csr"; filename="x.pem"\r\n\r\nx\r\n--b--\r\n'
    status, body = await _raw_post(http.app, f"/tenants/{CSR_VAT}/certificates",
                                   [*superscript, (b"content-type", b"multipart/form-data; boundary=b"),
                                    (b"authorization", http.headers["authorization"].encode())], form)
    assert status == 422 and b"csr.format" in body, body[:300]
    assert snapshot(settings) == before


def test_notifications_refused_over_the_sdicoop_endpoint(http: TestClient, settings: Settings, sdi_certificate: Path,
                                                         listener: tuple[socket.socket, int]) -> None:
    before = snapshot(settings)
    for path in files("notification"):
        data = with_port(path.read_bytes(), listener[1])
        envelope = soap.build_trasmissione("RicevutaConsegna", soap.FileSdI(4242, RC_NAME, data))
        resp = http.post("/sdi/TrasmissioneFatture", content=envelope, headers={"Content-Type": "text/xml"})
        assert_client_fault(resp)
        if path.name == "rc-signed-by-an-impostor.xml":
            assert b"not signed by the SDI" in resp.content
    huge = messages.build_mt(1, "IT01234567897_00001.xml", "0000000", "FPR12", "1").replace(
        b"</types:MetadatiInvioFile>", b"<!--" + b"x" * MAX_NOTIFICATION_SIZE + b"--></types:MetadatiInvioFile>")
    resp = http.post("/sdi/TrasmissioneFatture",
                     content=soap.build_trasmissione("RicevutaConsegna", soap.FileSdI(1, RC_NAME, huge)))
    assert_client_fault(resp)
    assert b"exceeds the limit" in resp.content
    assert snapshot(settings) == before
    assert_no_connection(listener[0])


def test_envelopes_refused_over_the_sdicoop_endpoints(http: TestClient, settings: Settings, sdi_certificate: Path,
                                                      listener: tuple[socket.socket, int]) -> None:
    ensure_customer(settings, INVOICE_VAT)
    before = snapshot(settings)
    for path in files("soap"):
        data = with_port(path.read_bytes(), listener[1])
        endpoints = ["/sdi/RicezioneFatture"] if path.name.startswith(("ricezione", "risposta")) else [
            "/sdi/TrasmissioneFatture", "/sdi/RicezioneFatture"]
        for endpoint in endpoints:
            assert_client_fault(http.post(endpoint, content=data, headers={"Content-Type": "text/xml"}))
    huge = b"<soapenv:Envelope>" + b" " * MAX_ENVELOPE_SIZE
    for endpoint in ("/sdi/TrasmissioneFatture", "/sdi/RicezioneFatture"):
        resp = http.post(endpoint, content=huge)
        assert_client_fault(resp)
        assert b"larger than" in resp.content
    assert snapshot(settings) == before
    assert_no_connection(listener[0])


def test_forged_expired_and_replayed_links_refused_over_http(http: TestClient, settings: Settings) -> None:
    before = snapshot(settings)
    for path in files("token"):
        token = quote(path.read_text(), safe="")
        status = {"forged": 400, "expired": 410}[EXPECTED["token"][path.name] or ""]
        for method in ("get", "post"):
            resp = getattr(http, method)(f"/accept/{token}")
            assert resp.status_code == status, (path.name, method, resp.status_code)
            assert "Nothing was changed" in resp.text and resp.headers["cache-control"] == "no-store"
    assert snapshot(settings) == before

    # Replayed: a genuine link whose nonce was used (the contract accepted) is refused, and changes nothing.
    vat = new_vat()
    _customer(settings, vat)
    now = datetime.now(UTC)
    with session_scope(settings.database_url) as session:
        order = orders.open_order(session, OpenOrder(vat, f"contract-{vat}", f"run-{vat}", 4900,
                                                     now + timedelta(days=30), "test"))
        orders.issue_token(session, order.order_id, "r" * 32, "invitation", now + timedelta(days=30))
    with session_scope(settings.database_url) as session:
        orders.accept_order(session, AcceptRequest(order.order_id, "r" * 32, "10.0.0.1", "first"))
    token = make_token(SECRET, order.order_id, "r" * 32, now + timedelta(days=30))
    after_accept = snapshot(settings)
    for method in ("get", "post", "post"):
        resp = getattr(http, method)(f"/accept/{token}")
        assert resp.status_code == 409 and "already used" in resp.text
    assert snapshot(settings) == after_accept


# ---------------------------------------------------------------- the other HTTP inputs

JSON = {"content-type": "application/json"}
GARBAGE_REQUESTS: list[tuple[str, str, dict[str, object]]] = [
    ("post", "/tenants", {"content": b"{not json", "headers": JSON}),
    ("post", "/tenants", {"content": b'{"vat": 1, "name": [], "pec": {}}', "headers": JSON}),
    ("post", "/tenants", {"content": '{"vat": "IT\u00e8"}'.encode("latin-1"), "headers": JSON}),
    ("post", "/tenants", {"content": b"[" * 50_000 + b"]" * 50_000, "headers": JSON}),
    ("post", "/tenants", {"json": {"vat": INVOICE_VAT, "name": "x" * 100_000, "pec": "a@b.it"}}),
    ("post", "/tenants", {"json": {"vat": "IT09876543217", "name": "A\x00B", "pec": "ab@pec.example.it"}}),
    ("get", "/tenants/%00", {}),
    ("get", "/tenants/" + "A" * 10_000, {}),
    ("get", "/invoices/%00", {}),
    ("get", "/invoices/%00/download/original", {}),
    ("get", "/invoices/x/download/..%2F..%2Fetc%2Fpasswd", {}),
    ("post", "/invoices/%00/outcome", {"json": {"esito": "EC01"}}),
    ("get", f"/invoices?vat={INVOICE_VAT}&direction=%00", {}),
    ("post", "/invoices", {"content": b"not multipart",
                           "headers": {"content-type": "multipart/form-data; boundary=zz"}}),
    ("post", "/invoices", {"data": {"vat": INVOICE_VAT, "sign": "\x00"},
                           "files": {"file": ("../../etc/passwd", b"<a/>")}}),
    ("get", f"/tenants/{INVOICE_VAT}/certificates/%00", {}),
    ("get", f"/tenants/{INVOICE_VAT}/certificates/%00/download", {}),
    ("delete", f"/tenants/{INVOICE_VAT}/certificates/%00", {}),
    ("post", f"/tenants/{INVOICE_VAT}/certificates", {"files": {"csr": ("x", b"x")},
                                                       "data": {"kind": "\x00", "operation_id": "../../x"}}),
    ("put", f"/tenants/{INVOICE_VAT}/preferences", {"json": [1, 2]}),
    ("post", "/contracts", {"json": {"vat": INVOICE_VAT, "amount": "1e999999"}}),
    ("post", "/contracts", {"json": {"vat": INVOICE_VAT, "amount": "sNaN"}}),
    ("get", "/accept/" + "%FF" * 10, {}),
    ("post", "/accept/%00", {}),
    ("get", "/archive/packages/%00", {}),
    ("get", "/archive/usage?vat=%00", {}),
]


def test_malformed_http_requests_get_a_4xx_and_change_nothing(settings: Settings, db: str) -> None:
    """Broken JSON, NUL characters (PostgreSQL text cannot hold one: a 500 before), paths that climb, numbers
    too large to quantize (a 500 before): a 4xx, never a 500, and nothing written."""
    ensure_customer(settings, INVOICE_VAT)
    app = create_app(settings, run_migrations=False)
    app.state.temporal = NoTemporal()
    client = operator_client(app, settings, raise_server_exceptions=False)
    before = snapshot(settings)
    with client:
        for method, url, kwargs in GARBAGE_REQUESTS:
            resp = getattr(client, method)(url, **kwargs)
            assert 400 <= resp.status_code < 500, (method, url[:80], resp.status_code, resp.text[:300])
            assert not any(leak in resp.content for leak in LEAKS)
    assert snapshot(settings) == before
