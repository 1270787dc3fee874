"""The CLI's HTTP client: the customer-facing commands call the API with the user's token, so the CLI, HTTP and
the permission checks are one path and a command never opens a database of its own (issue #12.4).

Which API and which token:
- the URL: `--url`, else `EINVOICE_URL`, else `EINVOICE_API_URL` (the sync command's older name);
- the token: `EINVOICE_API_TOKEN` (a backend system's, or a CI's), else the credentials `einvoice login`
  stored in `credentials_path()`: `$XDG_CONFIG_HOME/einvoice/credentials.json` (default
  `~/.config/einvoice/credentials.json`), mode 0600, written atomically. A stored token is only ever sent to
  the URL it was issued by: asking for another URL without logging in there is refused.
- mutual TLS (an API served with `API_TLS`): the client certificate and its key (`--cert FILE --key FILE`,
  else `EINVOICE_CLIENT_CERT` / `EINVOICE_CLIENT_KEY`, else the ones `einvoice login` was given) and the CA to
  trust (`--ca FILE`, else `EINVOICE_CA`, else the login's; without one, the system's CAs). The credentials
  file keeps their paths only, never a key's content. An expired certificate is refused here before any
  connection; one the API refuses comes back as `CertificateRefused` naming why (its 401 for a revoked,
  unknown or missing one; for one it closes the connection on, a foreign or expired one, what the
  certificate is).

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
import re
import ssl
import stat
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, RateLimited, Unavailable
from domain.policy import CLIENT_HEADER

URL_ENV = ("EINVOICE_URL", "EINVOICE_API_URL")  # the first set wins; EINVOICE_API_URL is the older name
TOKEN_ENV = "EINVOICE_API_TOKEN"
CERT_ENV, KEY_ENV, CA_ENV = "EINVOICE_CLIENT_CERT", "EINVOICE_CLIENT_KEY", "EINVOICE_CA"
TIMEOUT = 60.0


class NotLoggedIn(Exception):
    """No token to act with (or only one for another API): says which `einvoice login` to run."""


class Unauthenticated(Exception):
    """The API refused the token (HTTP 401): missing, forged, unknown, revoked, expired, or its user disabled."""


class CertificateRefused(Exception):
    """The client certificate cannot act here: expired, refused by the API (revoked, unknown, missing) or a
    connection the API closed on it (a certificate of another CA). Says which certificate and why."""


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
    cert: str = ""  # mutual TLS: the paths of the client certificate, of its key, and of the CA to trust
    key: str = ""
    ca: str = ""


ClientFactory = Callable[[str, dict[str, str], ssl.SSLContext | None], httpx.Client]


def _default_factory(base_url: str, headers: dict[str, str], tls: ssl.SSLContext | None) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers=headers, timeout=TIMEOUT, verify=tls or True)


_factory: ClientFactory = _default_factory


def use_client_factory(factory: ClientFactory | None) -> None:
    """Make every API client with `factory(base_url, headers, tls)` (None: plain httpx again). For tests."""
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
                           token_id=data.get("token_id"), expires_at=str(data.get("expires_at", "")),
                           cert=str(data.get("cert", "")), key=str(data.get("key", "")), ca=str(data.get("ca", "")))
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
    """The API, the token and the TLS files a command acts with (see the module's doc); never a local
    database."""
    return with_tls(_resolve(url))


def _resolve(url: str | None = None) -> Credentials:
    wanted = url or url_from_env()
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        stored = load_credentials()
        if wanted:
            base = normalize_url(wanted)
            if stored is not None and stored.url == base:  # the login's TLS files are for its own API only
                return Credentials(base, token, cert=stored.cert, key=stored.key, ca=stored.ca)
            return Credentials(base, token)
        if stored is None:
            raise NotLoggedIn(f"{TOKEN_ENV} is set but no API is named: pass --url URL or set EINVOICE_URL")
        return replace(stored, token=token, email="", token_id=None, expires_at="")
    stored = load_credentials()
    if stored is None:
        raise NotLoggedIn(f"not logged in: run `einvoice login --url {wanted or 'URL'}` first (the URL of the "
                          f"einvoice API), or set {TOKEN_ENV}")
    if wanted and normalize_url(wanted) != stored.url:
        raise NotLoggedIn(f"logged in to {stored.url}, not {normalize_url(wanted)}: run `einvoice login --url "
                          f"{normalize_url(wanted)}` (a token is only sent to the API that issued it)")
    return stored


# -- mutual TLS: which certificate, which CA ---------------------------------------------------------------

@dataclass(frozen=True)
class TlsFiles:
    cert: str = ""
    key: str = ""
    ca: str = ""


_given: ContextVar[TlsFiles | None] = ContextVar("einvoice_tls_options", default=None)


@contextlib.contextmanager
def tls_options(cert: Path | str | None, key: Path | str | None, ca: Path | str | None) -> Iterator[None]:
    """A command's own --cert/--key/--ca, for every API client it makes (they win over the environment and
    over the login's)."""
    reset = _given.set(TlsFiles(str(cert or ""), str(key or ""), str(ca or "")))
    try:
        yield
    finally:
        _given.reset(reset)


def _pair(given: TlsFiles, stored: Credentials) -> tuple[str, str]:
    """The certificate and key, from one place: the options, else the environment, else the login."""
    env_cert, env_key = os.environ.get(CERT_ENV, "").strip(), os.environ.get(KEY_ENV, "").strip()
    for cert, key, where in ((given.cert, given.key, "--cert and --key"), (env_cert, env_key,
                                                                           f"{CERT_ENV} and {KEY_ENV}")):
        if cert or key:
            if not (cert and key):
                raise InvalidInput.one("cert" if key else "key", f"give both {where} (a client certificate "
                                                                 "and its private key), or neither")
            return cert, key
    return stored.cert, stored.key


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().absolute()) if path else ""


def with_tls(creds: Credentials) -> Credentials:
    """`creds` with the TLS files a command uses (see the module's doc), each path absolute and checked."""
    given = _given.get() or TlsFiles()
    cert, key = _pair(given, creds)
    ca = given.ca or os.environ.get(CA_ENV, "").strip() or creds.ca
    files = replace(creds, cert=_absolute(cert), key=_absolute(key), ca=_absolute(ca))
    check_tls_files(files)
    return files


def _load_certificate(path: str, field: str) -> x509.Certificate:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise InvalidInput.one(field, f"{path}: {err.strerror or err}") from None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        try:
            return x509.load_der_x509_certificate(data)
        except ValueError:
            raise InvalidInput.one(field, f"{path} is not an X.509 certificate (PEM or DER)") from None


def check_tls_files(creds: Credentials) -> None:
    """Before any connection: the files are there and are what they say; the key is not readable by others
    (as ssh refuses such a key); the certificate is within its validity (an expired one is refused at the
    handshake, where the API says no reason)."""
    if creds.ca:
        _load_certificate(creds.ca, "ca")
    if not creds.cert:
        return
    cert = _load_certificate(creds.cert, "cert")
    try:
        mode = Path(creds.key).stat().st_mode
    except OSError as err:
        raise InvalidInput.one("key", f"{creds.key}: {err.strerror or err}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidInput.one("key", f"{creds.key} is readable by other users (mode {stat.S_IMODE(mode):o}): "
                                      f"chmod 600 {creds.key}")
    now = datetime.now(UTC)
    if cert.not_valid_after_utc <= now:
        raise CertificateRefused(f"the client certificate {creds.cert} ({describe(cert)}) expired at "
                                 f"{cert.not_valid_after_utc.isoformat()}: the API refuses it; use a valid one "
                                 "(einvoice cert request, then einvoice cert download)")
    if cert.not_valid_before_utc > now:
        raise CertificateRefused(f"the client certificate {creds.cert} ({describe(cert)}) is valid only from "
                                 f"{cert.not_valid_before_utc.isoformat()}")


def describe(cert: x509.Certificate) -> str:
    return f"subject {cert.subject.rfc4514_string()}, issuer {cert.issuer.rfc4514_string()}"


def ssl_context(creds: Credentials) -> ssl.SSLContext | None:
    """The context for an https API (None: plain http, or https with the system's CAs and no certificate)."""
    if not creds.url.startswith("https://") or not (creds.ca or creds.cert):
        return None
    ctx = ssl.create_default_context(cafile=creds.ca or None)
    if creds.cert:
        try:
            ctx.load_cert_chain(creds.cert, creds.key)
        except ssl.SSLError as err:
            raise InvalidInput.one("key", f"{creds.key} is not the private key of {creds.cert} "
                                          f"({err.reason or err})") from None
    return ctx


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = err
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def transport_error(err: httpx.TransportError, creds: Credentials) -> Exception:
    """What a failed connection means: the API's certificate not trusted, our certificate refused at the
    handshake (a TLS 1.2 alert, or under TLS 1.3 the connection closed before any answer), or an API that
    does not answer."""
    causes = list(_chain(err))
    if any(isinstance(c, ssl.SSLCertVerificationError) for c in causes):
        return Unavailable(f"the einvoice API at {creds.url} has a server certificate this CLI does not trust "
                           f"({err}): give its CA with --ca FILE or {CA_ENV} (GET /certificates/ca.pem)")
    tls_failure = any(isinstance(c, ssl.SSLError) for c in causes) or isinstance(
        err, httpx.RemoteProtocolError | httpx.ReadError)
    if creds.cert and tls_failure:
        why = ""
        if creds.ca:
            cert, ca = _load_certificate(creds.cert, "cert"), _load_certificate(creds.ca, "ca")
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):  # another CA (perhaps of the same name)
                why = f"; it is not issued by the CA in {creds.ca} ({ca.subject.rfc4514_string()})"
        return CertificateRefused(
            f"the einvoice API at {creds.url} closed the connection on the client certificate {creds.cert} "
            f"({describe(_load_certificate(creds.cert, 'cert'))}){why}: it accepts only certificates its CA "
            f"issued, within their validity (the TLS layer said: {err or type(err).__name__})")
    return Unavailable(f"cannot reach the einvoice API at {creds.url}: {err or type(err).__name__}")


_CERT_401 = re.compile(r"^(missing|unknown|revoked|expired) client certificate")


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


def raise_for(resp: httpx.Response, url: str, cert: str = "") -> None:
    """Nothing for a success; the domain's error for a refusal (see the module's doc). `cert`: the client
    certificate's file, named when the API refuses the certificate."""
    if resp.status_code < 400:
        return
    status = resp.status_code
    if status in (400, 422):
        raise InvalidInput(_problems(resp))
    text, body = _detail(resp)
    if status == 401 and _CERT_401.match(text):
        if not cert:
            raise CertificateRefused(f"the API at {url} refused the request: {text}; give --cert FILE --key FILE "
                                     f"(or {CERT_ENV} and {KEY_ENV}; `einvoice login` remembers them)")
        raise CertificateRefused(f"the API at {url} refused the client certificate {cert}: {text}")
    if status == 401:
        raise Unauthenticated(f"the API at {url} refused the token ({text}); run `einvoice login --url {url}`")
    if status == 403:
        permission = body.get("permission") or ""
        if not permission and "certificate" in body:  # mutual TLS: this certificate is not of that customer
            permission = f"a client certificate of the customer acted for ({cert or 'none given'})"
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
        self.http = _factory(creds.url, headers, ssl_context(creds))

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = self.http.request(method, path, **kw)
        except httpx.TransportError as err:
            raise transport_error(err, self.creds) from None
        raise_for(resp, self.url, self.creds.cert)
        return resp

    @contextlib.contextmanager
    def stream(self, method: str, path: str, **kw: Any) -> Iterator[httpx.Response]:
        """A response read as it arrives (a large download); a refusal raises as `request` does."""
        try:
            with self.http.stream(method, path, **kw) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise_for(resp, self.url, self.creds.cert)
                yield resp
        except httpx.TransportError as err:
            raise transport_error(err, self.creds) from None

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
    stored = load_credentials()
    if not wanted:
        if stored is None:
            raise NotLoggedIn("name the API: pass --url URL or set EINVOICE_URL (or run `einvoice login --url URL`)")
        wanted = stored.url
    base = normalize_url(wanted)
    files = stored if stored is not None and stored.url == base else Credentials(base, "")
    with Api(with_tls(replace(files, url=base, token=""))) as api:
        yield api


def login(url: str, email: str, password: str, label: str) -> tuple[Credentials, dict[str, Any]]:
    """POST /auth/login, over the TLS files the command was given (or the environment's: a certificate the
    API closes the connection on is said here); the token and the files' paths are returned, not stored (the
    caller stores them)."""
    files = with_tls(Credentials(normalize_url(url), ""))
    base = files.url
    with _factory(base, {"User-Agent": "einvoice-cli", CLIENT_HEADER: "cli"}, ssl_context(files)) as http:
        try:
            resp = http.post("/auth/login", json={"email": email, "password": password, "label": label})
        except httpx.TransportError as err:
            raise transport_error(err, files) from None
    if resp.status_code == 401:
        raise Unauthenticated(f"login refused by {base}: {_detail(resp)[0]}")
    raise_for(resp, base, files.cert)
    answer: dict[str, Any] = resp.json()
    creds = replace(files, token=answer["token"], email=answer["user"]["email"], token_id=answer.get("token_id"),
                    expires_at=answer.get("expires_at", ""))
    return creds, answer
