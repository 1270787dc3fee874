"""The CLI's HTTP client: the customer-facing commands call the API with the user's token, so the CLI, HTTP and
the permission checks are one path and a command never opens a database of its own (issue #12.4).

Which API and which token:
- the URL: `--url`, else `EINVOICE_URL`, else `EINVOICE_API_URL` (the sync command's older name);
- the token: `EINVOICE_API_TOKEN` (a backend system's, or a CI's), else the credentials `einvoice login`
  stored in `credentials_path()`: `$XDG_CONFIG_HOME/einvoice/credentials.json` (default
  `~/.config/einvoice/credentials.json`), mode 0600, written atomically. A stored token is only ever sent to
  the URL it was issued by: asking for another URL without logging in there is refused.

The API's answers come back as the domain's own errors (`InvalidInput` for 400/422, `Forbidden` for 403,
`NotFound` for 404, `Conflict` for 409, `RateLimited` for 429, `Unavailable` for 503 or an API that does not
answer), and 401 as `Unauthenticated`, so `starters.output.domain_errors` gives them the CLI's exit codes.

Tests point the client at the FastAPI app in-process with `use_client_factory` (a
`fastapi.testclient.TestClient` is an `httpx.Client`).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, RateLimited, Unavailable
from domain.policy import CLIENT_HEADER

URL_ENV = ("EINVOICE_URL", "EINVOICE_API_URL")  # the first set wins; EINVOICE_API_URL is the older name
TOKEN_ENV = "EINVOICE_API_TOKEN"
TIMEOUT = 60.0


class NotLoggedIn(Exception):
    """No token to act with (or only one for another API): says which `einvoice login` to run."""


class Unauthenticated(Exception):
    """The API refused the token (HTTP 401): missing, forged, unknown, revoked, expired, or its user disabled."""


class ApiError(Exception):
    """An answer the CLI has no meaning for (a 500, say): the status and what the API said."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"the API answered HTTP {status}: {detail}")
        self.status = status


@dataclass(frozen=True)
class Credentials:
    url: str
    token: str
    email: str = ""
    token_id: int | None = None
    expires_at: str = ""


ClientFactory = Callable[[str, dict[str, str]], httpx.Client]


def _default_factory(base_url: str, headers: dict[str, str]) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers=headers, timeout=TIMEOUT)


_factory: ClientFactory = _default_factory


def use_client_factory(factory: ClientFactory | None) -> None:
    """Make every API client with `factory(base_url, headers)` (None: plain httpx again). For tests."""
    global _factory
    _factory = factory or _default_factory


# -- the credentials file ---------------------------------------------------------------------------------

def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"  # the XDG rule
    return root / "einvoice" / "credentials.json"


def save_credentials(creds: Credentials, path: Path | None = None) -> Path:
    """Write atomically (a temporary file in the same directory, fsynced, then renamed), mode 0600 from the
    start: never a moment when the token is readable by others or half written."""
    path = path or credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(creds), out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)  # whatever the umask did
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # the rename itself, durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def load_credentials(path: Path | None = None) -> Credentials | None:
    """The stored login, or None when there is none. A file others may read, or one that does not parse, is
    refused naming the file (as ssh refuses a readable key)."""
    path = path or credentials_path()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise NotLoggedIn(f"{path} is readable by other users (mode {stat.S_IMODE(mode):o}): the token in it may "
                          f"be known to others; run `einvoice logout`, then log in again (or chmod 600 {path})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Credentials(url=str(data["url"]), token=str(data["token"]), email=str(data.get("email", "")),
                           token_id=data.get("token_id"), expires_at=str(data.get("expires_at", "")))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise NotLoggedIn(f"{path} is not a credentials file ({err}); run `einvoice login --url URL` "
                          "again") from None


def remove_credentials(path: Path | None = None) -> bool:
    path = path or credentials_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


# -- which API, which token -------------------------------------------------------------------------------

def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1]) == 0:
        raise InvalidInput.one("url", f"{url!r} is not an http:// or https:// URL of the einvoice API")
    return url


def url_from_env() -> str | None:
    for name in URL_ENV:
        if os.environ.get(name):
            return os.environ[name]
    return None


def resolve(url: str | None = None) -> Credentials:
    """The API and the token a command acts with (see the module's doc); never a local database."""
    wanted = url or url_from_env()
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        if wanted:
            return Credentials(normalize_url(wanted), token)
        stored = load_credentials()
        if stored is None:
            raise NotLoggedIn(f"{TOKEN_ENV} is set but no API is named: pass --url URL or set EINVOICE_URL")
        return Credentials(stored.url, token)
    stored = load_credentials()
    if stored is None:
        raise NotLoggedIn(f"not logged in: run `einvoice login --url {wanted or 'URL'}` first (the URL of the "
                          f"einvoice API), or set {TOKEN_ENV}")
    if wanted and normalize_url(wanted) != stored.url:
        raise NotLoggedIn(f"logged in to {stored.url}, not {normalize_url(wanted)}: run `einvoice login --url "
                          f"{normalize_url(wanted)}` (a token is only sent to the API that issued it)")
    return stored


# -- talking to the API -----------------------------------------------------------------------------------

def _detail(resp: httpx.Response) -> tuple[str, dict[str, Any]]:
    """What the API said, as a sentence, and the answer's JSON object (empty when it is not one)."""
    try:
        body = resp.json()
    except ValueError:
        return (resp.text.strip()[:300] or resp.reason_phrase), {}
    if not isinstance(body, dict):
        return str(body)[:300], {}
    detail = body.get("detail")
    if isinstance(detail, dict):
        return str(detail.get("detail") or detail.get("error") or detail), detail
    if isinstance(detail, str):
        return detail, body
    return str(body.get("error") or body), body


def _problems(resp: httpx.Response) -> list[Problem]:
    try:
        body = resp.json()
    except ValueError:
        return [Problem("request", resp.text.strip()[:300] or "refused")]
    if isinstance(body, dict) and isinstance(body.get("problems"), list):  # ours: api/errors.py
        found = [Problem(str(p.get("field", "")), str(p.get("message", "")), p.get("code"))
                 for p in body["problems"] if isinstance(p, dict)]
        if found:
            return found
    detail = body.get("detail") if isinstance(body, dict) else body
    if isinstance(detail, list):  # FastAPI's request validation
        found = []
        for item in detail:
            if isinstance(item, dict):
                loc = [str(x) for x in item.get("loc", []) if x not in ("body", "query", "path", "header")]
                found.append(Problem(".".join(loc) or "request", str(item.get("msg", item))))
        if found:
            return found
    return [Problem("request", str(detail.get("detail", detail) if isinstance(detail, dict) else detail))]


def raise_for(resp: httpx.Response, url: str) -> None:
    """Nothing for a success; the domain's error for a refusal (see the module's doc)."""
    if resp.status_code < 400:
        return
    status = resp.status_code
    if status in (400, 422):
        raise InvalidInput(_problems(resp))
    text, body = _detail(resp)
    if status == 401:
        raise Unauthenticated(f"the API at {url} refused the token ({text}); run `einvoice login --url {url}`")
    if status == 403:
        permission = body.get("permission") or body.get("certificate") or ""
        raise Forbidden(text, str(permission or "a permission this user lacks"))
    if status in (404, 410):
        raise NotFound(text)
    if status == 409:
        raise Conflict(text)
    if status == 429:
        retry = resp.headers.get("retry-after")
        raise RateLimited(text, int(retry) if retry and retry.isdigit() else None)
    if status == 503:
        raise Unavailable(text)
    raise ApiError(status, text)


class Api:
    """One command's connection to the API, with the user's token."""

    def __init__(self, creds: Credentials):
        self.creds = creds
        self.url = creds.url
        headers = {"User-Agent": "einvoice-cli", CLIENT_HEADER: "cli"}  # audited as surface cli (api/access.py)
        if creds.token:  # none for the public routes
            headers["Authorization"] = f"Bearer {creds.token}"
        self.http = _factory(creds.url, headers)

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = self.http.request(method, path, **kw)
        except httpx.TransportError as err:
            raise Unavailable(f"cannot reach the einvoice API at {self.url}: {err or type(err).__name__}") from None
        raise_for(resp, self.url)
        return resp

    @contextlib.contextmanager
    def stream(self, method: str, path: str, **kw: Any) -> Iterator[httpx.Response]:
        """A response read as it arrives (a large download); a refusal raises as `request` does."""
        try:
            with self.http.stream(method, path, **kw) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise_for(resp, self.url)
                yield resp
        except httpx.TransportError as err:
            raise Unavailable(f"cannot reach the einvoice API at {self.url}: {err or type(err).__name__}") from None

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw).json()

    def post(self, path: str, **kw: Any) -> Any:
        resp = self.request("POST", path, **kw)
        return resp.json() if resp.content else None

    def put(self, path: str, **kw: Any) -> Any:
        return self.request("PUT", path, **kw).json()

    def delete(self, path: str, **kw: Any) -> None:
        self.request("DELETE", path, **kw)


@contextlib.contextmanager
def connect(url: str | None = None) -> Iterator[Api]:
    """The API a command acts on (`resolve`): `with connect(url) as api: api.get(...)`."""
    with Api(resolve(url)) as api:
        yield api


@contextlib.contextmanager
def connect_public(url: str | None = None) -> Iterator[Api]:
    """For the API's public routes (the CA certificate, the CRL): the URL as `resolve` finds it, else the one
    logged in to; no token is needed, and none is sent."""
    wanted = url or url_from_env()
    if not wanted:
        stored = load_credentials()
        if stored is None:
            raise NotLoggedIn("name the API: pass --url URL or set EINVOICE_URL (or run `einvoice login --url URL`)")
        wanted = stored.url
    with Api(Credentials(normalize_url(wanted), "")) as api:
        yield api


def login(url: str, email: str, password: str, label: str) -> tuple[Credentials, dict[str, Any]]:
    """POST /auth/login; the token is returned, not stored (the caller stores it)."""
    base = normalize_url(url)
    with _factory(base, {"User-Agent": "einvoice-cli"}) as http:
        try:
            resp = http.post("/auth/login", json={"email": email, "password": password, "label": label})
        except httpx.TransportError as err:
            raise Unavailable(f"cannot reach the einvoice API at {base}: {err or type(err).__name__}") from None
    if resp.status_code == 401:
        raise Unauthenticated(f"login refused by {base}: {_detail(resp)[0]}")
    raise_for(resp, base)
    answer: dict[str, Any] = resp.json()
    creds = Credentials(base, answer["token"], answer["user"]["email"], answer.get("token_id"),
                        answer.get("expires_at", ""))
    return creds, answer
