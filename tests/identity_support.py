"""Users and their tokens for the HTTP tests: an operator's client for the tests of other areas, and the three
kinds of user for the permission tests."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from core.db import session_scope
from core.settings import Settings
from domain.credentials import hash_password, new_token, token_digest
from domain.policy import Principal
from models import identity as ident

PASSWORD = "correct horse battery staple"
_HASH = hash_password(PASSWORD)  # hashed once: argon2 is slow on purpose


def add_user(settings: Settings, kind: str, email: str, vat: str | None = None, confirmed: bool = True) -> int:
    with session_scope(settings.database_url) as session:
        return ident.add_user(session, email, email.split("@")[0], kind, _HASH, "test", vat=vat,
                              confirmed=confirmed).id


def issue_token(settings: Settings, email: str, lifetime: timedelta = timedelta(hours=1)) -> str:
    """A token as login gives it, without paying for the password check."""
    token = new_token(settings.secret_key.get_secret_value())
    with session_scope(settings.database_url) as session:
        user = ident.find_user(session, email)
        assert user is not None, email
        ident.add_token(session, user, token_digest(token), "test", lifetime)
    return token


def principal(settings: Settings, kind: str = "operator", email: str | None = None,
              vat: str | None = None) -> Principal:
    """A user of that kind (created on first use, so after a test's clean database too), as the starters'
    `as_user`: how a test calls a starter directly."""
    email = email or f"{kind}@einvoice-hub.test"
    with session_scope(settings.database_url) as session:
        user = ident.find_user(session, email)
    if user is None:
        add_user(settings, kind, email, vat)
    with session_scope(settings.database_url) as session:
        found = ident.find_user(session, email)
        assert found is not None
        return ident.principal_of(session, found)


def operator(settings: Settings) -> Principal:
    """The operator the tests of other areas act as when they call a starter (sees and does everything)."""
    return principal(settings)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def authenticate(http: TestClient, settings: Settings, kind: str = "operator", email: str | None = None,
                 vat: str | None = None) -> TestClient:
    """`http` acting as a (new) user of that kind: every request carries its token."""
    email = email or f"{kind}-{len(http.headers)}@einvoice-hub.test"
    with session_scope(settings.database_url) as session:
        exists = ident.find_user(session, email) is not None
    if not exists:
        add_user(settings, kind, email, vat)
    http.headers.update(bearer(issue_token(settings, email)))
    return http


def operator_client(app: object, settings: Settings, **kw: object) -> TestClient:
    """A TestClient for `app` that acts as an operator (sees and does everything)."""
    return authenticate(TestClient(app, **kw), settings)  # type: ignore[arg-type]


def operator_headers(settings: Settings, email: str = "operator@einvoice-hub.test") -> dict[str, str]:
    """The Authorization header of an operator (created on first use)."""
    with session_scope(settings.database_url) as session:
        exists = ident.find_user(session, email) is not None
    if not exists:
        add_user(settings, "operator", email)
    return bearer(issue_token(settings, email))


def stack_operator(env: dict[str, str], api: str) -> dict[str, str]:
    """On a running `einvoice dev up`: the first operator made by the admin command (as a new user would),
    then logged in over HTTP. Returns its Authorization header."""
    import subprocess
    import sys
    from pathlib import Path

    einvoice = str(Path(sys.executable).parent / "einvoice")
    email = "operator@stack.test"
    made = subprocess.run([einvoice, "operator", "create", "--email", email, "--password-stdin"], env=env,
                          input=PASSWORD + "\n", capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "created in sqlite:///" in made.stdout, made.stdout  # it names the database it wrote
    import httpx

    resp = httpx.post(f"{api}/auth/login", json={"email": email, "password": PASSWORD}, timeout=10)
    assert resp.status_code == 200, resp.text
    return bearer(resp.json()["token"])
