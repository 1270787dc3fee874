"""The invoice's PDF copy: the AdE stylesheet's HTML printed by headless Chromium, which reaches nothing on
the network; without a browser the request is refused by name."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

import core.pdf
from api.main import create_app
from core.pdf import find_chromium, html_to_pdf
from core.settings import Settings
from domain.errors import Unavailable
from domain.fatturapa import render_html
from starters.invoices import download
from starters.output import domain_errors
from tests.identity_support import operator, operator_client

pytestmark = pytest.mark.browser

SAMPLES = Path("/work/shared/standards/fatturapa/samples/invoices")


def test_an_official_sample_prints_to_a_pdf() -> None:
    html = render_html((SAMPLES / "IT01234567890_FPA01.xml").read_bytes())
    pdf = html_to_pdf(html, find_chromium(""))
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") >= 1



def test_a_simplified_invoice_prints_to_a_pdf() -> None:
    """FSM10 (#17.2): the simplified stylesheet's page prints too (its CSS names a logo by a relative address, as
    the other stylesheets do; that the print fetches nothing is tested below)."""
    corpus = Path(__file__).parent / "corpus" / "fidelity" / "S0001_td07_simplified.xml"
    pdf = html_to_pdf(render_html(corpus.read_bytes()), find_chromium(""))
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") >= 1


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    """A local HTTP server that records every request it gets."""
    hits: list[str] = []

    class Record(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Record)  # Chromium opens several at once
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], hits
    server.shutdown()
    server.server_close()


def test_the_page_reaches_nothing_on_the_network(listener: tuple[int, list[str]],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    port, hits = listener
    page = f"""<html><head><link rel="stylesheet" href="http://127.0.0.1:{port}/style.css"></head><body>
      <p>Fattura</p><img src="http://127.0.0.1:{port}/by-address.png"><img src="http://localhost:{port}/by-name.png">
      <iframe src="http://127.0.0.1:{port}/frame"></iframe>
      <script>fetch("http://127.0.0.1:{port}/script")</script></body></html>"""
    assert html_to_pdf(page, find_chromium("")).startswith(b"%PDF-")
    assert hits == []
    # The positive control: the same page, the same browser and flags but the network rule, does reach the
    # listener, so the empty list above is the rule's doing and not a page that asks for nothing.
    monkeypatch.setattr(core.pdf, "NO_NETWORK", ())
    assert html_to_pdf(page, find_chromium("")).startswith(b"%PDF-")
    assert {"/style.css", "/by-address.png", "/by-name.png", "/frame"} <= set(hits), hits


def test_without_a_browser_the_pdf_is_refused_by_name(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    missing = settings.model_copy(update={"chromium_path": "/nonexistent/chromium"})
    with pytest.raises(Unavailable, match="CHROMIUM_PATH"):
        download(missing, "IT01234567897_00001", "pdf", as_user=operator(missing))
    with pytest.raises(typer.Exit) as exit_code, domain_errors():  # the CLI's exit code for "not here"
        download(missing, "IT01234567897_00001", "pdf", as_user=operator(missing))
    assert exit_code.value.exit_code == 5 and "/nonexistent/chromium" in capsys.readouterr().err
    with operator_client(create_app(missing, run_migrations=False), missing) as api:  # over HTTP: 503, said in words
        answer = api.get("/invoices/IT01234567897_00001/download/pdf")
    assert answer.status_code == 503 and "CHROMIUM_PATH" in answer.json()["detail"]
