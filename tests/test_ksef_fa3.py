"""FA(3) validation (domain/ksef/fa3.py): the vendored schema compiled offline, and every refusal naming the
element at fault and what is wrong (#14.3). Samples in tests/corpus/fa3/ (README there)."""

from __future__ import annotations

import hashlib
import socket
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from domain.errors import InvalidInput
from domain.ksef import fa3

CORPUS = Path(__file__).resolve().parent / "corpus" / "fa3"
SELLER = "PL5265877635"
TODAY = date(2026, 12, 7)
VALID = (CORPUS / "valid-vat-two-rates.xml").read_bytes()
SHARED = Path("/work/shared/standards/ksef/faktury/schemy/FA")
# spec/PROVENANCE.md: the vendored FA(3) files, byte for byte.
VENDORED_SHA256 = {
    "schemat_FA(3)_v1-0E.xsd": "b646b6b525f51adf1bb2545f111fc8ca6e7aa6dd2f98948f1667d3695c06d958",
    "bazowe/ElementarneTypyDanych_v10-0E.xsd": "8daf4d3771de200b26b697294cc906a2add3de9acfbbd97f4b1bd4fc0e5ecb2f",
    "bazowe/KodyKrajow_v10-0E.xsd": "48be2a9f181d7ff80f185c62491ba12604c5cacbbe21af8e2aaaf2c585bbd214",
    "bazowe/StrukturyDanych_v10-0E.xsd": "cb08348374598e1e716e086c40d740390fb9e1bfa3aba1f4ec4cba0e1ef6d60f",
}


def problems(xml: bytes, **kw: Any) -> list[tuple[str, str, str | None]]:
    with pytest.raises(InvalidInput) as err:
        fa3.validate_fa3(xml, **{"sender_nip": SELLER, "today": TODAY, **kw})
    return [(p.field, p.message, p.code) for p in err.value.problems]


def test_the_vendored_files_are_the_ones_provenance_names() -> None:
    for name, digest in VENDORED_SHA256.items():
        assert hashlib.sha256((fa3.spec_dir() / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("name", ["valid-vat-two-rates.xml", "valid-eu-buyer-wdt.xml"])
def test_valid_samples_pass_and_are_summarised(name: str) -> None:
    summary = fa3.validate_fa3((CORPUS / name).read_bytes(), sender_nip=SELLER, today=TODAY)
    assert summary.seller_nip == "5265877635" and summary.issue_date == TODAY and summary.invoice_type == "VAT"
    if name == "valid-vat-two-rates.xml":
        assert (summary.number, summary.buyer_nip, summary.currency) == ("FV/2026/12/001", "1234563218", "PLN")
        assert (summary.net, summary.vat, summary.gross, summary.lines) == (
            Decimal("1700.00"), Decimal("361.00"), Decimal("2061.00"), 2)
    else:
        assert summary.buyer_nip is None and summary.currency == "EUR" and summary.gross == Decimal("980.50")


# file → (the element named, a fragment of what is said, KSeF's code or None for the hub's own rule)
REFUSALS = {
    "invalid-seller-nip-check-digit.xml": ("/Faktura/Podmiot1/DaneIdentyfikacyjne/NIP",
                                           "NIP 5265877636 has a wrong check digit", "450"),
    "invalid-buyer-nip-check-digit.xml": ("/Faktura/Podmiot2/DaneIdentyfikacyjne/NIP",
                                          "NIP 1234563219 has a wrong check digit", "450"),
    "invalid-issue-date-in-the-future.xml": ("/Faktura/Fa/P_1", "2049-12-07 is later than today", "450"),
    "invalid-line-net-value.xml": ("/Faktura/Fa/FaWiersz[1]/P_11",
                                   "net value is 1450.00, but P_8B 10 × P_9A 150.00 = 1500.00", None),
    "invalid-rate-sum.xml": ("/Faktura/Fa/P_13_2", "is 250.00, but the net values (P_11) of the lines of rate 8 "
                                                   "add up to 200.00", None),
    "invalid-vat-amount.xml": ("/Faktura/Fa/P_14_1", "is 300.00, but the VAT of P_13_1 1500.00 is 345.00 (23%)",
                               None),
    "invalid-total-p15.xml": ("/Faktura/Fa/P_15", "is 2161.00, but the net sums P_13_x and the VAT P_14_x add up "
                                                  "to 2061.00", None),
    "invalid-schema-missing-p2.xml": ("/Faktura/Fa/P_6", "Expected is ( P_2 )", "430"),
    "invalid-schema-unknown-rate.xml": ("/Faktura/Fa/FaWiersz[2]/P_12", "The value '9' is not an element", "430"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_each_invalid_sample_is_refused_naming_the_element(name: str) -> None:
    where, what, code = REFUSALS[name]
    found = problems((CORPUS / name).read_bytes())
    assert any(f == where and what in m and c == code for f, m, c in found), found


def test_every_corpus_file_is_in_a_table() -> None:
    names = {p.name for p in CORPUS.glob("*.xml")}
    assert names == set(REFUSALS) | {"valid-vat-two-rates.xml", "valid-eu-buyer-wdt.xml"}


def test_the_seller_must_be_the_customer_sending() -> None:
    found = problems(VALID, sender_nip="PL1234563218")
    assert found == [("/Faktura/Podmiot1/DaneIdentyfikacyjne/NIP",
                      "the seller is NIP 5265877635, not the customer sending (NIP 1234563218)", None)]


def test_every_problem_is_collected_at_once() -> None:
    bad = (VALID.replace(b"<NIP>1234563218", b"<NIP>1234563219").replace(b"<P_14_1>345.00", b"<P_14_1>300.00")
           .replace(b"<P_15>2061.00", b"<P_15>1.00"))
    assert [f for f, _, _ in problems(bad)] == ["/Faktura/Podmiot2/DaneIdentyfikacyjne/NIP", "/Faktura/Fa/P_14_1",
                                                "/Faktura/Fa/P_15"]


@pytest.mark.parametrize(("mutate", "where", "what", "code"), [
    (lambda x: b"\xef\xbb\xbf" + x, "/", "byte-order mark", "430"),
    (lambda x: x.replace(b"<Faktura ", b"<?php evil?>\n<Faktura ", 1), "/Faktura", "processing instruction",
     "430"),
    (lambda x: x.replace("Usługa".encode(), "Us\u0086ługa".encode()), "line 64", "U+0086", "430"),
    (lambda x: x.replace(b"<Faktura xmlns=\"http://crd.gov.pl/wzor/2025/06/25/13775/\"", b"<Faktura xmlns=\"urn:x\""),
     "/Faktura", "not Faktura of FA(3)", "430"),
    (lambda x: x.replace(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>", b"<!DOCTYPE x [<!ENTITY e \"e\">]>"), "/",
     "DOCTYPE", "430"),
    (lambda x: x.replace(b"</Faktura>", b"<!--" + b"x" * fa3.MAX_BYTES + b"--></Faktura>"), "/",
     "exceeds the limit of 1000000 bytes", "430"),
])
def test_document_rules_of_ksef(mutate: Any, where: str, what: str, code: str) -> None:
    found = problems(mutate(VALID))
    assert any(f == where and what in m and c == code for f, m, c in found), found


def test_a_discouraged_character_in_an_ascii_file_is_found_too() -> None:
    """The scan is skipped for ASCII files without DEL (U+007F, the one discouraged ASCII character): a DEL in
    an otherwise ASCII invoice is still refused, and the same file without it passes."""
    ascii_only = VALID.decode("utf-8").encode("ascii", "replace")
    assert ascii_only.isascii()
    fa3.validate_fa3(ascii_only, sender_nip=SELLER, today=TODAY)
    found = problems(ascii_only.replace(b"<P_2>", b"<P_2>\x7f", 1))
    assert any(f.startswith("line ") and "U+007F" in m and c == "430" for f, m, c in found), found


def test_the_byte_search_finds_exactly_the_discouraged_characters() -> None:
    """The UTF-8 byte pattern the check runs is the character class of the recommendation, code point for code
    point: the whole BMP and, in every astral plane, its last 256 code points and a few from its start."""
    points = list(range(0xD800)) + list(range(0xE000, 0x10000))
    for plane in range(1, 17):
        points += list(range(plane * 0x10000, plane * 0x10000 + 4)) + list(range(plane * 0x10000 + 0xFF00,
                                                                                 plane * 0x10000 + 0x10000))
    wrong = [hex(p) for p in points
             if bool(fa3._DISCOURAGED.match(chr(p))) != bool(fa3._DISCOURAGED_UTF8.fullmatch(chr(p).encode()))]
    assert wrong == []
    assert sum(1 for p in points if fa3._DISCOURAGED.match(chr(p))) == 1 + 5 + 26 + 32 + 2 * 16
    # and the markers that decide whether the pattern runs at all are in every one of them
    missed = [hex(p) for p in points if fa3._DISCOURAGED.match(chr(p))
              and not any(m in chr(p).encode() for m in fa3._DISCOURAGED_MARKERS)]
    assert missed == []


def test_an_attachment_is_refused_for_an_interactive_session() -> None:
    attached = VALID.replace(b"</Faktura>", b"<Zalacznik><BlokDanych/></Zalacznik></Faktura>")
    found = problems(attached)
    assert ("/Faktura/Zalacznik", "an invoice with an attachment (Zalacznik) can only be sent in a batch session, "
                                  "not an interactive one", "415") in found


def test_a_received_invoice_is_never_refused_for_its_content() -> None:
    summary = fa3.check_received_fa3((CORPUS / "invalid-total-p15.xml").read_bytes())
    assert summary.number == "FV/2026/12/001"
    assert [(w.field, w.code) for w in summary.warnings] == [("/Faktura/Fa/P_15", None)]
    assert fa3.check_received_fa3(VALID).warnings == ()
    with pytest.raises(InvalidInput, match="not well-formed"):
        fa3.check_received_fa3(VALID[:300])


def test_the_schema_compiles_and_validates_with_the_network_off(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the FA(3) schema tried to reach the network")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    fresh = fa3.compile_schema(fa3.spec_dir() / fa3.SCHEMA_FILE)  # not the cached one: compiled now, offline
    from domain.xmlsafe import parse_untrusted
    assert fresh.validate(parse_untrusted(VALID, "invoice", fa3.MAX_BYTES))
    assert fa3.validate_fa3(VALID, sender_nip=SELLER, today=TODAY).number == "FV/2026/12/001"


@pytest.mark.parametrize("location", [
    "http://crd.gov.pl/xml/schematy/dziedzinowe/mf/2022/01/05/eD/DefinicjeTypy/Nieznany_v10-0E.xsd",
    "https://example.invalid/base.xsd",
    "/etc/passwd",
])
def test_an_unknown_import_is_refused_never_fetched(tmp_path: Path, location: str) -> None:
    inside = fa3.spec_dir() / "bazowe" / "StrukturyDanych_v10-0E.xsd"
    schema = tmp_path / "other.xsd"
    schema.write_text(f"""<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t">
  <xsd:import namespace="urn:other" schemaLocation="{location}"/>
  <xsd:import namespace="urn:fine" schemaLocation="{inside}"/>
</xsd:schema>""")
    with pytest.raises(etree.XMLSchemaParseError) as err:
        fa3.compile_schema(schema)
    assert location in str(err.value)


def test_the_bases_absolute_url_is_served_from_the_vendored_copy(tmp_path: Path) -> None:
    schema = tmp_path / "uses-bases.xsd"
    schema.write_text(f"""<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:etd="{fa3._BASES_URL}" targetNamespace="urn:t" xmlns:t="urn:t">
  <xsd:import namespace="{fa3._BASES_URL}" schemaLocation="{fa3._BASES_URL}StrukturyDanych_v10-0E.xsd"/>
  <xsd:element name="nip" type="etd:TNrNIP"/>
</xsd:schema>""")
    compiled = fa3.compile_schema(schema)
    assert compiled.validate(etree.fromstring(b'<nip xmlns="urn:t">5265877635</nip>'))
    assert not compiled.validate(etree.fromstring(b'<nip xmlns="urn:t">0265877635</nip>'))


def test_the_shared_standards_copy_is_unchanged_if_present() -> None:
    if not SHARED.exists():
        pytest.skip("the shared standards are not on this machine")
    for name in VENDORED_SHA256:
        assert (SHARED / name).read_bytes() == (fa3.spec_dir() / name).read_bytes(), name
