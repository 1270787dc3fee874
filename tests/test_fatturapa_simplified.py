"""Simplified invoices (FatturaElettronicaSemplificata, FSM10; issue #17.2): the FSM10 schema, the SDI's controls
that apply to them with its codes (tests/corpus/fidelity/S*), signing, the summary the invoice row is made of,
and the AdE stylesheet."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from domain.errors import InvalidInput
from domain.fatturapa import check_loaded_invoice, load_invoice, render_html, validate_invoice
from domain.fatturapa.rendering import STYLESHEETS
from domain.fatturapa.schema import FSM10_VERSION
from domain.fatturapa.validation import WARNINGS
from domain.signatures import sign_cades, sign_xades
from domain.signatures.devcert import dev_signer

CORPUS = Path(__file__).parent / "corpus" / "fidelity"
SENDER = "IT01234567897"
TODAY = date(2026, 1, 1)
ROOT = "/p:FatturaElettronicaSemplificata"


def corpus(name: str) -> bytes:
    return (CORPUS / f"{name}.xml").read_bytes()


@pytest.mark.parametrize(
    ("name", "tipo", "total", "imposta", "warnings"),
    [
        # 122.00 at 22% incorporates 22.00, 104.00 with Imposta 4.00, 50.00 exempt (N4)
        ("S0001_td07_simplified", "TD07", "276.00", "26.00", []),
        ("S0002_td08_credit_note", "TD08", "610.00", "110.00", []),  # over 400: it corrects an invoice
        ("S0003_td09_debit_note", "TD09", "24.40", "4.40", []),  # the buyer by partita IVA
        ("S0006_vat_not_given", "TD07", "10.00", "0", ["hub:vat"]),  # the schema allows an empty DatiIVA
        ("S0007_flat_rate_over_limit", "TD07", "480.00", "0", []),  # RF19: no 400 euro limit since v1.9
    ],
)
def test_accepted(name: str, tipo: str, total: str, imposta: str, warnings: list[str]) -> None:
    summary = validate_invoice(corpus(name), SENDER, today=TODAY)
    assert summary.format == "FSM10" and summary.schema_version == FSM10_VERSION
    assert [w.code for w in summary.warnings] == warnings
    assert all(w.field.startswith(ROOT + "/") for w in summary.warnings)
    doc = summary.documents[0]
    assert (doc.tipo_documento, doc.importo_totale, doc.imposta) == (tipo, Decimal(total), Decimal(imposta))
    assert doc.imponibile == doc.importo_totale - doc.imposta
    assert summary.sender_vat == SENDER and summary.sender_name == "Bar Gamma"
    assert summary.recipient_name == "Mario Rossi" and summary.codice_destinatario == "0000000"
    assert (summary.recipient_vat or summary.recipient_fiscal_code) in ("IT09876543217", "RSSMRA80A01H501U")


@pytest.mark.parametrize(
    ("name", "refused"),
    [
        ("S0004_over_limit", [(f"{ROOT}/FatturaElettronicaBody/DatiBeniServizi", "00460")]),
        ("S0005_natura_with_vat", [(f"{ROOT}/FatturaElettronicaBody/DatiBeniServizi/Natura", "00401")]),
    ],
)
def test_refused_with_the_sdi_code(name: str, refused: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_invoice(corpus(name), SENDER, today=TODAY)
    assert [(p.field, p.code) for p in err.value.problems] == refused


def _edit(name: str, old: str, new: str) -> bytes:
    data = corpus(name)
    assert old.encode() in data
    return data.replace(old.encode(), new.encode(), 1)


def _codes(data: bytes, sender: str | None = SENDER) -> list[str | None]:
    with pytest.raises(InvalidInput) as err:
        validate_invoice(data, sender, today=TODAY)
    return [p.code for p in err.value.problems]


def test_header_and_document_controls() -> None:
    base = "S0001_td07_simplified"
    bad_buyer_cf = _edit(base, "RSSMRA80A01H501U", "RSSMRA80A01H501A")
    assert _codes(bad_buyer_cf) == ["00306"]
    no_buyer_id = _edit(base, "<CodiceFiscale>RSSMRA80A01H501U</CodiceFiscale>", "")
    assert _codes(no_buyer_id) == ["00417"]
    bad_seller = _edit(base, "<IdCodice>01234567897</IdCodice></IdFiscaleIVA>\n      <Denominazione>",
                       "<IdCodice>01234567898</IdCodice></IdFiscaleIVA>\n      <Denominazione>")
    assert _codes(bad_seller, None) == ["00301"]
    assert _codes(bad_seller) == ["00301", None]  # and not the sending customer
    assert _codes(_edit(base, "<Numero>S1/2025</Numero>", "<Numero>S/A</Numero>")) == ["00425"]
    assert _codes(_edit(base, "<Data>2025-11-20</Data>", "<Data>2026-02-01</Data>")) == ["00403"]
    exempt_without_natura = _edit(base, "\n      <Natura>N4</Natura>", "")
    assert _codes(exempt_without_natura) == ["00400"]
    foreign = _edit("S0003_td09_debit_note", "<IdPaese>IT</IdPaese><IdCodice>09876543217</IdCodice>",
                    "<IdPaese>FR</IdPaese><IdCodice>12345678901</IdCodice>")
    foreign = foreign.replace(b"<IdFiscaleIVA><IdPaese>IT</IdPaese><IdCodice>01234567897</IdCodice></IdFiscaleIVA>\n"
                              b"      <Denominazione>",
                              b"<IdFiscaleIVA><IdPaese>DE</IdPaese><IdCodice>123456789</IdCodice></IdFiscaleIVA>\n"
                              b"      <Denominazione>", 1)
    assert _codes(foreign, None) == ["00476"]
    same_party = _edit("S0003_td09_debit_note", "<IdCodice>09876543217</IdCodice>", "<IdCodice>01234567897</IdCodice>")
    assert validate_invoice(same_party, SENDER, today=TODAY).documents[0].tipo_documento == "TD09"  # allowed
    assert _codes(same_party.replace(b"<TipoDocumento>TD09<", b"<TipoDocumento>TD07<")) == ["00471"]


def test_schema_is_the_fsm10_one() -> None:
    td01 = _edit("S0001_td07_simplified", "<TipoDocumento>TD07</TipoDocumento>", "<TipoDocumento>TD01</TipoDocumento>")
    with pytest.raises(InvalidInput) as err:
        validate_invoice(td01, SENDER, today=TODAY)
    assert {p.code for p in err.value.problems} == {"00200"}
    assert "FSM10 1.0" in err.value.problems[0].message and "TipoDocumento" in err.value.problems[0].field
    fpr12 = _edit("S0001_td07_simplified", 'versione="FSM10"', 'versione="FPR12"')
    assert set(_codes(fpr12)) == {"00200"}  # the FSM10 schema knows no other versione
    # an ordinary body under the simplified root is refused by its schema, never read as an ordinary invoice
    ordinary = corpus("F0002_stamp_duty").replace(b"fatture/v1.2", b"fatture/v1.0").replace(
        b"FatturaElettronica ", b"FatturaElettronicaSemplificata ", 1).replace(
        b"</p:FatturaElettronica>", b"</p:FatturaElettronicaSemplificata>")
    assert set(_codes(ordinary)) == {"00200"}


def test_strict_customer_may_refuse_an_empty_vat() -> None:
    assert "hub:vat" in WARNINGS
    with pytest.raises(InvalidInput) as err:
        validate_invoice(corpus("S0006_vat_not_given"), SENDER, today=TODAY, strict=frozenset({"hub:vat"}))
    assert [p.code for p in err.value.problems] == ["hub:vat"]


def test_received_simplified_invoice_problems_are_warnings() -> None:
    loaded = load_invoice(corpus("S0004_over_limit"), "IT01234567897_S0004.xml")
    assert loaded.format == "FSM10" and loaded.schema_version == FSM10_VERSION
    summary = check_loaded_invoice(loaded, today=TODAY, received=True)
    assert [w.code for w in summary.warnings] == ["00460"]
    assert summary.documents[0].importo_totale == Decimal("422.00")


@pytest.mark.parametrize("kind", ["cades", "xades"])
def test_signed_simplified_invoice_loads_and_verifies(kind: str) -> None:
    signer = dev_signer("Bar Gamma")
    xml = corpus("S0001_td07_simplified")
    signed = sign_cades(xml, signer) if kind == "cades" else sign_xades(xml, signer)
    loaded = load_invoice(signed, "IT01234567897_S0001.xml" + (".p7m" if kind == "cades" else ""), verify=True)
    assert loaded.signature == kind and loaded.format == "FSM10" and loaded.verified is not None
    if kind == "cades":
        assert loaded.xml == xml
    assert check_loaded_invoice(loaded, SENDER, today=TODAY).documents[0].numero == "S1/2025"


def test_rendered_with_the_simplified_stylesheet() -> None:
    html = render_html(corpus("S0001_td07_simplified"))
    assert STYLESHEETS["FSM10"] == "fatturasemplificata_v1.0.xsl"
    for shown in ("S1/2025", "TD07", "fattura semplificata", "Bar Gamma", "Mario", "Rossi", "RSSMRA80A01H501U",
                  "122.00", "22.00", "N4", "esenti"):
        assert shown in html, shown
    assert "FSM10" in html  # "Versione FSM10", which only the simplified stylesheet prints
    assert "S1/2025" not in render_html(corpus("F0002_stamp_duty"))
