"""The partner's orders screen (#16, seed 003) over HTTP on the real dev server: an operator sees the customer's
order awaiting documentation, resends the acceptance e-mail ("Invia Email Accettazione Contratti") and
cancels the activation with its refund ("Cancella Richiesta Attivazione"), each with the session's CSRF
token, and the order's history shows both; a customer user sees no cancel control and is refused (403,
audited, surface panel) when it posts the form anyway; nothing is offered once the order is closed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core.db import session_scope
from core.settings import Settings
from models import audit
from models import contracts as orders
from models.contracts_io import AWAITING, CANCELLED
from starters.contracts import start_contract
from tests.contracts_helpers import add_customer, contract_worker, new_vat
from tests.identity_support import PASSWORD, add_user, operator
from tests.panel_support import csrf_of, message_of

pytestmark = pytest.mark.integration
OPERATOR = "partner@einvoice-hub.test"


@pytest.fixture
async def panel(dev_env: WorkflowEnvironment, settings: Settings, db: str) -> AsyncIterator[tuple[Settings, str]]:
    async with contract_worker(dev_env.client, settings) as own:
        vat = new_vat()
        add_customer(own, vat, "Ferramenta Bianchi S.r.l.")
        add_user(own, "operator", OPERATOR)
        add_user(own, "customer", f"titolare@{vat.lower()}.test", vat)
        await start_contract(own, vat, "99.00", dev_env.client, as_user=operator(own))
        yield own, vat


def _client(settings: Settings, env: WorkflowEnvironment) -> httpx.AsyncClient:
    app = create_app(settings, run_migrations=False)
    app.state.temporal = env.client
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://panel.test",
                             headers={"Accept-Language": "it"})


async def _login(http: httpx.AsyncClient, email: str) -> None:
    form = await http.get("/panel/login")
    done = await http.post("/panel/login", data={"email": email, "password": PASSWORD, "csrf": csrf_of(form.text)})
    assert done.status_code == 303, done.text


async def test_a_partner_resends_and_cancels_a_customer_cannot_cancel(panel: tuple[Settings, str],
                                                                      dev_env: WorkflowEnvironment) -> None:
    own, vat = panel
    page_url = f"/panel/c/{vat}/orders"
    async with _client(own, dev_env) as customer:
        await _login(customer, f"titolare@{vat.lower()}.test")
        seen = await customer.get(page_url)
        assert seen.status_code == 200 and f'data-state="{AWAITING}"' in seen.text
        assert "Attesa documentazione" in seen.text and 'href="/panel/c/' in seen.text and "Ordini" in seen.text
        assert 'id="resend"' in seen.text  # the customer's side may ask again (contract.resend)
        assert 'id="cancel"' not in seen.text and "Cancella Richiesta Attivazione" not in seen.text
        forced = await customer.post(f"{page_url}/cancel", data={"csrf": csrf_of(seen.text), "confirm": "yes"})
        assert forced.status_code == 403 and "contract.cancel" in message_of(forced.text)
        assert "Nulla è stato modificato" in message_of(forced.text)

    async with _client(own, dev_env) as partner:
        await _login(partner, OPERATOR)
        page = await partner.get(page_url)
        assert 'id="resend"' in page.text and 'id="cancel"' in page.text and "99,00 EUR" in page.text
        token = csrf_of(page.text)
        assert (await partner.post(f"{page_url}/resend", data={"csrf": "forged"})).status_code == 403
        resent = await partner.post(f"{page_url}/resend", data={"csrf": token})
        assert resent.status_code == 200, resent.text
        assert message_of(resent.text).startswith(f"Email di accettazione inviata: {vat.lower()}@pec.example.it")
        assert 'data-step="resend-sent"' in resent.text and "Email contratti inviata di nuovo" in resent.text
        unconfirmed = await partner.post(f"{page_url}/cancel", data={"csrf": token})
        assert unconfirmed.status_code == 422 and "confirm" in message_of(unconfirmed.text)
        cancelled = await partner.post(f"{page_url}/cancel", data={"csrf": token, "confirm": "yes",
                                                                     "reason": "richiesta del cliente"})
        assert cancelled.status_code == 200, cancelled.text
        assert message_of(cancelled.text).endswith("riaccreditato 99,00 EUR")
        assert f'data-state="{CANCELLED}"' in cancelled.text and "Cancellato" in cancelled.text
        assert 'data-step="refunded"' in cancelled.text
        assert 'id="resend"' not in cancelled.text and 'id="cancel"' not in cancelled.text  # closed: none offered
        again = await partner.post(f"{page_url}/resend", data={"csrf": token})
        assert again.status_code == 409 and "not awaiting documentation" in message_of(again.text)

    with session_scope(own.database_url) as session:
        view = orders.latest_order(session, vat)
        entries = audit.entries(session, vat, 0, 200)
    assert view.status == CANCELLED and view.refunded_cents == 9900
    assert any(e.surface == "panel" and e.action == "contract.cancel" and e.outcome.startswith("refused")
               and e.actor.startswith("customer:") for e in entries)
    assert any(e.surface == "panel" and e.action == "contract.cancel" and e.outcome == "ok"
               and e.actor == f"operator:{OPERATOR}" for e in entries)
