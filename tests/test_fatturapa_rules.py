"""Each SDI content check refuses its error with the element's XPath and the SDI code; unsafe or
malformed files are refused before anything is parsed into the invoice; SDI file names."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from domain.errors import InvalidInput
from domain.fatturapa import (
    MAX_FILE_SIZE,
    document_keys,
    load_invoice,
    next_progressive,
    parse_sdi_file_name,
    sdi_file_name,
    validate_invoice,
)

SAMPLES = Path("/work/shared/standards/fatturapa/samples/invoices")
SENDER = "IT01234567897"
TODAY = date(2026, 1, 1)
ROOT = "/p:FatturaElettronica"
HEADER = f"{ROOT}/FatturaElettronicaHeader"
BODY = f"{ROOT}/FatturaElettronicaBody"


def sample(name: str = "IT01234567890_FPA01.xml") -> bytes:
    data = (SAMPLES / name).read_bytes()
    return data.replace(b"01234567890", b"01234567897").replace(b"09876543210", b"09876543217")


def edited(edit: Callable[[etree._Element], None], name: str = "IT01234567890_FPA01.xml") -> bytes:
    root = etree.fromstring(sample(name))
    edit(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def problems(xml: bytes, sender_vat: str | None = SENDER) -> list[tuple[str, str | None]]:
    with pytest.raises(InvalidInput) as err:
        validate_invoice(xml, sender_vat=sender_vat, today=TODAY)
    return [(p.field, p.code) for p in err.value.problems]


def setx(path: str, value: str) -> Callable[[etree._Element], None]:
    def edit(root: etree._Element) -> None:
        root.find(path).text = value

    return edit


def add(parent_path: str, tag: str, value: str, after: str | None = None) -> Callable[[etree._Element], None]:
    def edit(root: etree._Element) -> None:
        parent = root.find(parent_path)
        el = etree.Element(tag)
        el.text = value
        if after is not None:
            parent.find(after).addnext(el)
        else:
            parent.append(el)

    return edit


def remove(path: str) -> Callable[[etree._Element], None]:
    def edit(root: etree._Element) -> None:
        el = root.find(path)
        el.getparent().remove(el)

    return edit


def both(*edits: Callable[[etree._Element], None]) -> Callable[[etree._Element], None]:
    def edit(root: etree._Element) -> None:
        for e in edits:
            e(root)

    return edit


LINE = "FatturaElettronicaBody/DatiBeniServizi/DettaglioLinee"
SUMMARY = "FatturaElettronicaBody/DatiBeniServizi/DatiRiepilogo"
DGD = "FatturaElettronicaBody/DatiGenerali/DatiGeneraliDocumento"
DT = "FatturaElettronicaHeader/DatiTrasmissione"


def test_valid_sample_passes() -> None:
    summary = validate_invoice(sample(), SENDER, today=TODAY)
    assert document_keys(summary) == [(SENDER, "TD01", "123", 2017)]


def test_sender_must_be_the_customer() -> None:
    assert problems(sample(), sender_vat="IT00743110157") == [
        (f"{HEADER}/CedentePrestatore/DatiAnagrafici/IdFiscaleIVA", None)
    ]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        # Imposta is not ImponibileImporto × AliquotaIVA (beyond the rounding cent).
        (setx(f"{SUMMARY}/Imposta", "1.12"), [(f"{BODY}/DatiBeniServizi/DatiRiepilogo/Imposta", "00421")]),
        # ImponibileImporto is not the sum of the lines, beyond the SDI's 1 euro (Imposta consistent with it).
        (
            both(setx(f"{SUMMARY}/ImponibileImporto", "6.02"), setx(f"{SUMMARY}/Imposta", "1.32")),
            [(f"{BODY}/DatiBeniServizi/DatiRiepilogo/ImponibileImporto", "00422")],
        ),
        # PrezzoTotale is not PrezzoUnitario × Quantita (the summary follows the wrong line total).
        (
            both(setx(f"{LINE}/PrezzoTotale", "6.00"), setx(f"{SUMMARY}/ImponibileImporto", "6.00"),
                 setx(f"{SUMMARY}/Imposta", "1.32")),
            [(f"{BODY}/DatiBeniServizi/DettaglioLinee/PrezzoTotale", "00423")],
        ),
        # Zero rate without Natura, on the line and in the summary.
        (
            both(setx(f"{LINE}/AliquotaIVA", "0.00"), setx(f"{SUMMARY}/AliquotaIVA", "0.00"),
                 setx(f"{SUMMARY}/Imposta", "0.00")),
            [(f"{BODY}/DatiBeniServizi/DettaglioLinee/Natura", "00400"),
             (f"{BODY}/DatiBeniServizi/DatiRiepilogo/Natura", "00429")],
        ),
        # Natura given with a non-zero rate.
        (
            both(add(LINE, "Natura", "N4", after="AliquotaIVA"), add(SUMMARY, "Natura", "N4", after="AliquotaIVA")),
            [(f"{BODY}/DatiBeniServizi/DettaglioLinee/Natura", "00401"),
             (f"{BODY}/DatiBeniServizi/DatiRiepilogo/Natura", "00430")],
        ),
        # A line rate with no VAT summary.
        (
            both(setx(f"{LINE}/AliquotaIVA", "10.00")),
            [(f"{BODY}/DatiBeniServizi/DatiRiepilogo/ImponibileImporto", "00422"),
             (f"{BODY}/DatiBeniServizi/DatiRiepilogo", "00419")],
        ),
        # Rate written as a fraction.
        (
            both(setx(f"{LINE}/AliquotaIVA", "0.22"), setx(f"{SUMMARY}/AliquotaIVA", "0.22"),
                 setx(f"{SUMMARY}/Imposta", "0.01")),
            [(f"{BODY}/DatiBeniServizi/DettaglioLinee/AliquotaIVA", "00424"),
             (f"{BODY}/DatiBeniServizi/DatiRiepilogo/AliquotaIVA", "00424")],
        ),
        # Invoice dated after the day of sending.
        (
            both(setx(f"{DGD}/Data", "2026-01-02"),
                 setx("FatturaElettronicaBody/DatiPagamento/DettaglioPagamento/DataScadenzaPagamento", "2026-02-01")),
            [(f"{BODY}/DatiGenerali/DatiGeneraliDocumento/Data", "00403")],
        ),
        # Invoice number without digits.
        (setx(f"{DGD}/Numero", "ABC"), [(f"{BODY}/DatiGenerali/DatiGeneraliDocumento/Numero", "00425")]),
        # FPA12 with a 7-character recipient code.
        (setx(f"{DT}/CodiceDestinatario", "ABCDEFG"), [(f"{HEADER}/DatiTrasmissione/CodiceDestinatario", "00427")]),
        # PEC with a recipient code other than 0000000.
        (
            add(DT, "PECDestinatario", "pa@pec.example.it"),
            [(f"{HEADER}/DatiTrasmissione/PECDestinatario", "00426")],
        ),
        # Buyer codice fiscale with a wrong check digit.
        (
            setx("FatturaElettronicaHeader/CessionarioCommittente/DatiAnagrafici/CodiceFiscale", "09876543210"),
            [(f"{HEADER}/CessionarioCommittente/DatiAnagrafici/CodiceFiscale", "00306")],
        ),
        # Transmitter's IdCodice that is neither a partita IVA nor a codice fiscale.
        (
            setx(f"{DT}/IdTrasmittente/IdCodice", "01234567890"),
            [(f"{HEADER}/DatiTrasmissione/IdTrasmittente/IdCodice", "00300")],
        ),
        # Whitespace-only ProgressivoInvio.
        (setx(f"{DT}/ProgressivoInvio", " "), [(f"{HEADER}/DatiTrasmissione/ProgressivoInvio", "00200")]),
    ],
    ids=["00421", "00422", "00423", "00400-00429", "00401-00430", "00419", "00424", "00403",
         "00425", "00427", "00426", "00306", "00300", "progressivo"],
)
def test_semantic_error_refused_with_xpath_and_code(edit: Callable[[etree._Element], None],
                                                    expected: list[tuple[str, str | None]]) -> None:
    assert problems(edited(edit)) == expected


def test_rounding_cent_is_tolerated() -> None:
    xml = edited(setx(f"{SUMMARY}/Imposta", "1.11"))
    assert validate_invoice(xml, SENDER, today=TODAY).documents[0].imposta == Decimal("1.11")


def test_buyer_vat_check_digit() -> None:
    def buyer_vat(root: etree._Element) -> None:
        da = root.find("FatturaElettronicaHeader/CessionarioCommittente/DatiAnagrafici")
        vat = etree.SubElement(da, "IdFiscaleIVA")
        etree.SubElement(vat, "IdPaese").text = "IT"
        etree.SubElement(vat, "IdCodice").text = "00743110158"
        da.insert(0, vat)

    assert problems(edited(buyer_vat)) == [
        (f"{HEADER}/CessionarioCommittente/DatiAnagrafici/IdFiscaleIVA/IdCodice", "00305")
    ]


def test_fpr12_pec_allowed_only_with_0000000() -> None:
    name = "IT01234567890_FPR01.xml"
    ok = edited(both(setx(f"{DT}/CodiceDestinatario", "0000000"), add(DT, "PECDestinatario", "b@pec.example.it")),
                name)
    assert validate_invoice(ok, SENDER, today=TODAY).pec_destinatario == "b@pec.example.it"
    six = edited(setx(f"{DT}/CodiceDestinatario", "ABCDEF"), name)
    assert problems(six) == [(f"{HEADER}/DatiTrasmissione/CodiceDestinatario", "00427")]


def test_every_problem_listed_at_once() -> None:
    xml = edited(both(setx(f"{SUMMARY}/Imposta", "9.99"), setx(f"{DGD}/Numero", "X"),
                      setx(f"{DGD}/Data", "2030-01-01")))
    codes = sorted(code or "" for _, code in problems(xml, sender_vat="IT00743110157"))
    # wrong sender, future date, wrong VAT, number without digits (the payment due before the future date is a
    # warning, test_fatturapa_fidelity)
    assert codes == ["", "00403", "00421", "00425"]


def test_duplicate_document_in_one_file() -> None:
    def duplicate(root: etree._Element) -> None:
        body = root.find("FatturaElettronicaBody")
        body.addnext(etree.fromstring(etree.tostring(body)))

    assert problems(edited(duplicate)) == [(f"{BODY}[2]/DatiGenerali/DatiGeneraliDocumento/Numero", "00409")]


def test_schema_error_refused_with_00200() -> None:
    xml = edited(remove(f"{DGD}/Divisa"))
    found = problems(xml)
    assert found and all(code == "00200" for _, code in found)
    assert "DatiGeneraliDocumento" in found[0][0]


# ---------------------------------------------------------------------------------------------- unsafe input


def test_xxe_refused_without_reading_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    payload = sample().replace(
        b"<p:FatturaElettronica",
        f'<!DOCTYPE p:FatturaElettronica [<!ENTITY xxe SYSTEM "file://{secret}">]>\n<p:FatturaElettronica'.encode(),
        1,
    ).replace(b"<Numero>123</Numero>", b"<Numero>&xxe;</Numero>")
    for call in (lambda: load_invoice(payload), lambda: validate_invoice(payload, SENDER, today=TODAY)):
        with pytest.raises(InvalidInput) as err:
            call()
        assert "DOCTYPE" in str(err.value)
        assert "TOP-SECRET-MARKER" not in str(err.value)


def test_external_dtd_and_entities_never_touch_the_network() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(5)
        server.setblocking(False)
        port = server.getsockname()[1]
        payload = sample().replace(
            b"<p:FatturaElettronica",
            (f'<!DOCTYPE p:FatturaElettronica SYSTEM "http://127.0.0.1:{port}/x.dtd" '
             f'[<!ENTITY net SYSTEM "http://127.0.0.1:{port}/e">]>\n<p:FatturaElettronica').encode(),
            1,
        ).replace(b"<Numero>123</Numero>", b"<Numero>&net;</Numero>")
        with pytest.raises(InvalidInput):
            load_invoice(payload)
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected


def test_billion_laughs_refused() -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    payload = sample().replace(
        b"<p:FatturaElettronica", f"<!DOCTYPE p:FatturaElettronica [{entities}]>\n<p:FatturaElettronica".encode(), 1
    ).replace(b"<Numero>123</Numero>", b"<Numero>&lol9;</Numero>")
    with pytest.raises(InvalidInput) as err:
        load_invoice(payload)
    assert err.value.problems[0].code == "00200"
    assert len(str(err.value)) < 1000


def test_oversize_refused_with_00003() -> None:
    with pytest.raises(InvalidInput) as err:
        load_invoice(b" " * (MAX_FILE_SIZE + 1))
    assert err.value.problems[0].code == "00003"


@pytest.mark.parametrize(
    "data",
    [b"", b"<p:Fattura", "<?xml version='1.0' encoding='ISO-8859-1'?><a>è</a>".encode("latin-1"), b"<a>\xff\xfe</a>",
     b"<?xml version='1.0'?><other/>"],
    ids=["empty", "truncated", "latin1", "garbage", "wrong-root"],
)
def test_malformed_input_refused(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        load_invoice(data)


# ---------------------------------------------------------------------------------------------- file names


def test_sdi_file_names() -> None:
    assert sdi_file_name("IT01234567897", "0000A", None) == "IT01234567897_0000A.xml"
    assert sdi_file_name("IT01234567897", "0000a", "cades") == "IT01234567897_0000A.xml.p7m"
    assert sdi_file_name("ITRSSMRA85T10A562S", "00001", "xades") == "ITRSSMRA85T10A562S_00001.xml"
    name = parse_sdi_file_name("IT01234567897_0000A.xml.p7m")
    assert (name.country, name.id, name.progressive, name.ext) == ("IT", "01234567897", "0000A", ".xml.p7m")
    assert str(name) == "IT01234567897_0000A.xml.p7m"


@pytest.mark.parametrize(
    "bad",
    ["01234567897_00001.xml", "IT01234567897-00001.xml", "IT01234567897_0001.xml", "IT01234567897_00001.pdf",
     "IT01234567897_00001_RC_001.xml", "../IT01234567897_00001.xml", ""],
)
def test_bad_file_names_refused_with_00001(bad: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_sdi_file_name(bad)
    assert err.value.problems[0].code == "00001"


def test_next_progressive_counts_in_base_36() -> None:
    assert next_progressive(None) == "00001"
    assert next_progressive("00009") == "0000A"
    assert next_progressive("0000Z") == "00010"
    assert next_progressive("0ZZZZ") == "10000"
    seen = {"00001"}
    current = "00001"
    for _ in range(2000):
        current = next_progressive(current)
        assert current not in seen and len(current) == 5
        seen.add(current)
    with pytest.raises(InvalidInput):
        next_progressive("ZZZZZ")
    with pytest.raises(InvalidInput):
        next_progressive("00/01")
