"""The contract step of `make demo`: the order's e-mail with the contract and its link, the acceptance page
opened (which accepts nothing), Accept pressed over HTTP, and the customer enabled."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table

from core.settings import Settings
from devstack import demo_http as http
from devstack.smtp_sink import Mailbox

console = Console()
DEMO_VAT = "IT02038490237"


def _invitations(mailbox: Mailbox, pec: str) -> list[str]:
    links: list[str] = []
    for msg in mailbox.find(to=pec, kind="contract-invitation"):
        links += [u for u in Mailbox.links_in(msg) if "/accept/" in u]
    return links


T = TypeVar("T")


def _wait(what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"demo: timed out waiting for {what}")
        time.sleep(0.3)


def step_contract(settings: Settings, ctx: dict[str, object]) -> None:
    console.rule("[bold]2. Contract acceptance: e-mail to the PEC, link, acceptance page, customer enabled")
    api = settings.public_base_url
    vat = str(ctx.get("vat", DEMO_VAT))
    tenant = http.get(f"{api}/tenants/{vat}", timeout=10).json()
    if tenant["enabled"]:
        console.print(f"customer {vat} is already enabled (data dir reused): its contract was accepted before")
        return
    mailbox = Mailbox(settings.data_dir / "mail")
    before = len(_invitations(mailbox, tenant["pec"]))
    resp = http.post(f"{api}/contracts", json={"vat": vat, "amount": "49.00"}, timeout=30)
    if resp.status_code == 409:  # an order from an earlier run still awaits: send its e-mail again
        console.print(f"an order is already awaiting acceptance: POST {api}/contracts/{vat}/resend")
        resp = http.post(f"{api}/contracts/{vat}/resend", timeout=30)
    resp.raise_for_status()
    workflow_id = resp.json().get("workflow_id", "of the open order")
    console.print(f"POST {api}/contracts → {resp.status_code}: workflow {workflow_id}, awaiting documentation "
                  "(attesa documentazione)")

    link = _wait("the contract e-mail", lambda: next(reversed(_invitations(mailbox, tenant["pec"])[before:]), None))
    console.print(f"e-mail to {tenant['pec']} saved by the SMTP sink in {mailbox.out_dir}; its link:")
    console.print(f"  {link}", soft_wrap=True, highlight=False)

    page = http.get(link, timeout=10)
    console.print(f"GET the link (as a mail scanner would) → {page.status_code}, a page with an Accept button; "
                  f"customer enabled: {http.get(f'{api}/tenants/{vat}', timeout=10).json()['enabled']}")
    accepted = http.post(link, timeout=30)
    console.print(f"POST the link (the Accept button) → {accepted.status_code}")
    enabled = _wait("the customer to be enabled",
                    lambda: http.get(f"{api}/tenants/{vat}", timeout=10).json()["enabled"])
    console.print(f"customer {vat} enabled: {enabled}")
    reused = http.post(link, timeout=30)
    console.print(f"the same link again → {reused.status_code} (single use; nothing changes)")

    def completed() -> dict[str, Any] | None:
        found = http.get(f"{api}/contracts/{vat}", timeout=10).json()
        return found if found["workflow"].get("status") == "COMPLETED" else None

    status = _wait("the activation e-mails", completed)
    table = Table(title=f"Order {status['order_id']}: {status['status']} (also: einvoice contract status --vat {vat})")
    for col in ("When (UTC)", "Step", "Detail"):
        table.add_column(col)
    for h in status["history"]:
        table.add_row(h["at"][:19].replace("T", " "), h["step"], h["detail"])
    console.print(table)
    ctx["contract_order"] = status["order_id"]
