"""Refuse what the SDI refuses, and nothing more (#17): a corpus written for the issue (tests/corpus/fidelity),
each file either accepted with the hub's warnings or refused with the SDI's code; a customer's strict setting
turns a chosen warning into an error."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from domain.errors import InvalidInput
from domain.fatturapa import check_loaded_invoice, load_invoice, validate_invoice
from domain.fatturapa.validation import WARNINGS, check_strict

CORPUS = Path(__file__).parent / "corpus" / "fidelity"
SENDER = "IT01234567897"
TODAY = date(2026, 1, 1)


def corpus(name: str) -> bytes:
    return (CORPUS / f"{name}.xml").read_bytes()


@pytest.mark.parametrize(
    ("name", "warnings"),
    [
        ("F0001_withholding", ["hub:total"]),  # the total is net of the 20% withholding
        ("F0002_stamp_duty", []),  # the total carries the 2 euro stamp
        ("F0003_split_payment", ["hub:total"]),  # the PA pays the taxable amount, the VAT goes to the State
        ("F0004_discounts", []),  # a document discount and a line discount add up
        ("F0005_rounding_within", ["hub:rounding"]),  # 0.40 off: inside the SDI's 1 euro
        ("F0007_due_before_date", ["hub:due-date"]),
    ],
)
def test_accepted_with_warnings(name: str, warnings: list[str]) -> None:
    summary = validate_invoice(corpus(name), SENDER, today=TODAY)
    assert [w.code for w in summary.warnings] == warnings
    assert all(w.field.startswith("/p:FatturaElettronica/") and w.message for w in summary.warnings)


def test_rounding_beyond_the_sdi_tolerance_refused_with_00422() -> None:
    with pytest.raises(InvalidInput) as err:
        validate_invoice(corpus("F0006_rounding_beyond"), SENDER, today=TODAY)
    assert [(p.field, p.code) for p in err.value.problems] == [
        ("/p:FatturaElettronica/FatturaElettronicaBody/DatiBeniServizi/DatiRiepilogo/ImponibileImporto", "00422")]


@pytest.mark.parametrize(
    ("name", "code"),
    [("F0001_withholding", "hub:total"), ("F0005_rounding_within", "hub:rounding"),
     ("F0007_due_before_date", "hub:due-date")],
)
def test_a_strict_customer_refuses_the_chosen_warning(name: str, code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_invoice(corpus(name), SENDER, today=TODAY, strict=frozenset({code}))
    assert [p.code for p in err.value.problems] == [code]
    others = frozenset(WARNINGS) - {code}  # the other warnings chosen: this one stays a warning
    assert [w.code for w in validate_invoice(corpus(name), SENDER, today=TODAY, strict=others).warnings] == [code]


def test_strict_setting_is_checked() -> None:
    assert check_strict("") == frozenset()
    assert check_strict(None) == frozenset()
    assert check_strict("hub:total, hub:rounding") == {"hub:total", "hub:rounding"}
    with pytest.raises(InvalidInput, match="unknown warning"):
        check_strict("hub:total,00422")


# ---------------------------------------------------------------------------------------------- namespaces


@pytest.mark.parametrize("name", ["Q0001_namespace_space_inside", "Q0002_namespace_trailing_space",
                                  "Q0003_namespace_stray_quote", "Q0004_namespace_quote_entity"])
def test_namespace_quirk_read_as_the_sdi_does(name: str) -> None:
    from lxml import etree

    data = corpus(name)
    with pytest.raises(etree.XMLSyntaxError):  # lxml's strict parse refuses each of them
        etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    summary = validate_invoice(data, SENDER, today=TODAY)
    assert [w.code for w in summary.warnings] == ["hub:namespace"]
    assert "v1.2" in summary.warnings[0].message
    loaded = load_invoice(data, f"IT01234567897_{name[:5]}.xml")
    assert loaded.xml == data and len(loaded.repairs) == 1  # kept as received
    assert check_loaded_invoice(loaded, SENDER, today=TODAY).documents[0].numero == name[:5]
    with pytest.raises(InvalidInput) as err:  # a customer may refuse them
        validate_invoice(data, SENDER, today=TODAY, strict=frozenset({"hub:namespace"}))
    assert [p.code for p in err.value.problems] == ["hub:namespace"]


def test_unknown_namespace_is_not_repaired() -> None:
    with pytest.raises(InvalidInput) as err:
        validate_invoice(corpus("Q0005_namespace_unknown"), SENDER, today=TODAY)
    assert [p.code for p in err.value.problems] == ["00200"]


def test_repair_is_bounded_to_the_root_declarations() -> None:
    from domain.xmlsafe import REPAIR_WINDOW, repair_namespace_quirks

    data = corpus("Q0002_namespace_trailing_space")
    assert repair_namespace_quirks(data)[1]
    late = b"<x>" + b" " * REPAIR_WINDOW + data[data.index(b"<p:"):] + b"</x>"
    assert repair_namespace_quirks(late) == (late, [])  # the first start tag is not the one with the quirk
    inner = data.replace(b"<Numero>", b'<Numero xmlns:q="http://www.w3.org/2000/09/xmldsig# ">', 1)
    fixed, done = repair_namespace_quirks(inner)
    assert len(done) == 1 and b'xmlns:q="http://www.w3.org/2000/09/xmldsig# "' in fixed  # only the root's


def test_received_invoice_problems_are_warnings() -> None:
    loaded = load_invoice(corpus("F0006_rounding_beyond"), "IT01234567897_F0006.xml")
    summary = check_loaded_invoice(loaded, today=TODAY, received=True)
    assert [w.code for w in summary.warnings] == ["00422"]
    assert summary.documents[0].numero == "F6/2025"
