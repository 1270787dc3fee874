"""`einvoice archive ...`: verify, export, usage, packages, schedule."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from core.db import migrate
from core.settings import Settings, get_settings
from models.conservation_io import VerifyInput, VerifyReport
from starters.acting import CLI, LOCAL_ADMIN
from starters.output import console, domain_errors, fail, it_date, print_json, print_table

app = typer.Typer(help="Conservation: the archive of invoices and receipts on S3 (Object Lock).",
                  no_args_is_help=True)


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"invalid input:\n  - {option}: {value!r} is not a date YYYY-MM-DD", 2)


def _report_json(report: VerifyReport) -> dict[str, object]:
    return {"ok": report.ok, "packages": report.packages, "objects": report.objects, "bytes": report.bytes,
            "faults_total": report.fault_count, "faults": [f.__dict__ for f in report.faults]}


@app.command("verify")
def verify(
    vat: Annotated[str | None, typer.Option(help="Only this customer's packages")] = None,
    sample: Annotated[int | None, typer.Option(help="Check a random sample of N packages")] = None,
    local: Annotated[bool, typer.Option("--local", help="Check in this process instead of a workflow "
                                                         "(no e-mail)")] = False,
    notify: Annotated[bool, typer.Option(help="E-mail the conservation manager on a fault")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Re-read every package (or a sample) and check every hash against the index and the database.
    Exit 0 when all is intact, 1 when anything is missing or altered."""
    settings = get_settings()
    migrate(settings.database_url)
    with domain_errors():
        if local:
            report = _local_verify(settings, vat, sample)
        else:
            from starters.archive import run_verify

            report = asyncio.run(run_verify(settings, VerifyInput(vat, sample, notify),
                                            as_user=LOCAL_ADMIN, surface=CLI))
    if as_json:
        print_json(_report_json(report))
    else:
        verdict = "[green]intact[/]" if report.ok else f"[red]{report.fault_count} fault(s)[/]"
        console.print(f"{report.packages} packages, {report.objects} objects, {report.bytes} bytes checked: "
                      f"{verdict}")
        if report.faults:
            print_table("Faults", ["Package", "Kind", "Key", "Detail"],
                        [[f.package_id, f.kind, f.key, f.detail] for f in report.faults])
    raise typer.Exit(0 if report.ok else 1)


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
) -> None:
    """A self-contained zip for an inspector: the packages, their indexes, a manifest, SHA256SUMS and an
    offline checker (python3 verify.py)."""
    from starters.archive import export_archive

    settings = get_settings()
    migrate(settings.database_url)
    start, end = _date(date_from, "from"), _date(date_to, "to")
    assert start is not None and end is not None
    with domain_errors(), Progress(TextColumn("[bold]exporting"), BarColumn(), DownloadColumn(),
                                   TransferSpeedColumn(), TimeRemainingColumn(), console=console,
                                   disable=as_json) as progress:
        task = progress.add_task("export", total=None)
        summary = export_archive(settings, vat, start, end, out,
                                 on_start=lambda total: progress.update(task, total=total),
                                 on_progress=lambda n: progress.advance(task, n), as_user=LOCAL_ADMIN, surface=CLI)
    if as_json:
        print_json(summary.to_json())
    else:
        console.print(f"wrote {summary.path}: {summary.packages} packages, {summary.files} files, "
                      f"{summary.bytes} bytes (zip SHA-256 {summary.sha256}); check it with "
                      "`python3 verify.py` inside the unzipped folder")


@app.command("usage")
def usage_(
    vat: Annotated[str | None, typer.Option(help="Only this customer")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Space used per customer: bytes, objects and packages."""
    from starters.archive import usage_report

    settings = get_settings()
    migrate(settings.database_url)
    with domain_errors():
        rows = usage_report(settings, vat, as_user=LOCAL_ADMIN, surface=CLI)
    if as_json:
        print_json([u.to_json() for u in rows])
        return
    print_table("Archive usage", ["VAT number", "Customer", "Packages", "Objects", "Bytes"],
                [[u.vat_number, u.name, u.packages, u.objects, u.bytes] for u in rows])


@app.command("packages")
def packages(
    vat: Annotated[str | None, typer.Option(help="Only this customer")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="First document date, YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last document date, YYYY-MM-DD")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """List archival packages."""
    from starters.archive import archive_packages

    settings = get_settings()
    migrate(settings.database_url)
    with domain_errors():
        rows = archive_packages(settings, vat, _date(date_from, "from"), _date(date_to, "to"),
                                as_user=LOCAL_ADMIN, surface=CLI)
    if as_json:
        print_json([p.to_json() for p in rows])
        return
    print_table("Archival packages", ["Package", "VAT number", "Document", "Date", "Objects", "Bytes",
                                      "Retained until", "Verified"],
                [[p.package_id, p.tenant_vat, f"{p.document_type} {p.document_number}", it_date(p.document_date),
                  len(p.objects), p.size, it_date(p.retain_until),
                  "-" if p.last_verify_ok is None else ("ok" if p.last_verify_ok else "FAULT")] for p in rows])


@app.command("schedule")
def schedule(
    every_days: Annotated[int | None, typer.Option(help="Interval in days (default ARCHIVE_VERIFY_EVERY_DAYS)")]
    = None,
) -> None:
    """Create (or update) the Temporal Schedule that verifies the whole archive periodically."""
    from starters.archive import ensure_verify_schedule
    from workflows.archive_verify import SCHEDULE_ID

    settings = get_settings()
    with domain_errors():
        outcome = asyncio.run(ensure_verify_schedule(settings, every_days=every_days, as_user=LOCAL_ADMIN, surface=CLI))
    days = every_days or settings.archive_verify_every_days
    console.print(f"schedule {SCHEDULE_ID} {outcome}: verifies the archive every {days} day(s); see "
                  f"{settings.temporal_ui_url}/namespaces/"
                  f"{settings.temporal_namespace}/schedules/{SCHEDULE_ID}")
