"""`einvoice ksef`: the download from KSeF (#14.4), a client of the HTTP API like every customer-facing command.

    einvoice ksef download --vat PL5265877635 --from 2026-11-01 --to 2026-11-30   # a range, now
    einvoice ksef downloads --vat PL5265877635                                    # how far each got
    einvoice ksef schedule --vat PL5265877635 --every 30m [--since 2026-12-01]   # the incremental download
    einvoice ksef schedule --vat PL5265877635                                     # show it
    einvoice ksef pause|resume --vat PL5265877635 [--note ...]; einvoice ksef unschedule --vat ...

A date alone is a day in Europe/Warsaw: --from its start, --to its end (the whole day is in the range).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from starters.http_client import connect
from starters.login_cli import UrlOpt
from starters.output import console, domain_errors, print_json
from starters.sync_cli import parse_every

app = typer.Typer(help="Download a customer's received invoices from KSeF (a range, or on a schedule).")

WARSAW = ZoneInfo("Europe/Warsaw")
VatOpt = Annotated[str, typer.Option("--vat", help="The customer (NIP with prefix, PL...)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]
NoteOpt = Annotated[str, typer.Option("--note", help="Why (shown in the Temporal UI)")]


def parse_when(value: str, option: str, end_of_day: bool = False) -> datetime:
    """YYYY-MM-DD (a day in Europe/Warsaw; `end_of_day`: the next day's start) or ISO 8601 with its offset."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        return datetime.combine(day + timedelta(days=1 if end_of_day else 0), time(), WARSAW)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (2026-11-30) or a date and time with its offset",
                                 param_hint=option) from None
    if when.tzinfo is None:
        raise typer.BadParameter(f"{value!r}: give the offset (e.g. +01:00) or a date alone", param_hint=option)
    return when


def _show_download(d: dict[str, Any]) -> None:
    span = f"{d['range_from']} → {d['range_to']}" if d["range_to"] else f"since {d['range_from']} (scheduled)"
    console.print(f"{d['vat']} {d['name']}: {span}; covered until {d['covered_until']}, {d['taken']} taken"
                  f"{'; last error ' + str(d['last_error']) if d['last_error'] else ''}")


@app.command("download")
def download(vat: VatOpt,
             date_from: Annotated[str, typer.Option("--from", help="The range's start: 2026-11-01 or ISO 8601")],
             date_to: Annotated[str, typer.Option("--to", help="The range's end (that day included)")],
             as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """Take the invoices the customer received in KSeF in this range (KSeF's PermanentStorage date: when it
    numbered them); each is verified, stored once, shown, e-mailed and conserved. Runs on: see `downloads`."""
    body = {"from": parse_when(date_from, "--from").isoformat(),
            "to": parse_when(date_to, "--to", end_of_day=True).isoformat()}
    with domain_errors(), connect(url) as api:
        got = api.post(f"/customers/{vat}/ksef/downloads", json=body)
    if as_json:
        print_json(got)
        return
    _show_download(got)
    console.print(f"  started: workflow {got['workflow_id']}")


@app.command("downloads")
def downloads(vat: VatOpt, as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """Every download of the customer and how far it has got."""
    with domain_errors(), connect(url) as api:
        got = api.get(f"/customers/{vat}/ksef/downloads")
    if as_json:
        print_json(got)
        return
    for d in got:
        _show_download(d)
    if not got:
        console.print(f"{vat}: no KSeF download yet")


def _show_schedule(s: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(s)
        return
    state = "paused" if s["paused"] else "active"
    console.print(f"{s['vat']}: KSeF download every {s['every_minutes']} minutes, {state} ({s['note'] or 'no note'});"
                  f" schedule {s['schedule_id']}")
    nxt = s.get("next_runs") or []
    d = s["download"]
    console.print(f"  next round {nxt[0] if nxt and not s['paused'] else '—'}; covered until {d['covered_until']},"
                  f" {d['taken']} taken; last round {d['last_run_at'] or 'never'}: {d['last_taken']} taken"
                  f"{'; last error ' + str(d['last_error']) if d['last_error'] else ''}")


@app.command("schedule")
def schedule(vat: VatOpt,
             every: Annotated[str | None, typer.Option("--every", help="Between rounds: 30m, 1h (at least 15m); "
                                                                       "without it, show the schedule")] = None,
             since: Annotated[str | None, typer.Option("--since", help="Take from here on (default now; an "
                                                                       "existing schedule keeps its cursor)")] = None,
             as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """The incremental download on a Temporal Schedule: each round takes what KSeF closed since the last."""
    with domain_errors(), connect(url) as api:
        if every is None and since is None:
            got = api.get(f"/customers/{vat}/ksef/schedule")
        else:
            seconds = parse_every(every or "30m")
            if seconds % 60:
                raise typer.BadParameter(f"{every!r}: rounds run in whole minutes", param_hint="--every")
            body: dict[str, Any] = {"every_minutes": int(seconds // 60)}
            if since is not None:
                body["since"] = parse_when(since, "--since").isoformat()
            got = api.put(f"/customers/{vat}/ksef/schedule", json=body)
    _show_schedule(got, as_json)


def _pause(vat: str, paused: bool, note: str, as_json: bool, url: str | None) -> None:
    with domain_errors(), connect(url) as api:
        got = api.post(f"/customers/{vat}/ksef/schedule/{'pause' if paused else 'resume'}", json={"note": note})
    _show_schedule(got, as_json)


@app.command("pause")
def pause(vat: VatOpt, note: NoteOpt = "", as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """Pause the rounds (the cursor stays: resuming skips nothing)."""
    _pause(vat, True, note, as_json, url)


@app.command("resume")
def resume(vat: VatOpt, note: NoteOpt = "", as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """Resume the rounds; the next one catches up from the cursor."""
    _pause(vat, False, note, as_json, url)


@app.command("unschedule")
def unschedule(vat: VatOpt, url: UrlOpt = None) -> None:
    """Remove the schedule (its cursor is kept: scheduling again goes on from it)."""
    with domain_errors(), connect(url) as api:
        api.delete(f"/customers/{vat}/ksef/schedule")
    console.print(f"{vat}: KSeF download schedule removed")
