"""Properties of every parser of outside input: random bytes, and valid documents mutated at random (bits
flipped, truncated, spliced with hostile fragments or other documents, one field's text replaced), either
are accepted — only while still valid, and a signed document only with what was signed — or are refused
with the documented error (`InvalidInput` and its signature subclasses, `TokenInvalid`, `SoapFault`).
Never any other exception: no `KeyError`, `AttributeError`, `UnicodeDecodeError`, lxml or asn1 internals.

Examples are bounded so the module stays fast (`HOSTILE_EXAMPLES` raises the bound); the corpus
(`tests/corpus/`) pins the cases found so far.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import func, select

import domain.fatturapa  # noqa: F401  (before domain.signatures)
from core.db import session_scope
from domain.archive.index import PackageIndex, build_index, parse_index
from domain.certificates import check_uploaded_certificate
from domain.csr import check_csr, subject_names_vat
from domain.errors import InvalidInput
from domain.fatturapa import check_loaded_invoice, load_invoice, validate_invoice
from domain.fatturapa.codes import is_codice_fiscale, is_partita_iva
from domain.identifiers import check_customer, check_sdi_code, parse_vat_number
from domain.sdi import messages, soap
from domain.signatures import sign_cades, sign_xades, verify_xades
from domain.signatures.devcert import dev_signer
from domain.tokens import TokenClaims, TokenInvalid, make_token, read_token
from models.tenant import Tenant, add_tenant
from tests.certificates_support import VAT as CSR_VAT
from tests.certificates_support import make_certificate, make_csr
from tests.invoices_support import invoice
from tests.test_archive_index import _index

INVOICE_VAT = "IT01234567897"
TODAY = date(2026, 6, 1)
SECRET = "property-secret-0123456789abcdef"
NOW = datetime.now(UTC).replace(microsecond=0)

# `HOSTILE_EXAMPLES=5000 pytest tests/test_hostile_properties.py` for a deep run.
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "80"))
FAST = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW = settings(FAST, max_examples=max(EXAMPLES // 2, 1))  # a signature verified per example

# Fragments an attacker splices in: entity and DOCTYPE syntax, encodings, NULs, markup breakers.
HOSTILE = [
    b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>', b"&e;", b"&lol9;", b"<![CDATA[", b"]]>", b"\x00",
    b"\xff\xfe", b"\xef\xbb\xbf", b"<?xml version='1.0' encoding='UTF-16'?>", b"&#0;", b"&#x110000;", b"<!--",
    b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd" parse="text"/>', b"&amp;",
    b"\xc3\x28", b"\xed\xa0\x80", b"</", b"<a", b'"', b"\r\n", b"-----BEGIN CERTIFICATE-----", b"\x30\x82\xff\xff",
    b"\x06\x03\x55\x04\x03", b"====", b".", b"%",
]


# ---------------------------------------------------------------- mutation strategies

@st.composite
def byte_mutation(draw: st.DrawFn, seed: bytes, others: tuple[bytes, ...] = ()) -> bytes:
    """1-4 edits of `seed`: flip a bit, truncate, delete, duplicate a slice, insert random or hostile bytes,
    or splice in a slice of another valid document."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            data = bytearray(b"<")
        i = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "truncate", "delete", "duplicate", "insert", "hostile", "splice"]))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[i:]
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 64))]
        elif op == "duplicate":
            data[i:i] = data[i:i + draw(st.integers(1, 256))]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "hostile":
            data[i:i] = draw(st.sampled_from(HOSTILE))
        elif others:
            other = draw(st.sampled_from(others))
            j = draw(st.integers(0, max(len(other) - 1, 0)))
            data[i:i] = other[j:j + draw(st.integers(1, 512))]
    return bytes(data)


TEXTS = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"\A-?[0-9]{1,6}(-[0-9]{1,2}){0,2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})?\Z"),
    st.from_regex(r"\A[0-9]{1,30}(\.[0-9]{1,8})?\Z"),
    st.sampled_from(["", " ", "0", "-1", "+1", "NaN", "Infinity", "1e400", "9" * 5000, "0" * 5000 + "1", "\u00b2",
                     "TD99", "IT", "EC03", "\u202e", "2026-01-01T24:00:00", "12026-01-01T00:00:00Z", "-0001-01-01"]),
)


@st.composite
def text_mutation(draw: st.DrawFn, seed: bytes) -> bytes:
    """The seed with one leaf element's text (or one attribute) replaced: reaches the code after the
    well-formedness and often after the schema checks."""
    root = etree.fromstring(seed)
    leaves = [el for el in root.iter() if isinstance(el.tag, str) and len(el) == 0]
    el = draw(st.sampled_from(leaves))
    value = draw(TEXTS)
    try:
        if el.attrib and draw(st.booleans()):
            el.set(draw(st.sampled_from(sorted(el.attrib))), value)
        else:
            el.text = value
    except ValueError:  # lxml refuses control characters in a tree: splice them in as bytes instead
        return seed.replace(b"><", b">" + value.encode("utf-8", "surrogatepass") + b"<", 1)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def mutations(seed: bytes, others: tuple[bytes, ...] = (), xml: bool = True) -> st.SearchStrategy[bytes]:
    variants = [byte_mutation(seed, others), st.binary(max_size=2048)]
    if xml:
        variants.append(text_mutation(seed))
    return st.one_of(*variants)


def refused_or(call: Callable[[], Any], kinds: tuple[type[Exception], ...] = (InvalidInput,)) -> Any:
    """The result of `call`, or None when it refuses with one of `kinds`; any other exception fails."""
    try:
        return call()
    except kinds as err:
        assert str(err), "a refusal must say what is wrong"
        if isinstance(err, InvalidInput):
            assert all(p.field and p.message for p in err.problems)
        return None


# ---------------------------------------------------------------- seeds (valid documents)

@cache
def signer():  # type: ignore[no-untyped-def]
    return dev_signer("Property signer", not_after=NOW + timedelta(days=3650))


@cache
def seeds() -> dict[str, bytes]:
    inv = invoice("PROP-1")
    rc = messages.build_rc(77, "IT01234567897_00001.xml", NOW, NOW, "0000000", "Destinatario", "77",
                           lambda x: sign_xades(x, signer()))
    return {
        "csr": make_csr(), "csr-der": make_csr(der=True), "certificate": make_certificate(),
        "invoice": inv, "invoice-pa": invoice("PROP-2", pa=True),
        "xades": sign_xades(inv, signer()), "cades": sign_cades(inv, signer()),
        "rc": rc, "mt": messages.build_mt(78, "IT01234567897_00002.xml", "AAAAAA", "FPA12", "78"),
        "ec": messages.build_ec(79, "EC02", "refused", "12", 2026, "79"),
        "trasmissione": soap.build_trasmissione("RicevutaConsegna", soap.FileSdI(77, "IT01234567897_00001_RC_001.xml",
                                                                                 rc)),
        "ricezione": soap.build_ricevi_fatture(soap.FileSdIConMetadati(
            78, "IT01234567897_00002.xml", inv, "IT01234567897_00002_MT_001.xml", b"<m/>")),
        "ricevi-file-response": soap.build_ricevi_file_response(soap.RiceviFileResponse(80, NOW, None)),
        "esito-response": soap.build_notifica_esito_response(
            soap.NotificaEsitoResponse("ES00", soap.FileSdIBase("IT01234567897_00001_SE_001.xml", b"<s/>"))),
        "index": build_index(_index()),
    }


def seed(name: str) -> bytes:
    return seeds()[name]


# ---------------------------------------------------------------- identifiers

@st.composite
def non_ascii(draw: st.DrawFn, valid: str) -> str:
    """`valid` with some of its digits written in another script (Arabic-Indic, fullwidth, Devanagari, ...:
    each script's 0-9 are ten code points in a row), or with one non-ASCII character put in or over it."""
    chars = list(valid)
    digits = [i for i, c in enumerate(chars) if c in "0123456789"]
    if digits and draw(st.booleans()):
        other = draw(st.characters(categories=["Nd"]).filter(lambda c: not c.isascii()))
        zero = ord(other) - unicodedata.decimal(other)
        for i in draw(st.lists(st.sampled_from(digits), min_size=1, unique=True)):
            chars[i] = chr(zero + int(chars[i]))
    else:
        i = draw(st.integers(0, len(chars)))
        c = draw(st.one_of(st.sampled_from("\u0131\u017f\u00b2\u00a0\u3000\u212a\uff21\u0660"),
                           st.characters(min_codepoint=0x80, exclude_categories=["Cs"])))
        chars[i:i + draw(st.integers(0, 1))] = [c]
    return "".join(chars)


VATS = ["IT02038490237", "IT01234567897", "PL5261040828"]


@FAST
@given(st.sampled_from(VATS).flatmap(non_ascii))
def test_a_vat_number_with_non_ascii_characters_is_refused_naming_the_field(vat: str) -> None:
    """Never a second customer (nor a second contract-<vat> workflow) beside the ASCII one."""
    with pytest.raises(InvalidInput) as err:
        parse_vat_number(vat)
    assert [p.field for p in err.value.problems] == ["vat"] and repr(vat) in err.value.problems[0].message
    with pytest.raises(InvalidInput) as err:
        check_customer(vat, "ACME", "acme@pec.it", None)
    assert [p.field for p in err.value.problems] == ["vat"]


@FAST
@given(st.sampled_from(["QPQRMS", "0000000", "M5UXCR1", "ABC1234"]).flatmap(non_ascii))
def test_an_sdi_code_with_non_ascii_characters_is_refused_naming_the_field(code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_sdi_code(code)
    assert [p.field for p in err.value.problems] == ["sdi_code"]
    with pytest.raises(InvalidInput) as err:
        check_customer("IT02038490237", "ACME", "acme@pec.it", code)
    assert [p.field for p in err.value.problems] == ["sdi_code"]


@FAST
@given(st.sampled_from(["01234567897", "09876543217", "RSSMRA80A01H501U", "rssmra80a01h50mm"]).flatmap(non_ascii))
def test_a_tax_code_with_non_ascii_characters_is_not_valid(code: str) -> None:
    assert not is_partita_iva(code) and not is_codice_fiscale(code)


# The tables are emptied once (`db`); every example is refused, so none writes anything for the next one.
@settings(FAST, suppress_health_check=[*FAST.suppress_health_check, HealthCheck.function_scoped_fixture])
@given(st.sampled_from(VATS).flatmap(non_ascii), st.sampled_from(["QPQRMS", None]))
def test_a_customer_with_a_non_ascii_identifier_is_refused_and_nothing_is_written(db: str, vat: str,
                                                                                  code: str | None) -> None:
    with pytest.raises(InvalidInput) as err, session_scope(db) as session:
        add_tenant(session, vat, "ACME", "acme@pec.it", code)
    assert "vat" in {p.field for p in err.value.problems}
    with session_scope(db) as session:
        assert session.scalar(select(func.count()).select_from(Tenant)) == 0


# ---------------------------------------------------------------- CSR and uploaded certificate

@FAST
@given(st.one_of(st.sampled_from(["csr", "csr-der"]).flatmap(lambda n: mutations(seed(n), xml=False)),
                 byte_mutation(seed("csr"), (seed("certificate"),))))
def test_check_csr_accepts_only_valid_requests(data: bytes) -> None:
    checked = refused_or(lambda: check_csr(data, CSR_VAT))
    if checked is not None:
        csr = x509.load_pem_x509_csr(checked.pem.encode())
        assert csr.is_signature_valid and subject_names_vat(csr.subject, parse_vat_number(CSR_VAT))
        assert checked.key in ("EC secp256r1", "EC secp384r1") or checked.key.startswith("RSA ")


@FAST
@given(mutations(seed("certificate"), (seed("csr"),), xml=False))
def test_uploaded_certificate_check_accepts_only_current_certificates_naming_the_customer(data: bytes) -> None:
    checked = refused_or(lambda: check_uploaded_certificate(data, CSR_VAT))
    if checked is not None:
        cert = x509.load_der_x509_certificate(checked.der)
        assert cert.not_valid_before_utc <= datetime.now(UTC) < cert.not_valid_after_utc
        assert subject_names_vat(cert.subject, parse_vat_number(CSR_VAT))
        assert checked.sha256 == hashlib.sha256(checked.der).hexdigest()


# ---------------------------------------------------------------- invoices

@FAST
@given(st.sampled_from(["invoice", "invoice-pa"]).flatmap(lambda n: mutations(seed(n), (seed("rc"), seed("index")))))
def test_invoice_loading_and_validation_refuse_or_accept_a_valid_invoice(data: bytes) -> None:
    def check() -> object:
        loaded = load_invoice(data)
        return loaded, check_loaded_invoice(loaded, INVOICE_VAT, TODAY)

    result = refused_or(check)
    if result is not None:
        loaded, summary = result
        assert loaded.xml == data and summary.sender_vat == INVOICE_VAT and summary.documents
        # the entry points' shortcut (the tree load_invoice checked) agrees with checking from the bytes
        assert validate_invoice(loaded.xml, INVOICE_VAT, TODAY) == summary


@SLOW
@given(st.sampled_from(["xades", "cades"]).flatmap(lambda n: mutations(seed(n), (seed("invoice"),), xml=n == "xades")))
def test_a_signed_invoice_is_accepted_only_with_what_was_signed(data: bytes) -> None:
    loaded = refused_or(lambda: load_invoice(data, verify=True))
    if loaded is not None and loaded.verified is not None:
        original = seed("invoice")
        # Whatever survived the mutation and still verifies must be the signed invoice itself.
        signed_numbers = etree.fromstring(original).xpath("//Numero/text()")
        assert etree.fromstring(loaded.xml).xpath("//Numero/text()") == signed_numbers
        assert loaded.verified.certificate == signer().certificate


# ---------------------------------------------------------------- SDI notifications and SOAP envelopes

@FAST
@given(st.sampled_from(["mt", "ec", "rc"]).flatmap(lambda n: mutations(seed(n), (seed("invoice"), seed("mt")))))
def test_notification_parser_refuses_or_reads_a_schema_valid_notification(data: bytes) -> None:
    n = refused_or(lambda: messages.read_notification(data, validate=True))
    if n is not None:
        assert n.kind in messages.ROOT_BY_KIND and n.identificativo_sdi >= 0
    lax = refused_or(lambda: messages.read_notification(data, validate=False))
    if n is not None:
        assert lax == n


@SLOW
@given(mutations(seed("rc"), (seed("mt"),)))
def test_a_signed_notification_verifies_only_as_signed(data: bytes) -> None:
    def check() -> object:
        n = messages.read_notification(data, validate=True)
        return n, verify_xades(data)

    result = refused_or(check)
    if result is not None:
        n, verified = result
        assert n == messages.read_notification(seed("rc"))
        assert verified.certificate == signer().certificate


SOAP_READERS: dict[str, Callable[[bytes], object]] = {
    "trasmissione": soap.read_trasmissione, "ricezione": soap.read_ricevi_fatture,
    "ricevi-file-response": soap.read_ricevi_file_response, "esito-response": soap.read_notifica_esito_response,
}


@FAST
@given(st.sampled_from(sorted(SOAP_READERS)).flatmap(
    lambda n: st.tuples(st.just(n), mutations(seed(n), tuple(seed(k) for k in SOAP_READERS)))))
def test_soap_envelope_readers_refuse_or_read_a_schema_valid_body(case: tuple[str, bytes]) -> None:
    name, data = case
    result = refused_or(lambda: SOAP_READERS[name](data), (InvalidInput, soap.SoapFault))
    if isinstance(result, soap.FileSdI):
        op, again = soap.read_trasmissione(soap.build_trasmissione("RicevutaConsegna", result))
        assert again == result
    elif isinstance(result, soap.FileSdIConMetadati):
        assert soap.read_ricevi_fatture(soap.build_ricevi_fatture(result)) == result


# ---------------------------------------------------------------- acceptance tokens

GENUINE = make_token(SECRET, "IT02038490237-1", "n" * 32, NOW + timedelta(days=30))


@st.composite
def token_mutation(draw: st.DrawFn) -> str:
    chars = list(GENUINE)
    for _ in range(draw(st.integers(1, 3))):
        if not chars:
            break
        i = draw(st.integers(0, len(chars) - 1))
        op = draw(st.sampled_from(["replace", "delete", "insert", "truncate"]))
        c = draw(st.characters(codec="utf-8", exclude_categories=["Cs"]))
        if op == "replace":
            chars[i] = c
        elif op == "delete":
            del chars[i]
        elif op == "insert":
            chars.insert(i, c)
        else:
            del chars[i:]
    return "".join(chars)


@FAST
@given(st.one_of(token_mutation(), st.text(max_size=700),
                 st.builds(lambda a, b: f"{a}.{b}", st.text(max_size=200), st.text(max_size=60))))
def test_token_reader_accepts_only_the_genuine_claims(token: str) -> None:
    claims = refused_or(lambda: read_token(SECRET, token), (TokenInvalid,))
    if claims is not None:
        assert claims == read_token(SECRET, GENUINE)
        assert isinstance(claims, TokenClaims)


def test_a_token_is_refused_by_another_secret_and_after_expiry() -> None:
    with pytest.raises(TokenInvalid) as err:
        read_token("another-secret-entirely", GENUINE)
    assert err.value.reason == "forged"
    with pytest.raises(TokenInvalid) as err:
        read_token(SECRET, GENUINE, now=NOW + timedelta(days=31))
    assert err.value.reason == "expired" and err.value.claims is not None


# ---------------------------------------------------------------- archive index

@FAST
@given(mutations(seed("index"), (seed("mt"),)))
def test_index_parser_refuses_or_reads_a_valid_index(data: bytes) -> None:
    index = refused_or(lambda: parse_index(data))
    if index is not None:
        assert isinstance(index, PackageIndex) and index.files
        assert index.created_at.tzinfo is not None and index.retain_until.tzinfo is not None
        assert all(f.size >= 0 for f in index.files)
