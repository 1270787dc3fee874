"""Seed 004 on the panel's certificates screen (#16), over HTTP on the real dev server: a customer user uploads
its KSeF offline certificate in the second upload window (the status becomes "certyfikat poprawnie dodany"),
a file that is not a certificate is a message with nothing written, an accountant with read only sees neither
the upload nor the delete and is refused when it posts them anyway, and the customer deletes the certificate
(its workflow ends, the status is "brak certyfikatu" again)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core.ca import authority_from_settings
from core.settings import Settings
from domain.permissions import READ
from starters.certificates import list_customer_certificates
from tests.certificates_support import certificate_activities, make_certificate, terminate_leftovers
from tests.helpers import new_worker
from tests.identity_support import PASSWORD, operator
from tests.panel_support import ACCOUNTANT_EMAIL, CUSTOMER_EMAIL, VAT, csrf_of, customers, message_of
from workflows.certificate_authorization import CertificateAuthorizationWorkflow

pytestmark = pytest.mark.integration
PAGE = f"/panel/c/{VAT}/certificates"


@pytest.fixture
async def own(dev_env: WorkflowEnvironment, settings: Settings, db: str, tmp_path: object) -> AsyncIterator[Settings]:
    local = settings.model_copy(update={"temporal_task_queue": f"panel-offline-{os.urandom(4).hex()}",
                                        "data_dir": tmp_path / "data"})  # type: ignore[operator]
    customers(local, [READ])
    async with new_worker(dev_env.client, local, workflows=[CertificateAuthorizationWorkflow],
                          activities=certificate_activities(local, authority_from_settings(local)),
                          task_queue=local.temporal_task_queue):
        try:
            yield local
        finally:
            await terminate_leftovers(dev_env.client, local.database_url)


def _client(settings: Settings, env: WorkflowEnvironment) -> httpx.AsyncClient:
    app = create_app(settings, run_migrations=False)
    app.state.temporal = env.client
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://panel.test",
                             headers={"Accept-Language": "it"})


async def _login(http: httpx.AsyncClient, email: str) -> None:
    form = await http.get("/panel/login")
    done = await http.post("/panel/login", data={"email": email, "password": PASSWORD, "csrf": csrf_of(form.text)})
    assert done.status_code == 303, done.text


def _certs(settings: Settings) -> list[str]:
    return [c.operation_id for c in list_customer_certificates(settings, VAT, as_user=operator(settings))[0]]


async def test_the_offline_certificate_is_uploaded_and_deleted(own: Settings, dev_env: WorkflowEnvironment) -> None:
    async with _client(own, dev_env) as customer:
        await _login(customer, CUSTOMER_EMAIL)
        page = await customer.get(PAGE)
        assert 'id="offline-form"' in page.text and "Nessun certificato (brak certyfikatu)" in page.text
        token = csrf_of(page.text)
        junk = await customer.post(f"{PAGE}/uploads", data={"csrf": token},
                                   files={"certificate": ("offline.crt", b"not a certificate", "application/x-x509")})
        assert junk.status_code == 422 and "certificate.format" in message_of(junk.text)
        assert "Nulla è stato modificato" in message_of(junk.text) and _certs(own) == []
        added = await customer.post(f"{PAGE}/uploads", data={"csrf": token},
                                    files={"certificate": ("offline.crt", make_certificate(), "application/x-x509")})
        assert added.status_code == 200, added.text
        assert message_of(added.text).startswith("Certificato caricato: ")
        [op] = _certs(own)
        assert f'data-operation="{op}" data-state="added"' in added.text
        assert "Certificato aggiunto correttamente (certyfikat poprawnie dodany)" in added.text
        assert f"customer:{CUSTOMER_EMAIL}" in added.text  # who added it (seed 004)

        async with _client(own, dev_env) as accountant:
            await _login(accountant, ACCOUNTANT_EMAIL)
            seen = await accountant.get(PAGE)
            assert f'data-operation="{op}"' in seen.text
            assert 'id="offline-form"' not in seen.text and f'id="delete-{op}"' not in seen.text
            forced = await accountant.post(f"{PAGE}/{op}/delete", data={"csrf": csrf_of(seen.text)})
            assert forced.status_code == 403 and "config.manage" in message_of(forced.text)
            upload = await accountant.post(f"{PAGE}/uploads", data={"csrf": csrf_of(seen.text)},
                                           files={"certificate": ("o.crt", make_certificate(), "application/x-x509")})
            assert upload.status_code == 403 and "config.manage" in message_of(upload.text)
        assert _certs(own) == [op]

        gone = await customer.post(f"{PAGE}/{op}/delete", data={"csrf": token})
        assert gone.status_code == 200 and message_of(gone.text) == f"Certificato eliminato: {op}"
        assert f'data-operation="{op}"' not in gone.text and "brak certyfikatu" in gone.text
    assert _certs(own) == []
