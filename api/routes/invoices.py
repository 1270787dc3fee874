"""Invoices over HTTP: send (multipart upload, bounded by the SDI's size limit), list, status, downloads, the
outcome on a received invoice — and the SDICoop endpoints the SDI calls: `POST /sdi/TrasmissioneFatture`
(notifications about our invoices) and `POST /sdi/RicezioneFatture` (invoices for our customers)."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from temporalio.service import RPCError

from api.access import AccessDep
from api.deps import SettingsDep, TemporalDep, get_temporal
from domain.errors import Conflict, InvalidInput, NotFound
from domain.sdi import soap
from models.invoices import InvoiceView
from starters import invoices as starter
from starters.acting import HTTP

router = APIRouter(tags=["invoices"])
XML = "text/xml; charset=utf-8"


class InvoicePublic(BaseModel):
    id: str
    vat: str
    direction: str = Field(description="out: sent by the customer; in: received by the customer")
    file_name: str = Field(description="the SDI file name (nome file)")
    transmitter_id: str
    sign_mode: str
    format: str = Field(description="FPA12 (to a public administration) or FPR12 (between businesses)")
    state: str
    sdi_id: int | None = Field(description="identificativo SdI, once the SDI took the file")
    counterparty_name: str | None
    counterparty_vat: str | None
    recipient_code: str | None
    number: str
    date: str
    total: str | None
    currency: str
    documents: int
    detail: str | None = Field(description="the SDI's errors (NS) or the outcome's text")
    workflow_id: str
    created_at: datetime
    updated_at: datetime
    created_by: str = Field(default="", description="who sent it (kind:e-mail); sdi for a received invoice")
    warnings: list[dict[str, str | None]] = Field(
        default_factory=list, description="the hub's advice on the file, accepted all the same: {field, message, "
                                          "code}; never e-mailed (#17.1)")

    @classmethod
    def of(cls, view: InvoiceView) -> InvoicePublic:
        return cls(**view.to_json())  # type: ignore[arg-type]


class FilePublic(BaseModel):
    name: str
    role: str
    mime_type: str
    size: int
    sha256: str


class InvoiceDetail(InvoicePublic):
    files: list[FilePublic]
    ksef_number: str | None = Field(default=None, description="numer KSeF (KSeF number) of a Polish customer's "
                                                               "FA(3) invoice, once KSeF accepted it")
    ksef_status: str | None = Field(default=None, description="KSeF's status of the invoice: its code and "
                                                               "description (200 accepted; 4xx/5xx rejected)")


class OutcomeBody(BaseModel):
    esito: str = Field(description="EC01 accepted, EC02 refused")
    description: str | None = None


async def _bounded_upload(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput.one("file", f"larger than the SDI limit of {limit} bytes", "00003")
    return data


@router.post("/invoices", status_code=201, response_model=InvoicePublic)
async def send_invoice(
    settings: SettingsDep,
    client: TemporalDep,
    access: AccessDep,
    vat: Annotated[str, Form(description="the customer's VAT number (the invoice's sender)")],
    file: Annotated[UploadFile, File(description="FatturaPA XML, or a signed .xml.p7m")],
    sign: Annotated[str, Form(description="cades | xades | none")] = "none",
    key_alias: Annotated[str | None, Form(description="key store alias (default: the intermediary's)")] = None,
    ksef_offline: Annotated[str | None, Form(description="a Polish customer's FA(3) invoice issued offline: "
                                                         "offline24 | offline | awaryjny")] = None,
    ksef_kod_ii: Annotated[str | None, Form(description="its KOD II link, signed by the customer with its KSeF "
                                                        "offline certificate")] = None,
) -> InvoicePublic:
    from domain.fatturapa import MAX_FILE_SIZE

    data = await _bounded_upload(file, MAX_FILE_SIZE)
    view = await starter.send_invoice(settings, vat, data, file.filename or "invoice.xml", sign, key_alias,
                                      as_user=access.user, surface=HTTP, client=client,
                                      ksef_offline=ksef_offline or None, ksef_kod_ii=ksef_kod_ii or None)
    return InvoicePublic.of(view)


@router.get("/invoices", response_model=list[InvoicePublic])
def list_invoices(settings: SettingsDep, access: AccessDep,
                  vat: Annotated[str | None, Query(description="the customer (a customer user: its own)")] = None,
                  direction: Annotated[str | None, Query(description="out | in")] = None) -> list[InvoicePublic]:
    customer = access.vat or vat  # as checked: a customer user's own when not named
    if not customer:
        raise InvalidInput.one("vat", "name the customer whose invoices to list")
    return [InvoicePublic.of(v) for v in starter.list_invoices(settings, customer, direction,
                                                               as_user=access.user, surface=HTTP)]


@router.get("/invoices/{invoice_id}", response_model=InvoiceDetail)
def read_invoice(settings: SettingsDep, invoice_id: str, access: AccessDep) -> InvoiceDetail:
    view = starter.get_invoice(settings, invoice_id, as_user=access.user, surface=HTTP)
    access.check(view.vat)
    files = [FilePublic(name=f.name, role=f.role, mime_type=f.mime_type, size=f.size, sha256=f.sha256)
             for f in starter.invoice_files(settings, invoice_id, as_user=access.user, surface=HTTP)]
    number, status = starter.ksef_status(settings, invoice_id, as_user=access.user, surface=HTTP)
    return InvoiceDetail(**InvoicePublic.of(view).model_dump(), files=files, ksef_number=number, ksef_status=status)


@router.get("/invoices/{invoice_id}/download/{what}")
def download(settings: SettingsDep, invoice_id: str, what: str, access: AccessDep) -> Response:
    """original | signed | html | pdf | upo: the file itself; notifications: a zip of every notification."""
    if what == "pdf":  # a machine without a browser says so before anything is read
        from core.pdf import find_chromium

        find_chromium(settings.chromium_path)
    access.check(starter.get_invoice(settings, invoice_id, as_user=access.user, surface=HTTP).vat)
    return download_response(invoice_id, what,
                             starter.download(settings, invoice_id, what, as_user=access.user, surface=HTTP))


def download_response(invoice_id: str, what: str, found: list[starter.Download]) -> Response:
    """The answer to a download, for the API and the panel alike: the notifications as one zip, the HTML
    rendering under a CSP that lets nothing in it run, names cleaned for the header."""
    if what == "notifications":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for d in found:
                zf.writestr(d.name, d.content)
        return Response(buf.getvalue(), media_type="application/zip",
                        headers={"Content-Disposition": content_disposition(
                            "attachment", f"{invoice_id}_notifications.zip", f"{invoice_id}_notifications.zip")})
    d = found[0]
    disposition = "inline" if what in ("html", "pdf") else "attachment"
    headers = {"Content-Disposition": content_disposition(disposition, d.name, f"{invoice_id}-{what}"),
               "X-Content-Type-Options": "nosniff"}
    if what == "html":  # the rendering of a customer's file: nothing in it may run or reach anywhere
        headers["Content-Security-Policy"] = RENDERED_HTML_CSP
    return Response(d.content, media_type=d.mime_type, headers=headers)


# The AdE stylesheet's page needs its inline styles (and data: images) only.
RENDERED_HTML_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
                     "form-action 'none'; frame-ancestors 'none'; sandbox")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def content_disposition(disposition: str, name: str, fallback: str) -> str:
    """A header from a stored name (which can come from an upload): only [A-Za-z0-9._-] are kept, and a
    name left empty or without a letter or digit takes our own `fallback`."""
    clean = _SAFE_NAME.sub("_", name)[-150:].lstrip(".")
    if not re.search(r"[A-Za-z0-9]", clean):
        clean = _SAFE_NAME.sub("_", fallback)
    return f'{disposition}; filename="{clean}"'


@router.post("/invoices/{invoice_id}/outcome", responses={202: {"description": "accepted by the invoice's "
                                                                  "workflow, still on its way to the SDI"}})
async def send_outcome(settings: SettingsDep, request: Request, response: Response, invoice_id: str,
                       body: OutcomeBody, access: AccessDep) -> dict[str, str]:
    """200 with the new state once the SDI has the outcome; 202 (state `outcome-sending`, Location: the
    invoice's status) when it has not within HTTP_WAIT_SECONDS: the workflow keeps sending it."""
    access.check(starter.get_invoice(settings, invoice_id, as_user=access.user, surface=HTTP).vat)
    client = await get_temporal(request)  # only once the caller may: no connection for a refused request
    state = await starter.send_customer_outcome(settings, invoice_id, body.esito, body.description, client=client,
                                                as_user=access.user, surface=HTTP,
                                                wait_seconds=settings.http_wait_seconds)
    if state == starter.OUTCOME_SENDING:
        response.status_code = 202
        response.headers["Location"] = f"/invoices/{invoice_id}"
    return {"id": invoice_id, "state": state}


# ---------------------------------------------------------------- SDICoop endpoints (the SDI calls these)

async def _bounded_body(request: Request) -> bytes:
    """The envelope; api/body_limit.py refused it already past MAX_ENVELOPE_SIZE (declared or streamed)."""
    return await request.body()


def _fault(code: str, message: str) -> Response:
    return Response(soap.fault(code, message[:1000]), status_code=500, media_type=XML)


@router.post("/sdi/TrasmissioneFatture", include_in_schema=False)
async def trasmissione_fatture(request: Request, settings: SettingsDep, client: TemporalDep) -> Response:
    """RicevutaConsegna, NotificaMancataConsegna, NotificaScarto, NotificaEsito, NotificaDecorrenzaTermini,
    AttestazioneTrasmissioneFattura (one-way operations: an empty answer on success)."""
    try:
        await starter.receive_notification(settings, await _bounded_body(request), client=client)
    except (InvalidInput, soap.SoapFault, Conflict) as err:
        return _fault("Client", str(err))
    except RPCError as err:  # Temporal unreachable: stored; the SDI delivers again
        return _fault("Server", f"temporarily unavailable: {err.message}")
    return Response(soap.envelope_empty(), media_type=XML)


@router.post("/sdi/RicezioneFatture", include_in_schema=False)
async def ricezione_fatture(request: Request, settings: SettingsDep, client: TemporalDep) -> Response:
    """RiceviFatture: an invoice for one of our customers, with its metadata; answers ER01 (taken in charge)."""
    try:
        await starter.receive_invoice(settings, await _bounded_body(request), client=client)
    except (InvalidInput, soap.SoapFault, NotFound, Conflict) as err:
        return _fault("Client", str(err))
    except RPCError as err:
        return _fault("Server", f"temporarily unavailable: {err.message}")
    return Response(soap.build_ricevi_fatture_response("ER01"), media_type=XML)


def install(app) -> None:  # type: ignore[no-untyped-def]
    """Register the router (its bodies are bounded by api/body_limit.py, for every route)."""
    app.include_router(router)
