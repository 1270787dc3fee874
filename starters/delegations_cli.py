"""`einvoice delegation ...`: a customer's accountant links (deleghe, seed 002) through the HTTP API, as the
logged-in user (`einvoice login`).

The two ways a link is made: the customer invites (`invite`) and the accountant accepts, or the accountant
asks (`request`) and the customer accepts (`accept` takes either). The customer then grants or withdraws each
permission (`grant`, `withdraw`): the CLI reads the link's set, sends the whole new one with the set it read
(`expected`), and the API refuses with a conflict (exit 3) if someone changed it meanwhile. Withdrawing
`read` withdraws the module permissions with it (seed 002).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from domain.errors import InvalidInput, NotFound
from domain.permissions import ALL, normalise
from starters.http_client import Api, connect
from starters.login_cli import UrlOpt
from starters.output import domain_errors, print_json, print_table

app = typer.Typer(help="Accountant links (deleghe): invite, request, accept, grant, withdraw, end, list.",
                  no_args_is_help=True)

VatOpt = Annotated[str, typer.Option("--vat", help="The customer's VAT number")]
LinkArg = Annotated[int, typer.Argument(help="The link's id (einvoice delegation list)")]
_PERMISSION = typer.Option("--permission", "-p", help=f"A permission (repeat the option for more): {', '.join(ALL)}")
PermissionsOpt = Annotated[list[str], _PERMISSION]
SomePermissionsOpt = Annotated[list[str] | None, _PERMISSION]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _show(links: list[dict[str, Any]], title: str, as_json: bool) -> None:
    if as_json:
        print_json(links)
        return
    print_table(title, ["Id", "Customer", "Accountant", "State", "Permissions", "Updated", "By"],
                [[v["id"], v["vat_number"], v["accountant"], v["state"], ", ".join(v["permissions"]) or "-",
                  v["updated_at"][:19].replace("T", " "), v["updated_by"]] for v in links])


def _one(link: dict[str, Any], as_json: bool, said: str) -> None:
    if as_json:
        print_json(link)
        return
    typer.echo(f"delegation {link['id']} ({link['vat_number']} ↔ {link['accountant']}) {said}: {link['state']}; "
               f"permissions: {', '.join(link['permissions']) or 'none'}")


@app.command("list")
def list_(vat: Annotated[str | None, typer.Option("--vat", help="A customer's links (its users, operators); "
                                                  "without it, your own (an accountant's, a customer user's)")] = None,
          as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """The links of a customer, or your own."""
    with domain_errors(), connect(url) as api:
        links = api.get(f"/tenants/{vat}/delegations" if vat else "/delegations")
    _show(links, f"Delegations of {vat}" if vat else "Your delegations", as_json)


@app.command("invite")
def invite(vat: VatOpt,
           accountant: Annotated[str, typer.Option("--accountant", help="The accountant's e-mail (its login)")],
           permission: SomePermissionsOpt = None, as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """The customer invites an accountant, with the permissions it will have once it accepts (e-mailed)."""
    with domain_errors(), connect(url) as api:
        link = api.post(f"/tenants/{vat}/delegations",
                        json={"accountant_email": accountant, "permissions": permission or []})
    _one(link, as_json, f"invited (e-mailed); the accountant accepts it: einvoice delegation accept {link['id']}")


@app.command("request")
def request(vat: VatOpt, as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """An accountant asks to act for a customer (its PEC is told); nothing is granted until the customer does."""
    with domain_errors(), connect(url) as api:
        link = api.post("/delegations", json={"vat": vat})
    _one(link, as_json, "requested; the customer accepts it")


@app.command("accept")
def accept(link_id: LinkArg, as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """Accept a link the other side opened: the accountant an invitation, the customer's user a request."""
    with domain_errors(), connect(url) as api:
        link = api.post(f"/delegations/{link_id}/accept")
    _one(link, as_json, "accepted")


def _known(permissions: list[str]) -> None:
    unknown = sorted(set(permissions) - set(ALL))
    if unknown:
        with domain_errors():
            raise InvalidInput.one("permission", f"unknown permission(s) {', '.join(unknown)}; known: "
                                                 f"{', '.join(ALL)}")


def _current(api: Api, vat: str, link_id: int) -> list[str]:
    for link in api.get(f"/tenants/{vat}/delegations"):
        if link["id"] == link_id:
            return list(link["permissions"])
    raise NotFound(f"no delegation {link_id}")


def _change(vat: str, link_id: int, url: str | None, new: Any, as_json: bool, said: str) -> None:
    with domain_errors(), connect(url) as api:
        seen = _current(api, vat, link_id)
        wanted = sorted(new(frozenset(seen)))
        link = api.put(f"/tenants/{vat}/delegations/{link_id}/permissions",
                       json={"permissions": wanted, "expected": seen})
    _one(link, as_json, said)


@app.command("grant")
def grant(vat: VatOpt, link_id: LinkArg, permission: PermissionsOpt, as_json: JsonOpt = False,
          url: UrlOpt = None) -> None:
    """Grant permissions on a link, beside those it has (a module permission only with read)."""
    _known(permission)
    _change(vat, link_id, url, lambda seen: seen | set(permission), as_json, f"granted {', '.join(permission)}")


@app.command("withdraw")
def withdraw(vat: VatOpt, link_id: LinkArg, permission: PermissionsOpt, as_json: JsonOpt = False,
             url: UrlOpt = None) -> None:
    """Withdraw permissions from a link (withdrawing read withdraws the module permissions too); the very
    next action of the accountant is refused."""
    _known(permission)
    _change(vat, link_id, url, lambda seen: normalise(seen - set(permission)), as_json,
            f"withdrawn {', '.join(permission)}")


@app.command("end")
def end(link_id: LinkArg,
        vat: Annotated[str | None, typer.Option("--vat", help="As the customer: its VAT number; without it, as "
                                                "the accountant")] = None,
        as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """End a link: the customer (with --vat) or the accountant; nothing is granted by it any more."""
    with domain_errors(), connect(url) as api:
        path = f"/tenants/{vat}/delegations/{link_id}" if vat else f"/delegations/{link_id}"
        link = api.request("DELETE", path).json()
    _one(link, as_json, "ended")
