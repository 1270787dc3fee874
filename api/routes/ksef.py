"""The download from KSeF (#14.4): `POST /customers/{vat}/ksef/downloads` takes a range of the customer's
received invoices now (202: the download runs as its workflow; `GET .../downloads` shows how far each got),
`PUT /customers/{vat}/ksef/schedule` keeps the incremental download on a Temporal Schedule, `GET` shows it,
`POST .../pause` and `.../resume` stop and restart it, `DELETE` removes it. The routes only decode and render:
the starters (starters/ksef_download.py) ask the policy and do the work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.access import AccessDep
from api.deps import SettingsDep, TemporalDep
from starters.acting import HTTP
from starters.ksef_download import (
    describe_download_schedule,
    download_range,
    list_downloads,
    pause_download_schedule,
    schedule_download,
    unschedule_download,
)

router = APIRouter(prefix="/customers", tags=["ksef"])


class RangeRequest(BaseModel):
    date_from: datetime = Field(alias="from", description="ISO 8601 with its offset: the range's start (in it)")
    date_to: datetime = Field(alias="to", description="ISO 8601 with its offset: the range's end (not in it)")


class ScheduleRequest(BaseModel):
    every_minutes: int = Field(default=30, ge=15, le=24 * 60)
    since: datetime | None = Field(default=None, description="the first round takes what KSeF stored from here "
                                                             "(default now; an existing schedule keeps its cursor)")


class PauseRequest(BaseModel):
    note: str = Field(default="", max_length=200)


@router.post("/{vat}/ksef/downloads", status_code=202)
async def post_download(vat: str, body: RangeRequest, settings: SettingsDep, client: TemporalDep,
                        access: AccessDep) -> JSONResponse:
    """Take the received invoices KSeF stored permanently in [from, to): each verified, stored once, shown
    among the customer's invoices, e-mailed and conserved."""
    access.target = f"KSeF download of {vat}"
    view = await download_range(settings, vat, body.date_from, body.date_to, client, as_user=access.user,
                                surface=HTTP)
    return JSONResponse(view.to_json(), status_code=202,
                        headers={"Location": f"/customers/{view.vat}/ksef/downloads"})


@router.get("/{vat}/ksef/downloads")
async def get_downloads(vat: str, settings: SettingsDep, access: AccessDep) -> list[dict[str, Any]]:
    """Every download of the customer: how far it has covered, how many it took, its last round."""
    access.target = f"KSeF downloads of {vat}"
    return [d.to_json() for d in await list_downloads(settings, vat, as_user=access.user, surface=HTTP)]


@router.put("/{vat}/ksef/schedule")
async def put_schedule(vat: str, body: ScheduleRequest, settings: SettingsDep, client: TemporalDep,
                       access: AccessDep) -> dict[str, Any]:
    access.target = f"KSeF download schedule of {vat}"
    return (await schedule_download(settings, vat, body.every_minutes, body.since, client, as_user=access.user,
                                    surface=HTTP)).to_json()


@router.get("/{vat}/ksef/schedule")
async def get_schedule(vat: str, settings: SettingsDep, client: TemporalDep, access: AccessDep) -> dict[str, Any]:
    access.target = f"KSeF download schedule of {vat}"
    return (await describe_download_schedule(settings, vat, client, as_user=access.user, surface=HTTP)).to_json()


@router.post("/{vat}/ksef/schedule/pause")
async def pause(vat: str, body: PauseRequest, settings: SettingsDep, client: TemporalDep,
                access: AccessDep) -> dict[str, Any]:
    access.target = f"pause KSeF download of {vat}"
    return (await pause_download_schedule(settings, vat, True, body.note, client, as_user=access.user,
                                          surface=HTTP)).to_json()


@router.post("/{vat}/ksef/schedule/resume")
async def resume(vat: str, body: PauseRequest, settings: SettingsDep, client: TemporalDep,
                 access: AccessDep) -> dict[str, Any]:
    access.target = f"resume KSeF download of {vat}"
    return (await pause_download_schedule(settings, vat, False, body.note, client, as_user=access.user,
                                          surface=HTTP)).to_json()


@router.delete("/{vat}/ksef/schedule", status_code=204)
async def delete_schedule(vat: str, settings: SettingsDep, client: TemporalDep, access: AccessDep) -> Response:
    access.target = f"remove KSeF download schedule of {vat}"
    await unschedule_download(settings, vat, client, as_user=access.user, surface=HTTP)
    return Response(status_code=204)
