"""The package index: built valid against the vendored schema, parsed back, hostile input refused."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

import pytest
from lxml import etree

from domain.archive.index import (
    DocumentMetadata,
    IndexedFile,
    PackageIndex,
    Party,
    add_years,
    build_index,
    package_id_for,
    parse_index,
    schema,
)
from domain.errors import InvalidInput


def _index(**changes: object) -> PackageIndex:
    created = datetime(2026, 3, 16, 10, 30, 5, tzinfo=UTC)
    doc = DocumentMetadata("invoice", "inv-1", "TD01", "FT/2026/1", date(2026, 3, 15),
                           Party("IT02038490237", "ACME S.p.A."), Party("RSSMRA80A01H501U", "Mario Rossi"),
                           "IT02038490237_00001.xml.p7m", "111222333")
    files = (
        IndexedFile("IT02038490237_00001.xml", "original", "application/xml", 12,
                    hashlib.sha256(b"x" * 12).hexdigest()),
        IndexedFile("IT02038490237_00001.xml.p7m", "signed", "application/pkcs7-mime", 40,
                    hashlib.sha256(b"y").hexdigest()),
    )
    values: dict[str, object] = {
        "package_id": package_id_for("IT02038490237", "invoice", "inv-1"), "created_at": created,
        "owner": Party("IT02038490237", "ACME S.p.A."), "document": doc, "files": files,
        "retain_until": add_years(created, 10),
    }
    values.update(changes)
    return PackageIndex(**values)  # type: ignore[arg-type]


def test_the_index_round_trips_and_is_valid_against_the_schema() -> None:
    index = _index()
    data = build_index(index)
    assert schema().validate(etree.fromstring(data))
    back = parse_index(data)
    assert back == index
    assert b"<Impronta algoritmo=\"SHA-256\" codifica=\"hex\">" in data
    assert build_index(back) == data  # the same index builds the same bytes (idempotent re-runs)


def test_package_id_is_deterministic_from_the_owner() -> None:
    a = package_id_for("IT02038490237", "invoice", "inv/7 x")
    assert a == package_id_for("IT02038490237", "invoice", "inv/7 x")
    assert a != package_id_for("IT02038490237", "invoice", "inv/7 y")
    assert a.startswith("PdA-invoice-inv_7_x-")


def test_bad_metadata_names_every_field() -> None:
    doc = DocumentMetadata("invoice", "inv-1", "XX1", "", date(2026, 1, 1), Party("it bad", ""),
                           Party("IT0", "B"), "bad name.xml")
    with pytest.raises(InvalidInput) as err:
        build_index(_index(document=doc))
    fields = {p.field for p in err.value.problems}
    assert {"metadata.document_type", "metadata.document_number", "metadata.sender_vat", "metadata.sender_name",
            "metadata.sdi_file_name"} <= fields


def test_an_index_off_schema_is_refused_with_its_path() -> None:
    data = build_index(_index()).replace(b"<Dimensione>12</Dimensione>", b"<Dimensione>-1</Dimensione>")
    with pytest.raises(InvalidInput) as err:
        parse_index(data)
    assert any("Dimensione" in p.field or "Dimensione" in p.message for p in err.value.problems)


def test_doctype_and_entities_are_refused() -> None:
    data = build_index(_index())
    hostile = data.replace(b"?>\n", b"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>\n", 1)
    with pytest.raises(InvalidInput) as err:
        parse_index(hostile)
    assert "DOCTYPE" in str(err.value) or "index" in str(err.value)
    with pytest.raises(InvalidInput):
        parse_index(b"<not-xml")


def test_leap_day_retention() -> None:
    assert add_years(datetime(2028, 2, 29, tzinfo=UTC), 10) == datetime(2038, 2, 28, tzinfo=UTC)
