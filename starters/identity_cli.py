"""`einvoice operator create` and `einvoice audit verify`: admin commands on the database they name."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from starters.http_client import connect
from starters.login_cli import UrlOpt
from starters.output import domain_errors, print_json, print_table

operator_app = typer.Typer(help="The intermediary's operators (admin: reaches the database directly).",
                           no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
console = Console()


@operator_app.command("create")
def create(
    email: Annotated[str, typer.Option(help="The operator's e-mail (its login)")],
    name: Annotated[str, typer.Option(help="Display name")] = "Operator",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin; "
                                                 "otherwise one is generated and shown once")] = False,
) -> None:
    """Create an operator; the first one must be made this way (there is no default password)."""
    from core.settings import get_settings
    from starters.identity import create_operator

    password = typer.get_text_stream("stdin").readline().rstrip("\n") if password_stdin else None
    settings = get_settings()
    with domain_errors():
        made = create_operator(settings, email, name, password)
    console.print(f"operator {made.email} created in {made.database}")
    if made.password:
        console.print(f"password (shown once, not stored): {made.password}")


@audit_app.command("list")
def list_(
    vat: Annotated[str, typer.Option("--vat", help="The customer whose trail to read")],
    after: Annotated[int, typer.Option(help="Entries after this id (the previous page's next)")] = 0,
    limit: Annotated[int, typer.Option(help="Entries in the page (1..1000)")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    url: UrlOpt = None,
) -> None:
    """A page of a customer's audit trail, oldest first, through the API (its users and operators)."""
    with domain_errors(), connect(url) as api:
        page = api.get(f"/tenants/{vat}/audit", params={"after": after, "limit": limit})
    if as_json:
        print_json(page)
        return
    entries = page["entries"]
    columns = ["id", "at", "actor", "surface", "action", "target", "outcome"]
    print_table(f"Audit trail of {vat}", columns, [[e[k] if k != "at" else e[k][:19].replace("T", " ")
                                                    for k in columns] for e in entries])
    if page["next_after"] is not None:
        console.print(f"more: einvoice audit list --vat {vat} --after {page['next_after']}")


@audit_app.command("verify")
def verify() -> None:
    """Admin: recompute the whole hash chain on DATABASE_URL (it says which); exit 1 naming the first entry
    removed or edited. (Over HTTP an operator has GET /audit/verify.)"""
    from core.settings import get_settings
    from starters.identity import _where, verify_audit

    settings = get_settings()
    report = verify_audit(settings)
    if report.ok:
        console.print(f"audit trail intact: {report.entries} entries in {_where(settings)}")
        return
    console.print(f"[red]audit trail broken[/red] at entry {report.first_bad_id}: {report.problem}")
    raise typer.Exit(1)
