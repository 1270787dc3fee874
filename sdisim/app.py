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
  (the file is taken at once: a client that gave up meanwhile sends it again, and gets NS 00002), or make
  RiceviFile and NotificaEsito answer a bare HTTP `answer_status` (403, 503...; 0 answers normally) or a SOAP
  fault of code `answer_fault` ("Client", "Server"; empty: none), taking nothing.
- `POST /control/resend` send the notifications of a file again (a duplicate delivery).
- `POST /control/deliver` deliver an invoice to a recipient (RicezioneFatture.RiceviFatture) with its MT.

Given a state file (`einvoice dev up`: `DATA_DIR/sdisim/state.sqlite`, see `state.py`) it keeps what it received
and every notification it owes, each with its due time: after a restart it checks the files it had not checked
yet and sends what is due, at its time (a DT 15 days after the RC stays 15 days after the RC), and what it had
not delivered yet.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
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
from sdisim.state import IN_MEMORY, Due, ReceivedFile, SimState

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
    answer_status: int = 0  # RiceviFile/NotificaEsito answer this bare HTTP status, taking nothing (0: normal)
    answer_fault: str = ""  # ... or a SOAP fault of this code ("Client", "Server"), taking nothing
    client_cert: str | None = None  # PEM client certificate for calling back over mutual TLS
    client_key: str | None = None
    ca_cert: str | None = None  # CA to verify the callee's server certificate
    first_id: int = 1000


class Stopped(Exception):
    """The simulator is stopping: a delivery does not try again (what it owes stays in the state file)."""


DELIVERED_TO_RECIPIENT = "delivered-to-recipient"  # a file of the passive cycle, not one received


class Simulator:
    def __init__(self, config: SimConfig, sign: Callable[[bytes], bytes] | None,
                 state_file: Path | str = IN_MEMORY, clock: Callable[[], float] = time.time):
        """`state_file`: where what it received and owes is kept (`:memory:`: nowhere); `clock`: the wall
        clock the due times are read on (seconds since the epoch), so they hold across a restart."""
        self.config = config
        self.sign = sign
        self.clock = clock
        self.state = SimState(state_file)
        self.files: dict[int, ReceivedFile] = {rec.sdi_id: rec for rec in self.state.files()}
        self.names: set[str] = {r.file_name.lower() for r in self.files.values() if r.outcome != DELIVERED_TO_RECIPIENT}
        self.invoice_keys: set[str] = self.state.invoice_keys()
        self.outcomes: list[dict[str, Any]] = self.state.outcomes()
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[asyncio.Task[None]] = set()  # deliveries on the wire: stop() waits for them
        self._stopping = asyncio.Event()
        self._lock = asyncio.Lock()
        self._tls_context: ssl.SSLContext | None = None

    # ------------------------------------------------------------ helpers
    def next_id(self) -> int:
        return self.state.take("sdi_id", self.config.first_id)

    def message_id(self) -> str:
        return str(self.state.take("message_id", 1))

    def resume(self) -> None:
        """After a start: check the files not checked yet, and send every notification still owed when due."""
        for rec in self.files.values():
            if rec.outcome == "checking":
                self.spawn(self._process(rec))
            elif any(not due.delivered for due in rec.due):
                self.spawn(self._send_due(rec))

    async def stop(self) -> None:
        """Stop sending (what is still owed stays in the state file) and close the state file.

        A delivery already on the wire is let finish first (bounded by the call's own timeout): the recipient
        may have taken it, and cancelling it before it is recorded would send it again after a restart."""
        self._stopping.set()  # a delivery between its retries gives up at once; one on the wire finishes
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        self.state.close()

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
            if self._stopping.is_set():
                raise Stopped(f"stopped before calling {url} again (still owed: kept in the state file)")
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
            with contextlib.suppress(TimeoutError):  # the pause between attempts ends early on a stop
                await asyncio.wait_for(self._stopping.wait(), wait)
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
        async with self._lock:
            rec = ReceivedFile(sdi_id, request.nome_file, now, len(request.file),
                               hashlib.sha256(request.file).hexdigest(), content=request.file,
                               duplicate_name=request.nome_file.lower() in self.names)
            self.state.add_file(rec)  # kept before it is acknowledged
            self.names.add(request.nome_file.lower())
            self.files[sdi_id] = rec
        self.spawn(self._process(rec))
        return soap.RiceviFileResponse(sdi_id, now)

    def check(self, rec: ReceivedFile) -> tuple[list[SdiError], str | None, Any, set[str]]:
        """The SDI's checks in its order; returns (errors, recipient code, summary, the keys of the invoices it
        accepted)."""
        from domain.fatturapa import check_loaded_invoice, load_invoice, parse_sdi_file_name

        try:
            parse_sdi_file_name(rec.file_name)
        except InvalidInput:
            return [SdiError("00001", "Nome file non valido")], None, None, set()
        if rec.duplicate_name:
            return [SdiError("00002", "Nome file duplicato")], None, None, set()
        if rec.size > MAX_FILE_SIZE:
            return [SdiError("00003", "Le dimensioni del file superano quelle ammesse")], None, None, set()
        try:
            loaded = load_invoice(rec.content, rec.file_name, verify=True)
        except InvalidInput as err:
            signed = rec.file_name.lower().endswith(".p7m")
            default = "00102" if signed else "00200"
            problems = [SdiError(p.code or default, f"{p.field}: {p.message}"[:255]) for p in err.problems]
            return problems, None, None, set()
        try:
            summary = check_loaded_invoice(loaded)
        except InvalidInput as err:
            problems = [SdiError(p.code or "00200", f"{p.field}: {p.message}"[:255]) for p in err.problems]
            return problems, None, None, set()
        from domain.fatturapa import document_keys

        keys = {"/".join(str(part) for part in key) for key in document_keys(summary)}
        if keys & self.invoice_keys:
            return [SdiError("00404", "Fattura duplicata")], summary.codice_destinatario, summary, set()
        self.invoice_keys |= keys
        return [], summary.codice_destinatario, summary, keys

    async def _process(self, rec: ReceivedFile) -> None:
        """Check a file, then make its notifications due (kept in one transaction) and send them."""
        try:
            await asyncio.sleep(self.config.delay)
            errors, code, summary, keys = await asyncio.to_thread(self.check, rec)
            rec.recipient_code = code
            if errors:
                rec.outcome = "rejected"
                rec.errors = [asdict(e) for e in errors]
                steps = [Step("NS", errors=tuple(errors))]
            else:
                rec.outcome = "scenario"
                steps = steps_for(code)
            if summary is not None:
                rec.recipient_name = summary.recipient_name
                if summary.documents:
                    rec.numero = summary.documents[0].numero
                    rec.anno = int(str(summary.documents[0].data)[:4])
            rec.due = self.schedule(steps)
            self.state.record_check(rec, keys)
        except Exception:
            log.exception("processing %s (%s) failed", rec.file_name, rec.sdi_id)
            return
        await self._send_due(rec)

    def schedule(self, steps: list[Step]) -> list[Due]:
        """The due time of each notification: the first now, the next after the delay, DT/AT after the DT
        delay (in reverse order, each after the ordinary delay)."""
        if self.config.reverse:
            steps = list(reversed(steps))
        at = self.clock()
        dues = []
        for i, step in enumerate(steps):
            if step.late and not self.config.reverse:
                at += self.config.dt_delay
            elif i > 0:
                at += self.config.delay
            dues.append(Due(i, step.kind, at, step.esito, step.errors))
        return dues

    async def _send_due(self, rec: ReceivedFile) -> None:
        """Send a file's notifications in order, each when due; one that cannot be delivered stops the rest
        until the next start (it stays owed in the state file)."""
        try:
            for due in rec.due:
                if due.delivered:
                    continue
                await asyncio.sleep(max(0.0, due.due_at - self.clock()))
                if due.name is None:
                    self.build_due(rec, due)
                await self._delivering(rec, due)
                if self.config.duplicate:
                    await self._delivering(rec, due)
        except Stopped:
            log.info("stopped while sending the notifications of %s (%s): the rest stays owed", rec.file_name,
                     rec.sdi_id)
        except Exception:
            log.exception("sending the notifications of %s (%s) failed", rec.file_name, rec.sdi_id)

    def build_due(self, rec: ReceivedFile, due: Due) -> None:
        """Build and sign a notification when it falls due, and keep it: what is resent is the same file."""
        seq = 1 + sum(1 for n in rec.notifications if n.kind == due.kind)
        content = self.build(rec, due, datetime.now(UTC))
        due.name, due.content = messages.notification_file_name(rec.file_name, due.kind, seq), content
        self.state.record_built(due)

    def build(self, rec: ReceivedFile, due: Due, delivered_at: datetime) -> bytes:
        mid = self.message_id()
        code = rec.recipient_code or "0000000"
        name = (rec.recipient_name or "Destinatario")[:80]
        if due.kind == "RC":
            return messages.build_rc(rec.sdi_id, rec.file_name, rec.received_at, delivered_at, code, name, mid,
                                     self.sign)
        if due.kind == "NS":
            return messages.build_ns(rec.sdi_id, rec.file_name, rec.received_at, list(due.errors), mid, self.sign)
        if due.kind == "MC":
            return messages.build_mc(rec.sdi_id, rec.file_name, rec.received_at,
                                     "Il file non e' stato consegnato al destinatario (recipient unreachable)",
                                     mid, self.sign)
        if due.kind == "NE":
            return messages.build_ne(rec.sdi_id, rec.file_name, due.esito or "EC01",
                                     "Esito della pubblica amministrazione", rec.numero, rec.anno, mid, self.sign)
        if due.kind == "DT":
            return messages.build_dt(rec.sdi_id, rec.file_name,
                                     "Decorsi 15 giorni dalla consegna senza esito del committente", mid, self.sign)
        if due.kind == "AT":
            return messages.build_at(rec.sdi_id, rec.file_name, rec.received_at, code, name, mid, rec.sha256,
                                     self.sign)
        raise ValueError(due.kind)

    async def _delivering(self, rec: ReceivedFile, due: Due) -> None:
        """`deliver`, shielded from the sender's cancellation: a stop waits for it and its record instead."""
        task = asyncio.ensure_future(self.deliver(rec, due))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        await asyncio.shield(task)

    async def deliver(self, rec: ReceivedFile, due: Due) -> None:
        if due.name is None or due.content is None:
            raise ValueError(f"{due.kind} of {rec.file_name} is not built yet")
        operation = soap.OPERATION_BY_KIND[due.kind]
        body = soap.build_trasmissione(operation, soap.FileSdI(rec.sdi_id, due.name, due.content))
        await self.post_soap(self.config.callback_url, soap.soap_action(operation), body)
        due.delivered += 1
        self.state.record_delivered(due)
        log.info("%s %s delivered for %s (%s)", due.kind, due.name, rec.file_name, rec.sdi_id)

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
        rec = ReceivedFile(sdi_id, file_name, datetime.now(UTC), len(content), hashlib.sha256(content).hexdigest(),
                           recipient_code, DELIVERED_TO_RECIPIENT, content=content)
        self.state.add_file(rec)
        self.files[sdi_id] = rec
        return sdi_id

    def notifica_esito(self, f: soap.FileSdI) -> soap.NotificaEsitoResponse:
        try:
            ec = messages.read_notification(f.file, validate=True, field_name="File")
        except InvalidInput as err:
            self._add_outcome({"sdi_id": f.identificativo_sdi, "file_name": f.nome_file, "accepted": False,
                               "reason": str(err)[:300]})
            return soap.NotificaEsitoResponse("ES00")
        known = f.identificativo_sdi in self.files and ec.kind == "EC"
        self._add_outcome({"sdi_id": f.identificativo_sdi, "file_name": f.nome_file, "esito": ec.esito,
                           "accepted": known})
        return soap.NotificaEsitoResponse("ES01" if known else "ES00")

    def _add_outcome(self, outcome: dict[str, Any]) -> None:
        self.state.add_outcome(outcome)
        self.outcomes.append(outcome)

    def files_json(self) -> list[dict[str, Any]]:
        return [{"sdi_id": r.sdi_id, "file_name": r.file_name, "received_at": r.received_at.isoformat(),
                 "size": r.size, "sha256": r.sha256, "recipient_code": r.recipient_code, "outcome": r.outcome,
                 "errors": r.errors,
                 "notifications": [{"name": n.name, "kind": n.kind, "delivered": n.delivered} for n in r.notifications],
                 "pending": [{"kind": d.kind, "due_at": datetime.fromtimestamp(d.due_at, UTC).isoformat()}
                             for d in r.due if d.name is None]}
                for r in self.files.values()]


def _soap_response(data: bytes, status: int = 200) -> Response:
    return Response(data, status_code=status, media_type=XML)


def create_app(config: SimConfig, sign: Callable[[bytes], bytes] | None,
               state_file: Path | str = IN_MEMORY) -> Starlette:
    sim = Simulator(config, sign, state_file)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        sim.resume()
        yield
        await sim.stop()

    def forced() -> Response | None:
        if sim.config.answer_status:
            return Response(f"forced answer {sim.config.answer_status}\n", status_code=sim.config.answer_status,
                            media_type="text/plain")
        if sim.config.answer_fault:
            return _soap_response(soap.fault(sim.config.answer_fault, "forced fault"), 500)
        return None

    async def ricevi_file(request: Request) -> Response:
        if (answer_now := forced()) is not None:
            return answer_now
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
        if (answer_now := forced()) is not None:
            return answer_now
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
                    "answer_status", "answer_fault", "callback_url", "ricezione_url"):
            if key in body:
                setattr(sim.config, key, type(getattr(sim.config, key))(body[key]))
        return JSONResponse({k: v for k, v in asdict(sim.config).items() if k not in ("client_key",)})

    async def resend(request: Request) -> Response:
        body = await request.json()
        rec = sim.files.get(int(body["sdi_id"]))
        if rec is None:
            return JSONResponse({"error": "unknown sdi_id"}, status_code=404)
        kinds = set(body.get("kinds") or [n.kind for n in rec.notifications])
        entries = [n for n in rec.notifications if n.kind in kinds]
        if body.get("reverse"):
            entries.reverse()
        for entry in entries:
            await sim.deliver(rec, entry)
        return JSONResponse({"resent": [e.name for e in entries]})

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

    app = Starlette(lifespan=lifespan, routes=[
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
