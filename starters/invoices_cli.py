"""`einvoice invoice ...` (through the HTTP API, as the logged-in user) and `einvoice sdi-sim` (a local
service)."""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path
from typing import Annotated, Any

import typer

from core.settings import get_settings
from models.invoices_io import RECEIVED, SENT, SIGNED, VALIDATED
from starters.http_client import Api, connect
from starters.login_cli import UrlOpt
from starters.output import domain_errors, fail, print_json, print_table

app = typer.Typer(help="Invoices: send to the SDI and follow them; received invoices.", no_args_is_help=True)
WAITING_STATES = frozenset({RECEIVED, VALIDATED, SIGNED, SENT})  # as starters.invoices.WAITING_STATES


def _warnings(view: dict[str, Any]) -> None:
    for w in view.get("warnings") or []:
        typer.echo(f"  warning [{w.get('code')}] {w.get('field')}: {w.get('message')}")


def _wait(api: Api, invoice_id: str, timeout: float) -> dict[str, Any]:
    """Until the invoice leaves the waiting states (sent and before), reading it once a second."""
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = api.get(f"/invoices/{invoice_id}")
    while view["state"] in WAITING_STATES and time.monotonic() < deadline:
        time.sleep(1.0)
        view = api.get(f"/invoices/{invoice_id}")
    view.pop("files", None)
    return view


@app.command("send")
def send(
    file: Annotated[Path, typer.Argument(help="FatturaPA XML, or a signed .xml.p7m", exists=True, dir_okay=False)],
    vat: Annotated[str, typer.Option(help="the customer's VAT number (the invoice's sender)")],
    sign: Annotated[str, typer.Option(help="cades | xades | none")] = "none",
    key_alias: Annotated[str | None, typer.Option(help="key store alias (default: the intermediary's)")] = None,
    ksef_offline: Annotated[str | None, typer.Option(
        "--ksef-offline", metavar="MODE", help="KSeF: issued offline, offline24 | offline | awaryjny")] = None,
    ksef_kod_ii: Annotated[str | None, typer.Option(
        "--ksef-kod-ii", metavar="URL", help="KSeF: the offline invoice's KOD II, signed with your offline "
                                             "certificate")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="wait for the SDI's outcome")] = False,
    timeout: Annotated[float, typer.Option(help="seconds --wait waits at most")] = 300.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    url: UrlOpt = None,
) -> None:
    """Check, sign, name and transmit an invoice. A refusal lists every problem (with its XPath); nothing is
    written then."""
    from domain.fatturapa import MAX_FILE_SIZE

    if file.stat().st_size > MAX_FILE_SIZE:
        fail(f"{file} is larger than the SDI limit of {MAX_FILE_SIZE} bytes [00003]", 2)
    form = {"vat": vat, "sign": sign, **({"key_alias": key_alias} if key_alias else {}),
            **({"ksef_offline": ksef_offline} if ksef_offline else {}),
            **({"ksef_kod_ii": ksef_kod_ii} if ksef_kod_ii else {})}
    with domain_errors(), connect(url) as api:
        view = api.post("/invoices", data=form, files={"file": (file.name, file.read_bytes())})
        if wait:
            view = _wait(api, view["id"], timeout)
    if as_json:
        print_json(view)
    else:
        typer.echo(f"invoice {view['id']}: {view['file_name']} is {view['state']} (workflow {view['workflow_id']})")
        _warnings(view)


@app.command("status")
def status(invoice_id: Annotated[str, typer.Argument(help="the invoice id (SDI file name without extension)")],
           as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False, url: UrlOpt = None) -> None:
    """The state of one invoice, its notifications and files."""
    with domain_errors(), connect(url) as api:
        view = api.get(f"/invoices/{invoice_id}")
    files = view["files"]
    if as_json:
        print_json({**view, "files": [{"name": f["name"], "role": f["role"], "size": f["size"],
                                       "sha256": f["sha256"]} for f in files]})
        return
    typer.echo(f"{view['id']}  {view['file_name']}  state: {view['state']}  identificativo SdI: "
               f"{view['sdi_id'] or '-'}")
    typer.echo(f"  number {view['number']} of {view['date']}, {view['total']} {view['currency']}, "
               f"{'to' if view['direction'] == 'out' else 'from'} {view['counterparty_name']}")
    if view["detail"]:
        typer.echo(f"  detail: {view['detail']}")
    _warnings(view)
    for f in files:
        typer.echo(f"  {f['role']:<13} {f['name']} ({f['size']} bytes)")


@app.command("list")
def list_(vat: Annotated[str, typer.Option(help="the customer's VAT number")],
          direction: Annotated[str | None, typer.Option(help="out (sent) | in (received)")] = None,
          as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False, url: UrlOpt = None) -> None:
    """A customer's invoices, sent and received."""
    params = {"vat": vat, **({"direction": direction} if direction else {})}
    with domain_errors(), connect(url) as api:
        views = api.get("/invoices", params=params)
    if as_json:
        print_json(views)
        return
    print_table(f"Invoices of {vat}", ["Id", "Dir", "File", "Number", "Date", "Total", "State", "SdI id"],
                [[v["id"], v["direction"], v["file_name"], v["number"], v["date"], f"{v['total']} {v['currency']}",
                  v["state"], v["sdi_id"]] for v in views])


_FILENAME = re.compile(r'filename="([^"]+)"')


@app.command("download")
def download(invoice_id: Annotated[str, typer.Argument(help="the invoice id")],
             what: Annotated[str, typer.Option(help="original | signed | notifications | html | pdf")] = "original",
             out: Annotated[Path, typer.Option(help="directory to write to")] = Path("."),
             url: UrlOpt = None) -> None:
    """Write the original, the signed file, every notification, or a readable copy (HTML or PDF) to a directory."""
    with domain_errors(), connect(url) as api:
        resp = api.request("GET", f"/invoices/{invoice_id}/download/{what}")
    if what == "notifications":  # one zip over HTTP: each notification its own file here, as before
        with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
            found = [(name, zf.read(name)) for name in zf.namelist()]
    else:
        named = _FILENAME.search(resp.headers.get("content-disposition", ""))
        found = [(named.group(1) if named else f"{invoice_id}-{what}", resp.content)]
    out.mkdir(parents=True, exist_ok=True)
    for name, content in found:
        path = out / Path(name).name
        path.write_bytes(content)
        typer.echo(f"wrote {path} ({len(content)} bytes)")


@app.command("outcome")
def outcome(invoice_id: Annotated[str, typer.Argument(help="a received invoice's id (in-<identificativo SdI>)")],
            esito: Annotated[str, typer.Option(help="EC01 accept | EC02 refuse")],
            description: Annotated[str | None, typer.Option(help="reason, sent to the SDI")] = None,
            url: UrlOpt = None) -> None:
    """Accept or refuse a received invoice (public administrations: notifica di esito committente)."""
    with domain_errors(), connect(url) as api:
        answer = api.post(f"/invoices/{invoice_id}/outcome", json={"esito": esito, "description": description})
    typer.echo(f"invoice {invoice_id}: {answer['state']}")


def sdi_sim(
    port: Annotated[int | None, typer.Option(help="listen port (default SDI_SIM_PORT)")] = None,
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    callback_url: Annotated[str | None, typer.Option(help="our TrasmissioneFatture endpoint "
                                                           "(default <SDI_CALLBACK_URL>/TrasmissioneFatture)")] = None,
    delay: Annotated[float | None, typer.Option(help="seconds before a notification (default SDI_SIM_DELAY)")] = None,
    dt_delay: Annotated[float | None, typer.Option(help="seconds before DT/AT (default SDI_SIM_DT_DELAY)")] = None,
    signer_cert: Annotated[Path | None, typer.Option(help="where to write the simulator's signing certificate "
                                                          "(default SDI_SIGNER_CERT)")] = None,
    tls_cert: Annotated[str | None, typer.Option(help="serve HTTPS with this certificate (PEM)")] = None,
    tls_key: Annotated[str | None, typer.Option(help="its key (PEM)")] = None,
    tls_client_ca: Annotated[str | None, typer.Option(help="require client certificates from this CA")] = None,
    state_dir: Annotated[Path | None, typer.Option(help="keep what it received and owes, and its key, here "
                                                        "(`dev up`: DATA_DIR/sdisim; default: nothing kept)")] = None,
) -> None:
    """The local SDI: RiceviFile with the SDI's checks, signed notifications by scenario (recipient code
    SCARTO0 → NS, NOCONS0 → MC, PAOK00 → RC+NE EC01, PAKO00 → RC+NE EC02, PADT00 → RC+DT, else RC)."""
    from sdisim.app import SimConfig
    from sdisim.main import serve
    from sdisim.state import StateError

    settings = get_settings()
    base = settings.sdi_callback_base
    config = SimConfig(
        callback_url=callback_url or f"{base}/TrasmissioneFatture", ricezione_url=f"{base}/RicezioneFatture",
        delay=settings.sdi_sim_delay if delay is None else delay,
        dt_delay=settings.sdi_sim_dt_delay if dt_delay is None else dt_delay,
        client_cert=settings.sdi_client_cert or None, client_key=settings.sdi_client_key or None,
        ca_cert=settings.sdi_ca_cert or None,
    )
    try:
        serve(host, port or settings.sdi_sim_port, config, signer_cert or settings.sdi_signer_cert_path,
              tls_cert, tls_key, tls_client_ca, state_dir)
    except StateError as err:
        fail(str(err), 2)
