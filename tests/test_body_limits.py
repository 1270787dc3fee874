"""Every request body bounded before a route reads it (#18.3, api/body_limit.py), over real sockets against
a served app: a declared Content-Length above the route's limit is refused before the body is sent, a chunked
body is cut off once it passes the limit, and nothing is written."""

from __future__ import annotations

import asyncio
import select
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn

from api.body_limit import (
    MAX_CERTIFICATE_BODY,
    MAX_CODEC_BODY,
    MAX_INVOICE_BODY,
    MAX_OTHER_BODY,
    limit_for,
)
from api.main import create_app
from core.settings import Settings
from domain.sdi.documents import MAX_ENVELOPE_SIZE
from tests.helpers import free_port
from tests.identity_support import operator_headers
from tests.test_hostile_inputs import CSR_VAT, NoTemporal, _customer, snapshot

CHUNK = 16 * 1024


@pytest.fixture
async def served(settings: Settings, db: str) -> AsyncIterator[tuple[int, str]]:
    app = create_app(settings, run_migrations=False)
    app.state.temporal = NoTemporal()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield port, operator_headers(settings)["Authorization"]
    finally:
        server.should_exit = True
        await serving


def _head(path: str, auth: str, content_type: str, framing: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\nContent-Type: {content_type}"
            f"\r\n{framing}\r\nConnection: close\r\n\r\n").encode()


def _answer(sock: socket.socket, data: bytes = b"") -> tuple[int, bytes]:
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:  # the server closed with our body unread: its answer came before
        pass
    assert data, "no answer"
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _chunked(port: int, head: bytes, first: bytes, total: int) -> tuple[int, bytes, int]:
    """Send `first` then filler as chunks until the server answers (or `total` bytes); return the status,
    the body and how many bytes were sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        sent, early = 0, b""
        piece = first
        try:
            while sent < total:
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                sent += len(piece)
                piece = b"A" * CHUNK
                if select.select([sock], [], [], 0.002)[0]:  # answered: read it before the close resets it
                    early = sock.recv(65536)
                    break
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed it once it had refused
        status, body = _answer(sock, early)
        return status, body, sent


FORM_HEAD = (b'--b\r\nContent-Disposition: form-data; name="csr"; filename="big.pem"\r\n'
             b"Content-Type: application/octet-stream\r\n\r\n-----BEGIN CERTIFICATE REQUEST-----\n")


def test_each_route_has_its_limit() -> None:
    assert limit_for(f"/tenants/{CSR_VAT}/certificates").size == MAX_CERTIFICATE_BODY
    assert limit_for(f"/tenants/{CSR_VAT}/certificates/uploads").size == MAX_CERTIFICATE_BODY
    assert limit_for("/invoices").size == MAX_INVOICE_BODY
    assert limit_for("/sdi/TrasmissioneFatture").kind == "soap"
    assert limit_for("/sdi/RicezioneFatture").size == MAX_ENVELOPE_SIZE
    assert limit_for("/codec/decode").size == MAX_CODEC_BODY
    assert limit_for("/tenants").size == MAX_OTHER_BODY


@pytest.mark.asyncio
async def test_an_oversize_chunked_csr_is_cut_off_and_nothing_written(served: tuple[int, str],
                                                                       settings: Settings) -> None:
    port, auth = served
    _customer(settings, CSR_VAT)
    before = snapshot(settings)
    total = 64 * MAX_CERTIFICATE_BODY
    head = _head(f"/tenants/{CSR_VAT}/certificates", auth, "multipart/form-data; boundary=b",
                 "Transfer-Encoding: chunked")
    status, body, sent = await asyncio.to_thread(_chunked, port, head, FORM_HEAD, total)
    assert status == 413, body[:300]
    assert f"larger than {MAX_CERTIFICATE_BODY} bytes".encode() in body
    assert sent < total // 2  # refused while it was still coming, not after it was all read
    assert snapshot(settings) == before


@pytest.mark.asyncio
async def test_a_small_chunked_csr_passes_the_guard(served: tuple[int, str], settings: Settings) -> None:
    """The control: under the limit a chunked body reaches the route (which refuses this one as no CSR)."""
    port, auth = served
    _customer(settings, CSR_VAT)
    before = snapshot(settings)
    head = _head(f"/tenants/{CSR_VAT}/certificates", auth, "multipart/form-data; boundary=b",
                 "Transfer-Encoding: chunked")
    form = FORM_HEAD + b"not base64\n-----END CERTIFICATE REQUEST-----\n\r\n--b--\r\n"
    status, body, _ = await asyncio.to_thread(_chunked, port, head, form, len(form))
    assert status == 422 and b"csr.format" in body, body[:300]
    assert snapshot(settings) == before


@pytest.mark.asyncio
async def test_a_declared_length_above_the_limit_is_refused_before_the_body(served: tuple[int, str],
                                                                            settings: Settings) -> None:
    port, auth = served
    before = snapshot(settings)
    for path, limit in ((f"/tenants/{CSR_VAT}/certificates", MAX_CERTIFICATE_BODY), ("/invoices", MAX_INVOICE_BODY),
                        ("/tenants", MAX_OTHER_BODY)):
        head = _head(path, auth, "multipart/form-data; boundary=b", f"Content-Length: {limit + 1}")

        def ask(head: bytes = head) -> tuple[int, bytes]:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(head)  # and not one byte of the body: the answer comes anyway
                return _answer(sock)

        status, body = await asyncio.to_thread(ask)
        assert status == 413 and f"larger than {limit} bytes".encode() in body, (path, body[:300])
        if path == "/invoices":
            assert b'"code": "00003"' in body  # the SDI's own code for a file too large
    assert snapshot(settings) == before


@pytest.mark.asyncio
async def test_an_oversize_chunked_envelope_is_a_client_fault(served: tuple[int, str], settings: Settings) -> None:
    port, auth = served
    before = snapshot(settings)
    total = 4 * MAX_ENVELOPE_SIZE
    head = _head("/sdi/TrasmissioneFatture", auth, "text/xml", "Transfer-Encoding: chunked")
    status, body, sent = await asyncio.to_thread(_chunked, port, head, b"<soapenv:Envelope>", total)
    assert status == 500 and b"<faultcode>soapenv:Client</faultcode>" in body, body[:300]
    assert f"larger than {MAX_ENVELOPE_SIZE} bytes".encode() in body
    assert sent < total // 2
    assert snapshot(settings) == before


@pytest.mark.asyncio
async def test_an_oversize_chunked_json_body_is_cut_off(served: tuple[int, str], settings: Settings) -> None:
    port, auth = served
    before = snapshot(settings)
    total = 64 * MAX_OTHER_BODY
    head = _head("/tenants", auth, "application/json", "Transfer-Encoding: chunked")
    status, body, sent = await asyncio.to_thread(_chunked, port, head, b'{"vat_number": "', total)
    assert status == 413 and f"larger than {MAX_OTHER_BODY} bytes".encode() in body, body[:300]
    assert sent < total // 2
    assert snapshot(settings) == before
