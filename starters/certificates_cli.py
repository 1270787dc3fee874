"""`einvoice cert ...`: request, list, revoke, upload, delete, download; the CA certificate and CRL."""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
from typing import Annotated

import typer

from core.db import migrate
from core.settings import get_settings
from domain.certificates import ERROR, REVOCATION_REASONS
from starters.acting import CLI, LOCAL_ADMIN
from starters.certificates import (
    ca_certificate,
    certificate_revocation_list,
    delete_customer_certificate,
    download_certificate,
    list_customer_certificates,
    request_certificate,
    revoke_certificates,
    upload_certificate,
)
from starters.output import domain_errors, fail, it_date, print_json, print_table

app = typer.Typer(help="Certificates: request, list, revoke, upload, delete, download.", no_args_is_help=True)

VatOpt = Annotated[str, typer.Option("--vat", help="The customer's VAT number (IT + partita IVA, or PL + NIP)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def actor() -> str:
    """Who did it, recorded with the certificate: the operating-system user of the CLI."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (some containers)
        return "cli"


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        fail(f"cannot read the {what} {path}: {err.strerror}", 2)


@app.command("request")
def request(
    vat: VatOpt,
    csr: Annotated[Path, typer.Option("--csr", help="The PKCS#10 certificate signing request (PEM or DER)")],
    kind: Annotated[str, typer.Option(help="authentication | offline")] = "authentication",
    operation_id: Annotated[str | None, typer.Option("--operation-id", help="Your id for the request "
                                                     "(default: a new one); the same id twice starts one "
                                                     "workflow")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the certificate is active or failed")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Request a certificate: the CSR is checked, then its authorization workflow starts."""
    settings = get_settings()
    migrate(settings.database_url)
    data = _read(csr, "CSR")
    with domain_errors():
        result = asyncio.run(request_certificate(settings, vat, data, kind, operation_id, wait=wait,
                                                 as_user=LOCAL_ADMIN, surface=CLI))
    cert = result.certificate
    if as_json:
        print_json({**cert.to_json(), "duplicate": result.duplicate})
    else:
        again = " (already requested: no new workflow)" if result.duplicate else ""
        typer.echo(f"certificate request {cert.operation_id} ({cert.file_name}) for {cert.vat_number}: "
                   f"{cert.state_label}{again}")
        if cert.state == ERROR:
            typer.echo(f"  {cert.error}")
    if wait and cert.state == ERROR:
        raise typer.Exit(1)


@app.command("list")
def list_(vat: VatOpt, as_json: JsonOpt = False) -> None:
    """List a customer's certificates (oldest first)."""
    settings = get_settings()
    migrate(settings.database_url)
    with domain_errors():
        certs, offline = list_customer_certificates(settings, vat, as_user=LOCAL_ADMIN, surface=CLI)
    if as_json:
        print_json({"vat_number": vat, "offline_certificate": offline,
                    "certificates": [c.to_json() for c in certs]})
        return
    print_table(
        f"Certificates of {vat}",
        ["Operation id", "Certificate", "Kind", "State", "Requested", "Expires", "Added by", "Added at"],
        [[c.operation_id, c.file_name, c.kind, c.state_label, it_date(c.created_at), it_date(c.expires_at),
          c.created_by, c.created_at.strftime("%d/%m/%Y %H:%M")] for c in certs],
    )
    typer.echo(f"offline certificate: {offline}")


@app.command("revoke")
def revoke(
    vat: VatOpt,
    reason: Annotated[str, typer.Option(help=f"One of: {', '.join(REVOCATION_REASONS)}")],
    operation_id: Annotated[str | None, typer.Option("--id", help="The certificate to revoke (ignored on the "
                                                     "customer's first revocation, which revokes every active "
                                                     "certificate)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke active certificates (annullamento). The first request of a customer is cumulative."""
    settings = get_settings()
    migrate(settings.database_url)
    with domain_errors():
        result = asyncio.run(revoke_certificates(settings, vat, reason, operation_id, as_user=LOCAL_ADMIN, surface=CLI))
    if as_json:
        print_json(result.to_json())
        return
    how = "cumulative revocation: every active certificate" if result.cumulative else "revocation"
    typer.echo(f"{how} of {vat}: revoked {len(result.revoked)} certificate(s): {', '.join(result.revoked)}")
    for op, why in result.refused.items():
        typer.echo(f"  not revoked {op}: {why}")


@app.command("upload")
def upload(
    vat: VatOpt,
    file: Annotated[Path, typer.Option("--file", help="A certificate made elsewhere (PEM or DER), e.g. a KSeF "
                                       "offline certificate")],
    kind: Annotated[str, typer.Option(help="authentication | offline")] = "offline",
    as_json: JsonOpt = False,
) -> None:
    """Add a certificate made elsewhere: it must parse, be valid now and name the customer."""
    settings = get_settings()
    migrate(settings.database_url)
    data = _read(file, "certificate")
    with domain_errors():
        cert = asyncio.run(upload_certificate(settings, vat, data, kind, as_user=LOCAL_ADMIN, surface=CLI))
    if as_json:
        print_json(cert.to_json())
    else:
        typer.echo(f"{cert.kind} certificate {cert.operation_id} of {cert.vat_number}: {cert.state_label}, "
                   f"expires {it_date(cert.expires_at)}")


@app.command("delete")
def delete(vat: VatOpt, operation_id: Annotated[str, typer.Option("--id", help="The certificate")]) -> None:
    """Delete any certificate; its workflow ends."""
    settings = get_settings()
    migrate(settings.database_url)
    with domain_errors():
        asyncio.run(delete_customer_certificate(settings, vat, operation_id, as_user=LOCAL_ADMIN, surface=CLI))
    typer.echo(f"deleted certificate {operation_id} of {vat}")


@app.command("download")
def download(
    vat: VatOpt,
    operation_id: Annotated[str, typer.Option("--id", help="The certificate")],
    out: Annotated[Path | None, typer.Option(help="Where to write it (default certificato<ID>.cer)")] = None,
) -> None:
    """Save an issued (or uploaded) certificate, DER."""
    settings = get_settings()
    migrate(settings.database_url)
    with domain_errors():
        name, der = download_certificate(settings, vat, operation_id, as_user=LOCAL_ADMIN, surface=CLI)
    target = out or Path(name)
    target.write_bytes(der)
    typer.echo(f"wrote {target} ({len(der)} bytes)")


@app.command("ca")
def ca(out: Annotated[Path | None, typer.Option(help="Write it here instead of printing it")] = None) -> None:
    """The CA certificate (PEM), to verify the server over TLS and the certificates it issued."""
    pem = ca_certificate(get_settings())
    if out is None:
        typer.echo(pem.decode(), nl=False)
    else:
        out.write_bytes(pem)
        typer.echo(f"wrote {out}")


@app.command("crl")
def crl(out: Annotated[Path, typer.Option(help="Where to write the CRL (DER)")] = Path("einvoice-ca.crl")) -> None:
    """The CA's certificate revocation list (DER), with every revoked serial."""
    data = certificate_revocation_list(get_settings())
    out.write_bytes(data)
    typer.echo(f"wrote {out} ({len(data)} bytes)")
