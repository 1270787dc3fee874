"""Every request body bounded before a route reads it (#18.3): one pure ASGI guard for the whole app.

A declared Content-Length above the route's limit is refused at once, before a byte is read; a body without
one (chunked) is counted as it arrives and cut off with the same refusal as soon as it passes the limit, so
the multipart parser never spools more than the limit to its temporary file. A check inside a route runs
only after FastAPI has read (and spooled) the whole form: too late for both.

Each limit comes from what the route takes (the SDI's file and envelope sizes, the CSR and certificate
sizes); every other route takes a small JSON or form body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from domain.certificates import MAX_CERTIFICATE_BYTES
from domain.csr import MAX_CSR_BYTES
from domain.fatturapa import MAX_FILE_SIZE
from domain.sdi import soap
from domain.sdi.documents import MAX_ENVELOPE_SIZE

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The whole multipart body of a certificate route: the file plus a few short form fields.
MAX_CERTIFICATE_BODY = 4 * max(MAX_CSR_BYTES, MAX_CERTIFICATE_BYTES)
# An invoice upload: the SDI's file limit plus the multipart framing and form fields; the file itself is
# checked against MAX_FILE_SIZE by the route (SDI code 00003).
MAX_INVOICE_BODY = MAX_FILE_SIZE + 256 * 1024
# The Temporal UI's codec calls carry Payloads as JSON, base64: Temporal refuses a blob above 2 MiB, which
# is about 2.7 MiB in base64, with room for the JSON around it.
MAX_CODEC_BODY = 4 * 1024 * 1024
# Everything else takes a short JSON document or form.
MAX_OTHER_BODY = 256 * 1024


@dataclass(frozen=True)
class Limit:
    size: int
    kind: str  # how the refusal is told: "json", "invoice" (SDI code 00003), "soap" (a Client fault) or "html"


ROUTES: list[tuple[re.Pattern[str], Limit]] = [
    (re.compile(r"/invoices/?"), Limit(MAX_INVOICE_BODY, "invoice")),
    (re.compile(r"/tenants/[^/]+/certificates(/uploads)?/?"), Limit(MAX_CERTIFICATE_BODY, "json")),
    (re.compile(r"/panel/c/[^/]+/certificates(/uploads)?/?"), Limit(MAX_CERTIFICATE_BODY, "html")),
    (re.compile(r"/panel/c/[^/]+/ksef/(authentication|offline)/?"), Limit(MAX_CERTIFICATE_BODY, "html")),
    (re.compile(r"/panel/c/[^/]+/invoices/?"), Limit(MAX_INVOICE_BODY, "html")),
    (re.compile(r"/sdi/(TrasmissioneFatture|RicezioneFatture)/?"), Limit(MAX_ENVELOPE_SIZE, "soap")),
    (re.compile(r"/codec/(encode|decode)/?"), Limit(MAX_CODEC_BODY, "json")),
]


def limit_for(path: str) -> Limit:
    for pattern, limit in ROUTES:
        if pattern.fullmatch(path):
            return limit
    return Limit(MAX_OTHER_BODY, "json")


class _TooLarge(Exception):
    pass


def _declared(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        # ASCII digits only: a header is Latin-1 and b"\xb2" is no length at all (then counted as read).
        if name.lower() == b"content-length" and value.isdigit():
            return int(value)
    return None


class BodyLimit:
    """Pure ASGI (no BaseHTTPMiddleware: that one reads the body itself and cannot cut a stream)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"])
        declared = _declared(scope.get("headers") or [])
        if declared is not None and declared > limit.size:
            await _refuse(send, limit)
            return
        seen = 0
        tripped = started = False

        async def counted() -> Message:
            nonlocal seen, tripped
            if tripped:
                raise _TooLarge
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit.size:
                    tripped = True
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            # Past the limit, whatever the app makes of the error (FastAPI turns one raised while it parses
            # a form into its own 400) is replaced by the refusal that names the limit.
            nonlocal started
            if tripped:
                if not started:
                    started = True
                    await _refuse(send, limit)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await _refuse(send, limit)


async def _refuse(send: Send, limit: Limit) -> None:
    said = f"request body larger than {limit.size} bytes (the limit of this route)"
    status, media = 413, b"application/json"
    if limit.kind == "soap":  # SOAP 1.1 over HTTP: every fault with 500, the caller's as Client
        body, status, media = soap.fault("Client", f"envelope: {said}"), 500, b"text/xml; charset=utf-8"
    elif limit.kind == "invoice":
        body = json.dumps({"error": "invalid input", "detail": f"file: {said} [00003]",
                           "problems": [{"field": "file", "message": said, "code": "00003"}]}).encode()
    elif limit.kind == "html":  # the web panel's forms: a page a person reads, the way back to the form
        body = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>413</title></head><body>'
                f'<p id="message">File troppo grande / Plik jest za duży / File too large: {said}. '
                f'Nulla è stato modificato / Nothing was changed.</p><p><a href="/panel/">einvoice-hub</a></p>'
                f'</body></html>').encode()
        media = b"text/html; charset=utf-8"
    else:
        body = json.dumps({"error": "payload too large", "detail": said}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", media), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
