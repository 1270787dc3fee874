"""The delegation screen (seed 002, Aruba's accountant links): the customer links an accountant with the
permission checkboxes — read; create/modify invoices; send invoices; manage the service configuration; and,
per module (documents, payments, e-orders), read and create/modify, enabled only while read is granted — then
grants, withdraws or ends each link. Through `starters.delegations`, as the HTTP routes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.panel import i18n
from api.panel.common import (
    PANEL,
    REFUSALS,
    attempt_message,
    customer_of,
    form_with_csrf,
    needs_user,
    refusal,
    settings_of,
)
from api.panel.pages import allowed, language, render
from api.panel.session import PanelUser
from domain.permissions import ALL, BASE, LABELS, MODULES, READ
from starters import delegations as starter

router = APIRouter(prefix="/panel/c/{vat}/delegations", include_in_schema=False)


async def _screen(request: Request, user: PanelUser, vat: str, status_code: int = 200,
                  message: str | None = None, ok: bool = False) -> Response:
    try:
        links = await run_in_threadpool(starter.customer_links, settings_of(request), vat, as_user=user.principal,
                                        surface=PANEL)
    except REFUSALS as err:
        ref = refusal(request, err)
        return render(request, "message.html.j2", user=user, vat=vat, status_code=ref.status,
                      message=attempt_message(ref, language(request)))
    lang = language(request)
    return render(request, "delegations.html.j2", user=user, vat=vat, links=links, base=BASE, modules=MODULES,
                  read=READ, labels={p: LABELS[p][lang] for p in LABELS},
                  can_grant=allowed(user.principal, "delegation.grant", vat),
                  can_invite=allowed(user.principal, "delegation.invite", vat),
                  status_code=status_code, message=message, ok=ok)


@router.get("")
async def delegations(vat: str, request: Request) -> Response:
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    return await _screen(request, user, customer_of(vat))


def _checked(form: object) -> list[str]:
    values = form.getlist("permission") if hasattr(form, "getlist") else []
    return [str(v) for v in values]


async def _post(request: Request, vat: str, work: str, link_id: int | None = None) -> Response:
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    vat = customer_of(vat)
    _, refused = await form_with_csrf(request, user)
    if refused is not None:
        return refused
    form = await request.form()  # cached: the same form, its repeated checkboxes as a list
    settings = settings_of(request)
    lang = language(request)
    try:
        if work == "invite":
            view = await run_in_threadpool(starter.invite_accountant, settings, vat, str(form.get("email") or ""),
                                           _checked(form), as_user=user.principal, surface=PANEL)
        elif work == "grant":
            assert link_id is not None
            view = await run_in_threadpool(starter.grant_permissions, settings, vat, link_id, _checked(form),
                                           as_user=user.principal, surface=PANEL)
        else:
            assert link_id is not None
            view = await run_in_threadpool(starter.end_customer_link, settings, vat, link_id,
                                           as_user=user.principal, surface=PANEL)
    except REFUSALS as err:
        ref = refusal(request, err)
        return await _screen(request, user, vat, ref.status, attempt_message(ref, lang))
    granted = ", ".join(LABELS[p][lang] for p in ALL if p in view.permissions) or "-"
    return await _screen(request, user, vat, message=f"{i18n.translate(lang, 'delegation_saved')}: "
                                                     f"{view.accountant} ({view.state}): {granted}", ok=True)


@router.post("")
async def invite(vat: str, request: Request) -> Response:
    return await _post(request, vat, "invite")


@router.post("/{link_id}/permissions")
async def grant(vat: str, link_id: int, request: Request) -> Response:
    return await _post(request, vat, "grant", link_id)


@router.post("/{link_id}/end")
async def end(vat: str, link_id: int, request: Request) -> Response:
    return await _post(request, vat, "end", link_id)
