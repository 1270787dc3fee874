"""The e-mail notification preferences (seed 004, "Powiadomienia e-mail"): one checkbox per kind of notification,
all on by default; an unchecked box means that kind is not sent. Saved all-or-nothing through
`starters.certificates.set_notification_preferences` (an unknown kind changes nothing), after the policy is
asked (a refusal audited, surface panel)."""

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
    precheck,
    refusal,
    settings_of,
)
from api.panel.pages import allowed, language, render
from api.panel.session import PanelUser
from domain.notifications import NOTIFICATION_KINDS
from starters.certificates import notification_preferences, set_notification_preferences

router = APIRouter(prefix="/panel/c/{vat}/preferences", include_in_schema=False)


async def _screen(request: Request, user: PanelUser, vat: str, status_code: int = 200,
                  message: str | None = None, ok: bool = False) -> Response:
    try:
        prefs = await run_in_threadpool(notification_preferences, settings_of(request), vat, as_user=user.principal,
                                        surface=PANEL)
    except REFUSALS as err:
        ref = refusal(request, err)
        return render(request, "message.html.j2", user=user, vat=vat, status_code=ref.status,
                      message=attempt_message(ref, language(request)))
    return render(request, "preferences.html.j2", user=user, vat=vat, prefs=prefs,
                  can_update=allowed(user.principal, "preferences.update", vat), status_code=status_code,
                  message=message, ok=ok)


@router.get("")
async def preferences(vat: str, request: Request) -> Response:
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    return await _screen(request, user, customer_of(vat))


@router.post("")
async def save(vat: str, request: Request) -> Response:
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    vat = customer_of(vat)
    _, refused = await form_with_csrf(request, user)
    if refused is not None:
        return refused
    form = await request.form()  # cached: the checked boxes as a list
    checked = {str(v) for v in form.getlist("kind")}
    # every known kind is set (an unchecked box: off); a kind we do not know is passed on for the starter to refuse
    changes = {kind: kind in checked for kind in NOTIFICATION_KINDS} | dict.fromkeys(checked - set(NOTIFICATION_KINDS),
                                                                                      True)
    settings = settings_of(request)
    lang = language(request)
    try:
        await run_in_threadpool(precheck, settings, user, "preferences.update", vat)
        prefs = await run_in_threadpool(set_notification_preferences, settings, vat, changes,
                                        as_user=user.principal, surface=PANEL)
    except REFUSALS as err:
        ref = refusal(request, err)
        return await _screen(request, user, vat, ref.status, attempt_message(ref, lang))
    off = [i18n.translate(lang, f"notif_{k}") for k, on in prefs.items() if not on]
    return await _screen(request, user, vat, ok=True, message=f"{i18n.translate(lang, 'prefs_saved')}; "
                                                              f"{i18n.translate(lang, 'prefs_off')}: "
                                                              f"{', '.join(off) or '-'}")
