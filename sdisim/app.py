"""The local SDI as an ASGI app (Starlette under uvicorn).

SDICoop endpoints it serves:
- `POST /SdIRiceviFile` — RiceviFile: answers IdentificativoSdI + DataOraRicezione at once (or Errore EI01 for
  an empty file), then checks the file as the SDI does and, after `delay` seconds, calls the transmitter's
  `TrasmissioneFatture` endpoint with signed notifications: NS with the error list when a check fails (00001
  file name, 00002 duplicate file name, 00003 size, 00102 signature, 00200 schema, 00404 duplicate invoice…),
  otherwise what the scenario of the recipient code says (see `scenarios.py`).
- `POST /SdIRiceviNotifica` — NotificaEsito: the recipient's outcome (EC01/EC02) on an invoice it received.

Control endpoints (JSON) for tests and the demo:
- `GET /control/files` every file received with its notifications; `GET /control/outcomes` the ECs received.
- `POST /control/config` change delays, duplicate or reverse the order of notifications, make RiceviFile
  answer EI02 (service unavailable), or answer the next `slow_answers` files only after `answer_delay` seconds
  (the file is taken at once: a client that gave up meanwhile sends it again, and gets NS 00002).
- `POST /control/resend` send the notifications of a file again (a duplicate delivery).
- `POST /control/deliver` deliver an invoice to a recipient (RicezioneFatture.RiceviFatture) with its MT.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import itertools
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.errors import InvalidInput
from domain.sdi import messages, soap
from domain.sdi.messages import SdiError
from sdisim.scenarios import Step, steps_for

log = logging.getLogger("sdisim")

MAX_FILE_SIZE = 5 * 1024 * 1024  # the SDI's limit for one file (00003 above it)
XML = "text/xml; charset=utf-8"


@dataclass
class SimConfig:
    callback_url: str  # the transmitter's TrasmissioneFatture endpoint
    ricezione_url: str  # the recipient's RicezioneFatture endpoint (passive cycle)
    delay: float = 1.0  # seconds before the first notification
    dt_delay: float = 15 * 24 * 3600.0  # seconds before DT / AT (15 days like the real SDI)
    duplicate: bool = False  # send every notification twice
    reverse: bool = False  # send a scenario's notifications in reverse order (out of order)
    unavailable: bool = False  # RiceviFile answers EI02
    slow_answers: int = 0  # the next N RiceviFile answers come late (the file is taken at once)
    answer_delay: float = 0.0  # ... by this many seconds: longer than the client waits = a lost answer
    client_cert: str | None = None  # PEM client certificate for calling back over mutual TLS
    client_key: str | None = None
    ca_cert: str | None = None  # CA to verify the callee's server certificate
    first_id: int = 1000


@dataclass
class ReceivedFile:
    sdi_id: int
    file_name: str
    received_at: datetime
    size: int
    sha256: str
    recipient_code: str | None = None
    outcome: str = "checking"  # checking | rejected | scenario
    errors: list[dict[str, str]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)  # name, kind, delivered (bool)
    content: bytes = b""


class Simulator:
    def __init__(self, config: SimConfig, sign: Callable[[bytes], bytes] | None):
        self.config = config
        self.sign = sign
        self.files: dict[int, ReceivedFile] = {}
        self.names: set[str] = set()
        self.invoice_keys: set[str] = set()
        self.outcomes: list[dict[str, Any]] = []
        self._ids = itertools.count(config.first_id)
        self._message_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._tls_context: ssl.SSLContext | None = None

    # ------------------------------------------------------------ helpers
    def next_id(self) -> int:
        return next(self._ids)

    def message_id(self) -> str:
        return str(next(self._message_ids))

    def spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _tls(self) -> ssl.SSLContext:
        """The TLS context of the callbacks, built once: loading a CA bundle for every call costs more than
        the call."""
        if self._tls_context is None:
            c = self.config
            if c.ca_cert or c.client_cert:
                ctx = ssl.create_default_context(cafile=c.ca_cert) if c.ca_cert else ssl.create_default_context()
                if c.client_cert:
                    ctx.load_cert_chain(c.client_cert, c.client_key)
            else:
                ctx = httpx.create_ssl_context()
            self._tls_context = ctx
        return self._tls_context

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=30, verify=self._tls())

    async def post_soap(self, url: str, action: str, body: bytes, attempts: int = 30) -> bytes:
        """POST with retries (the SDI retries a callback the peer could not take)."""
        wait = 0.2
        last: Exception | None = None
        for _ in range(attempts):
            try:
                async with self._http() as client:
                    resp = await client.post(url, content=body,
                                             headers={"Content-Type": XML, "SOAPAction": f'"{action}"'})
                if resp.status_code == 200:
                    return resp.content
                last = RuntimeError(f"{url} answered {resp.status_code}: {resp.text[:300]}")
            except httpx.HTTPError as err:
                last = err
            log.warning("callback to %s failed (%s); retrying in %.1fs", url, last, wait)
            await asyncio.sleep(wait)
            wait = min(wait * 2, 5.0)
        raise RuntimeError(f"giving up on {url}: {last}")

    # ------------------------------------------------------------ RiceviFile
    async def ricevi_file(self, request: soap.FileSdIBase) -> soap.RiceviFileResponse:
        now = datetime.now(UTC)
        sdi_id = self.next_id()
        if self.config.unavailable:
            return soap.RiceviFileResponse(sdi_id, now, "EI02")
        if not request.file:
            return soap.RiceviFileResponse(sdi_id, now, "EI01")
        rec = ReceivedFile(sdi_id, request.nome_file, now, len(request.file),
                           hashlib.sha256(request.file).hexdigest(), content=request.file)
        async with self._lock:
            duplicate_name = request.nome_file.lower() in self.names
            self.names.add(request.nome_file.lower())
            self.files[sdi_id] = rec
        self.spawn(self._process(rec, duplicate_name))
        return soap.RiceviFileResponse(sdi_id, now)

    def check(self, rec: ReceivedFile, duplicate_name: bool) -> tuple[list[SdiError], str | None, Any]:
        """The SDI's checks in its order; returns (errors, recipient code, summary)."""
        from domain.fatturapa import check_loaded_invoice, load_invoice, parse_sdi_file_name

        try:
            parse_sdi_file_name(rec.file_name)
        except InvalidInput:
            return [SdiError("00001", "Nome file non valido")], None, None
        if duplicate_name:
            return [SdiError("00002", "Nome file duplicato")], None, None
        if rec.size > MAX_FILE_SIZE:
            return [SdiError("00003", "Le dimensioni del file superano quelle ammesse")], None, None
        try:
            loaded = load_invoice(rec.content, rec.file_name, verify=True)
        except InvalidInput as err:
            signed = rec.file_name.lower().endswith(".p7m")
            default = "00102" if signed else "00200"
            return [SdiError(p.code or default, f"{p.field}: {p.message}"[:255]) for p in err.problems], None, None
        try:
            summary = check_loaded_invoice(loaded)
        except InvalidInput as err:
            return [SdiError(p.code or "00200", f"{p.field}: {p.message}"[:255]) for p in err.problems], None, None
        from domain.fatturapa import document_keys

        keys = {"/".join(str(part) for part in key) for key in document_keys(summary)}
        if keys & self.invoice_keys:
            return [SdiError("00404", "Fattura duplicata")], summary.codice_destinatario, summary
        self.invoice_keys |= keys
        return [], summary.codice_destinatario, summary

    async def _process(self, rec: ReceivedFile, duplicate_name: bool) -> None:
        try:
            await asyncio.sleep(self.config.delay)
            errors, code, summary = await asyncio.to_thread(self.check, rec, duplicate_name)
            rec.recipient_code = code
            if errors:
                rec.outcome = "rejected"
                rec.errors = [asdict(e) for e in errors]
                steps = [Step("NS", errors=tuple(errors))]
            else:
                rec.outcome = "scenario"
                steps = steps_for(code)
            if self.config.reverse:
                steps = list(reversed(steps))
            delivered_at = datetime.now(UTC)
            for i, step in enumerate(steps):
                if step.late and not self.config.reverse:
                    await asyncio.sleep(self.config.dt_delay)
                elif i > 0:
                    await asyncio.sleep(self.config.delay)
                await self.notify(rec, step, summary, delivered_at)
        except Exception:
            log.exception("processing %s (%s) failed", rec.file_name, rec.sdi_id)

    def build(self, rec: ReceivedFile, step: Step, summary: Any, delivered_at: datetime) -> bytes:
        mid = self.message_id()
        code = rec.recipient_code or "0000000"
        name = (getattr(summary, "recipient_name", None) or "Destinatario")[:80]
        if step.kind == "RC":
            return messages.build_rc(rec.sdi_id, rec.file_name, rec.received_at, delivered_at, code, name, mid,
                                     self.sign)
        if step.kind == "NS":
            return messages.build_ns(rec.sdi_id, rec.file_name, rec.received_at, list(step.errors), mid, self.sign)
        if step.kind == "MC":
            return messages.build_mc(rec.sdi_id, rec.file_name, rec.received_at,
                                     "Il file non e' stato consegnato al destinatario (recipient unreachable)",
                                     mid, self.sign)
        if step.kind == "NE":
            doc = summary.documents[0] if summary is not None and summary.documents else None
            numero = doc.numero if doc else None
            anno = int(str(doc.data)[:4]) if doc else None
            return messages.build_ne(rec.sdi_id, rec.file_name, step.esito or "EC01",
                                     "Esito della pubblica amministrazione", numero, anno, mid, self.sign)
        if step.kind == "DT":
            return messages.build_dt(rec.sdi_id, rec.file_name,
                                     "Decorsi 15 giorni dalla consegna senza esito del committente", mid, self.sign)
        if step.kind == "AT":
            return messages.build_at(rec.sdi_id, rec.file_name, rec.received_at, code, name, mid, rec.sha256,
                                     self.sign)
        raise ValueError(step.kind)

    async def notify(self, rec: ReceivedFile, step: Step, summary: Any, delivered_at: datetime) -> None:
        data = self.build(rec, step, summary, delivered_at)
        seq = 1 + sum(1 for n in rec.notifications if n["kind"] == step.kind)
        name = messages.notification_file_name(rec.file_name, step.kind, seq)
        entry: dict[str, Any] = {"name": name, "kind": step.kind, "delivered": 0, "content": data}
        rec.notifications.append(entry)
        await self.deliver(rec, entry)
        if self.config.duplicate:
            await self.deliver(rec, entry)

    async def deliver(self, rec: ReceivedFile, entry: dict[str, Any]) -> None:
        operation = soap.OPERATION_BY_KIND[entry["kind"]]
        body = soap.build_trasmissione(operation, soap.FileSdI(rec.sdi_id, entry["name"], entry["content"]))
        await self.post_soap(self.config.callback_url, soap.soap_action(operation), body)
        entry["delivered"] += 1
        log.info("%s %s delivered for %s (%s)", entry["kind"], entry["name"], rec.file_name, rec.sdi_id)

    # ------------------------------------------------------------ passive cycle
    async def deliver_invoice(self, file_name: str, content: bytes, recipient_code: str, url: str | None) -> int:
        sdi_id = self.next_id()
        formato = "FPA12" if len(recipient_code) == 6 else "FPR12"
        mt = messages.build_mt(sdi_id, file_name, recipient_code, formato, self.message_id())
        body = soap.build_ricevi_fatture(soap.FileSdIConMetadati(
            sdi_id, file_name, content, messages.notification_file_name(file_name, "MT"), mt))
        answer = await self.post_soap(url or self.config.ricezione_url, soap.SOAP_ACTION_RICEVI_FATTURE, body,
                                      attempts=5)
        esito = soap.read_ricevi_fatture_response(answer)
        if esito != "ER01":
            raise RuntimeError(f"recipient answered {esito}")
        self.files[sdi_id] = ReceivedFile(sdi_id, file_name, datetime.now(UTC), len(content),
                                          hashlib.sha256(content).hexdigest(), recipient_code, "delivered-to-recipient")
        return sdi_id

    def notifica_esito(self, f: soap.FileSdI) -> soap.NotificaEsitoResponse:
        try:
            ec = messages.read_notification(f.file, validate=True, field_name="File")
        except InvalidInput as err:
            self.outcomes.append({"sdi_id": f.identificativo_sdi, "file_name": f.nome_file, "accepted": False,
                                  "reason": str(err)[:300]})
            return soap.NotificaEsitoResponse("ES00")
        known = f.identificativo_sdi in self.files and ec.kind == "EC"
        self.outcomes.append({"sdi_id": f.identificativo_sdi, "file_name": f.nome_file, "esito": ec.esito,
                              "accepted": known})
        return soap.NotificaEsitoResponse("ES01" if known else "ES00")

    def files_json(self) -> list[dict[str, Any]]:
        return [{"sdi_id": r.sdi_id, "file_name": r.file_name, "received_at": r.received_at.isoformat(),
                 "size": r.size, "sha256": r.sha256, "recipient_code": r.recipient_code, "outcome": r.outcome,
                 "errors": r.errors,
                 "notifications": [{k: v for k, v in n.items() if k != "content"} for n in r.notifications]}
                for r in self.files.values()]


def _soap_response(data: bytes, status: int = 200) -> Response:
    return Response(data, status_code=status, media_type=XML)


def create_app(config: SimConfig, sign: Callable[[bytes], bytes] | None) -> Starlette:
    sim = Simulator(config, sign)

    async def ricevi_file(request: Request) -> Response:
        try:
            req = soap.read_ricevi_file(await request.body())
        except InvalidInput as err:
            return _soap_response(soap.fault("Client", str(err)[:500]), 500)
        answer = await sim.ricevi_file(req)
        if sim.config.slow_answers > 0:
            sim.config.slow_answers -= 1
            await asyncio.sleep(sim.config.answer_delay)
        return _soap_response(soap.build_ricevi_file_response(answer))

    async def ricevi_notifica(request: Request) -> Response:
        try:
            f = soap.read_notifica_esito(await request.body())
        except InvalidInput as err:
            return _soap_response(soap.fault("Client", str(err)[:500]), 500)
        return _soap_response(soap.build_notifica_esito_response(sim.notifica_esito(f)))

    async def files(_: Request) -> Response:
        return JSONResponse(sim.files_json())

    async def outcomes(_: Request) -> Response:
        return JSONResponse(sim.outcomes)

    async def set_config(request: Request) -> Response:
        body = await request.json()
        for key in ("delay", "dt_delay", "duplicate", "reverse", "unavailable", "slow_answers", "answer_delay",
                    "callback_url", "ricezione_url"):
            if key in body:
                setattr(sim.config, key, type(getattr(sim.config, key))(body[key]))
        return JSONResponse({k: v for k, v in asdict(sim.config).items() if k not in ("client_key",)})

    async def resend(request: Request) -> Response:
        body = await request.json()
        rec = sim.files.get(int(body["sdi_id"]))
        if rec is None:
            return JSONResponse({"error": "unknown sdi_id"}, status_code=404)
        kinds = set(body.get("kinds") or [n["kind"] for n in rec.notifications])
        entries = [n for n in rec.notifications if n["kind"] in kinds]
        if body.get("reverse"):
            entries.reverse()
        for entry in entries:
            await sim.deliver(rec, entry)
        return JSONResponse({"resent": [e["name"] for e in entries]})

    async def deliver(request: Request) -> Response:
        body = await request.json()
        try:
            content = base64.b64decode(body["file_b64"], validate=True)
        except (KeyError, binascii.Error):
            return JSONResponse({"error": "file_b64 missing or not base64"}, status_code=422)
        try:
            sdi_id = await sim.deliver_invoice(body["file_name"], content, body.get("recipient_code", "0000000"),
                                               body.get("url"))
        except (RuntimeError, soap.SoapFault, InvalidInput) as err:
            return JSONResponse({"error": str(err)[:500]}, status_code=502)
        return JSONResponse({"sdi_id": sdi_id})

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "files": len(sim.files)})

    app = Starlette(routes=[
        Route("/SdIRiceviFile", ricevi_file, methods=["POST"]),
        Route("/SdIRiceviNotifica", ricevi_notifica, methods=["POST"]),
        Route("/control/files", files, methods=["GET"]),
        Route("/control/outcomes", outcomes, methods=["GET"]),
        Route("/control/config", set_config, methods=["POST"]),
        Route("/control/resend", resend, methods=["POST"]),
        Route("/control/deliver", deliver, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ])
    app.state.sim = sim
    return app
