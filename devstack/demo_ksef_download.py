"""The download step of `make demo` (#14.4, the download part of #14.6): a supplier's FA(3) invoice to the Polish
demo customer of step 3b arrives in the local KSeF, `POST /customers/{vat}/ksef/downloads` takes it (logging in
with the customer's KSeF token), it is shown among the customer's invoices, then the incremental download is
scheduled."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from core.settings import Settings
from devstack import demo_http as http
from devstack.demo_ksef_certificates import DEMO_PL_VAT, ensure_demo_token

console = Console()
SAMPLE = Path(__file__).parent / "samples" / "PL1234563218_FA3_to_PL5265877635.xml"


def step_ksef_download(settings: Settings, ctx: dict[str, object]) -> None:
    console.rule("[bold]3c. Download from KSeF (Pobierz z KSeF): a received FA(3) invoice into the passive cycle")
    api, ksef = settings.public_base_url, settings.ksef_url.removesuffix("/v2")
    ensure_demo_token(settings)
    number = f"DOST/{datetime.now(UTC):%Y%m%d%H%M%S}"  # the local KSeF refuses a number it already has (440)
    xml = SAMPLE.read_bytes().replace(b"DOST/2026/12/017", number.encode())
    sent = http.post(f"{ksef}/control/invoices", timeout=30, json={"invoice_b64": base64.b64encode(xml).decode()})
    sent.raise_for_status()
    console.print(f"a supplier (PL1234563218) sent invoice {number} to {DEMO_PL_VAT}: KSeF number "
                  f"{sent.json()['ksefNumber']}")
    now = datetime.now(UTC)
    resp = http.post(f"{api}/customers/{DEMO_PL_VAT}/ksef/downloads", timeout=30,
                     json={"from": (now - timedelta(days=1)).isoformat(), "to": now.isoformat()})
    resp.raise_for_status()
    started = resp.json()
    console.print(f"POST {api}/customers/{DEMO_PL_VAT}/ksef/downloads (the last 24 hours) → {resp.status_code}: "
                  f"workflow {started['workflow_id']}")
    deadline = time.monotonic() + 90
    while True:
        mine = [d for d in http.get(f"{api}/customers/{DEMO_PL_VAT}/ksef/downloads", timeout=10).json()
                if d["id"] == started["id"]][0]
        done = datetime.fromisoformat(mine["covered_until"]) >= datetime.fromisoformat(mine["range_to"])
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    console.print(f"covered until {mine['covered_until']}: {mine['taken']} taken"
                  f"{'; error ' + str(mine['last_error']) if mine['last_error'] else ''}")
    listed = http.get(f"{api}/invoices", params={"vat": DEMO_PL_VAT, "direction": "in"}, timeout=10).json()
    for inv in listed:
        if inv["number"] == number[:20]:
            console.print(f"shown among {DEMO_PL_VAT}'s invoices: {inv['id']} n. {inv['number']} from "
                          f"{inv['counterparty_name']}, {inv['total']} {inv['currency']}, {inv['state']}")
    sched = http.put(f"{api}/customers/{DEMO_PL_VAT}/ksef/schedule", timeout=30, json={"every_minutes": 30})
    sched.raise_for_status()
    body = sched.json()
    console.print(f"then incrementally: schedule {body['schedule_id']} every {body['every_minutes']} minutes, next "
                  f"round {(body['next_runs'] or ['—'])[0]}")
    ctx["ksef_download"] = started["id"]
