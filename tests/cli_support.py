"""The CLI as a client in tests: its HTTP client pointed at the FastAPI app in-process (a TestClient is an
httpx.Client), a config directory of the test's own, and a real `einvoice login`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.main import create_app
from core.settings import Settings
from starters import http_client
from starters.cli import app as cli
from tests.identity_support import PASSWORD, add_user

URL = "http://testserver"
runner = CliRunner()


@contextmanager
def in_process_api(settings: Settings, monkeypatch: pytest.MonkeyPatch, config: Path,
                   app: object | None = None, make_app: Callable[[], object] | None = None) -> Iterator[object]:
    """Every API client the CLI makes talks to `app` (default: a new app on `settings`; with `make_app`, a
    new app for each client, for settings a test changes); credentials go to `config` (XDG_CONFIG_HOME), and
    no URL or token comes from the environment."""
    app = app or create_app(settings, run_migrations=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    for name in (*http_client.URL_ENV, http_client.TOKEN_ENV):
        monkeypatch.delenv(name, raising=False)

    def factory(base_url: str, headers: dict[str, str], tls: object) -> httpx.Client:
        return TestClient(make_app() if make_app else app, base_url=base_url, headers=headers,  # type: ignore[arg-type]
                          raise_server_exceptions=False)

    http_client.use_client_factory(factory)
    try:
        yield app
    finally:
        http_client.use_client_factory(None)


def login(settings: Settings, kind: str = "operator", email: str | None = None, vat: str | None = None) -> str:
    """A user of that kind (created here), logged in through `einvoice login` as a person would. Returns the
    command's output."""
    email = email or f"{kind}-cli@einvoice-hub.test"
    add_user(settings, kind, email, vat)
    result = runner.invoke(cli, ["login", "--url", URL, "--user", email, "--password-stdin"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    return result.output


def flat(output: str) -> str:
    """The output with rich's line wrapping undone: one space between words."""
    return " ".join(output.split())
