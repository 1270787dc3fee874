"""The sending step of `make demo` (#14.3, the sending part of #14.6): the Polish demo customer of step 3b, its
intermediation contract accepted as step 2 does it, sends one FA(3) invoice through `POST /invoices`; the one
invoice workflow takes it on its KSeF channel, the customer's KSeF session workflow opens an interactive session
at the local KSeF, sends it encrypted and brings back its numer KSeF (KSeF number) and UPO (the receipt)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from core.settings import Settings
from devstack import demo_http as http
from devstack.demo_contracts import step_contract
from devstack.demo_ksef_certificates import DEMO_PL_VAT, ensure_demo_token

console = Console()
SAMPLE = Path(__file__).parent / "samples" / "PL5265877635_FA3_to_PL1234563218.xml"
FINAL = ("accepted", "rejected", "failed")


def step_ksef_invoice(settings: Settings, ctx: dict[str, object]) -> None:
    console.rule("[bold]3d. Send an FA(3) invoice to KSeF (Wyślij do KSeF): its KSeF number and UPO")
    api = settings.public_base_url
    ensure_demo_token(settings)
    console.print(f"first {DEMO_PL_VAT}'s intermediation contract, accepted as in step 2:")
    step_contract(settings, {"vat": DEMO_PL_VAT})
    number = f"FV/DEMO/{datetime.now(UTC):%Y%m%d%H%M%S}"  # KSeF refuses a number a seller sent already (440)
    xml = SAMPLE.read_bytes().replace(b"FV/2026/12/001", number.encode())
    resp = http.post(f"{api}/invoices", timeout=60, data={"vat": DEMO_PL_VAT, "sign": "none"},
                     files={"file": ("faktura.xml", xml, "application/xml")})
    resp.raise_for_status()
    invoice = resp.json()
    console.print(f"POST {api}/invoices (FA(3) n. {number}) → {resp.status_code}: invoice {invoice['id']}, "
                  f"format {invoice['format']}, workflow {invoice['workflow_id']} (its KSeF channel)")
    deadline = time.monotonic() + 120
    detail = invoice
    while detail["state"] not in FINAL and time.monotonic() < deadline:
        time.sleep(0.5)
        detail = http.get(f"{api}/invoices/{invoice['id']}", timeout=10).json()
    console.print(f"state {detail['state']}: {detail.get('detail') or ''}")
    console.print(f"numer KSeF: {detail.get('ksef_number')}  (KSeF's status {detail.get('ksef_status')})")
    upo = http.get(f"{api}/invoices/{invoice['id']}/download/upo", timeout=10)
    if upo.status_code == 200:
        console.print(f"UPO (Urzędowe Poświadczenie Odbioru, KSeF's signed receipt): {len(upo.content)} bytes, "
                      f"GET {api}/invoices/{invoice['id']}/download/upo; it is conserved with the invoice")
    else:
        console.print(f"no UPO yet: {upo.status_code} {upo.text[:200]}")
    ctx["ksef_invoice"] = invoice["id"]
