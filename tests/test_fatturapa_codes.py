"""The tax-id checks the FatturaPA rules run on every invoice (partita IVA, codice fiscale) and the XPath a
problem names: each fast path gives what the general definition gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from domain.fatturapa import xpath_of
from domain.fatturapa.codes import is_codice_fiscale, is_partita_iva, is_valid_id_codice
from domain.identifiers import partita_iva_check_digit

ARABIC_INDIC = "٠١٢٣٤٥٦٧٨٩"


@given(st.text(alphabet="0123456789", min_size=10, max_size=10), st.sampled_from("0123456789"))
def test_partita_iva_agrees_with_the_check_digit(first_ten: str, last: str) -> None:
    assert is_partita_iva(first_ten + last) == (int(last) == partita_iva_check_digit(first_ten))


def test_partita_iva_shape() -> None:
    assert is_partita_iva("01234567897")
    assert not is_partita_iva("01234567890")
    assert not is_partita_iva("0123456789")
    assert not is_partita_iva("0123456789A")
    assert not is_partita_iva("01234567897\n")  # `$` would let a trailing newline through


def test_identifiers_are_ascii() -> None:
    """Digits of another script are not digits of a partita IVA or a codice fiscale, and no non-ASCII letter
    becomes an ASCII one by `upper()` (long s, dotless i)."""
    assert not is_partita_iva("".join(ARABIC_INDIC[int(c)] for c in "01234567897"))
    assert not is_partita_iva("0123456789\u0667")  # one Arabic-Indic 7
    assert not is_codice_fiscale("".join(ARABIC_INDIC[int(c)] for c in "09876543217"))
    assert not is_valid_id_codice("IT", "\uff10\uff11234567897")  # fullwidth 0 and 1
    assert is_codice_fiscale("rssmra80a01h501u") and not is_codice_fiscale("r\u017f\u017fmra80a01h501u")
    assert not is_codice_fiscale("RSSMRA80A01H5\u06f01U")  # Extended Arabic-Indic 0
    assert not is_codice_fiscale("RSSMRA80A01H501U\n")


def test_codice_fiscale() -> None:
    assert is_codice_fiscale("RSSMRA80A01H501U")
    assert is_codice_fiscale("rssmra80a01h501u")
    assert is_codice_fiscale("RSSMRA80A01H50MM")  # omocodia: a digit replaced by a letter, its own check letter
    assert not is_codice_fiscale("RSSMRA80A01H501V")
    assert not is_codice_fiscale("RSSMRA80A01H50MU")
    assert is_codice_fiscale("09876543217") and not is_codice_fiscale("09876543210")  # a company's: a partita IVA
    assert is_valid_id_codice("DE", "anything") and not is_valid_id_codice("IT", "09876543210")


def test_xpath_positions_only_where_an_element_repeats() -> None:
    root = etree.fromstring(
        b'<p:F xmlns:p="urn:p" xmlns:o="urn:o"><B><L/><o:L/><!--c--><L/><S/></B><B><L/></B></p:F>'
    )
    first, second = root.findall("B")
    assert xpath_of(root) == "/p:F"
    assert xpath_of(first[0]) == "/p:F/B[1]/L[1]"  # a later sibling of the same name counts
    assert xpath_of(first[3]) == "/p:F/B[1]/L[2]"  # a sibling in another namespace or a comment does not
    assert xpath_of(first[4]) == "/p:F/B[1]/S"
    assert xpath_of(second[0]) == "/p:F/B[2]/L"
