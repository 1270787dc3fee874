"""The certificates screen (seed 000, the Agenzia's "Certificato Gestore ed Esercente"): upload a PKCS#10 file
and "Richiedi certificato"; the list Id / Certificato / Stato / Data Richiesta / Data Scadenza / Esito with the
download of an issued certificate; the CA certificate; "Annullamento certificato" with its six reasons
(mandatory) and the cumulative warning naming how many certificates go. Seed 004 (KSeF): a second upload
window for the offline certificate made elsewhere (certyfikat offline: its status "certyfikat poprawnie
dodany" or "brak certyfikatu"), and every certificate's delete. Every action is the starters' own."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.deps import get_temporal
from api.panel import i18n
from api.panel.common import (
    PANEL,
    REFUSALS,
    attempt_message,
    customer_of,
    form_with_csrf,
    needs_user,
    posted_form,
    precheck,
    refusal,
    settings_of,
)
from api.panel.pages import allowed, language, render
from api.panel.session import PanelUser
from api.routes.invoices import content_disposition
from domain.certificates import ACTIVE, MAX_CERTIFICATE_BYTES, NO_CERTIFICATE, OFFLINE, REVOCATION_REASONS
from domain.csr import MAX_CSR_BYTES
from domain.errors import InvalidInput
from starters.certificates import (
    delete_customer_certificate,
    download_certificate,
    list_customer_certificates,
    request_certificate,
    revocation_preview,
    revoke_certificates,
    upload_certificate,
)

router = APIRouter(prefix="/panel/c/{vat}/certificates", include_in_schema=False)


async def _screen(request: Request, user: PanelUser, vat: str, status_code: int = 200,
                  message: str | None = None, ok: bool = False) -> Response:
    settings = settings_of(request)
    try:
        certs, offline = await run_in_threadpool(list_customer_certificates, settings, vat, as_user=user.principal,
                                                 surface=PANEL)
    except REFUSALS as err:
        ref = refusal(request, err)
        return render(request, "message.html.j2", user=user, status_code=ref.status,
                      message=attempt_message(ref, language(request)))
    active = [c for c in certs if c.state == ACTIVE]
    can = {action: allowed(user.principal, f"certificate.{action}", vat)
           for action in ("request", "revoke", "upload", "delete")}
    return render(request, "certificates.html.j2", user=user, vat=vat, certs=certs, active=active,
                  offline_added=offline != NO_CERTIFICATE, can=can, status_code=status_code, message=message, ok=ok)


@router.get("")
async def certificates(vat: str, request: Request, requested: str | None = None) -> Response:
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    lang = language(request)
    message = f"{i18n.translate(lang, 'cert_requested')} {requested}" if requested else None
    return await _screen(request, user, customer_of(vat), message=message, ok=bool(requested))


async def bounded_upload(upload: Any, field: str, limit: int) -> bytes:
    if not isinstance(upload, UploadFile):
        raise InvalidInput.one(field, "choose a file to upload")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput.one(field, f"the file is larger than {limit // 1024} KiB")
    if not data:
        raise InvalidInput.one(field, "the file is empty")
    return data


@router.post("")
async def request_new(vat: str, request: Request) -> Response:
    posted = await posted_form(request, vat)
    if isinstance(posted, Response):
        return posted
    user, vat, form = posted
    settings = settings_of(request)
    try:
        await run_in_threadpool(precheck, settings, user, "certificate.request", vat)
        data = await bounded_upload(form.get("csr"), "csr.format", MAX_CSR_BYTES)
        result = await request_certificate(settings, vat, data, "authentication", None, as_user=user.principal,
                                           surface=PANEL, client=await get_temporal(request), wait=True,
                                           wait_seconds=settings.http_wait_seconds)
    except REFUSALS as err:
        ref = refusal(request, err)
        return await _screen(request, user, vat, ref.status, attempt_message(ref, language(request)))
    op = result.certificate.operation_id
    return RedirectResponse(f"/panel/c/{vat}/certificates?requested={quote(op)}", status_code=303)


@router.post("/uploads")
async def upload_offline(vat: str, request: Request) -> Response:
    """Seed 004: the offline certificate, made elsewhere (MCU, Aplikacja Podatnika KSeF), recorded and watched
    for its expiry (`starters.certificates.upload_certificate`: it must parse, be valid now and name the
    customer)."""
    posted = await posted_form(request, vat)
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
                                 f"({i18n.translate(lang, 'col_expires')} {i18n.date(view.expires_at)})")


@router.post("/{operation_id}/delete")
async def delete(vat: str, operation_id: str, request: Request) -> Response:
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    vat = customer_of(vat)
    _, refused = await form_with_csrf(request, user)
    if refused is not None:
        return refused
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


@router.get("/revoke")
async def revoke_form(vat: str, request: Request) -> Response:
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    return await _revoke_screen(request, user, customer_of(vat))


async def _revoke_screen(request: Request, user: PanelUser, vat: str, status_code: int = 200,
                         message: str | None = None) -> Response:
    settings = settings_of(request)
    try:
        cumulative, active = await run_in_threadpool(revocation_preview, settings, vat, as_user=user.principal,
                                                     surface=PANEL)
    except REFUSALS as err:
        ref = refusal(request, err)
        return render(request, "message.html.j2", user=user, vat=vat, status_code=ref.status,
                      message=attempt_message(ref, language(request)))
    return render(request, "revoke.html.j2", user=user, vat=vat, cumulative=cumulative, active=active,
                  reasons=list(REVOCATION_REASONS), can_revoke=allowed(user.principal, "certificate.revoke", vat),
                  status_code=status_code, message=message)


@router.post("/revoke")
async def revoke(vat: str, request: Request) -> Response:
    posted = await posted_form(request, vat)
    if isinstance(posted, Response):
        return posted
    user, vat, form = posted
    settings = settings_of(request)
    reason = str(form.get("reason") or "")
    operation = str(form.get("operation_id") or "") or None
    try:
        await run_in_threadpool(precheck, settings, user, "certificate.revoke", vat)
        result = await revoke_certificates(settings, vat, reason, operation, as_user=user.principal, surface=PANEL,
                                           client=await get_temporal(request),
                                           wait_seconds=settings.http_wait_seconds)
    except REFUSALS as err:
        ref = refusal(request, err)
        return await _revoke_screen(request, user, vat, ref.status, attempt_message(ref, language(request)))
    lang = language(request)
    done = ", ".join(result.revoked)
    pending = ", ".join(result.pending)
    message = f"{i18n.translate(lang, 'revoked_done')}: {done or '-'}"
    if pending:
        message += f"; {i18n.translate(lang, 'revoke_pending')}: {pending}"
    return await _screen(request, user, vat, message=message, ok=True)


@router.get("/{operation_id}/download")
async def download(vat: str, operation_id: str, request: Request) -> Response:
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    vat = customer_of(vat)
    try:
        name, der = await run_in_threadpool(download_certificate, settings_of(request), vat, operation_id,
                                            as_user=user.principal, surface=PANEL)
    except REFUSALS as err:
        ref = refusal(request, err)
        return await _screen(request, user, vat, ref.status, attempt_message(ref, language(request)))
    return Response(der, media_type="application/pkix-cert",
                    headers={"Content-Disposition": content_disposition("attachment", name, f"{operation_id}.cer"),
                             "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
