"""`einvoice prefs ...`: a customer's notification preferences (each kind on by default)."""

from __future__ import annotations

from typing import Annotated

import typer

from core.db import migrate
from core.settings import get_settings
from domain.notifications import NOTIFICATION_KINDS
from starters.acting import CLI, LOCAL_ADMIN
from starters.certificates import notification_preferences, set_notification_preferences
from starters.output import domain_errors, print_json, print_table

app = typer.Typer(help="Notification preferences per customer and kind.", no_args_is_help=True)


def _show(vat: str, prefs: dict[str, bool], as_json: bool) -> None:
    if as_json:
        print_json(prefs)
        return
    print_table(f"Notifications of {vat}", ["Kind", "What", "Sent"],
                [[kind, NOTIFICATION_KINDS[kind], "on" if on else "off"] for kind, on in prefs.items()])


@app.command("show")
def show(vat: Annotated[str, typer.Option("--vat", help="The customer's VAT number")],
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Which notifications the customer gets."""
    settings = get_settings()
    migrate(settings.database_url)
    with domain_errors():
        prefs = notification_preferences(settings, vat, as_user=LOCAL_ADMIN, surface=CLI)
    _show(vat, prefs, as_json)


@app.command("set")
def set_(vat: Annotated[str, typer.Option("--vat", help="The customer's VAT number")],
         kind: Annotated[str, typer.Option(help=f"One of: {', '.join(NOTIFICATION_KINDS)}")],
         enabled: Annotated[bool, typer.Option("--on/--off", help="Send this kind, or not")],
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Turn one notification kind on or off for a customer."""
    settings = get_settings()
    migrate(settings.database_url)
    with domain_errors():
        prefs = set_notification_preferences(settings, vat, {kind: enabled}, as_user=LOCAL_ADMIN,
                                             surface=CLI)
    _show(vat, prefs, as_json)
