"""The KSeF settings screen of a Polish customer (#16, seed 004 "Ustawienia / KSeF") in a real browser, on the
shared browser and stack fixtures (tests/panel_browser_support.py) with the served API's KSEF_URL at a local
KSeF, and a certificate worker whose activities enroll there with the customer's seal:

- the customer finds KSeF in its menu; a file that is no CSR and a CSR whose subject is not what KSeF's
  enrollment data dictates are each a message on the page, nothing written; its authentication certificate
  is enrolled and reaches "przeszedł autoryzację pomyślnie" (who added it, uploaded, expiry shown); an
  enrollment KSeF refuses shows "wystąpił błąd: Uwierzytelnianie zakończone niepowodzeniem" with KSeF's
  reason; an offline certificate is added ("certyfikat poprawnie dodany") and deleted ("brak certyfikatu");
  a KSeF notification turned off is off, the others and the customer's other kinds untouched;
- an accountant granted read only sees the states but no upload or delete control, and its forced upload
  and delete are refused naming the permission, nothing written; an Italian customer has no KSeF screen."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from playwright.async_api import Browser, BrowserContext, Page
from temporalio.testing import WorkflowEnvironment

from api.panel.session import COOKIE
from core.db import session_scope
from core.settings import Settings
from domain.authority import BuiltinCA
from domain.permissions import READ
from models import identity as ident
from models.certificates import list_certificates
from models.preferences import get_preferences, set_preference
from models.tenant import add_tenant
from starters.certificates import upload_certificate
from tests.certificates_support import certificate_activities, subject, terminate_leftovers
from tests.helpers import new_worker
from tests.identity_support import PASSWORD, add_user, operator
from tests.ksef_authority_support import (
    PL_VAT,
    Sim,
    dictated,
    ksef_csr,
    serve_sim,
    signed_login,
)
from tests.ksef_credentials_support import give_ksef_token
from tests.panel_browser_support import needs_chromium, shoot
from tests.panel_support import VAT, csrf_of
from workflows.certificate_authorization import CertificateAuthorizationWorkflow

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CUSTOMER = "biuro@firma.example.pl"
ACCOUNTANT = "ksiegowa@biuro.example.pl"
VIEWPORT = {"width": 1100, "height": 900}
POLISH = {"locale": "pl-PL", "extra_http_headers": {"Accept-Language": "pl-PL,pl"}, "viewport": VIEWPORT}
REFUSED_REASON = "KSeF 400 Wniosek odrzucony: Klucz publiczny został już certyfikowany przez inny podmiot."


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    with serve_sim(tmp_path_factory.mktemp("ksefsim")) as served:
        yield served


@pytest.fixture(scope="module")
def served_overrides(sim: Sim) -> dict[str, Any]:
    return {"ksef_url": sim.api}


@pytest.fixture
def polish(served: Settings, db: str, sim: Sim, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The Polish customer with its user and its KSeF token, an Italian one, and an accountant linked to both
    with read only."""
    sim.configure()
    with session_scope(served.database_url) as session:
        add_tenant(session, PL_VAT, "Firma Testowa sp. z o.o.", CUSTOMER, None)
        add_tenant(session, VAT, "ACME S.p.A.", "acme@pec.example.it", None)
    give_ksef_token(served, sim.sim, PL_VAT)  # the worker follows the enrollments with the customer's token
    add_user(served, "customer", CUSTOMER, PL_VAT)
    add_user(served, "accountant", ACCOUNTANT)
    with session_scope(served.database_url) as session:
        for vat in (PL_VAT, VAT):
            view = ident.open_link(session, vat, ACCOUNTANT, ident.INVITED, "test", [READ])
            ident.accept_link(session, ident.get_link(session, view.id), "test")
    yield served
    sim.configure()


def ksef_certificate(offline: bool = True) -> bytes:
    """A certificate KSeF issued to the customer (made here by a throw-away CA), with the key usage of its kind:
    Non-Repudiation for an offline one, Digital Signature for an authentication one."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    usage = x509.KeyUsage(digital_signature=not offline, content_commitment=offline, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    cert = (x509.CertificateBuilder().subject_name(subject(PL_VAT, "organizationIdentifier"))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "KSeF test CA")]))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=60))
            .add_extension(usage, critical=True).sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


async def _login(context: BrowserContext, api: str, email: str) -> Page:
    page = await context.new_page()
    await page.goto(f"{api}/panel/login")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("#login")
    await page.wait_for_selector("#who")
    return page


def _certificates(settings: Settings) -> list[tuple[str, str, str]]:
    with session_scope(settings.database_url) as session:
        return [(c.operation_id, c.kind, c.state) for c in list_certificates(session, PL_VAT)]


async def _decided(page: Page, api: str, state: str) -> None:
    """The enrollment's row in `state`. The page answers once KSeF decided or after HTTP_WAIT_SECONDS with the
    state so far (a loaded machine); then the screen is opened again until the workflow has written it."""
    row = f'#authentication-certificates tr[data-state="{state}"]'
    for _ in range(30):
        if await page.query_selector(row) is not None:
            return
        await asyncio.sleep(1)
        await page.goto(f"{api}/panel/c/{PL_VAT}/ksef")
    raise AssertionError(f"no enrollment reached {state}: {await _text(page, '#ksef-authentication')}")


async def _text(page: Page, selector: str) -> str:
    return " ".join((await page.text_content(selector) or "").split())


@needs_chromium

def _signed_login(settings: Settings) -> dict[str, Any]:
    """The KSeF login the customer signed on its machine for this request (`einvoice cert request --ksef-seal`
    makes it: a challenge our API handed out, signed with its seal), as a file for the form."""
    return {"name": "logowanie.xml", "mimeType": "application/xml", "buffer": signed_login(settings)}


async def test_a_polish_customer_enrolls_and_adds_its_ksef_certificates_and_chooses_its_e_mails(
        polish: Settings, browser: Browser, dev_env: WorkflowEnvironment, sim: Sim, tmp_path: Path) -> None:
    api = polish.public_base_url
    async with new_worker(dev_env.client, polish, workflows=[CertificateAuthorizationWorkflow],
                          activities=certificate_activities(polish, BuiltinCA(tmp_path / "ca")),
                          task_queue=polish.temporal_task_queue):
        context = await browser.new_context(**POLISH)
        try:
            page = await _login(context, api, CUSTOMER)
            await page.click('#menu a[href$="/ksef"]')
            await page.wait_for_selector("#ksef-authentication")
            assert await _text(page, "h1") == "Ustawienia / KSeF"
            assert await _text(page, "#authentication-status") == "brak certyfikatu"
            assert await _text(page, "#offline-status") == "brak certyfikatu"

            # not a CSR, then a CSR whose subject is not what KSeF dictates: each a message, nothing written
            await page.set_input_files("#authentication-csr", files=[
                {"name": "wniosek.csr", "mimeType": "application/pkcs10", "buffer": b"not a certificate request"}])
            await page.set_input_files("#authentication-login", files=[_signed_login(polish)])
            await page.click("#authentication-upload")
            await page.wait_for_selector("#message.refused")
            refused = await _text(page, "#message")
            assert refused.startswith("Nieprawidłowe dane: csr.format") and "Nic nie zostało zmienione" in refused
            other = ksef_csr(dictated() | {"commonName": "Inna Firma sp. z o.o."})
            await page.set_input_files("#authentication-csr", files=[
                {"name": "wniosek.csr", "mimeType": "application/pkcs10", "buffer": other}])
            await page.set_input_files("#authentication-login", files=[_signed_login(polish)])
            await page.click("#authentication-upload")
            await page.wait_for_selector("#message.refused")
            refused = await _text(page, "#message")
            assert "commonName" in refused and "Inna Firma" in refused and "Nic nie zostało zmienione" in refused
            assert _certificates(polish) == []

            # the authentication certificate, enrolled at KSeF: the page answers once KSeF decided
            await page.set_input_files("#authentication-csr", files=[
                {"name": "wniosek.csr", "mimeType": "application/pkcs10", "buffer": ksef_csr()}])
            await page.set_input_files("#authentication-login", files=[_signed_login(polish)])
            await page.click("#authentication-upload")
            await _decided(page, api, "active")
            assert await _text(page, "#authentication-status") == "przeszedł autoryzację pomyślnie"
            row = page.locator('#authentication-certificates tr[data-state="active"]')
            cells = [" ".join((await row.locator(f".{c}").text_content() or "").split())
                     for c in ("added-by", "uploaded", "expires")]
            assert cells[0] == f"customer:{CUSTOMER}"  # who added it (the seed's "dane użytkownika")
            dates = cells[1:]
            assert all(len(d.split("/")) == 3 for d in dates), dates  # dd/mm/yyyy

            # an enrollment KSeF refuses: the seed's error state with KSeF's reason
            sim.configure(enrollments=["refuse"])  # KSeF's rule: the key certified for another
            await page.set_input_files("#authentication-csr", files=[
                {"name": "wniosek2.csr", "mimeType": "application/pkcs10", "buffer": ksef_csr()}])
            await page.set_input_files("#authentication-login", files=[_signed_login(polish)])
            await page.click("#authentication-upload")
            await _decided(page, api, "error")
            state = await _text(page, '#authentication-certificates tr[data-state="error"] .state')
            assert state.startswith("wystąpił błąd: Uwierzytelnianie zakończone niepowodzeniem") and \
                REFUSED_REASON in state
            assert await _text(page, "#authentication-status") == "przeszedł autoryzację pomyślnie"

            # the offline window takes no authentication certificate; then an offline one is added, and deleted
            await page.set_input_files("#offline-file", files=[
                {"name": "auth.crt", "mimeType": "application/pkix-cert", "buffer": ksef_certificate(False)}])
            await page.click("#offline-upload")
            await page.wait_for_selector("#message.refused")
            refused = await _text(page, "#message")
            assert "certificate.key_usage" in refused and "Nic nie zostało zmienione" in refused
            assert await _text(page, "#offline-status") == "brak certyfikatu" and len(_certificates(polish)) == 2
            await page.set_input_files("#offline-file", files=[
                {"name": "offline.crt", "mimeType": "application/pkix-cert", "buffer": ksef_certificate()}])
            await page.click("#offline-upload")
            await page.wait_for_selector('#offline-certificates tr[data-state="added"]')
            assert await _text(page, "#offline-status") == "certyfikat poprawnie dodany"
            assert await _text(page, '#offline-certificates tr[data-state="added"] .added-by') == f"customer:{CUSTOMER}"
            await shoot(page, "ksef")
            op = await page.get_attribute('#offline-certificates tr[data-state="added"]', "data-operation")
            await page.click(f"#delete-{op}")
            await page.wait_for_selector("#message.ok")
            assert await _text(page, "#offline-status") == "brak certyfikatu"
            assert await page.query_selector("#offline-certificates") is None
            assert [k for _, k, _ in _certificates(polish)] == ["authentication", "authentication"]

            # Powiadomienia e-mail: every KSeF kind on by default; one turned off, a kind not KSeF's left as it is
            with session_scope(polish.database_url) as session:
                set_preference(session, PL_VAT, "invoice-received", False)
            boxes = page.locator("#ksef-notifications input[type=checkbox]")
            assert await boxes.count() == 6 and all([await boxes.nth(i).is_checked() for i in range(6)])
            await page.uncheck("#notify-cert-expiry-reminder")
            await page.click("#save-notifications")
            await page.wait_for_selector("#message.ok")
            assert not await page.is_checked("#notify-cert-expiry-reminder")
            with session_scope(polish.database_url) as session:
                prefs = get_preferences(session, PL_VAT)
            assert [k for k, on in prefs.items() if not on] == ["cert-expiry-reminder", "invoice-received"]
        finally:
            await context.close()
            await terminate_leftovers(dev_env.client, polish.database_url)


@needs_chromium
async def test_a_read_only_accountant_sees_the_ksef_states_but_cannot_change_them(
        polish: Settings, browser: Browser, dev_env: WorkflowEnvironment) -> None:
    api = polish.public_base_url
    added = await upload_certificate(polish, PL_VAT, ksef_certificate(), "offline", as_user=operator(polish),
                                     client=dev_env.client,
                                     task_queue=f"{polish.temporal_task_queue}-none")  # watched by no worker
    context = await browser.new_context(**POLISH)
    try:
        page = await _login(context, api, ACCOUNTANT)
        await page.click(f'#customers a[data-vat="{VAT}"]')
        assert await page.query_selector('#menu a[href$="/ksef"]') is None  # an Italian customer: no KSeF
        await page.goto(f"{api}/panel/c/{PL_VAT}/certificates")
        await page.click('#menu a[href$="/ksef"]')
        await page.wait_for_selector("#ksef-offline")
        assert await _text(page, "#offline-status") == "certyfikat poprawnie dodany"
        assert await _text(page, "#authentication-status") == "brak certyfikatu"
        for control in ("#authentication-form", "#offline-form", f"#delete-{added.operation_id}",
                        "#save-notifications"):
            assert await page.query_selector(control) is None, control
        assert await page.is_disabled("#notify-cert-issued")

        cookie = next(c["value"] for c in await context.cookies() if c["name"] == COOKIE)
        token = csrf_of(await page.content())
        async with httpx.AsyncClient(base_url=api, cookies={COOKIE: cookie},
                                     headers={"Accept-Language": "en"}) as http:
            upload = await http.post(f"/panel/c/{PL_VAT}/ksef/offline", data={"csrf": token},
                                     files={"certificate": ("offline.crt", ksef_certificate(),
                                                            "application/pkix-cert")})
            delete = await http.post(f"/panel/c/{PL_VAT}/ksef/{added.operation_id}/delete", data={"csrf": token})
            enroll = await http.post(f"/panel/c/{PL_VAT}/ksef/authentication", data={"csrf": token},
                                     files={"csr": ("wniosek.csr", ksef_csr(), "application/pkcs10")})
            notify = await http.post(f"/panel/c/{PL_VAT}/ksef/notifications", data={"csrf": token})
            italian = await http.get(f"/panel/c/{VAT}/ksef")
        for what, answer in (("upload", upload), ("delete", delete), ("enroll", enroll), ("notify", notify)):
            assert answer.status_code == 403, (what, answer.status_code)
            assert "(config.manage)" in answer.text and "Nothing was changed" in answer.text, what
        assert italian.status_code == 404 and "Polish NIP" in italian.text
        assert _certificates(polish) == [(added.operation_id, "offline", "added")]
        with session_scope(polish.database_url) as session:
            assert all(get_preferences(session, PL_VAT).values())
    finally:
        await context.close()
        await terminate_leftovers(dev_env.client, polish.database_url)


def test_every_certificate_state_has_its_ksef_label_in_the_seeds_words() -> None:
    """The KSeF screen names a row's state by `ksef_state_<state>` (a key the label check cannot see in the
    template): each state has one in the three languages, the Polish ones as seed 004 writes them."""
    from api.panel.i18n import CATALOGUE, LANGUAGES
    from domain.certificates import STATES

    assert sorted(s for s in STATES if set(CATALOGUE.get(f"ksef_state_{s}", {})) != set(LANGUAGES)) == []
    assert [CATALOGUE[f"ksef_state_{s}"]["pl"] for s in ("ordered", "accepted", "active", "error", "added")] == [
        "zlecony do autoryzacji", "zaakceptowany w trakcie autoryzacji", "przeszedł autoryzację pomyślnie",
        "wystąpił błąd: Uwierzytelnianie zakończone niepowodzeniem", "certyfikat poprawnie dodany"]
    assert CATALOGUE["ksef_no_certificate"]["pl"] == "brak certyfikatu"
