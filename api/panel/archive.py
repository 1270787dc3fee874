"""The archive screen (conservazione): the customer's archival packages (pacchetti di archiviazione) with their
document, size, retention and last verification; the space used; the newest verification and whether any
package failed it; and the export for an inspector (a self-contained zip of the packages of a date range, each
object's hash checked on the way). Through `starters.archive` (`archive_packages`, `usage_report`,
`export_archive`), as the CLI and the HTTP routes."""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from api.panel.common import PANEL, REFUSALS, attempt_message, customer_of, needs_user, refusal, settings_of
from api.panel.pages import language, render
from api.panel.session import PanelUser
from api.routes.invoices import content_disposition
from domain.errors import ProblemCollector
from starters.archive import archive_packages, export_archive, usage_report

router = APIRouter(prefix="/panel/c/{vat}/archive", include_in_schema=False)
PAGE = 200


def size_label(count: int) -> str:
    """Bytes as a person reads them (1.024 as 1 KiB), with the Italian decimal comma."""
    value, unit = float(count), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{count} B" if unit == "B" else f"{value:.1f} {unit}".replace(".", ",")


async def _screen(request: Request, user: PanelUser, vat: str, status_code: int = 200,
                  message: str | None = None) -> Response:
    settings = settings_of(request)
    try:
        packages = await run_in_threadpool(archive_packages, settings, vat, None, None, PAGE,
                                           as_user=user.principal, surface=PANEL)
        used = await run_in_threadpool(usage_report, settings, vat, as_user=user.principal, surface=PANEL)
    except REFUSALS as err:
        ref = refusal(request, err)
        return render(request, "message.html.j2", user=user, vat=vat, status_code=ref.status,
                      message=attempt_message(ref, language(request)))
    verified = [p for p in packages if p.last_verified_at is not None]
    last = max((p.last_verified_at for p in verified if p.last_verified_at), default=None)
    failed = [p for p in verified if p.last_verify_ok is False]
    years = [p.document_date for p in packages]
    return render(request, "archive.html.j2", user=user, vat=vat, packages=packages,
                  usage=next((u for u in used if u.vat_number == vat), None), last_verified=last, failed=failed,
                  unverified=len(packages) - len(verified), first=min(years, default=None),
                  newest=max(years, default=None), size=size_label, status_code=status_code, message=message)


@router.get("")
async def archive(vat: str, request: Request) -> Response:
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    return await _screen(request, user, customer_of(vat))


def _dates(date_from: str, date_to: str) -> tuple[date, date]:
    found = ProblemCollector()
    parsed: dict[str, date] = {}
    for field, value in (("from", date_from), ("to", date_to)):
        try:
            parsed[field] = date.fromisoformat(value)
        except ValueError:
            found.add(field, f"{value!r} is not a date (yyyy-mm-dd)" if value else "choose a date")
    found.raise_if_any()
    return parsed["from"], parsed["to"]


@router.get("/export")
async def export(vat: str, request: Request, date_from: str = "", date_to: str = "") -> Response:
    """The zip for an inspector (a read: a GET, as the API's /archive/export); built whole before the answer
    starts, so an altered object is a message on the page and nothing is sent."""
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    vat = customer_of(vat)
    work = Path(tempfile.mkdtemp(prefix="einvoice-panel-export-"))
    try:
        start, end = _dates(date_from, date_to)
        summary = await run_in_threadpool(export_archive, settings_of(request), vat, start, end,
                                          work / "export.zip", as_user=user.principal, surface=PANEL)
    except REFUSALS as err:
        shutil.rmtree(work, ignore_errors=True)
        ref = refusal(request, err)
        return await _screen(request, user, vat, ref.status, attempt_message(ref, language(request)))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    name = f"archive-{''.join(c for c in vat if c.isalnum())}-{start}-{end}.zip"
    return FileResponse(summary.path, media_type="application/zip",
                        headers={"Content-Disposition": content_disposition("attachment", name, name),
                                 "X-Export-SHA256": summary.sha256, "X-Export-Packages": str(summary.packages),
                                 "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
                        background=BackgroundTask(shutil.rmtree, work, ignore_errors=True))
