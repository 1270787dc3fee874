"""`einvoice tls`: the intermediary's own client certificate for mutual TLS (starters/tls.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from core.db import migrate
from core.settings import get_settings
from starters.output import domain_errors
from starters.tls import issue_client_certificate

app = typer.Typer(help="Mutual TLS: the client certificate operators present.", no_args_is_help=True)


@app.command("issue")
def issue(
    vat: Annotated[str, typer.Option(help="the intermediary's VAT number (API_TLS_OPERATOR_VAT)")],
    out_dir: Annotated[Path, typer.Option(help="where <vat>.pem and <vat>.key (mode 0600) are written")],
    name: Annotated[str, typer.Option(help="its company name, when it is not a customer yet")] = "",
    pec: Annotated[str, typer.Option(help="its PEC address, when it is not a customer yet")] = "",
) -> None:
    """Ask our CA for a client certificate through the certificate workflow, with a key made here. Run where
    the database and Temporal are: over mutual TLS the first certificate cannot come over the API."""
    settings = get_settings()
    migrate(settings.database_url)
    with domain_errors():
        files = asyncio.run(issue_client_certificate(settings, vat, out_dir, name, pec))
    typer.echo(f"certificate {files.operation_id}: {files.cert}\nkey: {files.key}")
