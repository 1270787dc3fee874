"""The SDI's SDICoop channel (httpx): RiceviFile and NotificaEsito as SOAP over HTTP(S), with a client
certificate when configured, and what an answer means for a retry (try later, or never).

One outside system, the SDI, and no Temporal: activities/sdi_channel.py wraps it with the transmission
records that make a file go out once, and turns these errors into retried or non-retryable activity failures.
The envelopes themselves are built and read by domain.sdi.soap.
"""

from __future__ import annotations

import ssl
from typing import Protocol

import httpx

from core.settings import Settings
from domain.sdi import soap


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
