"""Conservation: space used per customer, archival packages, and verification of the archive."""

from __future__ import annotations

import shutil
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from api.access import AccessDep
from api.deps import SessionDep, SettingsDep, TemporalDep
from core.temporal import RPC_TIMEOUT
from domain.errors import NotFound
from models.conservation import PackageView, get_package, list_packages, usage
from models.conservation_io import VerifyInput, VerifyReport

router = APIRouter(prefix="/archive", tags=["archive"])


class UsagePublic(BaseModel):
    vat_number: str
    name: str
    packages: int
    objects: int
    bytes: int


class ObjectPublic(BaseModel):
    name: str
    role: str
    key: str
    version_id: str
    mime_type: str
    size: int
    sha256: str
    is_index: bool


class PackagePublic(BaseModel):
    package_id: str
    tenant_vat: str
    owner_kind: str
    owner_id: str
    bucket: str
    prefix: str
    year: int
    document_type: str
    document_number: str
    document_date: date
    sender_vat: str
    recipient_id: str
    sdi_file_name: str
    sdi_id: str | None
    index_sha256: str
    created_at: datetime
    retain_until: datetime
    recorded_at: datetime
    last_verified_at: datetime | None
    last_verify_ok: bool | None
    size: int
    object_count: int
    objects: list[ObjectPublic] | None = None

    @classmethod
    def of(cls, view: PackageView, with_objects: bool) -> PackagePublic:
        return cls.model_validate(view.to_json(with_objects))


class VerifyRequest(BaseModel):
    vat: str | None = Field(default=None, description="Only this customer's packages")
    sample: int | None = Field(default=None, ge=1, description="A random sample of N packages")
    notify: bool = Field(default=True, description="E-mail the conservation manager on a fault")


class FaultPublic(BaseModel):
    package_id: str
    kind: str
    detail: str
    key: str | None


class VerifyStatus(BaseModel):
    workflow_id: str
    status: str  # "running" | "completed" | "failed" | ...
    ok: bool | None = None
    packages: int | None = None
    objects: int | None = None
    bytes: int | None = None
    faults: list[FaultPublic] | None = None  # the first 200 found
    faults_total: int | None = None  # every fault found


@router.get("/usage", response_model=list[UsagePublic])
def read_usage(session: SessionDep, access: AccessDep,
               vat: Annotated[str | None, Query(description="Only this customer")] = None) -> list[UsagePublic]:
    """Space used per customer: bytes, objects (files and indexes) and packages (those the caller may see)."""
    return [UsagePublic(**u.to_json()) for u in usage(session, vat)  # type: ignore[arg-type]
            if access.user.visible(u.vat_number)]


@router.get("/packages", response_model=list[PackagePublic], response_model_exclude_none=False)
def read_packages(
    session: SessionDep,
    access: AccessDep,
    vat: Annotated[str | None, Query(description="Only this customer")] = None,
    date_from: Annotated[date | None, Query(description="First document date")] = None,
    date_to: Annotated[date | None, Query(description="Last document date")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[PackagePublic]:
    return [PackagePublic.of(p, False) for p in list_packages(session, vat, date_from, date_to, limit)]


@router.get("/export", response_class=FileResponse,
            responses={200: {"content": {"application/zip": {}}, "description": "the export zip"}})
def export(
    settings: SettingsDep,
    access: AccessDep,
    vat: Annotated[str, Query(description="The customer")],
    date_from: Annotated[date, Query(description="First document date")],
    date_to: Annotated[date, Query(description="Last document date")],
) -> FileResponse:
    """A self-contained zip for an inspector (`einvoice archive export`): the packages, their indexes, a
    manifest, SHA256SUMS and an offline checker. Built whole before the answer starts, every object's hash
    checked on the way (an altered one is a 409 and nothing is sent); the zip's SHA-256 in X-Export-SHA256."""
    from starters.acting import HTTP
    from starters.archive import export_archive

    work = Path(tempfile.mkdtemp(prefix="einvoice-export-"))
    try:
        summary = export_archive(settings, vat, date_from, date_to, work / "export.zip", as_user=access.user,
                                 surface=HTTP)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    name = f"archive-{summary_vat(vat)}-{date_from}-{date_to}.zip"
    return FileResponse(summary.path, media_type="application/zip", filename=name,
                        headers={"X-Export-SHA256": summary.sha256, "X-Export-Packages": str(summary.packages),
                                 "X-Export-Files": str(summary.files)},
                        background=BackgroundTask(shutil.rmtree, work, ignore_errors=True))


def summary_vat(vat: str) -> str:
    return "".join(c for c in vat if c.isalnum())[:20]


@router.get("/packages/{package_id}", response_model=PackagePublic)
def read_package(package_id: str, session: SessionDep, access: AccessDep) -> PackagePublic:
    package = get_package(session, package_id)
    access.check(package.tenant_vat)
    return PackagePublic.of(package, True)


@router.post("/verify", status_code=202, response_model=VerifyStatus)
async def start_verification(body: VerifyRequest, settings: SettingsDep, client: TemporalDep,
                             access: AccessDep) -> VerifyStatus:
    """Start a verification workflow (of one customer's packages, or, for an operator, of all); poll
    `GET /archive/verify/{workflow_id}` for its report."""
    from starters.acting import HTTP
    from starters.archive import start_verify

    workflow_id = await start_verify(settings, VerifyInput(body.vat, body.sample, body.notify), client,
                                     as_user=access.user, surface=HTTP)
    return VerifyStatus(workflow_id=workflow_id, status="running")


async def _verified_customer(client: Client, handle: WorkflowHandle[Any, Any]) -> str | None:
    """The customer a verification is about (None: the whole archive), from the workflow's own input."""
    history = await handle.fetch_history(rpc_timeout=RPC_TIMEOUT)
    started = history.events[0].workflow_execution_started_event_attributes
    (inp,) = await client.data_converter.decode(started.input.payloads, [VerifyInput])
    vat: str | None = inp.vat
    return vat


@router.get("/verify/{workflow_id}", response_model=VerifyStatus)
async def read_verification(workflow_id: str, client: TemporalDep, access: AccessDep) -> VerifyStatus:
    from temporalio.service import RPCError, RPCStatusCode

    if not workflow_id.startswith("archive-verify-"):
        raise NotFound(f"no archive verification {workflow_id}")
    handle = client.get_workflow_handle(workflow_id, result_type=VerifyReport)
    try:
        desc = await handle.describe(rpc_timeout=RPC_TIMEOUT)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"no archive verification {workflow_id}") from err
        raise
    vat = await _verified_customer(client, handle)
    access.check(vat, "archive.verify" if vat else "archive.verify_all")
    status = desc.status.name.lower() if desc.status else "unknown"
    if desc.status != WorkflowExecutionStatus.COMPLETED:
        return VerifyStatus(workflow_id=workflow_id, status=status)
    report = await handle.result()
    return VerifyStatus(workflow_id=workflow_id, status=status, ok=report.ok, packages=report.packages,
                        objects=report.objects, bytes=report.bytes,
                        faults=[FaultPublic(**f.__dict__) for f in report.faults], faults_total=report.fault_count)
