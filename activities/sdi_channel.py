"""The channel to the SDI: SDICoop (SOAP over HTTPS with client certificates), and the activities that use it.

`transmit` is idempotent by the SDI file name: a row in `sdi_transmissions` is written before the file goes
out, and the identificativo SdI the SDI answers is recorded in its own transaction right after, before
anything else can fail. A retry that finds it returns it without sending again. The one window left — a
crash after the SDI took the file and before the row is completed — resends the same name, which the SDI
refuses as a duplicate (00002) rather than delivering twice.
"""

from __future__ import annotations

import ssl
from typing import Protocol

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.db import session_scope
from core.settings import Settings
from domain.errors import InvalidInput
from domain.sdi import soap
from models.files import read_file
from models.invoices import begin_transmission, complete_transmission, transmission
from models.invoices_io import SendOutcomeRequest, TransmitRequest, TransmitResult


class SdiChannel(Protocol):
    """What the workflows need from an exchange system (one implementation per protocol)."""

    def send_file(self, file_name: str, content: bytes) -> soap.RiceviFileResponse: ...

    def send_outcome(self, f: soap.FileSdI) -> soap.NotificaEsitoResponse: ...


class SdiUnavailable(RuntimeError):
    """The SDI could not be reached or answered with a server error: try again later."""


class SdiRejected(RuntimeError):
    """The SDI answered that this request can never succeed (an HTTP 4xx other than 408/429, a SOAP fault
    of the Client): retrying it for days only delays the error the customer has to act on."""


# 408 Request Timeout and 429 Too Many Requests say "later", not "never".
_TRANSIENT_4XX = frozenset({408, 429})


def definitive_fault(err: soap.SoapFault) -> bool:
    """A SOAP 1.1 fault whose code is Client (soapenv:Client, Client.Authentication...): the request itself
    is wrong, the same request fails again. Server faults may pass."""
    local = err.code.rsplit(":", 1)[-1]
    return local == "Client" or local.startswith("Client.")


class SdiCoopChannel:
    """SDICoop over HTTP(S): `SDI_URL`/SdIRiceviFile and /SdIRiceviNotifica; with SDI_CLIENT_CERT and
    SDI_CLIENT_KEY it presents a client certificate (mutual TLS), SDI_CA_CERT verifies the server."""

    def __init__(self, settings: Settings, timeout: float | None = None):
        self.base = settings.sdi_url.rstrip("/")
        self.timeout = timeout or settings.sdi_timeout_seconds
        # Built once: `verify=True` would make httpx load the CA bundle again for every call (about 28 ms
        # of CPU per transmission, bench `pipeline`); this is the very context it would build.
        self.verify: ssl.SSLContext = httpx.create_ssl_context()
        if settings.sdi_ca_cert or settings.sdi_client_cert:
            ctx = ssl.create_default_context(cafile=settings.sdi_ca_cert or None)
            if settings.sdi_client_cert:
                ctx.load_cert_chain(settings.sdi_client_cert, settings.sdi_client_key or None)
            self.verify = ctx

    def _post(self, path: str, action: str, body: bytes) -> bytes:
        try:
            with httpx.Client(timeout=self.timeout, verify=self.verify) as client:
                resp = client.post(f"{self.base}{path}", content=body,
                                   headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'})
        except httpx.HTTPError as err:
            raise SdiUnavailable(f"SDI unreachable at {self.base}: {err}") from err
        status = resp.status_code
        if (status >= 500 or status in _TRANSIENT_4XX) and b"Fault" not in resp.content:
            raise SdiUnavailable(f"SDI answered HTTP {status} {resp.reason_phrase}".rstrip())
        if 400 <= status < 500 and b"Fault" not in resp.content:
            raise SdiRejected(f"HTTP {status} {resp.reason_phrase}".rstrip())
        return resp.content

    def send_file(self, file_name: str, content: bytes) -> soap.RiceviFileResponse:
        body = soap.build_ricevi_file(soap.FileSdIBase(file_name, content))
        return soap.read_ricevi_file_response(self._post("/SdIRiceviFile", soap.SOAP_ACTION_RICEVI_FILE, body))

    def send_outcome(self, f: soap.FileSdI) -> soap.NotificaEsitoResponse:
        body = soap.build_notifica_esito(f)
        return soap.read_notifica_esito_response(
            self._post("/SdIRiceviNotifica", soap.SOAP_ACTION_NOTIFICA_ESITO, body))


def _never(message: str) -> ApplicationError:
    """Not retried: the workflow ends the invoice as refused (FAILED) with `message`, at once."""
    return ApplicationError(message + " (not retried: the same request cannot succeed)", type="SdiRefused",
                            non_retryable=True)


class SdiChannelActivities:
    def __init__(self, settings: Settings, channel: SdiChannel | None = None):
        self.settings = settings
        self.channel = channel or SdiCoopChannel(settings)

    @activity.defn(name="sdi_transmit")
    def transmit(self, req: TransmitRequest) -> TransmitResult:
        """RiceviFile, at most once per file name (idempotency key: the SDI file name)."""
        url = self.settings.database_url
        with session_scope(url) as session:
            done = transmission(session, req.file_name)
            if done is not None and done.state == "accepted":
                assert done.sdi_id is not None
                return TransmitResult(done.sdi_id, done.received_at or "", sent_now=False)
            if done is not None and done.state == "refused":
                raise ApplicationError(f"the SDI refused {req.file_name}: {done.error}", done.error,
                                       type="SdiRefused", non_retryable=True)
            # A second attempt after one whose answer never came (timeout, crash): the SDI may hold the file
            # already, under an identificativo we never learnt. The workflow then adopts that one.
            resent = begin_transmission(session, req.file_name, req.invoice_id).attempts > 1
            _, content = read_file(session, req.file_id)
        try:
            answer = self.channel.send_file(req.file_name, content)
        except SdiUnavailable as err:
            raise ApplicationError(str(err), type="SdiUnavailable") from err
        except SdiRejected as err:
            raise _never(f"the SDI refused {req.file_name}: {err}") from err
        except soap.SoapFault as err:
            if definitive_fault(err):
                raise _never(f"the SDI refused {req.file_name}: SOAP fault {err}") from err
            raise ApplicationError(f"SDI fault {err}", type="SdiFault") from err
        except InvalidInput as err:  # the SDI's answer broke the schema
            raise ApplicationError(f"unreadable answer from the SDI: {err}", type="SdiProtocol") from err
        if answer.errore == "EI02":  # service unavailable: nothing taken, try later
            raise ApplicationError("SDI: EI02 servizio non disponibile (service unavailable)", type="SdiUnavailable")
        received_at = answer.data_ora_ricezione.isoformat()
        with session_scope(url) as session:
            complete_transmission(session, req.file_name, answer.identificativo_sdi, received_at, answer.errore)
        if answer.errore:
            raise ApplicationError(f"the SDI refused {req.file_name}: {answer.errore} "
                                   f"{soap.INVIO_ERRORS.get(answer.errore, '')}", answer.errore,
                                   type="SdiRefused", non_retryable=True)
        activity.logger.info("%s taken by the SDI as %s", req.file_name, answer.identificativo_sdi)
        return TransmitResult(answer.identificativo_sdi, received_at, sent_now=True, resent=resent)

    @activity.defn(name="sdi_send_outcome")
    def send_outcome(self, req: SendOutcomeRequest) -> str:
        """SdIRiceviNotifica.NotificaEsito with the recipient's EC file; the SDI dedups by the file name
        (`<invoice>_EC_001.xml`), so a retry is harmless. Returns the SDI's Esito (ES01 accepted)."""
        from domain.sdi.messages import build_ec, notification_file_name

        ec = build_ec(req.sdi_id, req.esito, req.description, req.number, req.year, None)
        name = notification_file_name(req.file_name, "EC", 1)
        try:
            answer = self.channel.send_outcome(soap.FileSdI(req.sdi_id, name, ec))
        except SdiUnavailable as err:
            raise ApplicationError(str(err), type="SdiUnavailable") from err
        except SdiRejected as err:
            raise _never(f"the SDI refused the outcome {name}: {err}") from err
        except soap.SoapFault as err:
            if definitive_fault(err):
                raise _never(f"the SDI refused the outcome {name}: SOAP fault {err}") from err
            raise ApplicationError(f"SDI fault {err}", type="SdiFault") from err
        if answer.esito == "ES02":
            raise ApplicationError("SDI: ES02 servizio non disponibile (service unavailable)", type="SdiUnavailable")
        from models.invoices import store_invoice_file

        with session_scope(self.settings.database_url) as session:
            store_invoice_file(session, req.invoice_id, "outcome", name, "application/xml", ec)
        if answer.esito != "ES01":
            raise ApplicationError(f"the SDI did not accept the outcome: {answer.esito}", type="SdiRefused",
                                   non_retryable=True)
        return answer.esito
