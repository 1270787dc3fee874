"""The customer profile (seed 001, "Profilazione Utente"): the customer checks its data (company name, PEC,
P.IVA / NIP, codice destinatario, address), reads the conditions and confirms ("Accetto le condizioni",
"CONFERMO I MIEI DATI"). The confirmation is recorded (who, when, which version of the conditions) by
`starters.tenants.confirm_profile`, which asks the policy (`tenant.confirm`: never an accountant) and audits
(surface panel). A wrong field is shown beside it and in the page's message, with nothing written; whoever
may only read (`tenant.read`) sees the data without the form."""

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
    needs_user,
    posted_form,
    refusal,
    settings_of,
)
from api.panel.pages import allowed, language, render
from api.panel.session import PanelUser
from domain.errors import InvalidInput
from domain.profile import CONDITIONS_VERSION, ProfileForm
from models.tenant_profile import ProfileView
from starters.tenants import confirm_profile, customer_profile

router = APIRouter(prefix="/panel/c/{vat}/profile", include_in_schema=False)

_TEXT_FIELDS = ("name", "pec", "sdi_code", "street", "postcode", "city", "province")


def _values(found: ProfileView) -> dict[str, str]:
    """The form's values: the latest confirmation's, else the customer's as the intermediary recorded it."""
    c, t = found.confirmation, found.tenant
    return {"name": c.name if c else t.name, "pec": c.pec if c else t.pec,
            "sdi_code": (c.sdi_code if c else t.sdi_code) or "", "street": c.street if c else "",
            "postcode": c.postcode if c else "", "city": c.city if c else "",
            "province": (c.province or "") if c else ""}


async def _screen(request: Request, user: PanelUser, vat: str, status_code: int = 200, message: str | None = None,
                  ok: bool = False, sent: dict[str, str] | None = None,
                  errors: dict[str, str] | None = None) -> Response:
    try:
        found = await run_in_threadpool(customer_profile, settings_of(request), vat, as_user=user.principal,
                                        surface=PANEL)
    except REFUSALS as err:
        ref = refusal(request, err)
        return render(request, "message.html.j2", user=user, vat=vat, status_code=ref.status,
                      message=attempt_message(ref, language(request)))
    return render(request, "profile.html.j2", user=user, vat=vat, profile=found, values=sent or _values(found),
                  errors=errors or {}, version=CONDITIONS_VERSION, italian=found.tenant.country == "IT",
                  can_confirm=allowed(user.principal, "tenant.confirm", vat), status_code=status_code,
                  message=message, ok=ok)


@router.get("")
async def profile(vat: str, request: Request) -> Response:
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    return await _screen(request, user, customer_of(vat))


@router.post("")
async def confirm(vat: str, request: Request) -> Response:
    posted = await posted_form(request, vat)
    if isinstance(posted, Response):
        return posted
    user, vat, form = posted
    sent = {k: str(form.get(k) or "")[:300] for k in _TEXT_FIELDS}
    data = ProfileForm(**sent, accept=form.get("accept") == "yes",
                       conditions_version=str(form.get("conditions_version") or "")[:40])
    lang = language(request)
    try:
        done = await run_in_threadpool(confirm_profile, settings_of(request), vat, data, as_user=user.principal,
                                       surface=PANEL)
    except InvalidInput as err:  # each wrong field beside its input, all of them in the message
        ref = refusal(request, err)
        return await _screen(request, user, vat, ref.status, attempt_message(ref, lang), sent=sent,
                             errors={p.field: p.message for p in err.problems})
    except REFUSALS as err:
        ref = refusal(request, err)
        return await _screen(request, user, vat, ref.status, attempt_message(ref, lang))
    assert done.confirmation is not None
    return await _screen(request, user, vat, ok=True, message=i18n.translate(
        lang, "profile_confirmed", number=done.confirmation.number, version=done.confirmation.conditions_version))
