"""`einvoice ksef token`: a Polish customer's KSeF token (#14), a client of the HTTP API like every
customer-facing command.

    einvoice ksef token set --vat PL5265877635            # prompts for it (hidden); or --stdin: the first line
    einvoice ksef token status --vat PL5265877635         # whether one is set, when and by whom
    einvoice ksef token remove --vat PL5265877635

The token is never an argument (a command line is seen by every user of the machine and kept in shell
histories): `set` reads it from a hidden prompt or from stdin, and no answer shows it again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from domain.errors import InvalidInput
from domain.signatures.keystore import Signer
from domain.signatures.xades import sign_xades
from starters.http_client import Api, connect
from starters.login_cli import UrlOpt
from starters.output import console, domain_errors, fail, print_json

app = typer.Typer(help="The customer's KSeF token, which the worker logs in to KSeF with (never a key of yours).",
                  no_args_is_help=True)

VatOpt = Annotated[str, typer.Option("--vat", help="The customer (NIP with prefix, PL...)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _show(got: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(got)
    elif got["set"]:
        console.print(f"{got['vat']}: a KSeF token is set (by {got['set_by']}, {got['set_at']})")
    else:
        console.print(f"{got['vat']}: no KSeF token set")


@app.command("set")
def set_token(vat: VatOpt,
              stdin: Annotated[bool, typer.Option("--stdin", help="Read the token from the first line of stdin "
                                                          "instead of prompting")] = False,
              as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """Give us the KSeF token the customer generated in KSeF (permissions InvoiceWrite and InvoiceRead): the
    worker logs in with it to send and download. Kept sealed; replaces the one before."""
    with domain_errors(), connect(url) as api:
        api.get(f"/customers/{vat}/ksef-token")  # logged in, and the customer there: before a secret is asked
        if stdin:
            token = typer.get_text_stream("stdin").readline().strip()
        else:
            token = typer.prompt("KSeF token", hide_input=True).strip()
        if not token:
            fail("no KSeF token given", 2)
        got = api.put(f"/customers/{vat}/ksef-token", json={"token": token})
    _show(got, as_json)


@app.command("status")
def status(vat: VatOpt, as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """Whether the customer's KSeF token is set, when and by whom (never the token)."""
    with domain_errors(), connect(url) as api:
        got = api.get(f"/customers/{vat}/ksef-token")
    _show(got, as_json)


@app.command("remove")
def remove(vat: VatOpt, url: UrlOpt = None) -> None:
    """Forget the customer's KSeF token (revoke it in KSeF too: it stays valid there until then)."""
    with domain_errors(), connect(url) as api:
        api.delete(f"/customers/{vat}/ksef-token")
    console.print(f"{vat}: KSeF token removed")


# ---------------------------------------------------------------- signing the KSeF login on this machine

def local_signer(seal: Path | None, key: Path | None, cert: Path | None, password_stdin: bool) -> Signer | None:
    """The customer's own seal or qualified certificate, read on this machine for one signature and never sent:
    a PKCS#12 bundle (`--ksef-seal`, its password prompted for, hidden, or the first line of stdin) or a PEM key
    and certificate (`--ksef-key`, `--ksef-cert`; an encrypted key's password the same way). None: neither."""
    if seal is None and key is None and cert is None:
        return None
    if seal is not None and (key is not None or cert is not None):
        fail("give --ksef-seal, or --ksef-key with --ksef-cert, not both", 2)
    if seal is None and (key is None or cert is None):
        fail("--ksef-key and --ksef-cert go together (the key and its certificate, PEM)", 2)

    def password() -> bytes:
        if password_stdin:
            return typer.get_text_stream("stdin").readline().rstrip("\r\n").encode()
        return str(typer.prompt("Password of the KSeF seal", hide_input=True, default="",
                                show_default=False)).encode()

    try:
        if seal is not None:
            return Signer.from_pkcs12(_read(seal, "--ksef-seal"), password() or None)
        assert key is not None and cert is not None
        pem = _read(key, "--ksef-key")
        try:
            private = serialization.load_pem_private_key(pem, None)
        except TypeError:  # encrypted
            private = serialization.load_pem_private_key(pem, password() or None)
        except ValueError:
            fail(f"--ksef-key {key}: not a PEM private key", 2)
        try:
            certificate = x509.load_pem_x509_certificate(_read(cert, "--ksef-cert"))
        except ValueError:
            fail(f"--ksef-cert {cert}: not a PEM certificate", 2)
        return Signer(private, certificate)  # type: ignore[arg-type]
    except ValueError as err:
        fail(f"the KSeF seal cannot be opened: {err}", 2)
    except InvalidInput as err:
        fail(f"the KSeF seal: {err}", 2)


def _read(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        fail(f"{option} {path}: {err.strerror}", 2)


def signed_auth_request(api: Api, vat: str, signer: Signer) -> bytes:
    """Ask our API for KSeF's challenge and the AuthTokenRequest of the customer's NIP, and sign it here (XAdES,
    `domain.signatures.xades`): the signed XML, for the certificate request to carry."""
    got = api.post(f"/customers/{vat}/ksef/auth-requests")
    return sign_xades(str(got["xml"]).encode("utf-8"), signer)
