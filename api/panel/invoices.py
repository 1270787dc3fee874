"""The invoices screen: upload and send with the signature chosen (none, CAdES-BES .p7m, XAdES-BES), the list
with its states, one invoice with its notifications as a timeline (RC, MC, NS, NE, DT, AT as the SDI named
them) and its downloads (XML, .p7m, HTML, PDF, the notifications), through the starters the HTTP routes call.

A Polish customer's screen is KSeF's (`api/panel/ksef_invoices.py`): "Wyślij do KSeF" (FA(3), no signature to
choose), "Pobierz z KSeF" (a range download), the numer KSeF and UPO of each FA(3) invoice, and the window that
asks for the customer's KSeF token before either action when none is set (seed 004)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.deps import get_temporal
from api.panel import i18n, ksef_invoices
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
from api.routes.invoices import download_response
from core.settings import Settings
from domain.errors import InvalidInput, NotFound
from domain.fatturapa import MAX_FILE_SIZE
from models.files import FileInfo
from models.invoices import InvoiceView
from starters import invoices as starter
from starters.ksef_credentials import set_ksef_token
from starters.ksef_download import download_range

router = APIRouter(prefix="/panel/c/{vat}/invoices", include_in_schema=False)
SIGN_MODES = ("none", "cades", "xades")  # models.invoices_io.SIGN_MODES, "none" first: the form's default
DOWNLOADS = ("original", "signed", "html", "pdf", "notifications", "upo")
# the SDI's file names: <sent file>_<kind>_<progressive>.xml (Specifiche tecniche SdI, the notifications)
_KIND = re.compile(r"_(RC|MC|NS|NE|DT|AT|EC|MT|SE)_[A-Za-z0-9]{1,3}\.xml", re.IGNORECASE)
KIND_LABELS = {
    "RC": "Ricevuta di consegna (RC)", "MC": "Notifica di mancata consegna (MC)", "NS": "Notifica di scarto (NS)",
    "NE": "Notifica esito committente (NE)", "DT": "Notifica decorrenza termini (DT)",
    "AT": "Attestazione di avvenuta trasmissione (AT)", "EC": "Esito committente inviato (EC)",
    "MT": "File dei metadati (MT)", "SE": "Scarto esito committente (SE)",
}


@dataclass(frozen=True)
class Step:
    at: datetime
    label: str
    name: str


def timeline(created_at: datetime, files: list[FileInfo]) -> list[Step]:
    """The invoice's life in time order: its upload, then every notification (or outcome) stored for it."""
    steps = [Step(created_at, "upload", "")]
    for f in files:
        if f.role in ("notification", "outcome", "metadata"):
            found = _KIND.search(f.name)
            kind = found.group(1).upper() if found else ""
            steps.append(Step(f.created_at, KIND_LABELS.get(kind, f.role), f.name))
    return sorted(steps, key=lambda s: s.at)


async def _list(request: Request, user: PanelUser, vat: str, status_code: int = 200,
                message: str | None = None, ok: bool = False, window: str | None = None,
                range_asked: tuple[str, str] | None = None) -> Response:
    """The screen; `window`: the KSeF token window open, to go on with that action once the token is saved
    (`range_asked`: the download's days, carried through the window)."""
    settings = settings_of(request)
    try:
        invoices = await run_in_threadpool(starter.list_invoices, settings, vat, as_user=user.principal,
                                           surface=PANEL)
        ksef = await ksef_invoices.context(settings, user, vat)
    except REFUSALS as err:
        ref = refusal(request, err)
        return render(request, "message.html.j2", user=user, status_code=ref.status,
                      message=attempt_message(ref, language(request)))
    if range_asked is not None:
        ksef["range_from"], ksef["range_to"] = range_asked
    return render(request, "invoices.html.j2", user=user, vat=vat, invoices=invoices, sign_modes=SIGN_MODES,
                  can_send=allowed(user.principal, "invoice.send", vat), status_code=status_code, message=message,
                  ok=ok, ksef=ksef, window=window if window in ksef_invoices.ACTIONS else None)


@router.get("")
async def invoices(vat: str, request: Request, started: int = 0) -> Response:
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    message = f"{i18n.translate(language(request), 'ksef_download_started')}: {started}" if started else None
    return await _list(request, user, customer_of(vat), message=message, ok=bool(started))


def _token_missing(settings: Settings, user: PanelUser, vat: str) -> bool:
    """A Polish customer's action with no KSeF token to log in with (its users are told, not refused)."""
    return is_polish(vat) and not ksef_invoices.token_set(settings, user, vat)


@router.post("")
async def send(vat: str, request: Request) -> Response:
    posted = await posted_form(request, vat)
    if isinstance(posted, Response):
        return posted
    user, vat, form = posted
    settings = settings_of(request)
    sign = str(form.get("sign") or "none")
    upload = form.get("file")
    try:
        await run_in_threadpool(precheck, settings, user, "invoice.send", vat)
        if await run_in_threadpool(_token_missing, settings, user, vat):
            return await _list(request, user, vat, 409, i18n.translate(language(request), "ksef_token_first"),
                               window="send")
        if sign not in SIGN_MODES:
            raise InvalidInput.one("sign", f"one of {', '.join(SIGN_MODES)}; got {sign[:20]!r}")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput.one("file", "choose a FatturaPA file (XML or .p7m) to send")
        data = await upload.read(MAX_FILE_SIZE + 1)
        if len(data) > MAX_FILE_SIZE:
            raise InvalidInput.one("file", f"larger than the SDI limit of {MAX_FILE_SIZE} bytes", "00003")
        view = await starter.send_invoice(settings, vat, data, upload.filename, sign, None, as_user=user.principal,
                                          surface=PANEL, client=await get_temporal(request))
    except REFUSALS as err:
        ref = refusal(request, err)
        return await _list(request, user, vat, ref.status, attempt_message(ref, language(request)))
    return RedirectResponse(f"/panel/c/{vat}/invoices/{view.id}?sent=1", status_code=303)


async def _start_download(request: Request, user: PanelUser, vat: str, date_from: str, date_to: str) -> Response:
    start, end = ksef_invoices.parse_range(date_from, date_to)
    view = await download_range(settings_of(request), vat, start, end, await get_temporal(request),
                                as_user=user.principal, surface=PANEL)
    return RedirectResponse(f"/panel/c/{vat}/invoices?started={view.id}", status_code=303)


@router.post("/ksef/download")
async def ksef_download(vat: str, request: Request) -> Response:
    """Pobierz z KSeF: the customer's received invoices of the days asked (the window first if no token)."""
    posted = await posted_form(request, vat)
    if isinstance(posted, Response):
        return posted
    user, vat, form = posted
    settings = settings_of(request)
    asked = (str(form.get("from") or ""), str(form.get("to") or ""))
    try:
        await run_in_threadpool(precheck, settings, user, "ksef.download", vat)
        ksef_invoices.parse_range(*asked)  # a bad day is said before the window is
        if await run_in_threadpool(_token_missing, settings, user, vat):
            return await _list(request, user, vat, 409, i18n.translate(language(request), "ksef_token_first"),
                               window="download", range_asked=asked)
        return await _start_download(request, user, vat, *asked)
    except REFUSALS as err:
        ref = refusal(request, err)
        return await _list(request, user, vat, ref.status, attempt_message(ref, language(request)))


@router.post("/ksef/token")
async def ksef_token(vat: str, request: Request) -> Response:
    """The window's "add your KSeF token": set through the starter the HTTP route calls (never shown back),
    then the action asked for goes on (a download with its days; a send shows its form)."""
    posted = await posted_form(request, vat)
    if isinstance(posted, Response):
        return posted
    user, vat, form = posted
    settings = settings_of(request)
    then = str(form.get("then") or "")
    asked = (str(form.get("from") or ""), str(form.get("to") or ""))
    lang = language(request)
    try:
        await run_in_threadpool(precheck, settings, user, "ksef.token", vat)
        if not is_polish(vat):
            raise InvalidInput.one("vat", f"{vat} is not a Polish customer: a KSeF token is a NIP's (PL...)")
        token = form.get("token")
        await run_in_threadpool(set_ksef_token, settings, vat, token if isinstance(token, str) else "",
                                as_user=user.principal, surface=PANEL)
    except REFUSALS as err:
        ref = refusal(request, err)
        return await _list(request, user, vat, ref.status, attempt_message(ref, lang),
                           window=then or "send", range_asked=asked if then == "download" else None)
    if then == "download":
        try:
            return await _start_download(request, user, vat, *asked)
        except REFUSALS as err:
            ref = refusal(request, err)
            return await _list(request, user, vat, ref.status,
                               f"{i18n.translate(lang, 'ksef_token_saved')}. {attempt_message(ref, lang)}")
    return await _list(request, user, vat, message=i18n.translate(lang, "ksef_token_saved_send"), ok=True)


def _of_customer(view: InvoiceView, vat: str, invoice_id: str) -> None:
    if view.vat != vat:  # another customer's invoice under this customer's address: not here
        raise NotFound(f"no invoice {invoice_id}")


@router.get("/{invoice_id}")
async def detail(vat: str, invoice_id: str, request: Request, sent: int = 0) -> Response:
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    vat = customer_of(vat)
    settings = settings_of(request)
    try:
        view = await run_in_threadpool(starter.get_invoice, settings, invoice_id, as_user=user.principal,
                                       surface=PANEL)
        _of_customer(view, vat, invoice_id)
        files = await run_in_threadpool(starter.invoice_files, settings, invoice_id, as_user=user.principal,
                                        surface=PANEL)
        ksef = (await run_in_threadpool(starter.ksef_status, settings, invoice_id, as_user=user.principal,
                                        surface=PANEL)) if view.format == "FA(3)" else None
    except REFUSALS as err:
        ref = refusal(request, err)
        return render(request, "message.html.j2", user=user, vat=vat, status_code=ref.status,
                      message=attempt_message(ref, language(request)))
    roles = {f.role for f in files}
    present = {"original": bool(roles & {"original", "received"}), "signed": bool(roles & {"transmitted",
               "received"}), "notifications": bool(roles & {"notification", "metadata", "outcome"})}
    present["html"] = present["pdf"] = present["signed"]
    present["upo"] = "upo" in roles
    message = i18n.translate(language(request), "inv_sent") if sent else None
    return render(request, "invoice.html.j2", user=user, vat=vat, invoice=view, steps=timeline(view.created_at, files),
                  downloads=[w for w in DOWNLOADS if present[w]], message=message, ok=bool(sent), ksef=ksef)


@router.get("/{invoice_id}/download/{what}")
async def download(vat: str, invoice_id: str, what: str, request: Request) -> Response:
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    vat = customer_of(vat)
    settings = settings_of(request)
    try:
        view = await run_in_threadpool(starter.get_invoice, settings, invoice_id, as_user=user.principal,
                                       surface=PANEL)
        _of_customer(view, vat, invoice_id)
        found = await run_in_threadpool(starter.download, settings, invoice_id, what, as_user=user.principal,
                                        surface=PANEL)
    except REFUSALS as err:
        ref = refusal(request, err)
        return render(request, "message.html.j2", user=user, vat=vat, status_code=ref.status,
                      message=attempt_message(ref, language(request)))
    response = download_response(invoice_id, what, found)
    response.headers["Cache-Control"] = "no-store"
    return response
