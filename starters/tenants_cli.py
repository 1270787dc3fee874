"""`einvoice tenant ...`: through the HTTP API, as the logged-in user (`einvoice login`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from starters.http_client import connect
from starters.login_cli import UrlOpt
from starters.output import domain_errors, print_json, print_table

app = typer.Typer(help="Customers (titolari): add and list.", no_args_is_help=True)


@app.command("add")
def add(
    vat: Annotated[str, typer.Option(help="VAT number with prefix: IT + partita IVA, or PL + NIP")],
    name: Annotated[str, typer.Option(help="Company name (denominazione)")],
    pec: Annotated[str, typer.Option(help="PEC address (Italy) or e-mail (Poland)")],
    sdi_code: Annotated[str | None, typer.Option(help="codice destinatario (Italy; default 0000000)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    url: UrlOpt = None,
) -> None:
    """Add a customer (an operator's action). A wrong identifier is refused and nothing is written."""
    with domain_errors(), connect(url) as api:
        tenant = api.post("/tenants", json={"vat": vat, "name": name, "pec": pec, "sdi_code": sdi_code})
    if as_json:
        print_json(tenant)
    else:
        typer.echo(f"added customer {tenant['vat_number']} ({tenant['name']}), not enabled until its contract "
                   "is accepted")


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False, url: UrlOpt = None) -> None:
    """List the customers you may see."""
    with domain_errors(), connect(url) as api:
        tenants = api.get("/tenants")
    if as_json:
        print_json(tenants)
        return
    print_table(
        "Customers",
        ["VAT number", "Name", "PEC / e-mail", "SDI code", "Enabled", "Added"],
        [[t["vat_number"], t["name"], t["pec"], t["sdi_code"] or "-", "yes" if t["enabled"] else "no",
          datetime.fromisoformat(t["created_at"]).strftime("%d/%m/%Y %H:%M")] for t in tenants],
    )
