"""`einvoice archive ...`: verify, export, usage, packages through the HTTP API as the logged-in user; the
admin paths `verify --local` (this process, on DATABASE_URL and the bucket) and `schedule` (Temporal) say what
they reach."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from core.db import migrate
from core.settings import Settings, get_settings
from models.conservation_io import VerifyReport
from starters.acting import CLI, LOCAL_ADMIN
from starters.http_client import Api, connect
from starters.identity import _where
from starters.login_cli import UrlOpt
from starters.output import console, domain_errors, err_console, fail, it_date, print_json, print_table

app = typer.Typer(help="Conservation: the archive of invoices and receipts on S3 (Object Lock).",
                  no_args_is_help=True)


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"invalid input:\n  - {option}: {value!r} is not a date YYYY-MM-DD", 2)


def _report_json(report: VerifyReport) -> dict[str, Any]:
    return {"ok": report.ok, "packages": report.packages, "objects": report.objects, "bytes": report.bytes,
            "faults_total": report.fault_count, "faults": [f.__dict__ for f in report.faults]}


@app.command("verify")
def verify(
    vat: Annotated[str | None, typer.Option(help="Only this customer's packages")] = None,
    sample: Annotated[int | None, typer.Option(help="Check a random sample of N packages")] = None,
    local: Annotated[bool, typer.Option("--local", help="Admin: check in this process, on DATABASE_URL and the "
                                                         "S3 bucket directly, instead of a workflow (no "
                                                         "e-mail)")] = False,
    notify: Annotated[bool, typer.Option(help="E-mail the conservation manager on a fault")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    url: UrlOpt = None,
) -> None:
    """Re-read every package (or a sample) and check every hash against the index and the database, in a
    verification workflow started through the API. Exit 0 when all is intact, 1 when anything is missing or
    altered."""
    with domain_errors():
        if local:
            settings = get_settings()
            migrate(settings.database_url)
            report = _report_json(_local_verify(settings, vat, sample))
            err_console.print(f"checked locally: database {_where(settings)}, bucket {settings.s3_bucket} at "
                              f"{settings.s3_endpoint_url or 'AWS S3'}", highlight=False)
        else:
            with connect(url) as api:
                started = api.post("/archive/verify", json={"vat": vat, "sample": sample, "notify": notify})
                status = _follow(api, started["workflow_id"])
            report = {k: status.get(k) for k in ("ok", "packages", "objects", "bytes", "faults_total", "faults")}
    if as_json:
        print_json(report)
    else:
        verdict = "[green]intact[/]" if report["ok"] else f"[red]{report['faults_total']} fault(s)[/]"
        console.print(f"{report['packages']} packages, {report['objects']} objects, {report['bytes']} bytes checked: "
                      f"{verdict}")
        if report["faults"]:
            print_table("Faults", ["Package", "Kind", "Key", "Detail"],
                        [[f["package_id"], f["kind"], f["key"], f["detail"]] for f in report["faults"]])
    raise typer.Exit(0 if report["ok"] else 1)


def _follow(api: Api, workflow_id: str) -> dict[str, Any]:
    """Until the verification workflow is done (a second between looks)."""
    while True:
        status: dict[str, Any] = api.get(f"/archive/verify/{workflow_id}")
        if status["status"] == "completed":
            return status
        if status["status"] != "running":
            fail(f"the verification workflow {workflow_id} ended {status['status']}")
        time.sleep(1.0)


def _local_verify(settings: Settings, vat: str | None, sample: int | None) -> VerifyReport:
    from starters.archive import verify_local

    if vat is not None:
        from domain.identifiers import parse_vat_number

        vat = str(parse_vat_number(vat))
    return verify_local(settings, vat, sample, as_user=LOCAL_ADMIN, surface=CLI)


@app.command("export")
def export(
    out: Annotated[Path, typer.Argument(help="The zip file to write")],
    vat: Annotated[str, typer.Option(help="The customer's VAT number")],
    date_from: Annotated[str, typer.Option("--from", help="First document date, YYYY-MM-DD")],
    date_to: Annotated[str, typer.Option("--to", help="Last document date, YYYY-MM-DD")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    url: UrlOpt = None,
) -> None:
    """A self-contained zip for an inspector: the packages, their indexes, a manifest, SHA256SUMS and an
    offline checker (python3 verify.py)."""
    start, end = _date(date_from, "from"), _date(date_to, "to")
    assert start is not None and end is not None
    params = {"vat": vat, "date_from": start.isoformat(), "date_to": end.isoformat()}
    partial = out.with_name(f".{out.name}.partial")
    try:
        with domain_errors(), connect(url) as api, api.stream("GET", "/archive/export", params=params) as resp, \
                Progress(TextColumn("[bold]exporting"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                         TimeRemainingColumn(), console=console, disable=as_json) as progress:
            size = int(resp.headers.get("content-length") or 0) or None
            task = progress.add_task("export", total=size)
            digest = hashlib.sha256()
            with partial.open("wb") as sink:
                for chunk in resp.iter_bytes():
                    sink.write(chunk)
                    digest.update(chunk)
                    progress.advance(task, len(chunk))
            expected = resp.headers.get("x-export-sha256", "")
            if digest.hexdigest() != expected:
                fail(f"the export arrived altered or cut short: SHA-256 {digest.hexdigest()}, the API said "
                     f"{expected or 'nothing'}; nothing written to {out}")
            os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    summary = {"path": str(out), "packages": int(resp.headers.get("x-export-packages", 0)),
               "files": int(resp.headers.get("x-export-files", 0)), "bytes": out.stat().st_size,
               "sha256": digest.hexdigest()}
    if as_json:
        print_json(summary)
    else:
        console.print(f"wrote {summary['path']}: {summary['packages']} packages, {summary['files']} files, "
                      f"{summary['bytes']} bytes (zip SHA-256 {summary['sha256']}); check it with "
                      "`python3 verify.py` inside the unzipped folder")


@app.command("usage")
def usage_(
    vat: Annotated[str | None, typer.Option(help="Only this customer")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    url: UrlOpt = None,
) -> None:
    """Space used per customer: bytes, objects and packages."""
    with domain_errors(), connect(url) as api:
        rows = api.get("/archive/usage", params={"vat": vat} if vat else None)
    if as_json:
        print_json(rows)
        return
    print_table("Archive usage", ["VAT number", "Customer", "Packages", "Objects", "Bytes"],
                [[u["vat_number"], u["name"], u["packages"], u["objects"], u["bytes"]] for u in rows])


@app.command("packages")
def packages(
    vat: Annotated[str | None, typer.Option(help="Only this customer")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="First document date, YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last document date, YYYY-MM-DD")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    url: UrlOpt = None,
) -> None:
    """List archival packages."""
    start, end = _date(date_from, "from"), _date(date_to, "to")
    params = {k: v for k, v in {"vat": vat, "date_from": start and start.isoformat(),
                                "date_to": end and end.isoformat()}.items() if v}
    with domain_errors(), connect(url) as api:
        rows = api.get("/archive/packages", params=params)
    if as_json:
        print_json(rows)
        return
    print_table("Archival packages", ["Package", "VAT number", "Document", "Date", "Objects", "Bytes",
                                      "Retained until", "Verified"],
                [[p["package_id"], p["tenant_vat"], f"{p['document_type']} {p['document_number']}",
                  it_date(date.fromisoformat(p["document_date"])), p["object_count"], p["size"],
                  it_date(datetime.fromisoformat(p["retain_until"])),
                  "-" if p["last_verify_ok"] is None else ("ok" if p["last_verify_ok"] else "FAULT")] for p in rows])


@app.command("schedule")
def schedule(
    every_days: Annotated[int | None, typer.Option(help="Interval in days (default ARCHIVE_VERIFY_EVERY_DAYS)")]
    = None,
) -> None:
    """Admin: create (or update) the Temporal Schedule that verifies the whole archive periodically (reaches
    Temporal directly, and says which)."""
    from starters.archive import ensure_verify_schedule
    from workflows.archive_verify import SCHEDULE_ID

    settings = get_settings()
    with domain_errors():
        outcome = asyncio.run(ensure_verify_schedule(settings, every_days=every_days, as_user=LOCAL_ADMIN, surface=CLI))
    days = every_days or settings.archive_verify_every_days
    console.print(f"on Temporal {settings.temporal_address}, namespace {settings.temporal_namespace}",
                  highlight=False)
    console.print(f"schedule {SCHEDULE_ID} {outcome}: verifies the archive every {days} day(s); see "
                  f"{settings.temporal_ui_url}/namespaces/"
                  f"{settings.temporal_namespace}/schedules/{SCHEDULE_ID}")
