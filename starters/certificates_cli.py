"""`einvoice cert ...`: request, list, revoke, upload, delete, download; the CA certificate and CRL. Through
the HTTP API, as the logged-in user (`einvoice login`)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from domain.certificates import ACCEPTED, ERROR, ORDERED, REVOCATION_REASONS
from starters.http_client import connect, connect_public
from starters.ksef_credentials_cli import local_signer, signed_auth_request
from starters.login_cli import UrlOpt
from starters.output import domain_errors, fail, it_date, print_json, print_table

app = typer.Typer(help="Certificates: request, list, revoke, upload, delete, download.", no_args_is_help=True)

VatOpt = Annotated[str, typer.Option("--vat", help="The customer's VAT number (IT + partita IVA, or PL + NIP)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]
IN_GENERATION = (ORDERED, ACCEPTED)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        fail(f"cannot read the {what} {path}: {err.strerror}", 2)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@app.command("request")
def request(
    vat: VatOpt,
    csr: Annotated[Path, typer.Option("--csr", help="The PKCS#10 certificate signing request (PEM or DER)")],
    kind: Annotated[str, typer.Option(help="authentication | offline")] = "authentication",
    operation_id: Annotated[str | None, typer.Option("--operation-id", help="Your id for the request "
                                                     "(default: a new one); the same id twice starts one "
                                                     "workflow")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the certificate is active or failed")] = False,
    ksef_seal: Annotated[Path | None, typer.Option("--ksef-seal", help="A Polish customer's: its seal or "
                                                   "qualified certificate (PKCS#12) that signs the KSeF login "
                                                   "here, on this machine (never sent)")] = None,
    ksef_key: Annotated[Path | None, typer.Option("--ksef-key", help="…or its private key (PEM)")] = None,
    ksef_cert: Annotated[Path | None, typer.Option("--ksef-cert", help="…with its certificate (PEM)")] = None,
    ksef_password_stdin: Annotated[bool, typer.Option("--ksef-password-stdin", help="Read the seal's "
                                                      "password from stdin instead of prompting")] = False,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
) -> None:
    """Request a certificate: the CSR is checked, then its authorization workflow starts. For a Polish
    customer KSeF issues it in the name of whoever signs the login: the customer signs it here with
    --ksef-seal (or --ksef-key and --ksef-cert), for a challenge the API hands out; only the signed login is
    sent, used once within 10 minutes."""
    data = _read(csr, "CSR")
    form = {"kind": kind, "wait": "true" if wait else "false", **({"operation_id": operation_id} if operation_id
                                                                    else {})}
    signer = local_signer(ksef_seal, ksef_key, ksef_cert, ksef_password_stdin)
    with domain_errors(), connect(url) as api:
        files = {"csr": (csr.name, data)}
        if signer is not None:
            files["ksef_auth_request"] = ("auth-request.xml", signed_auth_request(api, vat, signer))
        cert: dict[str, Any] = api.post(f"/tenants/{vat}/certificates", data=form, files=files)
        duplicate = cert.get("duplicate")
        while wait and cert["state"] in IN_GENERATION:  # the API answers after HTTP_WAIT_SECONDS at most
            time.sleep(1.0)
            cert = api.get(f"/tenants/{cert['vat_number']}/certificates/{cert['operation_id']}")
    if as_json:
        print_json({**cert, "duplicate": duplicate})
    else:
        again = " (already requested: no new workflow)" if duplicate else ""
        typer.echo(f"certificate request {cert['operation_id']} ({cert['file_name']}) for {cert['vat_number']}: "
                   f"{cert['state_label']}{again}")
        if cert["state"] == ERROR:
            typer.echo(f"  {cert['error']}")
    if wait and cert["state"] == ERROR:
        raise typer.Exit(1)


@app.command("list")
def list_(vat: VatOpt, as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """List a customer's certificates (oldest first)."""
    with domain_errors(), connect(url) as api:
        listing = api.get(f"/tenants/{vat}/certificates")
    if as_json:
        print_json(listing)
        return
    certs = listing["certificates"]
    print_table(
        f"Certificates of {vat}",
        ["Operation id", "Certificate", "Kind", "State", "Requested", "Expires", "Added by", "Added at"],
        [[c["operation_id"], c["file_name"], c["kind"], c["state_label"], it_date(_when(c["requested_at"])),
          it_date(_when(c["expires_at"])), c["added_by"], _when(c["added_at"]).strftime("%d/%m/%Y %H:%M")]  # type: ignore[union-attr]
         for c in certs],
    )
    for c in certs:  # why a request failed: the authority's own reason (KSeF's code and details)
        if c["state"] == ERROR and c.get("error"):
            typer.echo(f"error {c['operation_id']}: {c['error']}")
    typer.echo(f"offline certificate: {listing['offline_certificate']}")


@app.command("revoke")
def revoke(
    vat: VatOpt,
    reason: Annotated[str, typer.Option(help=f"One of: {', '.join(REVOCATION_REASONS)}")],
    operation_id: Annotated[str | None, typer.Option("--id", help="The certificate to revoke (ignored on the "
                                                     "customer's first revocation, which revokes every active "
                                                     "certificate)")] = None,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
) -> None:
    """Revoke active certificates (annullamento). The first request of a customer is cumulative."""
    with domain_errors(), connect(url) as api:
        result = api.post(f"/tenants/{vat}/certificates/revocations",
                          json={"reason": reason, "operation_id": operation_id})
    if as_json:
        print_json(result)
        return
    how = "cumulative revocation: every active certificate" if result["cumulative"] else "revocation"
    typer.echo(f"{how} of {vat}: revoked {len(result['revoked'])} certificate(s): {', '.join(result['revoked'])}")
    for op, why in result["refused"].items():
        typer.echo(f"  not revoked {op}: {why}")
    for op in result.get("pending", []):
        typer.echo(f"  pending {op}: the CA has not confirmed yet; `einvoice cert list` shows it revoked once done")


@app.command("upload")
def upload(
    vat: VatOpt,
    file: Annotated[Path, typer.Option("--file", help="A certificate made elsewhere (PEM or DER), e.g. a KSeF "
                                       "offline certificate")],
    kind: Annotated[str, typer.Option(help="authentication | offline")] = "offline",
    as_json: JsonOpt = False,
    url: UrlOpt = None,
) -> None:
    """Add a certificate made elsewhere: it must parse, be valid now and name the customer."""
    data = _read(file, "certificate")
    with domain_errors(), connect(url) as api:
        cert = api.post(f"/tenants/{vat}/certificates/uploads", data={"kind": kind},
                        files={"certificate": (file.name, data)})
    if as_json:
        print_json(cert)
    else:
        typer.echo(f"{cert['kind']} certificate {cert['operation_id']} of {cert['vat_number']}: "
                   f"{cert['state_label']}, expires {it_date(_when(cert['expires_at']))}")


@app.command("delete")
def delete(vat: VatOpt, operation_id: Annotated[str, typer.Option("--id", help="The certificate")],
           url: UrlOpt = None) -> None:
    """Delete any certificate; its workflow ends."""
    with domain_errors(), connect(url) as api:
        api.delete(f"/tenants/{vat}/certificates/{operation_id}")
    typer.echo(f"deleted certificate {operation_id} of {vat}")


@app.command("download")
def download(
    vat: VatOpt,
    operation_id: Annotated[str, typer.Option("--id", help="The certificate")],
    out: Annotated[Path | None, typer.Option(help="Where to write it (default certificato<ID>.cer)")] = None,
    url: UrlOpt = None,
) -> None:
    """Save an issued (or uploaded) certificate, DER."""
    with domain_errors(), connect(url) as api:
        resp = api.request("GET", f"/tenants/{vat}/certificates/{operation_id}/download")
    disposition = resp.headers.get("content-disposition", "")
    name = disposition.split('filename="', 1)[1].rstrip('"') if 'filename="' in disposition else \
        f"certificato{operation_id}.cer"
    target = out or Path(Path(name).name)
    target.write_bytes(resp.content)
    typer.echo(f"wrote {target} ({len(resp.content)} bytes)")


@app.command("ca")
def ca(out: Annotated[Path | None, typer.Option(help="Write it here instead of printing it")] = None,
       url: UrlOpt = None) -> None:
    """The CA certificate (PEM), to verify the server over TLS and the certificates it issued (public: no
    login needed, only the API's URL)."""
    with domain_errors(), connect_public(url) as api:
        pem = api.request("GET", "/certificates/ca.pem").content
    if out is None:
        typer.echo(pem.decode(), nl=False)
    else:
        out.write_bytes(pem)
        typer.echo(f"wrote {out}")


@app.command("crl")
def crl(out: Annotated[Path, typer.Option(help="Where to write the CRL (DER)")] = Path("einvoice-ca.crl"),
        url: UrlOpt = None) -> None:
    """The CA's certificate revocation list (DER), with every revoked serial (public: no login needed)."""
    with domain_errors(), connect_public(url) as api:
        data = api.request("GET", "/certificates/crl").content
    out.write_bytes(data)
    typer.echo(f"wrote {out} ({len(data)} bytes)")
