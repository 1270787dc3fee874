"""The invoices step of `make demo`: send an invoice through the local SDI and show it delivered.

Over HTTP, as a backend would: upload the invoice (signed CAdES-BES by delegation with the intermediary's key),
then follow its state until the SDI's receipt (RC) arrives, and list its files.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from core.settings import Settings
from devstack import demo_http as http

console = Console()
# The AdE example invoice FPR01 (phax/ph-fatturapa@ab534b8 docs/1.2.2/examples/), unmodified.
SAMPLE = Path(__file__).resolve().parent / "samples" / "IT01234567890_FPR01.xml"


def demo_invoice(vat: str, number: str) -> bytes:
    """The AdE sample invoice FPR01 as sent by the demo customer (sender and transmitter rewritten)."""
    data = SAMPLE.read_bytes().replace(b"01234567890", vat[2:].encode()).replace(b"09876543210", b"09876543217")
    return data.replace(b"<Numero>123</Numero>", f"<Numero>{number}</Numero>".encode())


def ensure_demo_key(settings: Settings) -> Path:
    """The intermediary's own signing key for the embedded stack (signing by delegation), made once: a
    development certificate, in a PKCS#12 file readable only by this user, protected by
    EINVOICE_KEYSTORE_PASSWORD when it is set. Production keys are put there by the operator."""
    import os

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    import domain.fatturapa  # noqa: F401  (before domain.signatures: the two import each other)
    from domain.signatures import PASSWORD_ENV
    from domain.signatures.devcert import dev_signer

    path = settings.data_dir.resolve() / "keys" / f"{settings.sdi_delegated_key_alias}.p12"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    signer = dev_signer("einvoice-hub demo intermediary (development only)")
    password = os.environ.get(PASSWORD_ENV)
    protection = (serialization.BestAvailableEncryption(password.encode()) if password
                  else serialization.NoEncryption())
    data = pkcs12.serialize_key_and_certificates(settings.sdi_delegated_key_alias.encode(), signer.private_key,
                                                 signer.certificate, list(signer.chain), protection)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return path


def step_invoices(settings: Settings, ctx: dict[str, object]) -> None:
    console.rule("[bold]4. Send an invoice to the SDI (the local simulator) and await its receipt")
    api = settings.public_base_url
    vat = str(ctx.get("vat", "IT02038490237"))
    number = f"DEMO-{int(time.time()) % 100000}"
    key = ensure_demo_key(settings)
    console.print(f"signing by delegation with the intermediary's key {key} (a development certificate)")
    granted = http.put(f"{api}/tenants/{vat}/delegated-signing", json={"granted": True}, timeout=10)
    console.print(f"the customer's delegated signing (firma delegata) recorded: PUT /tenants/{vat}/delegated-signing "
                  f"→ {granted.status_code}; without it the intermediary's key is refused")
    sign = "cades"
    resp = http.post(f"{api}/invoices", data={"vat": vat, "sign": sign},
                      files={"file": (f"{number}.xml", demo_invoice(vat, number), "application/xml")}, timeout=30)
    if resp.status_code != 201:
        console.print(f"[yellow]the invoice was not accepted: {resp.status_code} {resp.text[:500]}[/]")
        return
    inv = resp.json()
    console.print(f"POST {api}/invoices → 201: invoice {inv['id']} named {inv['file_name']} "
                  "(signed CAdES-BES by the intermediary)")
    bad = http.post(f"{api}/invoices", data={"vat": vat},
                     files={"file": ("dup.xml", demo_invoice(vat, number), "application/xml")}, timeout=30)
    console.print(f"the same number again is refused: {bad.status_code} "
                  f"{[p['code'] for p in bad.json().get('problems', [])]}")
    state = inv["state"]
    deadline = time.monotonic() + 60
    while state in ("received", "validated", "signed", "sent") and time.monotonic() < deadline:
        time.sleep(0.5)
        state = http.get(f"{api}/invoices/{inv['id']}", timeout=10).json()["state"]
    detail = http.get(f"{api}/invoices/{inv['id']}", timeout=10).json()
    colour = "green" if state == "delivered" else "yellow"
    console.print(f"state: [{colour}]{state}[/] (identificativo SdI {detail['sdi_id']}); files:")
    for f in detail["files"]:
        console.print(f"  {f['role']:<13} {f['name']} ({f['size']} bytes)")
    console.print(f"readable copy: {api}/invoices/{inv['id']}/download/html · notifications: "
                  f"{api}/invoices/{inv['id']}/download/notifications")
    console.print(f"CLI: einvoice invoice status {inv['id']} | einvoice invoice list --vat {vat}")
    ctx["invoice_id"] = inv["id"]
