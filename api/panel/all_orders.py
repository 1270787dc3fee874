"""The partner's list of all its orders (seed 003, "Storage DocFly": every order already placed), newest first,
optionally in one state; each links to its customer's orders screen, where the actions are. Operators reach it
from the home page; anyone else sees only the customers whose orders it may read."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.panel.common import PANEL, REFUSALS, attempt_message, needs_user, refusal, settings_of
from api.panel.pages import language, render
from domain.contracts import format_eur
from starters.contracts import ORDER_STATES, all_contract_orders

router = APIRouter(prefix="/panel/orders", include_in_schema=False)


@router.get("")
async def all_orders(request: Request, status: str | None = None) -> Response:
    user = await needs_user(request)
    if isinstance(user, Response):
        return user
    chosen = status or None
    try:
        found = await run_in_threadpool(all_contract_orders, settings_of(request), chosen, as_user=user.principal,
                                        surface=PANEL)
    except REFUSALS as err:
        ref = refusal(request, err)
        return render(request, "message.html.j2", user=user, status_code=ref.status,
                      message=attempt_message(ref, language(request)))
    return render(request, "all_orders.html.j2", user=user, orders=found, states=ORDER_STATES, chosen=chosen,
                  eur=format_eur)
