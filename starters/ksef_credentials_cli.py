"""`einvoice ksef token`: a Polish customer's KSeF token (#14), a client of the HTTP API like every
customer-facing command.

    einvoice ksef token set --vat PL5265877635            # prompts for it (hidden); or --stdin: the first line
    einvoice ksef token status --vat PL5265877635         # whether one is set, when and by whom
    einvoice ksef token remove --vat PL5265877635

The token is never an argument (a command line is seen by every user of the machine and kept in shell
histories): `set` reads it from a hidden prompt or from stdin, and no answer shows it again.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from starters.http_client import connect
from starters.login_cli import UrlOpt
from starters.output import console, domain_errors, fail, print_json

app = typer.Typer(help="The customer's KSeF token, which the worker logs in to KSeF with (never a key of yours).",
                  no_args_is_help=True)

VatOpt = Annotated[str, typer.Option("--vat", help="The customer (NIP with prefix, PL...)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _show(got: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(got)
    elif got["set"]:
        console.print(f"{got['vat']}: a KSeF token is set (by {got['set_by']}, {got['set_at']})")
    else:
        console.print(f"{got['vat']}: no KSeF token set")


@app.command("set")
def set_token(vat: VatOpt,
              stdin: Annotated[bool, typer.Option("--stdin", help="Read the token from the first line of stdin "
                                                          "instead of prompting")] = False,
              as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """Give us the KSeF token the customer generated in KSeF (permissions InvoiceWrite and InvoiceRead): the
    worker logs in with it to send and download. Kept sealed; replaces the one before."""
    with domain_errors(), connect(url) as api:
        api.get(f"/customers/{vat}/ksef-token")  # logged in, and the customer there: before a secret is asked
        if stdin:
            token = typer.get_text_stream("stdin").readline().strip()
        else:
            token = typer.prompt("KSeF token", hide_input=True).strip()
        if not token:
            fail("no KSeF token given", 2)
        got = api.put(f"/customers/{vat}/ksef-token", json={"token": token})
    _show(got, as_json)


@app.command("status")
def status(vat: VatOpt, as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """Whether the customer's KSeF token is set, when and by whom (never the token)."""
    with domain_errors(), connect(url) as api:
        got = api.get(f"/customers/{vat}/ksef-token")
    _show(got, as_json)


@app.command("remove")
def remove(vat: VatOpt, url: UrlOpt = None) -> None:
    """Forget the customer's KSeF token (revoke it in KSeF too: it stays valid there until then)."""
    with domain_errors(), connect(url) as api:
        api.delete(f"/customers/{vat}/ksef-token")
    console.print(f"{vat}: KSeF token removed")
