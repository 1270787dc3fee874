"""Contract orders over HTTP, and the customer's acceptance page.

`/contracts/...` is for the partner's systems (the same as `einvoice contract ...`). `/accept/{token}` is the
page the link in the e-mail opens: GET only shows the contract summary and an Accept button (mail scanners
open links, so opening never accepts); POST accepts. A link that cannot be used gets a clear page and
changes nothing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel, Field

from api.access import AccessDep
from api.deps import SettingsDep, TemporalDep
from core.db import session_scope
from domain.contracts import format_eur, it_date, render_contract
from domain.tokens import TokenInvalid
from models import contracts as orders
from models.tenant import get_tenant
from starters import contracts as starter
from starters.acting import HTTP

router = APIRouter(tags=["contracts"])

_pages = Environment(
    loader=FileSystemLoader(str(Path(__file__).resolve().parent.parent / "templates")),
    autoescape=select_autoescape(["html", "html.j2"]),
    undefined=StrictUndefined,
)
# Never cached, never framed (a hidden frame could trick a click on Accept), never leaking the link onwards.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Robots-Tag": "noindex",
}


class ContractCreate(BaseModel):
    vat: str = Field(description="VAT number with country prefix (IT + partita IVA, PL + NIP)")
    amount: str = Field(default="0", description="Activation amount in euro, e.g. 49.00")


class ContractCancel(BaseModel):
    reason: str = Field(default="", max_length=300, description="Why the activation is cancelled")


def _json(value: Any) -> dict[str, Any]:
    return dataclasses.asdict(value)


@router.post("/contracts", status_code=201)
async def start(body: ContractCreate, settings: SettingsDep, client: TemporalDep, access: AccessDep) -> dict[str, Any]:
    """Open an order: the contract and the acceptance link go to the customer's PEC."""
    started = await starter.start_contract(settings, body.vat, body.amount, client, as_user=access.user, surface=HTTP)
    return started.to_json()


@router.get("/contracts/{vat}")
async def status(vat: str, settings: SettingsDep, client: TemporalDep, access: AccessDep) -> dict[str, Any]:
    """The customer's newest order with every step of its history."""
    return await starter.contract_status(settings, vat, client, as_user=access.user, surface=HTTP)


@router.get("/contracts/{vat}/state")
async def state(vat: str, settings: SettingsDep, client: TemporalDep, access: AccessDep) -> dict[str, Any]:
    """The running workflow's own view (its `state` query)."""
    return _json(await starter.query_state(settings, vat, client, as_user=access.user, surface=HTTP))


@router.post("/contracts/{vat}/resend")
async def resend(vat: str, settings: SettingsDep, client: TemporalDep, access: AccessDep) -> dict[str, Any]:
    """E-mail the contract and a new link again; 409 unless the order awaits documentation, 429 over the caps
    per order or per hour (Retry-After: when the next is allowed)."""
    return _json(await starter.resend_contract(settings, vat, client, as_user=access.user, surface=HTTP))


@router.post("/contracts/{vat}/cancel")
async def cancel(vat: str, body: ContractCancel, settings: SettingsDep, client: TemporalDep,
                 access: AccessDep) -> dict[str, Any]:
    """Cancel the activation (the amount is recorded as refunded); 409 unless awaiting documentation."""
    return _json(await starter.cancel_contract(settings, vat, body.reason, client, as_user=access.user,
                                               surface=HTTP))


# ---- the acceptance page ------------------------------------------------------------------------------

_REFUSALS = {
    # reason: (HTTP status, title)
    "forged": (400, "Link non valido / Invalid link"),
    "unknown": (400, "Link non valido / Invalid link"),
    "expired": (410, "Link scaduto / Link expired"),
    "reused": (409, "Link già usato / Link already used"),
    "accepted": (409, "Contratto già accettato / Contract already accepted"),
    "cancelled": (410, "Ordine annullato / Order cancelled"),
    "closed": (409, "Ordine non più in attesa / Order no longer awaiting acceptance"),
}


def _page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _pages.get_template(f"contracts/{template}").render(**context)
    return HTMLResponse(html, status_code=status_code, headers=_PAGE_HEADERS)


def _refused(reason: str, message: str) -> HTMLResponse:
    code, title = _REFUSALS.get(reason, (409, "Link non utilizzabile / Link cannot be used"))
    return _page("result.html.j2", code, title=title, ok=False, outcome=reason, message=message,
                 detail="Nulla è stato modificato. Per un nuovo link contatti il suo intermediario. / Nothing was "
                        "changed. Ask your intermediary for a new link.")


@router.get("/accept/{token}", response_class=HTMLResponse, include_in_schema=False)
def accept_page(token: str, settings: SettingsDep) -> HTMLResponse:
    """Shows the contract summary and the Accept button. Never accepts."""
    try:
        link = starter.preview_link(settings, token)
    except (TokenInvalid, orders.LinkRefused) as err:
        return _refused(err.reason, str(err))
    order = link.order
    return _page("accept.html.j2", title="Contratto di intermediazione", order=order,
                 amount=format_eur(order.amount_cents), deadline=it_date(order.deadline),
                 accept_url=f"/accept/{token}", contract_url=f"/accept/{token}/contract")


@router.get("/accept/{token}/contract", response_class=HTMLResponse, include_in_schema=False)
def contract_document(token: str, settings: SettingsDep) -> HTMLResponse:
    """The contract itself, as attached to the e-mail."""
    try:
        link = starter.preview_link(settings, token)
    except (TokenInvalid, orders.LinkRefused) as err:
        return _refused(err.reason, str(err))
    with session_scope(settings.database_url) as session:
        doc = orders.document_of(session, link.order.order_id)
    return HTMLResponse(render_contract(doc), headers=_PAGE_HEADERS)


@router.post("/accept/{token}", response_class=HTMLResponse, include_in_schema=False)
async def accept(token: str, request: Request, settings: SettingsDep, client: TemporalDep) -> HTMLResponse:
    """Accepts the contract: the order's workflow enables the customer, then e-mails the partner and the
    conservation manager."""
    ip = request.client.host if request.client else ""
    try:
        result = await starter.accept_link(settings, token, ip, request.headers.get("user-agent", ""), client)
    except (TokenInvalid, orders.LinkRefused) as err:
        return _refused(err.reason, str(err))
    tenant = await run_in_threadpool(_tenant_enabled, settings.database_url, result.vat_number)
    return _page("result.html.j2", title="Contratto accettato / Contract accepted", ok=True, outcome="accepted",
                 message=f"Grazie: il contratto (ordine {result.order_id}) è accettato e il servizio per "
                         f"{result.vat_number} è {'attivo' if tenant else 'in attivazione'}. / Thank you: the "
                         f"contract is accepted and the service for {result.vat_number} is "
                         f"{'enabled' if tenant else 'being enabled'}.",
                 detail=f"Accettato il / Accepted on {result.accepted_at.strftime('%d/%m/%Y %H:%M UTC')}")


def _tenant_enabled(url: str, vat: str) -> bool:
    with session_scope(url) as session:
        return get_tenant(session, vat).enabled
