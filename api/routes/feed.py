"""A customer's change feed, its snapshot and its documents (#15): what `einvoice sync` reads.

`GET /customers/{vat}/feed?after=CURSOR&limit=N` pages through the entries in the order models/feed.py
explains (never skipping one that commits late); a cursor older than the retention is 410 with a body naming
the snapshot to resync from. `GET /customers/{vat}/snapshot` is every current row with the cursor to continue
from; `GET /customers/{vat}/files/{file_id}` is a document's bytes with its SHA-256 in `X-Content-SHA256`.
All three are `feed.read`: the customer's own users, operators, an accountant granted read.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.access import AccessDep
from api.deps import SettingsDep, TemporalDep
from core.db import get_engine
from models import feed
from models.files import StoredFile
from models.tenant import get_tenant_row
from starters.acting import HTTP
from starters.sync_schedules import describe_sync, pause_sync, schedule_sync, unschedule_sync

router = APIRouter(prefix="/customers", tags=["sync"])

MAX_LIMIT = 1000


def _session(settings: Any, repeatable: bool = False) -> Any:
    from sqlalchemy.orm import Session

    engine = get_engine(settings.database_url)
    if repeatable and engine.dialect.name == "postgresql":
        engine = engine.execution_options(isolation_level="REPEATABLE READ")
    return Session(bind=engine, expire_on_commit=False)


def _page(settings: Any, vat: str, after: str | None, limit: int) -> dict[str, Any] | JSONResponse:
    with _session(settings) as session, session.begin():
        tenant = get_tenant_row(session, vat)
        try:
            return feed.read_page(session, tenant.id, after, limit).to_json()
        except feed.BadCursor as err:
            raise HTTPException(422, detail={"error": "bad cursor", "detail": str(err)}) from err
        except feed.CursorExpired as err:
            return JSONResponse(status_code=410, content={
                "error": "cursor expired", "detail": err.reason,
                "resync": f"/customers/{tenant.vat_number}/snapshot"})


@router.get("/{vat}/feed", response_model=None)
async def read_feed(vat: str, settings: SettingsDep, access: AccessDep,
                    after: str | None = Query(default=None, max_length=60, description="the previous page's cursor"),
                    limit: int = Query(default=200, ge=1, le=MAX_LIMIT)) -> dict[str, Any] | JSONResponse:
    """Entries after `after` in commit-safe order; `more` says a full page, `behind` the entries left (counted
    up to models.feed.BEHIND_CAP; `behind_capped` says there are more)."""
    access.target = f"feed of {vat} after {after or 'start'}"
    return await run_in_threadpool(_page, settings, vat, after, limit)


def _snapshot(settings: Any, vat: str) -> dict[str, Any]:
    with _session(settings, repeatable=True) as session, session.begin():
        tenant = get_tenant_row(session, vat)
        return {"vat": tenant.vat_number} | feed.snapshot(session, tenant.id)


@router.get("/{vat}/snapshot")
async def read_snapshot(vat: str, settings: SettingsDep, access: AccessDep) -> dict[str, Any]:
    """Every current row of the customer, and the feed cursor that continues from it."""
    access.target = f"snapshot of {vat}"
    return await run_in_threadpool(_snapshot, settings, vat)


def _file(settings: Any, vat: str, file_id: int) -> tuple[StoredFile, bytes]:
    with _session(settings) as session, session.begin():
        tenant = get_tenant_row(session, vat)
        row = session.get(StoredFile, file_id)
        if row is None or row.tenant_id != tenant.id:
            raise HTTPException(404, detail={"error": "not found", "detail": f"no file {file_id}"})
        return row, bytes(row.content)


@router.get("/{vat}/files/{file_id}")
async def download(vat: str, file_id: int, settings: SettingsDep, access: AccessDep) -> Response:
    """A document's bytes; `X-Content-SHA256` is the digest its feed entry names."""
    access.target = f"file {file_id} of {vat}"
    row, content = await run_in_threadpool(_file, settings, vat, file_id)
    return Response(content, media_type=row.mime_type, headers={
        "X-Content-SHA256": row.sha256, "Content-Disposition": f'attachment; filename="{row.name}"'})


class SyncScheduleRequest(BaseModel):
    database_url: str = Field(max_length=1000, description="sqlite:////absolute/path.db or postgresql://...")
    every_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)


class SyncPauseRequest(BaseModel):
    note: str = Field(default="", max_length=200)


@router.put("/{vat}/sync-schedule")
async def put_sync_schedule(vat: str, body: SyncScheduleRequest, settings: SettingsDep, client: TemporalDep,
                            access: AccessDep) -> dict[str, Any]:
    """Schedule the in-stack sync of the customer's copy into the database named (operators only: our worker
    will write there), or change its database or interval."""
    access.target = f"sync schedule of {vat}"
    return (await schedule_sync(settings, vat, body.database_url, body.every_minutes, client,
                                as_user=access.user, surface=HTTP)).to_json()


@router.get("/{vat}/sync-schedule")
async def get_sync_schedule(vat: str, settings: SettingsDep, client: TemporalDep, access: AccessDep) -> dict[str, Any]:
    """The schedule: interval, paused or not, the next and the recent rounds, the last round's outcome."""
    access.target = f"sync schedule of {vat}"
    return (await describe_sync(settings, vat, client, as_user=access.user, surface=HTTP)).to_json()


@router.post("/{vat}/sync-schedule/pause")
async def pause(vat: str, body: SyncPauseRequest, settings: SettingsDep, client: TemporalDep,
                access: AccessDep) -> dict[str, Any]:
    access.target = f"pause sync of {vat}"
    return (await pause_sync(settings, vat, True, body.note, client, as_user=access.user, surface=HTTP)).to_json()


@router.post("/{vat}/sync-schedule/resume")
async def resume(vat: str, body: SyncPauseRequest, settings: SettingsDep, client: TemporalDep,
                 access: AccessDep) -> dict[str, Any]:
    access.target = f"resume sync of {vat}"
    return (await pause_sync(settings, vat, False, body.note, client, as_user=access.user, surface=HTTP)).to_json()


@router.delete("/{vat}/sync-schedule", status_code=204)
async def delete_sync_schedule(vat: str, settings: SettingsDep, client: TemporalDep, access: AccessDep) -> Response:
    access.target = f"remove sync schedule of {vat}"
    await unschedule_sync(settings, vat, client, as_user=access.user, surface=HTTP)
    return Response(status_code=204)
