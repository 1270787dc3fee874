"""`einvoice operator create` and `einvoice audit verify`: admin commands on the database they name."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from starters.output import domain_errors

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


@audit_app.command("verify")
def verify() -> None:
    """Recompute the whole hash chain; exit 1 naming the first entry removed or edited."""
    from core.settings import get_settings
    from starters.identity import _where, verify_audit

    settings = get_settings()
    report = verify_audit(settings)
    if report.ok:
        console.print(f"audit trail intact: {report.entries} entries in {_where(settings)}")
        return
    console.print(f"[red]audit trail broken[/red] at entry {report.first_bad_id}: {report.problem}")
    raise typer.Exit(1)
