"""`einvoice prefs ...`: a customer's notification preferences (each kind on by default). Through the HTTP
API, as the logged-in user (`einvoice login`)."""

from __future__ import annotations

from typing import Annotated

import typer

from domain.notifications import NOTIFICATION_KINDS
from starters.http_client import connect
from starters.login_cli import UrlOpt
from starters.output import domain_errors, print_json, print_table

app = typer.Typer(help="Notification preferences per customer and kind.", no_args_is_help=True)


def _show(vat: str, prefs: dict[str, bool], as_json: bool) -> None:
    if as_json:
        print_json(prefs)
        return
    print_table(f"Notifications of {vat}", ["Kind", "What", "Sent"],
                [[kind, NOTIFICATION_KINDS.get(kind, kind), "on" if on else "off"] for kind, on in prefs.items()])


@app.command("show")
def show(vat: Annotated[str, typer.Option("--vat", help="The customer's VAT number")],
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False, url: UrlOpt = None) -> None:
    """Which notifications the customer gets."""
    with domain_errors(), connect(url) as api:
        prefs = api.get(f"/tenants/{vat}/preferences")
    _show(vat, prefs, as_json)


@app.command("set")
def set_(vat: Annotated[str, typer.Option("--vat", help="The customer's VAT number")],
         kind: Annotated[str, typer.Option(help=f"One of: {', '.join(NOTIFICATION_KINDS)}")],
         enabled: Annotated[bool, typer.Option("--on/--off", help="Send this kind, or not")],
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False, url: UrlOpt = None) -> None:
    """Turn one notification kind on or off for a customer."""
    with domain_errors(), connect(url) as api:
        prefs = api.put(f"/tenants/{vat}/preferences", json={kind: enabled})
    _show(vat, prefs, as_json)
