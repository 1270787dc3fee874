"""`einvoice sync`: keep a local SQLite or PostgreSQL copy of one customer in step with the portal (#15).

    einvoice sync --vat IT02038490237 --database-url sqlite:///acme.db [--every 30m]
    einvoice sync status --vat IT02038490237 --database-url sqlite:///acme.db

It talks to the portal over HTTP (--api or --url, EINVOICE_URL or EINVOICE_API_URL) with the customer's
API token (--token,
EINVOICE_API_TOKEN; an accountant's token with read for that customer works too); the client logic is in
sync/ and imports nothing of the server. Over mutual TLS it presents --cert/--key (EINVOICE_CLIENT_CERT/KEY) and
trusts --ca (EINVOICE_CA), as every command that calls the API does. With --every it is a standalone loop: a
failed round is recorded (`sync status` shows it) and retried at the next one.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import create_engine

from starters import http_client
from starters.http_client import connect
from starters.login_cli import CaOpt, CertOpt, KeyOpt
from starters.login_cli import UrlOpt as ClientUrlOpt
from starters.output import console, domain_errors, fail, print_json
from sync.client import Feed, SyncError, status, sync_once

app = typer.Typer(help="Keep a local database in step with a customer's change feed.", invoke_without_command=True)

VatOpt = Annotated[str, typer.Option("--vat", help="The customer (VAT number with prefix)")]
UrlOpt = Annotated[str, typer.Option("--database-url", help="The local copy: sqlite:///file.db or postgresql://...")]
ApiOpt = Annotated[str, typer.Option("--api", "--url", envvar=["EINVOICE_URL", "EINVOICE_API_URL"],
                                     help="The portal's base URL")]
TokenOpt = Annotated[str, typer.Option("--token", envvar="EINVOICE_API_TOKEN", help="An API token")]


def parse_every(value: str) -> float:
    """'30m', '2h', '45s', '1h30m' → seconds."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", value.strip())
    if not value.strip() or parts is None:
        raise typer.BadParameter(f"{value!r} is not a duration like 30m, 2h, 1h30m or 45s", param_hint="--every")
    h, m, s = (int(p or 0) for p in parts.groups())
    seconds = h * 3600 + m * 60 + s
    if seconds < 10:
        raise typer.BadParameter(f"{value!r}: at least 10s between rounds", param_hint="--every")
    return float(seconds)


def _http(api: str, token: str, cert: Path | None = None, key: Path | None = None,
          ca: Path | None = None) -> httpx.Client:
    """The portal's client, with the client certificate where it is served over mutual TLS (--cert/--key,
    EINVOICE_CLIENT_CERT/KEY; --ca, EINVOICE_CA), checked as every command's is (starters/http_client.py)."""
    if not token:
        fail("no API token: pass --token or set EINVOICE_API_TOKEN", 2)
    with domain_errors(), http_client.tls_options(cert, key, ca):
        creds = http_client.with_tls(http_client.Credentials(http_client.normalize_url(api), token))
        tls = http_client.ssl_context(creds)
    return httpx.Client(base_url=creds.url, headers={"Authorization": f"Bearer {token}"}, timeout=60,
                        verify=tls or True)


def _round(url: str, feed: Feed) -> None:
    engine = create_engine(url)
    with Progress(TextColumn("[bold]catching up"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("sync", total=None)
        out = sync_once(engine, feed, on_page=lambda done, total: progress.update(task, completed=done,
                                                                                  total=total))
    engine.dispose()
    console.print(f"{feed.vat}: {out.applied} changes applied, {out.files} documents downloaded"
                  f"{', resynced from the snapshot' if out.resynced else ''}; cursor {out.cursor}")


@app.callback()
def sync(ctx: typer.Context,
         vat: Annotated[str | None, typer.Option("--vat", help="The customer (VAT number with prefix)")] = None,
         database_url: Annotated[str | None, typer.Option("--database-url", help="The local copy")] = None,
         api: ApiOpt = "http://127.0.0.1:8000", token: TokenOpt = "",
         every: Annotated[str | None, typer.Option("--every", help="Repeat: 30m, 2h, ...")] = None,
         cert: CertOpt = None, key: KeyOpt = None, ca: CaOpt = None) -> None:
    """Apply the customer's change feed to the local database (once, or every --every)."""
    if ctx.invoked_subcommand is not None:
        return
    if not vat or not database_url:
        fail("name the customer and the local copy: --vat VAT --database-url URL", 2)
    period = parse_every(every) if every else None
    with _http(api, token, cert, key, ca) as http:
        feed = Feed(http, vat)
        while True:
            try:
                _round(database_url, feed)
            except (SyncError, httpx.HTTPError) as err:
                if period is None:
                    fail(f"sync from {api} failed: {err}")
                console.print(f"[red]sync from {api} failed[/red]: {err}; next round in {period:.0f}s")
            if period is None:
                return
            time.sleep(period)


@app.command("status")
def status_(vat: VatOpt, database_url: UrlOpt, api: ApiOpt = "http://127.0.0.1:8000", token: TokenOpt = "",
            as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
            cert: CertOpt = None, key: KeyOpt = None, ca: CaOpt = None) -> None:
    """The lag (changes and minutes behind), the last success and the last error. Asks the portal for the
    live lag when a token is given, else shows what the last sync saw."""
    engine = create_engine(database_url)
    if token:
        with _http(api, token, cert, key, ca) as http:
            st = status(engine, vat, Feed(http, vat))
    else:
        st = status(engine, vat)
    if as_json:
        print_json(st.__dict__)
        return
    console.print(f"{st.vat}: {'more than ' if st.behind_capped else ''}{st.behind} changes behind "
                  f"({st.minutes_behind} minutes)"
                  f"{'' if st.live else ' as of the last sync'}; last success {st.last_success_at or 'never'}; "
                  f"last error {st.last_error or 'none'}{f' at {st.last_error_at}' if st.last_error else ''}; "
                  f"resyncs {st.resyncs}")


def _minutes(every: str) -> int:
    seconds = parse_every(every)
    if seconds % 60:
        raise typer.BadParameter(f"{every!r}: a scheduled sync runs in whole minutes", param_hint="--every")
    return int(seconds // 60)


def _show_schedule(sched: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(sched)
        return
    state = "paused" if sched["paused"] else "active"
    console.print(f"{sched['vat']}: sync into {sched['database']} every {sched['every_minutes']} minutes, {state}"
                  f" ({sched['note'] or 'no note'}); schedule {sched['schedule_id']}")
    nxt = sched.get("next_runs") or []
    console.print(f"  next round {nxt[0] if nxt and not sched['paused'] else '—'}; last round "
                  f"{sched['last_run_at'] or 'never'}: {sched['last_applied']} applied, {sched['last_behind']} behind"
                  f"{'; last error ' + str(sched['last_error']) if sched['last_error'] else ''}")


@app.command("schedule")
def schedule(vat: VatOpt,
             database_url: Annotated[str | None, typer.Option(
                 "--database-url", help="Where the worker keeps the copy (absolute sqlite:////path.db or "
                                        "postgresql://...); without it, show the schedule")] = None,
             every: Annotated[str, typer.Option("--every", help="Between rounds: 30m, 2h, ...")] = "30m",
             as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
             url: ClientUrlOpt = None) -> None:
    """Inside our stack: a Temporal Schedule keeps the customer's copy in step (operators schedule it; the
    rounds skip while one runs). Without --database-url: show the schedule and its last round."""
    with domain_errors(), connect(url) as api:
        if database_url is None:
            sched = api.get(f"/customers/{vat}/sync-schedule")
        else:
            sched = api.put(f"/customers/{vat}/sync-schedule",
                            json={"database_url": database_url, "every_minutes": _minutes(every)})
    _show_schedule(sched, as_json)


def _pause(vat: str, paused: bool, note: str, as_json: bool, url: str | None) -> None:
    with domain_errors(), connect(url) as api:
        sched = api.post(f"/customers/{vat}/sync-schedule/{'pause' if paused else 'resume'}", json={"note": note})
    _show_schedule(sched, as_json)


NoteOpt = Annotated[str, typer.Option("--note", help="Why (shown in the Temporal UI)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


@app.command("pause")
def pause(vat: VatOpt, note: NoteOpt = "", as_json: JsonOpt = False, url: ClientUrlOpt = None) -> None:
    """Pause the scheduled rounds (the copy keeps its cursor; resume catches up)."""
    _pause(vat, True, note, as_json, url)


@app.command("resume")
def resume(vat: VatOpt, note: NoteOpt = "", as_json: JsonOpt = False, url: ClientUrlOpt = None) -> None:
    """Resume the scheduled rounds."""
    _pause(vat, False, note, as_json, url)


@app.command("unschedule")
def unschedule(vat: VatOpt, url: ClientUrlOpt = None) -> None:
    """Remove the customer's sync schedule (the copy itself is left as it is)."""
    with domain_errors(), connect(url) as api:
        api.delete(f"/customers/{vat}/sync-schedule")
    console.print(f"{vat}: sync schedule removed")
