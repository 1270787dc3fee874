"""`einvoice ksef outage`: KSeF's announcements of unavailability and failure (#14.3), as the intermediary's
operator records them from BIP; a client of the HTTP API like every other command.

    einvoice ksef outage add --kind awaryjny --started 2026-12-07T09:00+01:00 [--ended ...] --note "BIP ..."
    einvoice ksef outage end 3 --ended 2026-12-07T16:30+01:00
    einvoice ksef outage list

Kinds: offline (niedostępność, art. 106nh), awaryjny (awaria, art. 106nf), awaria-calkowita (total failure).
A time without an offset is refused: give it (+01:00 in winter in Poland, +02:00 in summer).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from starters.http_client import connect
from starters.login_cli import UrlOpt
from starters.output import console, domain_errors, print_json, print_table

app = typer.Typer(help="KSeF's announcements of unavailability and failure (recorded by the operator, from BIP).",
                  no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _when(value: str, option: str) -> str:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date and time (2026-12-07T09:00+01:00)",
                                 param_hint=option) from None
    if when.tzinfo is None:
        raise typer.BadParameter(f"{value!r}: give the offset (e.g. +01:00)", param_hint=option)
    return when.isoformat()


def _show(o: dict[str, Any]) -> None:
    console.print(f"#{o['id']} {o['kind']}: {o['started']} → {o['ended'] or 'ongoing'}"
                  f"{'  ' + o['note'] if o['note'] else ''}  (recorded by {o['recorded_by']})")


@app.command("add")
def add(kind: Annotated[str, typer.Option("--kind", help="offline | awaryjny | awaria-calkowita")],
        started: Annotated[str, typer.Option("--started", help="When it began, ISO 8601 with its offset")],
        ended: Annotated[str | None, typer.Option("--ended", help="When it ended (leave out while ongoing)")] = None,
        note: Annotated[str, typer.Option("--note", help="The announcement's BIP reference")] = "",
        as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """Record an announcement of KSeF's (operators only)."""
    body: dict[str, Any] = {"kind": kind, "started": _when(started, "--started"), "note": note}
    if ended is not None:
        body["ended"] = _when(ended, "--ended")
    with domain_errors(), connect(url) as api:
        got = api.post("/ksef/outages", json=body)
    if as_json:
        print_json(got)
    else:
        _show(got)


@app.command("end")
def end(outage_id: Annotated[int, typer.Argument(help="The announcement's number (see list)")],
        ended: Annotated[str, typer.Option("--ended", help="When it ended, ISO 8601 with its offset")],
        as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """Record the end of an ongoing announcement (operators only)."""
    with domain_errors(), connect(url) as api:
        got = api.post(f"/ksef/outages/{outage_id}/end", json={"ended": _when(ended, "--ended")})
    if as_json:
        print_json(got)
    else:
        _show(got)


@app.command("list")
def list_(as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """Every announcement on record, the latest first."""
    with domain_errors(), connect(url) as api:
        got = api.get("/ksef/outages")
    if as_json:
        print_json(got)
        return
    print_table("KSeF announcements", ["#", "kind", "started", "ended", "note", "recorded by"],
                [[o["id"], o["kind"], o["started"], o["ended"] or "ongoing", o["note"], o["recorded_by"]]
                 for o in got])
