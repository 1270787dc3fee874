"""The demo's identity steps: the first operator by the admin command, then (issue #12) a customer user and
an accountant, read + send granted, the accountant sends an invoice, send is withdrawn and the next send is
refused, and the customer's audit trail."""

from __future__ import annotations

import secrets
import time

from rich.console import Console
from rich.table import Table

from core.settings import Settings
from devstack import demo_http as http
from devstack.smtp_sink import Mailbox

console = Console()


def _login(api: str, email: str, password: str) -> str:
    resp = http.post(f"{api}/auth/login", json={"email": email, "password": password}, timeout=10)
    resp.raise_for_status()
    return str(resp.json()["token"])


def step_operator(settings: Settings, ctx: dict[str, object]) -> None:
    from starters.identity import create_operator

    console.rule("[bold]0. The first operator (admin command: einvoice operator create)")
    email = f"operator-{secrets.token_hex(3)}@einvoice-hub.local"
    made = create_operator(settings, email, "Demo operator")
    console.print(f"operator {made.email} created in {made.database}; its generated password is shown once "
                  "(never a default one)")
    api = settings.public_base_url
    anonymous = http.get(f"{api}/tenants", timeout=10)
    console.print(f"without a token: GET /tenants → {anonymous.status_code} {anonymous.json()['detail']}")
    assert made.password is not None
    http.act_as(_login(api, made.email, made.password))
    console.print(f"POST {api}/auth/login → an API token (only its hash is stored); the next steps use it")
    ctx["operator_token"] = http._auth["Authorization"].removeprefix("Bearer ")


def step_delegation(settings: Settings, ctx: dict[str, object]) -> None:
    from devstack.demo_invoices import demo_invoice

    console.rule("[bold]6. Who may do what: a customer user, an accountant, grants and their withdrawal")
    api, vat = settings.public_base_url, str(ctx.get("vat"))
    suffix, password = secrets.token_hex(3), secrets.token_urlsafe(18)
    customer_email, accountant_email = f"titolare-{suffix}@demo-forniture.it", f"studio-{suffix}@commercialisti.it"
    r = http.post(f"{api}/tenants/{vat}/users", json={"email": customer_email, "name": "Titolare",
                                                      "password": password}, timeout=10)
    console.print(f"operator adds a customer user: POST /tenants/{vat}/users → {r.status_code} {customer_email}")
    r = http.post(f"{api}/accountants", json={"email": accountant_email, "name": "Studio Rossi",
                                              "password": password}, timeout=10)
    console.print(f"an accountant registers for free: POST /accountants → {r.status_code} ({r.json()['state']})")
    mailbox = Mailbox(settings.data_dir / "mail")
    deadline = time.monotonic() + 20
    links: list[str] = []
    while not links and time.monotonic() < deadline:
        links = [u for m in mailbox.find(to=accountant_email, kind="account-confirmation")
                 for u in Mailbox.links_in(m) if "/accountants/confirm/" in u]
        time.sleep(0.2)
    confirmed = http.get(links[0], timeout=10)
    console.print(f"…and confirms the e-mailed link → {confirmed.status_code} (confirmed: "
                  f"{confirmed.json()['confirmed']})")
    ctx["panel_login"] = f"{customer_email} (or the accountant {accountant_email}), password {password}"
    customer, accountant = _login(api, customer_email, password), _login(api, accountant_email, password)
    as_customer, as_accountant = {"Authorization": f"Bearer {customer}"}, {"Authorization": f"Bearer {accountant}"}
    link = http.post(f"{api}/tenants/{vat}/delegations", headers=as_customer, timeout=10,
                     json={"accountant_email": accountant_email, "permissions": ["read", "invoices.send"]}).json()
    http.post(f"{api}/delegations/{link['id']}/accept", headers=as_accountant, timeout=10).raise_for_status()
    console.print(f"the customer invites the accountant with read + invoices.send; the accountant accepts "
                  f"(delegation {link['id']})")
    number = f"DELEGA-{int(time.time()) % 100000}"
    sent = http.post(f"{api}/invoices", headers=as_accountant, data={"vat": vat, "sign": "cades"}, timeout=30,
                     files={"file": (f"{number}.xml", demo_invoice(vat, number), "application/xml")})
    console.print(f"the accountant sends invoice {number}: POST /invoices → {sent.status_code}"
                  + (f" ({sent.json()['id']})" if sent.status_code == 201 else f" {sent.text[:200]}"))
    http.put(f"{api}/tenants/{vat}/delegations/{link['id']}/permissions", headers=as_customer, timeout=10,
             json={"permissions": ["read"]}).raise_for_status()
    number = f"DELEGA-{int(time.time()) % 100000 + 1}"
    refused = http.post(f"{api}/invoices", headers=as_accountant, data={"vat": vat, "sign": "cades"}, timeout=30,
                        files={"file": (f"{number}.xml", demo_invoice(vat, number), "application/xml")})
    detail = refused.json()["detail"]
    console.print(f"the customer withdraws invoices.send; the next send → [red]{refused.status_code}[/] "
                  f"{detail.get('detail') if isinstance(detail, dict) else detail}")
    trail = http.get(f"{api}/tenants/{vat}/audit", headers=as_customer, params={"limit": 1000}, timeout=10).json()
    table = Table(title=f"audit trail of {vat} (the last 12 entries; GET /tenants/{vat}/audit)")
    for column in ("at", "who", "surface", "action", "outcome"):
        table.add_column(column)
    for e in trail["entries"][-12:]:
        table.add_row(e["at"][11:19], e["actor"], e["surface"], e["action"], e["outcome"][:70])
    console.print(table)
    verified = http.get(f"{api}/audit/verify", timeout=10).json()
    console.print(f"hash chain: {'intact' if verified['ok'] else 'BROKEN'} over {verified['entries']} entries "
                  "(einvoice audit verify)")
