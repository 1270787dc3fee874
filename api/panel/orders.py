"""The partner's orders screen (seed 003, DocFly's "Ordini DocFly"): the customer's contract orders with their
state; "Invia Email Accettazione Contratti" (the acceptance e-mail again, offered only while the order awaits
documentation, attesa documentazione); "Cancella Richiesta Attivazione" (the activation cancelled and its
amount refunded, as the contract workflow does it: operators only); and the order card's tabs: "Storico
dell'ordine" (each order's history), "Associazione Storage" (the customer's orders with the archive space they
opened: packages and space used, `starters.archive.usage_report`) and "Responsabili" (the conservation manager,
responsabile della conservazione, who receives its access at activation, and when each order notified it; the
customer, titolare, with the PEC the contract e-mails go to). Every action is the contract starters' own
(`starters.contracts`), asked of the policy first (a refusal audited, surface panel)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.deps import get_temporal
from api.panel import i18n
from api.panel.archive import size_label
from api.panel.common import (
    PANEL,
    REFUSALS,
    attempt_message,
    customer_of,
    needs_user,
    posted_form,
    precheck,
    refusal,
    settings_of,
)
from api.panel.pages import allowed, language, render
from api.panel.session import PanelUser
from domain.contracts import format_eur
from domain.errors import InvalidInput
from models.contracts import EventView, OrderView
from models.contracts_io import AWAITING
from starters.archive import usage_report
from starters.contracts import cancel_contract, list_contract_orders, resend_contract
from starters.tenants import customer_profile

router = APIRouter(prefix="/panel/c/{vat}/orders", include_in_schema=False)


TABS = ("history", "storage", "managers")  # Storico dell'ordine, Associazione Storage, Responsabili
MANAGER_NOTIFIED = "conservation-manager-notified"  # the order's step when the activation e-mailed the manager


def _manager_notices(found: list[OrderView]) -> dict[str, EventView | None]:
    return {o.order_id: next((e for e in o.events if e.step == MANAGER_NOTIFIED), None) for o in found}


async def _screen(request: Request, user: PanelUser, vat: str, status_code: int = 200,
                  message: str | None = None, ok: bool = False, tab: str = "history") -> Response:
    settings = settings_of(request)
    usage, profile = None, None
    try:
        found = await run_in_threadpool(list_contract_orders, settings, vat, as_user=user.principal, surface=PANEL)
        if tab == "storage":
            used = await run_in_threadpool(usage_report, settings, vat, as_user=user.principal, surface=PANEL)
            usage = next((u for u in used if u.vat_number == vat), None)
        elif tab == "managers":
            profile = await run_in_threadpool(customer_profile, settings, vat, as_user=user.principal,
                                              surface=PANEL)
    except REFUSALS as err:
        ref = refusal(request, err)
        return render(request, "message.html.j2", user=user, vat=vat, status_code=ref.status,
                      message=attempt_message(ref, language(request)))
    can = {action: allowed(user.principal, f"contract.{action}", vat) for action in ("resend", "cancel")}
    return render(request, "orders.html.j2", user=user, vat=vat, orders=found, awaiting=AWAITING, can=can,
                  eur=format_eur, steps=i18n.CATALOGUE, status_code=status_code, message=message, ok=ok, tab=tab,
                  tabs=TABS, usage=usage, size=size_label, archive_link=allowed(user.principal, "archive.read", vat),
                  activated=[o for o in found if o.accepted_at is not None], profile=profile,
                  manager=settings.conservation_manager_email, notices=_manager_notices(found))


@router.get("")
async def orders(vat: str, request: Request, tab: str = "history") -> Response:
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    return await _screen(request, user, customer_of(vat), tab=tab if tab in TABS else "history")


async def _post(request: Request, vat: str, work: str) -> Response:
    posted = await posted_form(request, vat)
    if isinstance(posted, Response):
        return posted
    user, vat, form = posted
    settings = settings_of(request)
    lang = language(request)
    try:
        await run_in_threadpool(precheck, settings, user, f"contract.{work}", vat)
        client = await get_temporal(request)
        if work == "resend":
            sent = await resend_contract(settings, vat, client, as_user=user.principal, surface=PANEL)
            message = f"{i18n.translate(lang, 'order_resent')}: {sent.sent_to} ({sent.order_id}, #{sent.invitation_no})"
        else:
            if form.get("confirm") != "yes":
                raise InvalidInput.one("confirm", "confirm the cancellation of the activation")
            done = await cancel_contract(settings, vat, str(form.get("reason") or "").strip(), client,
                                         as_user=user.principal, surface=PANEL)
            message = (f"{i18n.translate(lang, 'order_cancel_done')}: {done.order_id}; "
                       f"{i18n.translate(lang, 'order_refunded')} {format_eur(done.refunded_cents)}")
    except REFUSALS as err:
        ref = refusal(request, err)
        return await _screen(request, user, vat, ref.status, attempt_message(ref, lang))
    return await _screen(request, user, vat, message=message, ok=True)


@router.post("/resend")
async def resend(vat: str, request: Request) -> Response:
    return await _post(request, vat, "resend")


@router.post("/cancel")
async def cancel(vat: str, request: Request) -> Response:
    return await _post(request, vat, "cancel")
