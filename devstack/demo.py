"""The product's main scenario, run against the embedded stack by `make demo`.

Each step prints what it does and where to look.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console

from core.settings import Settings
from devstack import demo_http as http

console = Console()

DEMO_VAT = "IT02038490237"


def step_add_customer(settings: Settings, ctx: dict[str, object]) -> None:
    console.rule("[bold]1. Add a customer (titolare)")
    api = settings.public_base_url
    body = {"vat": DEMO_VAT, "name": "Demo Forniture S.r.l.", "pec": "demo@pec.demo-forniture.it",
            "sdi_code": "0000000"}
    existing = http.get(f"{api}/tenants/{DEMO_VAT}", timeout=10)
    if existing.status_code == 200:
        console.print(f"customer {DEMO_VAT} already exists (data dir reused)")
    else:
        resp = http.post(f"{api}/tenants", json=body, timeout=10)
        resp.raise_for_status()
        console.print(f"POST {api}/tenants → {resp.status_code}: {resp.json()['vat_number']} "
                      f"{resp.json()['name']} (enabled: {resp.json()['enabled']})")
    bad = http.post(f"{api}/tenants", json={**body, "vat": "IT02038490238"}, timeout=10)
    console.print(f"a wrong check digit is refused: {bad.status_code} {bad.json()['detail']}")
    ctx["vat"] = DEMO_VAT


Step = Callable[[Settings, dict[str, object]], None]


def steps() -> list[Step]:
    """The scenario in order: each area's step lives in its own module beside this one."""
    from devstack.demo_certificates import step_certificates
    from devstack.demo_conservation import step_conservation
    from devstack.demo_contracts import step_contract
    from devstack.demo_identity import step_delegation, step_operator
    from devstack.demo_invoices import step_invoices
    from devstack.demo_ksef_certificates import step_ksef_certificates
    from devstack.demo_ksef_download import step_ksef_download
    from devstack.demo_ksef_invoice import step_ksef_invoice
    from devstack.demo_sync import step_sync

    return [step_operator, step_add_customer, step_contract, step_certificates, step_ksef_certificates,
            step_ksef_invoice, step_ksef_download, step_invoices, step_conservation, step_delegation, step_sync]


def run_demo(settings: Settings) -> int:
    ctx: dict[str, object] = {}
    for step in steps():
        step(settings, ctx)
    console.rule("[bold]Where to look")
    console.print(f"Temporal Web UI: {settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}"
                  "/workflows")
    console.print(f"API and its OpenAPI: {settings.public_base_url}/docs")
    console.print(f"Web panel: {settings.public_base_url}/panel/ (log in as {ctx.get('panel_login', 'an operator')})")
    console.print(f"E-mails sent: {settings.data_dir.resolve() / 'mail'}")
    return 0
