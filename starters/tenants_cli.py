"""`einvoice tenant ...`"""

from __future__ import annotations

from typing import Annotated

import typer

from core.db import migrate
from core.settings import get_settings
from starters.acting import CLI, LOCAL_ADMIN
from starters.output import domain_errors, print_json, print_table
from starters.tenants import add_customer, list_customers

app = typer.Typer(help="Customers (titolari): add and list.", no_args_is_help=True)


@app.command("add")
def add(
    vat: Annotated[str, typer.Option(help="VAT number with prefix: IT + partita IVA, or PL + NIP")],
    name: Annotated[str, typer.Option(help="Company name (denominazione)")],
    pec: Annotated[str, typer.Option(help="PEC address (Italy) or e-mail (Poland)")],
    sdi_code: Annotated[str | None, typer.Option(help="codice destinatario (Italy; default 0000000)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Add a customer. A wrong identifier is refused and nothing is written."""
    settings = get_settings()
    migrate(settings.database_url)
    with domain_errors():
        tenant = add_customer(settings, vat, name, pec, sdi_code, as_user=LOCAL_ADMIN, surface=CLI)
    if as_json:
        print_json(tenant.to_json())
    else:
        typer.echo(f"added customer {tenant.vat_number} ({tenant.name}), not enabled until its contract "
                   "is accepted")


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """List customers."""
    settings = get_settings()
    migrate(settings.database_url)
    tenants = list_customers(settings, as_user=LOCAL_ADMIN, surface=CLI)
    if as_json:
        print_json([t.to_json() for t in tenants])
        return
    print_table(
        "Customers",
        ["VAT number", "Name", "PEC / e-mail", "SDI code", "Enabled", "Added"],
        [[t.vat_number, t.name, t.pec, t.sdi_code or "-", "yes" if t.enabled else "no",
          t.created_at.strftime("%d/%m/%Y %H:%M")] for t in tenants],
    )
