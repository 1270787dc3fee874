"""The audit trail screen: the customer's trail, newest first, a page at a time (who, through which surface,
what, on what, and its outcome). Read by the customer's users and operators (`audit.read`); an accountant has
no menu entry and is refused. Through `starters.audit.audit_trail`."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.panel.common import PANEL, REFUSALS, attempt_message, customer_of, needs_user, refusal, settings_of
from api.panel.pages import language, render
from starters.audit import PAGE, audit_trail

router = APIRouter(prefix="/panel/c/{vat}/audit", include_in_schema=False)


@router.get("")
async def trail(vat: str, request: Request, before: int | None = Query(default=None, ge=1)) -> Response:
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    vat = customer_of(vat)
    try:
        entries = await run_in_threadpool(audit_trail, settings_of(request), vat, before, PAGE,
                                          as_user=user.principal, surface=PANEL)
    except REFUSALS as err:
        ref = refusal(request, err)
        return render(request, "message.html.j2", user=user, vat=vat, status_code=ref.status,
                      message=attempt_message(ref, language(request)))
    older = entries[-1].id if len(entries) == PAGE else None
    return render(request, "audit.html.j2", user=user, vat=vat, entries=entries, older=older, newer=before)
