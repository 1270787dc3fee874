"""The conservation step of `make demo`: the demo invoice's archival package on S3 under Object Lock,
its index, the space used, a verification, the weekly schedule, and an export checked offline."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import zipfile
from datetime import date

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from core.db import session_scope
from core.settings import Settings
from core.temporal import connect
from devstack import demo_http as http
from models.conservation_io import ConservationInput, ConservationResult, PackageMetadata, VerifyInput
from models.files import store_file
from models.tenant import Tenant

console = Console()
DEMO_VAT = "IT02038490237"
DEMO_OWNER = "demo-conservation-00001"


def _demo_documents() -> list[tuple[str, str, str, bytes]]:
    """A small invoice cycle written here (the invoice step stores the real one when it is there)."""
    xml = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<p:FatturaElettronica xmlns:p="http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2" '
        b'versione="FPR12"><FatturaElettronicaHeader><DatiTrasmissione><IdTrasmittente><IdPaese>IT</IdPaese>'
        b'<IdCodice>02038490237</IdCodice></IdTrasmittente><ProgressivoInvio>DEMO1</ProgressivoInvio>'
        b'<FormatoTrasmissione>FPR12</FormatoTrasmissione><CodiceDestinatario>0000000</CodiceDestinatario>'
        b'</DatiTrasmissione></FatturaElettronicaHeader><FatturaElettronicaBody><DatiGenerali>'
        b'<DatiGeneraliDocumento><TipoDocumento>TD01</TipoDocumento><Divisa>EUR</Divisa><Data>2026-11-20</Data>'
        b'<Numero>DEMO-1</Numero></DatiGeneraliDocumento></DatiGenerali></FatturaElettronicaBody>'
        b'</p:FatturaElettronica>\n'
    )
    rc = (b'<?xml version="1.0" encoding="UTF-8"?>\n<ns3:RicevutaConsegna '
          b'xmlns:ns3="http://www.fatturapa.gov.it/sdi/messaggi/v1.0" versione="1.0"><IdentificativoSdI>'
          b'900000001</IdentificativoSdI><NomeFile>IT02038490237_DEMO1.xml</NomeFile></ns3:RicevutaConsegna>\n')
    return [
        ("original", "IT02038490237_DEMO1.xml", "application/xml", xml),
        ("notification", "IT02038490237_DEMO1_RC_001.xml", "application/xml", rc),
    ]


def _store_demo_documents(settings: Settings, vat: str) -> ConservationInput:
    with session_scope(settings.database_url) as session:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.vat_number == vat))
        if tenant_id is None:
            raise RuntimeError(f"customer {vat} is missing: the first demo step adds it")
        for role, name, mime, content in _demo_documents():
            store_file(session, tenant_id, "invoice", DEMO_OWNER, role, name, mime, content)
    return ConservationInput(
        tenant_vat=vat, owner_kind="invoice", owner_id=DEMO_OWNER,
        metadata=PackageMetadata(document_number="DEMO-1", document_date="2026-11-20", document_type="TD01",
                                 sender_vat=vat, sender_name="Demo Forniture S.r.l.", recipient_id="IT09876543210",
                                 recipient_name="Cliente Demo S.r.l.", sdi_file_name="IT02038490237_DEMO1.xml",
                                 sdi_id="900000001"),
    )


async def _conserve(settings: Settings, vat: str, invoice_id: str | None) -> tuple[ConservationResult, str, object]:
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from starters.archive import conservation_workflow_id, ensure_verify_schedule, run_verify, start_conservation

    client = await connect(settings)
    result: ConservationResult | None = None
    if invoice_id:  # the invoice workflow starts conservation as a child when the invoice's cycle closes
        handle = client.get_workflow_handle(conservation_workflow_id(settings, "invoice", invoice_id),
                                            result_type=ConservationResult)
        for _ in range(60):
            try:
                await handle.describe()
                break
            except Exception:
                await asyncio.sleep(1)
        else:
            console.print(f"no conservation started for invoice {invoice_id} within a minute")
        try:
            result = await asyncio.wait_for(handle.result(), timeout=120)
            console.print(f"the invoice workflow conserved invoice {invoice_id} as child {handle.id}")
        except Exception as err:
            console.print(f"[yellow]the demo invoice's conservation did not finish ({err})[/]")
    if result is None:
        console.print("conserving a demo invoice cycle stored by this step (original XML + RC receipt)")
        inp = _store_demo_documents(settings, vat)
        try:
            handle = await start_conservation(settings, inp, client)
        except WorkflowAlreadyStartedError:
            handle = client.get_workflow_handle(conservation_workflow_id(settings, "invoice", DEMO_OWNER),
                                                result_type=ConservationResult)
        result = await handle.result()
    from starters.acting import CLI, LOCAL_ADMIN  # the demo is run by the machine's administrator

    schedule = await ensure_verify_schedule(settings, client, as_user=LOCAL_ADMIN, surface=CLI)
    report = await run_verify(settings, VerifyInput(vat=vat), client, as_user=LOCAL_ADMIN, surface=CLI)
    return result, schedule, report


def step_conservation(settings: Settings, ctx: dict[str, object]) -> None:
    console.rule("[bold]5. Conservation: the invoice's archival package on S3 under Object Lock")
    vat = str(ctx.get("vat", DEMO_VAT))
    invoice_id = ctx.get("invoice_id")
    result, schedule, report = asyncio.run(_conserve(settings, vat, str(invoice_id) if invoice_id else None))
    api = settings.public_base_url
    pkg = http.get(f"{api}/archive/packages/{result.package_id}", timeout=10).json()
    console.print(f"GET {api}/archive/packages/{result.package_id}")
    console.print(f"  objects under s3://{pkg['bucket']}/{pkg['prefix']}, each locked (COMPLIANCE) until "
                  f"{pkg['retain_until'][:10]}")
    table = Table(title=f"package {pkg['package_id']}")
    for col in ("file", "role", "bytes", "SHA-256 (impronta)"):
        table.add_column(col)
    for obj in pkg["objects"]:
        table.add_row(obj["name"], obj["role"], str(obj["size"]), obj["sha256"][:16] + "…")
    console.print(table)
    usage = http.get(f"{api}/archive/usage", params={"vat": vat}, timeout=10).json()[0]
    console.print(f"GET {api}/archive/usage?vat={vat}: {usage['packages']} package(s), {usage['objects']} "
                  f"objects, {usage['bytes']} bytes")
    console.print(f"verification workflow: {report.packages} package(s), {report.objects} objects checked, "  # type: ignore[attr-defined]
                  f"{'intact' if report.ok else 'FAULTS: ' + str(report.faults)}")  # type: ignore[attr-defined]
    console.print(f"schedule archive-verify-schedule {schedule}: every {settings.archive_verify_every_days} days")
    from starters.archive import export_archive

    year = int(pkg["document_date"][:4])
    out = settings.data_dir.resolve() / "exports" / f"{vat}-{year}.zip"
    from starters.acting import CLI, LOCAL_ADMIN

    summary = export_archive(settings, vat, date(year, 1, 1), date(year, 12, 31), out, as_user=LOCAL_ADMIN,
                             surface=CLI)
    folder = out.with_suffix("")
    with zipfile.ZipFile(out) as zf:
        zf.extractall(folder)
    checked = subprocess.run([sys.executable, "-I", "verify.py"], cwd=folder, capture_output=True, text=True,
                             timeout=60)
    console.print(f"export for an inspector: {out} ({summary.packages} package(s)); offline check "
                  f"(python3 verify.py): {checked.stdout.strip()}")
    console.print("CLI: einvoice archive usage | packages | verify [--sample N] | export --vat VAT --from D --to D "
                  "OUT.zip")
