"""Refuse what the SDI refuses, and nothing more (#17): a corpus written for the issue (tests/corpus/fidelity),
each file either accepted with the hub's warnings or refused with the SDI's code; a customer's strict setting
turns a chosen warning into an error."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from domain.errors import InvalidInput
from domain.fatturapa import validate_invoice
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
