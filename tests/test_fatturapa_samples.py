"""The official FatturaPA samples: accepted (with real tax ids), .p7m envelopes opened in every wrapping
real senders use, and rendered as HTML with the AdE stylesheets."""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path

import pytest

from domain.errors import InvalidInput
from domain.fatturapa import check_loaded_invoice, load_invoice, render_html, validate_invoice

STANDARDS = Path("/work/shared/standards/fatturapa/samples")
SENDER = "IT01234567897"  # the samples' IT01234567890 with a valid check digit


def official(name: str) -> bytes:
    """A sample with its tax ids made valid: the published ones fail their check digits."""
    data = (STANDARDS / "invoices" / name).read_bytes()
    return data.replace(b"01234567890", b"01234567897").replace(b"09876543210", b"09876543217")


ACCEPTED = ["IT01234567890_FPA01.xml", "IT01234567890_FPA02.xml", "IT01234567890_FPA03.xml",
            "IT01234567890_FPR01.xml"]


@pytest.mark.parametrize("name", ACCEPTED)
def test_official_sample_accepted(name: str) -> None:
    loaded = load_invoice(official(name), name)
    assert loaded.signature is None and loaded.signed is None
    assert loaded.schema_version == "1.2.3"
    summary = validate_invoice(loaded.xml, sender_vat=SENDER, today=date(2026, 1, 1))
    # what the entry points call: the content checks on the tree load_invoice parsed and schema-checked
    assert check_loaded_invoice(loaded, SENDER, today=date(2026, 1, 1)) == summary
    assert summary.sender_vat == SENDER
    assert summary.transmitter_id == SENDER
    assert summary.format == loaded.format == name[14:17] + "12"
    assert summary.documents and all(d.numero for d in summary.documents)


def test_official_samples_summary_fields() -> None:
    summary = validate_invoice(official("IT01234567890_FPA03.xml"), SENDER, today=date(2026, 1, 1))
    assert summary.progressivo_invio == "00001"
    assert summary.codice_destinatario == "AAAAAA"
    assert summary.sender_name == "ALPHA SRL"
    assert summary.recipient_fiscal_code == "09876543217"
    assert summary.recipient_name == "AMMINISTRAZIONE BETA"
    assert [(d.numero, d.data, str(d.imponibile), str(d.imposta)) for d in summary.documents] == [
        ("12", date(2017, 1, 18), "25.00", "5.50"),
        ("456", date(2017, 1, 20), "2000.00", "440.00"),
    ]


def test_published_fpr03_has_a_wrong_vat_summary() -> None:
    """The published FPR03 declares ImponibileImporto 27.00 over lines of 25.00: a real 00422. The copy
    that was actually signed and sent (samples/p7m) corrects it, and is accepted below."""
    with pytest.raises(InvalidInput) as err:
        validate_invoice(official("IT01234567890_FPR03.xml"), SENDER, today=date(2026, 1, 1))
    assert [(p.field, p.code) for p in err.value.problems] == [
        ("/p:FatturaElettronica/FatturaElettronicaBody[1]/DatiBeniServizi/DatiRiepilogo/ImponibileImporto", "00422")
    ]


P7M = STANDARDS / "p7m" / "IT01234567890_FPR03.xml.p7m"
PLAIN = (STANDARDS / "p7m" / "IT01234567890_FPR03.xml").read_bytes()


def _wrappings() -> dict[str, bytes]:
    der = P7M.read_bytes()
    once = base64.b64encode(der)
    return {
        "der": der,
        "base64": once,
        "base64-lines": base64.encodebytes(der),
        "base64-twice": base64.b64encode(base64.encodebytes(der)),
        "pem": b"-----BEGIN PKCS7-----\n" + base64.encodebytes(der) + b"-----END PKCS7-----\n",
    }


@pytest.mark.parametrize("wrapping", list(_wrappings()))
def test_p7m_sample_loaded_in_every_wrapping(wrapping: str) -> None:
    data = _wrappings()[wrapping]
    loaded = load_invoice(data, "IT01234567890_FPR03.xml.p7m")
    assert loaded.signature == "cades"
    assert loaded.signed == data
    assert loaded.xml == PLAIN  # byte for byte as signed
    summary = validate_invoice(loaded.xml, sender_vat="IT02780790107", today=date(2026, 1, 1))
    assert summary.recipient_fiscal_code == "03533590174"


def test_p7m_sample_signature_verified_on_request() -> None:
    loaded = load_invoice(P7M.read_bytes(), verify=True)
    assert loaded.verified is not None
    assert loaded.verified.content == PLAIN
    assert "CORATO SERGIO" in loaded.verified.signer_name


def test_large_p7m_sample_loaded() -> None:
    loaded = load_invoice((STANDARDS / "p7m" / "IT01234567890_12001.xml.p7m").read_bytes())
    assert loaded.signature == "cades" and loaded.format == "FPA12"
    assert loaded.xml.startswith(b"<?xml")


def test_corrupt_p7m_refused() -> None:
    der = P7M.read_bytes()
    with pytest.raises(InvalidInput) as err:
        load_invoice(der[: len(der) // 2])
    assert err.value.problems[0].code == "00106"
    with pytest.raises(InvalidInput) as err:
        load_invoice(b"not a signed file at all \x00\x01")
    assert err.value.problems[0].code == "00106"


@pytest.mark.parametrize("name", ACCEPTED)
def test_render_html_shows_number_and_parties(name: str) -> None:
    html = render_html(official(name))
    assert "<html" in html.lower()
    summary = validate_invoice(official(name), today=date(2026, 1, 1))
    for doc in summary.documents:
        assert doc.numero in html
    assert summary.sender_name in html
    assert summary.recipient_name in html
    assert "01234567897" in html


def test_render_html_uses_the_format_stylesheet() -> None:
    assert "FPA12" in render_html(official("IT01234567890_FPA01.xml"))
    assert "FPR12" in render_html(official("IT01234567890_FPR01.xml"))


def test_the_content_checks_on_a_loaded_invoice_still_refuse() -> None:
    loaded = load_invoice(official("IT01234567890_FPA01.xml"))
    with pytest.raises(InvalidInput) as err:
        check_loaded_invoice(loaded, sender_vat="IT02038490237", today=date(2026, 1, 1))
    assert any("CedentePrestatore" in p.field for p in err.value.problems)
    with pytest.raises(InvalidInput) as err:  # dated after the day of sending
        check_loaded_invoice(loaded, SENDER, today=date(2000, 1, 1))
    assert any("Data" in p.field for p in err.value.problems)
