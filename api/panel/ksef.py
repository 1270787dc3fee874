"""The KSeF settings screen of a Polish customer (seed 004, "Ustawienia / KSeF").

Section Certyfikaty: two windows, one per type of certificate. The authentication certificate (certyfikat
uwierzytelniający) is enrolled at KSeF from a CSR the customer uploads: the starter checks it against what
KSeF's /certificates/enrollments/data dictates (a differing attribute is refused, nothing written), then the
one certificate workflow takes it through the seed's states (zlecony do autoryzacji, zaakceptowany w trakcie
autoryzacji, przeszedł autoryzację pomyślnie, or wystąpił błąd with KSeF's reason, e-mailed). The offline
certificate (certyfikat offline), generated in MCU or the Aplikacja Podatnika, is uploaded as a file: its
status is certyfikat poprawnie dodany or brak certyfikatu. Each certificate shows who added it, when it was
uploaded and when it expires, and can be deleted.

Section Powiadomienia e-mail: a checkbox per kind of e-mail a Polish customer gets from KSeF's certificates and
its invoices' outcomes (`domain.notifications.KSEF_NOTIFICATION_KINDS`), all on by default; saving sets only
those kinds.

Every action is the starters' own, after the policy is asked (`precheck`, a refusal audited, surface panel)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.deps import get_temporal
from api.panel import i18n
from api.panel.certificates import bounded_upload
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
from api.panel.pages import allowed, is_polish, language, render
from api.panel.session import PanelUser
from domain.certificates import ACTIVE, AUTHENTICATION, MAX_CERTIFICATE_BYTES, NO_CERTIFICATE, OFFLINE
from domain.csr import MAX_CSR_BYTES
from domain.errors import InvalidInput
from domain.ksef.credentials import MAX_SIGNED_REQUEST
from domain.notifications import KSEF_NOTIFICATION_KINDS
from starters.certificates import (
    delete_customer_certificate,
    list_customer_certificates,
    notification_preferences,
    request_certificate,
    set_notification_preferences,
    upload_certificate,
)

router = APIRouter(prefix="/panel/c/{vat}/ksef", include_in_schema=False)


def _not_polish(request: Request, user: PanelUser, vat: str) -> Response | None:
    """KSeF is the Polish exchange: for any other customer the screen does not exist."""
    if is_polish(vat):
        return None
    lang = language(request)
    return render(request, "message.html.j2", user=user, vat=vat, status_code=404,
                  message=f"{i18n.translate(lang, 'not_found')}: {i18n.translate(lang, 'ksef_only_polish')}")


async def _screen(request: Request, user: PanelUser, vat: str, status_code: int = 200,
                  message: str | None = None, ok: bool = False) -> Response:
    settings = settings_of(request)
    try:
        certs, offline = await run_in_threadpool(list_customer_certificates, settings, vat, as_user=user.principal,
                                                 surface=PANEL)
        prefs = await run_in_threadpool(notification_preferences, settings, vat, as_user=user.principal,
                                        surface=PANEL)
    except REFUSALS as err:
        ref = refusal(request, err)
        return render(request, "message.html.j2", user=user, vat=vat, status_code=ref.status,
                      message=attempt_message(ref, language(request)))
    authentication = [c for c in certs if c.kind == AUTHENTICATION]
    # the window's status: an authorized certificate if there is one, else the newest request's state
    current = next((c for c in reversed(authentication) if c.state == ACTIVE),
                   authentication[-1] if authentication else None)
    can = {action: allowed(user.principal, f"certificate.{action}", vat) for action in ("request", "upload",
                                                                                         "delete")}
    return render(request, "ksef.html.j2", user=user, vat=vat, authentication=authentication,
                  latest=current,
                  offline=[c for c in certs if c.kind == OFFLINE], offline_added=offline != NO_CERTIFICATE,
                  prefs={kind: prefs[kind] for kind in KSEF_NOTIFICATION_KINDS}, can=can,
                  can_notify=allowed(user.principal, "preferences.update", vat), status_code=status_code,
                  message=message, ok=ok)


@router.get("")
async def ksef(vat: str, request: Request) -> Response:
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    vat = customer_of(vat)
    return _not_polish(request, user, vat) or await _screen(request, user, vat)


async def _posted(request: Request, vat: str) -> tuple[PanelUser, str, dict[str, object]] | Response:
    """The user, the customer and the form of a POST, or the page that refuses it (no session, CSRF, not
    a Polish customer)."""
    posted = await posted_form(request, vat)
    if isinstance(posted, Response):
        return posted
    user, vat, _ = posted
    return _not_polish(request, user, vat) or posted


@router.post("/authentication")
async def enroll(vat: str, request: Request) -> Response:
    """The authentication certificate's window: a CSR and the KSeF login the customer signed for it (we hold
    no key of the customer's), enrolled at KSeF (the page answers once KSeF decided, or after
    HTTP_WAIT_SECONDS with the state so far)."""
    posted = await _posted(request, vat)
    if isinstance(posted, Response):
        return posted
    user, vat, form = posted
    settings = settings_of(request)
    try:
        await run_in_threadpool(precheck, settings, user, "certificate.request", vat)
        data = await bounded_upload(form.get("csr"), "csr.format", MAX_CSR_BYTES)
        login = form.get("ksef_auth_request")  # KSeF enrolls in the name of whoever signed it: the customer
        signed = (await bounded_upload(login, "ksef_auth_request", MAX_SIGNED_REQUEST)
                  if isinstance(login, UploadFile) and login.filename else None)
        result = await request_certificate(settings, vat, data, AUTHENTICATION, None, as_user=user.principal,
                                           surface=PANEL, client=await get_temporal(request), wait=True,
                                           wait_seconds=settings.http_wait_seconds, ksef_auth_request=signed)
    except REFUSALS as err:
        ref = refusal(request, err)
        return await _screen(request, user, vat, ref.status, attempt_message(ref, language(request)))
    lang = language(request)
    view = result.certificate
    return await _screen(request, user, vat, ok=True,
                         message=f"{i18n.translate(lang, 'ksef_enrolled')}: {view.operation_id} "
                                 f"({i18n.translate(lang, 'ksef_state_' + view.state)})")


@router.post("/offline")
async def upload_offline(vat: str, request: Request) -> Response:
    """The offline certificate's window: a certificate file made in MCU or the Aplikacja Podatnika (it must
    parse, be valid now and name the customer)."""
    posted = await _posted(request, vat)
    if isinstance(posted, Response):
        return posted
    user, vat, form = posted
    settings = settings_of(request)
    try:
        await run_in_threadpool(precheck, settings, user, "certificate.upload", vat)
        data = await bounded_upload(form.get("certificate"), "certificate.format", MAX_CERTIFICATE_BYTES)
        view = await upload_certificate(settings, vat, data, OFFLINE, as_user=user.principal, surface=PANEL,
                                        client=await get_temporal(request))
    except REFUSALS as err:
        ref = refusal(request, err)
        return await _screen(request, user, vat, ref.status, attempt_message(ref, language(request)))
    lang = language(request)
    return await _screen(request, user, vat, ok=True,
                         message=f"{i18n.translate(lang, 'cert_uploaded')}: {view.operation_id} "
                                 f"({i18n.translate(lang, 'ksef_col_expires')} {i18n.date(view.expires_at)})")


@router.post("/{operation_id}/delete")
async def delete(vat: str, operation_id: str, request: Request) -> Response:
    posted = await _posted(request, vat)
    if isinstance(posted, Response):
        return posted
    user, vat, _ = posted
    settings = settings_of(request)
    try:
        await run_in_threadpool(precheck, settings, user, "certificate.delete", vat)
        await delete_customer_certificate(settings, vat, operation_id, as_user=user.principal, surface=PANEL,
                                          client=await get_temporal(request))
    except REFUSALS as err:
        ref = refusal(request, err)
        return await _screen(request, user, vat, ref.status, attempt_message(ref, language(request)))
    return await _screen(request, user, vat, ok=True,
                         message=f"{i18n.translate(language(request), 'cert_deleted')}: {operation_id}")


@router.post("/notifications")
async def notifications(vat: str, request: Request) -> Response:
    """Powiadomienia e-mail: the KSeF kinds only (an unchecked box: off); the customer's other kinds are
    left as they are. A kind that is not KSeF's is passed on for the starter to refuse, nothing changed."""
    posted = await _posted(request, vat)
    if isinstance(posted, Response):
        return posted
    user, vat, _ = posted
    form = await request.form()  # cached: the checked boxes as a list
    checked = {str(v) for v in form.getlist("kind")}
    changes = {kind: kind in checked for kind in KSEF_NOTIFICATION_KINDS} | dict.fromkeys(
        checked - set(KSEF_NOTIFICATION_KINDS), True)
    settings = settings_of(request)
    lang = language(request)
    try:
        await run_in_threadpool(precheck, settings, user, "preferences.update", vat)
        if set(changes) - set(KSEF_NOTIFICATION_KINDS):
            unknown = ", ".join(sorted(set(changes) - set(KSEF_NOTIFICATION_KINDS)))
            raise InvalidInput.one("kind", f"not a KSeF notification kind: {unknown}; one of: "
                                           f"{', '.join(KSEF_NOTIFICATION_KINDS)}")
        prefs = await run_in_threadpool(set_notification_preferences, settings, vat, changes,
                                        as_user=user.principal, surface=PANEL)
    except REFUSALS as err:
        ref = refusal(request, err)
        return await _screen(request, user, vat, ref.status, attempt_message(ref, lang))
    off = [i18n.translate(lang, f"notif_{k}") for k in KSEF_NOTIFICATION_KINDS if not prefs[k]]
    return await _screen(request, user, vat, ok=True, message=f"{i18n.translate(lang, 'prefs_saved')}; "
                                                              f"{i18n.translate(lang, 'prefs_off')}: "
                                                              f"{', '.join(off) or '-'}")
