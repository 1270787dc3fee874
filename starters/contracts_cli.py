"""`einvoice contract start|status|resend|cancel --vat VAT [--json]`"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated, Any

import typer

from core.db import migrate
from core.settings import get_settings
from domain.contracts import format_eur
from starters import contracts
from starters.acting import CLI, LOCAL_ADMIN
from starters.output import domain_errors, print_json, print_table

app = typer.Typer(help="Contract orders: the intermediation contract the customer accepts from a link.",
                  no_args_is_help=True)

VatOption = Annotated[str, typer.Option("--vat", help="The customer's VAT number (IT + partita IVA, PL + NIP)")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _run(coro: Any) -> Any:
    with domain_errors():
        return asyncio.run(coro)


@app.command("start")
def start(
    vat: VatOption,
    amount: Annotated[str, typer.Option(help="Activation amount in euro, e.g. 49.00")] = "0",
    as_json: JsonOption = False,
) -> None:
    """Open an order: the contract and a personal acceptance link are e-mailed to the customer's PEC."""
    settings = get_settings()
    migrate(settings.database_url)
    started = _run(contracts.start_contract(settings, vat, amount, as_user=LOCAL_ADMIN, surface=CLI))
    if as_json:
        print_json(started.to_json())
    else:
        typer.echo(f"started {started.workflow_id}: awaiting documentation (attesa documentazione); the contract "
                   "is being e-mailed to the customer's PEC")


@app.command("status")
def status(vat: VatOption, as_json: JsonOption = False) -> None:
    """The customer's newest order and every step of its history."""
    settings = get_settings()
    migrate(settings.database_url)
    data = _run(contracts.contract_status(settings, vat, as_user=LOCAL_ADMIN, surface=CLI))
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
def resend(vat: VatOption, as_json: JsonOption = False) -> None:
    """E-mail the contract and a new link again (only while awaiting documentation)."""
    settings = get_settings()
    result = _run(contracts.resend_contract(settings, vat, as_user=LOCAL_ADMIN, surface=CLI))
    if as_json:
        print_json(dataclasses.asdict(result))
    else:
        typer.echo(f"order {result.order_id}: contract e-mailed again to {result.sent_to} "
                   f"(e-mail {result.invitation_no})")


@app.command("cancel")
def cancel(
    vat: VatOption,
    reason: Annotated[str, typer.Option(help="Why the activation is cancelled")] = "",
    as_json: JsonOption = False,
) -> None:
    """Cancel the activation (only while awaiting documentation); the amount is recorded as refunded."""
    settings = get_settings()
    result = _run(contracts.cancel_contract(settings, vat, reason, as_user=LOCAL_ADMIN, surface=CLI))
    if as_json:
        print_json(dataclasses.asdict(result))
    else:
        typer.echo(f"order {result.order_id} cancelled; {format_eur(result.refunded_cents)} recorded as refunded")
