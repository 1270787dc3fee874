"""Personal data out of Temporal's clear-text fields (#18.8): workflow ids and search attributes hold keyed
hashes; an operator gets them, with the UI link, from `einvoice ops keys`."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from core.search_keys import KEY_LENGTH, SearchKeys, customer_key, document_key
from core.settings import Settings
from models.contracts_io import workflow_id_for as contract_workflow_id
from starters.archive import conservation_workflow_id
from starters.cli import app as cli
from starters.ops_cli import keys_of
from workflows.invoice_receive import workflow_id_for as receive_workflow_id
from workflows.invoice_send import workflow_id_for as send_workflow_id

SECRET = "s" * 40
KEY = re.compile(rf"^[cd][a-z2-7]{{{KEY_LENGTH}}}$")


def test_a_key_is_stable_keyed_and_names_nothing() -> None:
    vat = "IT01234567897"
    key = customer_key(SECRET, vat)
    assert KEY.match(key) and key == customer_key(SECRET, " it01234567897 ")  # as stored: upper, stripped
    assert key != customer_key("t" * 40, vat)  # keyed: without the secret nothing links it to the customer
    assert key != customer_key(SECRET, "IT02038490237")
    # a customer key and a document key of the same text differ (separate domains)
    assert customer_key(SECRET, vat)[1:] != document_key(SECRET, vat)[1:]


@given(st.from_regex(r"IT[0-9]{11}", fullmatch=True), st.from_regex(r"[A-Z0-9]{5}", fullmatch=True))
def test_no_workflow_id_holds_the_vat_number_or_the_file_name(vat: str, progressive: str) -> None:
    keys = SearchKeys(Settings(SEARCH_KEY_SECRET=SECRET))  # type: ignore[call-arg]
    invoice_id = f"{vat}_{progressive}"
    ids = [contract_workflow_id(keys.customer(vat)),
           send_workflow_id(keys.customer(vat), keys.document(invoice_id)),
           receive_workflow_id(keys.customer(vat), 123456),
           conservation_workflow_id(Settings(SEARCH_KEY_SECRET=SECRET), "invoice", invoice_id)]  # type: ignore[call-arg]
    for wid in ids:
        assert vat[2:] not in wid and progressive not in wid.split("-", 1)[1], wid


def test_an_empty_secret_is_refused() -> None:
    try:
        customer_key("", "IT01234567897")
    except ValueError as err:
        assert "SEARCH_KEY_SECRET" in str(err)
    else:
        raise AssertionError("an empty secret keyed a customer")


def test_ops_keys_prints_the_keys_and_the_ui_links(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SEARCH_KEY_SECRET", SECRET)
    monkeypatch.setenv("TEMPORAL_UI_URL", "http://ui.example:8233")
    done = CliRunner().invoke(cli, ["ops", "keys", "--vat", "IT01234567897", "--document", "IT01234567897_0000A",
                                    "--json"])
    assert done.exit_code == 0, done.output
    found = json.loads(done.output)
    settings = Settings(SEARCH_KEY_SECRET=SECRET)  # type: ignore[call-arg]
    assert found["customer_key"] == SearchKeys(settings).customer("IT01234567897")
    assert found["document_key"] == SearchKeys(settings).document("IT01234567897_0000A")
    assert found["contract_workflow_id"] == contract_workflow_id(found["customer_key"])
    assert found["customer_link"] == (f"http://ui.example:8233/namespaces/default/workflows?query="
                                      f"CustomerKey%3D%22{found['customer_key']}%22")
    assert keys_of(settings, "IT01234567897", None)["customer_key"] == found["customer_key"]


def test_ops_keys_refuses_a_wrong_vat_number_and_no_input(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SEARCH_KEY_SECRET", SECRET)
    bad = CliRunner().invoke(cli, ["ops", "keys", "--vat", "IT01234567890"])  # wrong check digit
    assert bad.exit_code == 2 and "check digit" in bad.output.lower(), bad.output
    nothing = CliRunner().invoke(cli, ["ops", "keys"])
    assert nothing.exit_code == 2 and "--vat or --document" in nothing.output, nothing.output
