"""Customer identifiers: check digits, SDI codes, e-mail addresses; every refusal names its field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.identifiers import (
    check_customer,
    check_sdi_code,
    nip_check_digit,
    parse_vat_number,
    partita_iva_check_digit,
)


@pytest.mark.parametrize("vat", ["IT02038490237", "it 020 384 902 37", "IT01234567897", "PL5261040828",
                                 "PL1234563218"])
def test_valid_vat_numbers(vat: str) -> None:
    parsed = parse_vat_number(vat)
    assert str(parsed) == vat.replace(" ", "").upper()


@pytest.mark.parametrize(
    ("vat", "fragment"),
    [
        ("IT02038490238", "wrong check digit"),
        ("IT01234567890", "wrong check digit"),  # the AdE samples' sender: not a real P.IVA
        ("IT0203849023", "11 digits"),
        ("PL5261040827", "wrong check digit"),
        ("PL526104082", "10 digits"),
        ("DE123456789", "start with IT or PL"),
        ("", "start with IT or PL"),
    ],
)
def test_invalid_vat_numbers_name_the_field(vat: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_vat_number(vat)
    assert err.value.problems[0].field == "vat"
    assert fragment in err.value.problems[0].message


ARABIC_INDIC = "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"


def in_script(ascii_digits: str, zero: str) -> str:
    """The same digits in another script, whose zero is `zero` (Unicode puts each script's 0-9 in a row)."""
    return "".join(chr(ord(zero) + int(c)) if c.isascii() and c.isdigit() else c for c in ascii_digits)


@pytest.mark.parametrize(
    "vat",
    [
        "IT" + in_script("02038490237", "\u0660"),  # Arabic-Indic: a second customer beside IT02038490237
        "IT0203849023" + ARABIC_INDIC[7],  # one digit is enough
        "IT" + in_script("02038490237", "\uff10"),  # fullwidth
        "PL" + in_script("5261040828", "\u0966"),  # Devanagari
        "IT0203849023\u00b2",  # superscript two: str.isdigit() says yes, int() says no
        "\u0131T02038490237",  # dotless i: upper() makes it I
        "IT\u00a002038490237",  # a no-break space is not a separator
    ],
)
def test_vat_numbers_are_ascii(vat: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_vat_number(vat)
    assert err.value.problems[0].field == "vat"
    assert "ASCII letters and digits 0-9" in err.value.problems[0].message


@pytest.mark.parametrize("code", [in_script("0000000", "\u0660"), "QPQRM\u0160", "\u0131PQRMS1", "ABC123\u00b2"])
def test_sdi_codes_are_ascii(code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_sdi_code(code)
    assert err.value.problems[0].field == "sdi_code" and "ASCII" in err.value.problems[0].message


@given(st.text(alphabet="0123456789", min_size=10, max_size=10), st.integers(0, 9))
def test_partita_iva_only_its_check_digit_passes(first_ten: str, digit: int) -> None:
    good = partita_iva_check_digit(first_ten)
    candidate = f"IT{first_ten}{digit}"
    if digit == good:
        assert parse_vat_number(candidate).number == first_ten + str(digit)
    else:
        with pytest.raises(InvalidInput):
            parse_vat_number(candidate)


@given(st.text(alphabet="0123456789", min_size=9, max_size=9), st.integers(0, 9))
def test_nip_only_its_check_digit_passes(first_nine: str, digit: int) -> None:
    good = nip_check_digit(first_nine)
    candidate = f"PL{first_nine}{digit}"
    if good is not None and digit == good:
        assert parse_vat_number(candidate).country == "PL"
    else:
        with pytest.raises(InvalidInput):
            parse_vat_number(candidate)


@pytest.mark.parametrize("code", ["0000000", "QPQRMS", "ABC1234", "m5uxcr1"])
def test_sdi_codes(code: str) -> None:
    assert check_sdi_code(code) == code.upper()


@pytest.mark.parametrize("code", ["", "12345", "ABCDEFGH", "ABC-123"])
def test_bad_sdi_codes(code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_sdi_code(code)
    assert err.value.problems[0].field == "sdi_code"


def test_customer_collects_every_problem() -> None:
    with pytest.raises(InvalidInput) as err:
        check_customer("IT02038490238", "", "not-an-email", "12")
    assert [p.field for p in err.value.problems] == ["vat", "name", "pec"]


def test_italian_customer_defaults_to_delivery_by_pec() -> None:
    assert check_customer("IT02038490237", "ACME", "acme@pec.it", None).sdi_code == "0000000"


def test_polish_customer_has_no_sdi_code() -> None:
    assert check_customer("PL5261040828", "Firma", "biuro@firma.pl", None).sdi_code is None
    with pytest.raises(InvalidInput) as err:
        check_customer("PL5261040828", "Firma", "biuro@firma.pl", "0000000")
    assert err.value.problems[0].field == "sdi_code"
