"""KSeF's announcements of unavailability and failure (#14.3): `POST /ksef/outages {kind, started, ended?, note}`
records one (operators only), `POST /ksef/outages/{id}/end {ended}` records its end, `GET /ksef/outages` lists
them (any logged-in user). The routes only decode and render: the starters (starters/ksef_outages.py) ask the
policy and do the work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.access import AccessDep
from api.deps import SettingsDep
from starters.acting import HTTP
from starters.ksef_outages import MAX_NOTE, end_outage, list_outages, record_outage

router = APIRouter(prefix="/ksef", tags=["ksef"])


class OutageRequest(BaseModel):
    kind: str = Field(description="offline (niedostępność, art. 106nh) | awaryjny (awaria, art. 106nf) | "
                                  "awaria-calkowita (total failure)")
    started: datetime = Field(description="ISO 8601 with its offset: when KSeF's announcement says it began")
    ended: datetime | None = Field(default=None, description="when it ended (none while it goes on)")
    note: str = Field(default="", max_length=MAX_NOTE, description="the BIP reference of the announcement")


class EndRequest(BaseModel):
    ended: datetime = Field(description="ISO 8601 with its offset: when KSeF's announcement says it ended")


@router.post("/outages", status_code=201)
def post_outage(body: OutageRequest, settings: SettingsDep, access: AccessDep) -> dict[str, Any]:
    access.target = f"KSeF {body.kind[:20]} announcement"
    return record_outage(settings, body.kind, body.started, body.ended, body.note, as_user=access.user,
                         surface=HTTP).to_json()


@router.post("/outages/{outage_id}/end")
def post_outage_end(outage_id: int, body: EndRequest, settings: SettingsDep, access: AccessDep) -> dict[str, Any]:
    access.target = f"end KSeF announcement #{outage_id}"
    return end_outage(settings, outage_id, body.ended, as_user=access.user, surface=HTTP).to_json()


@router.get("/outages")
def get_outages(settings: SettingsDep, access: AccessDep) -> list[dict[str, Any]]:
    access.target = "KSeF announcements"
    return [v.to_json() for v in list_outages(settings, as_user=access.user, surface=HTTP)]
