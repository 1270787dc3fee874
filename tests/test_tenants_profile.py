"""The customer's profile confirmation (seed 001) below the browser: the checks name every wrong field, and the
HTTP route records who confirmed, when and which conditions version, corrects the customer's PEC, and is
audited; a bad field or an old conditions version writes nothing; an accountant is refused. The panel's form
for a Polish customer, in Polish (no codice destinatario, the KSeF conditions), and the labels' catalogue."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.main import create_app
from core.db import session_scope
from core.settings import Settings
from domain.errors import InvalidInput
from domain.identifiers import parse_vat_number
from domain.permissions import ALL
from domain.profile import CONDITIONS_VERSION, ProfileForm, check_profile
from models import audit
from models.tenant import add_tenant, get_tenant
from models.tenant_profile import TenantConfirmation
from tests.identity_support import add_user, bearer, issue_token
from tests.panel_support import ACCOUNTANT_EMAIL, CUSTOMER_EMAIL, VAT, csrf_of, customers, login, message_of

GOOD = {"name": "Computers Center S.r.l.", "pec": "amministratore@pec.computerscenter.com", "sdi_code": "qpqrms",
        "street": "Via Roma 1", "postcode": "37069", "city": "Villafranca di Verona", "province": "vr",
        "accept": True, "conditions_version": CONDITIONS_VERSION}


def test_a_good_italian_profile_is_normalised() -> None:
    profile = check_profile(parse_vat_number(VAT), ProfileForm(**GOOD))  # type: ignore[arg-type]
    assert (profile.sdi_code, profile.province, profile.country) == ("QPQRMS", "VR", "IT")  # a PA office's 6
    assert profile.conditions_version == CONDITIONS_VERSION


def test_every_wrong_field_is_named_at_once() -> None:
    bad = GOOD | {"pec": "not-an-address", "sdi_code": "ABC", "postcode": "3706", "province": "Verona",
                  "street": " ", "accept": False, "conditions_version": "2020-01-01"}
    with pytest.raises(InvalidInput) as err:
        check_profile(parse_vat_number(VAT), ProfileForm(**bad))  # type: ignore[arg-type]
    assert [p.field for p in err.value.problems] == ["pec", "sdi_code", "street", "postcode", "province", "accept",
                                                     "conditions_version"]


def test_a_polish_customer_has_no_sdi_code_and_a_polish_postcode() -> None:
    nip = parse_vat_number("PL5261040828")
    form = ProfileForm(name="Firma Sp. z o.o.", pec="biuro@firma.pl", street="ul. Długa 5", postcode="00-950",
                       city="Warszawa", accept=True, conditions_version=CONDITIONS_VERSION)
    profile = check_profile(nip, form)
    assert profile.sdi_code is None and profile.province is None and profile.city == "Warszawa"
    with pytest.raises(InvalidInput) as err:
        check_profile(nip, ProfileForm(**{**form.__dict__, "postcode": "00950", "sdi_code": "0000000"}))
    assert {p.field for p in err.value.problems} == {"postcode", "sdi_code"}


def _count(settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        return session.scalar(select(func.count()).select_from(TenantConfirmation)) or 0


def test_the_route_records_the_confirmation_and_refuses_without_writing(settings: Settings, db: str) -> None:
    customers(settings, list(ALL))
    customer, accountant = issue_token(settings, CUSTOMER_EMAIL), issue_token(settings, ACCOUNTANT_EMAIL)
    with TestClient(create_app(settings, run_migrations=False)) as http:
        before = http.get(f"/tenants/{VAT}/profile", headers=bearer(customer))
        assert before.status_code == 200 and before.json()["confirmation"] is None
        assert before.json()["conditions_version"] == CONDITIONS_VERSION

        bad = http.post(f"/tenants/{VAT}/profile/confirmations", headers=bearer(customer),
                        json=GOOD | {"pec": "amministratore@"})
        assert bad.status_code == 422 and [p["field"] for p in bad.json()["problems"]] == ["pec"]
        old = http.post(f"/tenants/{VAT}/profile/confirmations", headers=bearer(customer),
                        json=GOOD | {"conditions_version": "2000-01-01"})
        assert old.status_code == 422 and "read them again" in old.text
        assert _count(settings) == 0

        # an accountant granted everything still may not accept the conditions for the customer
        refused = http.post(f"/tenants/{VAT}/profile/confirmations", headers=bearer(accountant), json=GOOD)
        assert refused.status_code == 403 and refused.json()["detail"]["permission"] == "tenant.confirm"
        assert http.get(f"/tenants/{VAT}/profile", headers=bearer(accountant)).status_code == 200
        assert _count(settings) == 0

        done = http.post(f"/tenants/{VAT}/profile/confirmations", headers=bearer(customer), json=GOOD)
        assert done.status_code == 201, done.text
        confirmation = done.json()["confirmation"]
        assert confirmation["number"] == 1 and confirmation["confirmed_by"] == f"customer:{CUSTOMER_EMAIL}"
        assert confirmation["conditions_version"] == CONDITIONS_VERSION and confirmation["surface"] == "http"
        again = http.post(f"/tenants/{VAT}/profile/confirmations", headers=bearer(customer),
                          json=GOOD | {"city": "Verona"})
        assert again.json()["confirmation"]["number"] == 2
        assert http.get(f"/tenants/{VAT}/profile", headers=bearer(customer)).json()["confirmation"]["city"] == "Verona"
    with session_scope(settings.database_url) as session:
        tenant = get_tenant(session, VAT)
        trail = [(e.action, e.outcome) for e in audit.entries(session, VAT) if e.action == "tenant.confirm"]
    assert (tenant.pec, tenant.sdi_code, tenant.name) == (GOOD["pec"], "QPQRMS", GOOD["name"])  # corrected
    assert tenant.enabled is False  # enabled only by the accepted contract
    assert [o.split(":")[0] for _, o in trail] == ["failed", "failed", "refused", "ok", "ok"]
    assert "pec" in trail[0][1] and "tenant.confirm" in trail[2][1]


def test_a_polish_customer_confirms_in_polish_without_an_sdi_code(settings: Settings, db: str) -> None:
    nip, email = "PL5261040828", "wlasciciel@firma.test"
    with session_scope(settings.database_url) as session:
        add_tenant(session, nip, "Firma Sp. z o.o.", "biuro@firma.pl", None)
    add_user(settings, "customer", email, nip)
    with TestClient(create_app(settings, run_migrations=False), headers={"Accept-Language": "pl"}) as http:
        assert login(http, email).status_code == 303
        page = http.get(f"/panel/c/{nip}/profile")
        assert page.status_code == 200 and "POTWIERDZAM MOJE DANE" in page.text and ">NIP <" in page.text
        assert 'name="sdi_code"' not in page.text and 'name="province"' not in page.text
        assert "KSeF" in page.text and "Agenzia delle Entrate" not in page.text  # the Polish conditions
        form = {"csrf": csrf_of(page.text), "name": "Firma Sp. z o.o.", "pec": "biuro@firma.pl",
                "street": "ul. Długa 5", "postcode": "00950", "city": "Warszawa", "accept": "yes",
                "conditions_version": CONDITIONS_VERSION}
        bad = http.post(f"/panel/c/{nip}/profile", data=form)
        assert bad.status_code == 422 and 'id="error-postcode"' in bad.text
        assert "Nic nie zostało zmienione" in message_of(bad.text) and _count(settings) == 0
        done = http.post(f"/panel/c/{nip}/profile", data=form | {"postcode": "00-950"})
        assert done.status_code == 200 and message_of(done.text).startswith("Dane potwierdzone (potwierdzenie nr 1")
    assert _count(settings) == 1


def test_every_label_is_in_three_languages_and_every_template_key_exists() -> None:
    import re
    from pathlib import Path

    from api.panel.i18n import CATALOGUE, LANGUAGES

    assert [k for k, v in CATALOGUE.items() if set(v) != set(LANGUAGES) or not all(v.values())] == []
    used: set[str] = set()
    for template in (Path(__file__).resolve().parent.parent / "api" / "templates" / "panel").glob("*.j2"):
        used |= set(re.findall(r"t\('([a-z0-9_]+)'\)", template.read_text()))
    assert "profile_confirm" in used and sorted(used - set(CATALOGUE)) == []
