"""`einvoice contract start|status|resend|cancel --vat VAT [--json]`, through the HTTP API as the logged-in
user (`einvoice login`)."""

from __future__ import annotations

from typing import Annotated

import typer

from domain.contracts import format_eur
from starters.http_client import connect
from starters.login_cli import UrlOpt
from starters.output import domain_errors, print_json, print_table

app = typer.Typer(help="Contract orders: the intermediation contract the customer accepts from a link.",
                  no_args_is_help=True)

VatOption = Annotated[str, typer.Option("--vat", help="The customer's VAT number (IT + partita IVA, PL + NIP)")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON")]


@app.command("start")
def start(
    vat: VatOption,
    amount: Annotated[str, typer.Option(help="Activation amount in euro, e.g. 49.00")] = "0",
    as_json: JsonOption = False,
    url: UrlOpt = None,
) -> None:
    """Open an order: the contract and a personal acceptance link are e-mailed to the customer's PEC."""
    with domain_errors(), connect(url) as api:
        started = api.post("/contracts", json={"vat": vat, "amount": amount})
    if as_json:
        print_json(started)
    else:
        typer.echo(f"started {started['workflow_id']}: awaiting documentation (attesa documentazione); the contract "
                   "is being e-mailed to the customer's PEC")


@app.command("status")
def status(vat: VatOption, as_json: JsonOption = False, url: UrlOpt = None) -> None:
    """The customer's newest order and every step of its history."""
    with domain_errors(), connect(url) as api:
        data = api.get(f"/contracts/{vat}")
    if as_json:
        print_json(data)
        return
    typer.echo(f"order {data['order_id']} for {data['customer_name']} ({data['vat_number']}): {data['status']}; "
               f"amount {data['amount']}"
               + (f", refunded {format_eur(data['refunded_cents'])}" if data["refunded_cents"] is not None else "")
               + f"; deadline {data['deadline'][:10]}; workflow {data['workflow'].get('status')}")
    print_table("History", ["When (UTC)", "Step", "Detail"],
                [[h["at"][:19].replace("T", " "), h["step"], h["detail"]] for h in data["history"]])


@app.command("resend")
def resend(vat: VatOption, as_json: JsonOption = False, url: UrlOpt = None) -> None:
    """E-mail the contract and a new link again (only while awaiting documentation)."""
    with domain_errors(), connect(url) as api:
        result = api.post(f"/contracts/{vat}/resend")
    if as_json:
        print_json(result)
    else:
        typer.echo(f"order {result['order_id']}: contract e-mailed again to {result['sent_to']} "
                   f"(e-mail {result['invitation_no']})")


@app.command("cancel")
def cancel(
    vat: VatOption,
    reason: Annotated[str, typer.Option(help="Why the activation is cancelled")] = "",
    as_json: JsonOption = False,
    url: UrlOpt = None,
) -> None:
    """Cancel the activation (only while awaiting documentation); the amount is recorded as refunded."""
    with domain_errors(), connect(url) as api:
        result = api.post(f"/contracts/{vat}/cancel", json={"reason": reason})
    if as_json:
        print_json(result)
    else:
        typer.echo(f"order {result['order_id']} cancelled; {format_eur(result['refunded_cents'])} recorded as "
                   "refunded")
