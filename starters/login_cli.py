"""`einvoice login`, `einvoice logout`, `einvoice whoami`: the CLI's credentials for the HTTP API, and the
mutual-TLS options every command that calls the API takes (`add_tls_options`)."""

from __future__ import annotations

import functools
import inspect
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from starters import http_client
from starters.output import domain_errors, fail, print_json

UrlOpt = Annotated[str | None, typer.Option(
    "--url", help="The einvoice API (default EINVOICE_URL, EINVOICE_API_URL, else the one logged in to)")]
"""The option every command that calls the API takes (`starters.http_client.resolve`)."""

_TLS = "Mutual TLS"
CertOpt = Annotated[Path | None, typer.Option(
    "--cert", rich_help_panel=_TLS, help=f"Client certificate (PEM) for an API served over mutual TLS (default "
    f"{http_client.CERT_ENV}, else the one given at login)")]
KeyOpt = Annotated[Path | None, typer.Option(
    "--key", rich_help_panel=_TLS, help=f"Its private key, mode 0600 (default {http_client.KEY_ENV}, else the "
    "login's); only its path is ever stored")]
CaOpt = Annotated[Path | None, typer.Option(
    "--ca", rich_help_panel=_TLS, help=f"The CA certificate to trust the API's certificate by (default "
    f"{http_client.CA_ENV}, else the login's, else the system's)")]


def with_tls_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`command` with --cert, --key and --ca added: every API client it makes uses them."""
    signature = inspect.signature(command, eval_str=True)
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=kind)
             for name, kind in (("cert", CertOpt), ("key", KeyOpt), ("ca", CaOpt))]

    @functools.wraps(command)
    def wrapper(*args: Any, cert: Path | None = None, key: Path | None = None, ca: Path | None = None,
                **kwargs: Any) -> Any:
        with http_client.tls_options(cert, key, ca):
            return command(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *extra])  # type: ignore[attr-defined]
    return wrapper


def add_tls_options(app: typer.Typer) -> None:
    """Give every command of `app` (and of its groups) that calls the API (it takes `--url` as `UrlOpt`) the
    mutual-TLS options, so no client command lacks them."""
    for info in app.registered_commands:
        if info.callback is None:
            continue
        params = inspect.signature(info.callback, eval_str=True).parameters
        if "url" in params and params["url"].annotation is UrlOpt and "cert" not in params:
            info.callback = with_tls_options(info.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            add_tls_options(group.typer_instance)


def login(
    url: UrlOpt = None,
    user: Annotated[str | None, typer.Option("--user", help="Your e-mail (the login); prompted for if "
                                             "not given")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first "
                                                 "line of stdin instead of prompting")] = False,
    label: Annotated[str | None, typer.Option(help="A name for the token (default cli@<this host>)")] = None,
    cert: CertOpt = None,
    key: KeyOpt = None,
    ca: CaOpt = None,
) -> None:
    """Log in to the API and store the token in the user's config directory (mode 0600), with the paths of the
    client certificate, its key and the CA given (mutual TLS), which later commands then use."""
    url = url or http_client.url_from_env()
    if not url:
        fail("name the API: einvoice login --url https://einvoice.example (or set EINVOICE_URL)", 2)
    email = user or typer.prompt("E-mail")
    if password_stdin:
        password = typer.get_text_stream("stdin").readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True)
    if not password:
        fail("no password given", 2)
    with domain_errors(), http_client.tls_options(cert, key, ca):
        creds, answer = http_client.login(url, email.strip(), password, label or f"cli@{socket.gethostname()}")
        path = http_client.save_credentials(creds)
    who = answer["user"]
    of = f" of {who['vat_number']}" if who.get("vat_number") else ""
    typer.echo(f"logged in to {creds.url} as {who['email']} ({who['kind']}{of}); token {creds.token_id} expires "
               f"{creds.expires_at}; stored in {path}")
    if creds.cert:
        typer.echo(f"client certificate {creds.cert} (key {creds.key}) remembered for this API")


def logout(url: UrlOpt = None) -> None:
    """Revoke the token through the API and remove the credentials file (a token from EINVOICE_API_TOKEN is
    revoked, and the file, which holds another, is left)."""
    path = http_client.credentials_path()
    with domain_errors():
        stored = http_client.load_credentials(path)
        creds = http_client.resolve(url)
        try:
            with http_client.Api(creds) as api:
                api.request("POST", "/auth/logout")
            revoked = f"token {creds.token_id} revoked" if creds.token_id else "token revoked"
            revoked += f" at {creds.url}"
        except http_client.Unauthenticated as err:  # revoked or expired already: nothing left to revoke
            revoked = f"the token was no longer valid ({err})"
    removed = stored is not None and stored.token == creds.token and http_client.remove_credentials(path)
    typer.echo(f"logged out: {revoked}" + (f"; removed {path}" if removed else ""))


def whoami(url: UrlOpt = None,
           as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """The user the CLI acts as, and at which API."""
    with domain_errors(), http_client.connect(url) as api:
        me = api.get("/auth/me")
        where = api.url
    if as_json:
        print_json({**me, "url": where})
        return
    of = f" of {me['vat_number']}" if me.get("vat_number") else ""
    typer.echo(f"{me['email']} ({me['kind']}{of}) at {where}")
    for vat, perms in me.get("grants", {}).items():
        typer.echo(f"  acts for {vat}: {', '.join(perms) or '(nothing granted)'}")
