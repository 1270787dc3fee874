"""How an SDI answer over SDICoop is read (adapters/sdi.py, activities/sdi_channel.py): which say "later"
(retried by the workflow's policy) and which say "never" (the invoice fails at once). The whole retry with the
local SDI, the SDI back and the invoice delivered, runs end to end for one of them in test_invoices_e2e.py; here
every kind of answer, in process, against a mock transport."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

import adapters.sdi as sdi
from core.settings import Settings
from domain.sdi import soap


def _channel(monkeypatch: pytest.MonkeyPatch, answer: Callable[[httpx.Request], httpx.Response]) -> sdi.SdiCoopChannel:
    real = httpx.Client

    def client(*args: Any, **kw: Any) -> httpx.Client:
        kw.pop("verify", None)
        return real(*args, transport=httpx.MockTransport(answer), **kw)

    monkeypatch.setattr(sdi.httpx, "Client", client)
    return sdi.SdiCoopChannel(Settings(_env_file=None, SDI_URL="http://sdi.test"))  # type: ignore[call-arg]


@pytest.mark.parametrize(("status", "body"), [
    (503, b"down"), (500, b"oops"), (429, b"slow down"), (408, b"too slow"),
])
def test_a_server_error_429_and_408_say_later(monkeypatch: pytest.MonkeyPatch, status: int, body: bytes) -> None:
    channel = _channel(monkeypatch, lambda r: httpx.Response(status, content=body))
    with pytest.raises(sdi.SdiUnavailable, match=str(status)):
        channel.send_file("IT01234567897_00001.xml", b"<x/>")


def test_another_4xx_says_never(monkeypatch: pytest.MonkeyPatch) -> None:
    channel = _channel(monkeypatch, lambda r: httpx.Response(403, content=b"forbidden"))
    with pytest.raises(sdi.SdiRejected, match="403"):
        channel.send_file("IT01234567897_00001.xml", b"<x/>")


@pytest.mark.parametrize(("code", "definitive"), [("Server", False), ("Client", True),
                                                  ("Client.Authentication", True)])
def test_a_soap_fault_of_the_server_may_pass_one_of_the_client_never(
        monkeypatch: pytest.MonkeyPatch, code: str, definitive: bool) -> None:
    channel = _channel(monkeypatch, lambda r: httpx.Response(500, content=soap.fault(code, "busy")))
    with pytest.raises(soap.SoapFault) as err:
        channel.send_file("IT01234567897_00001.xml", b"<x/>")
    assert sdi.definitive_fault(err.value) is definitive
