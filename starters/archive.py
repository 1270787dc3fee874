"""Conservation from Python: conserve a document, verify the archive (as a workflow or in-process),
export it for an inspector, report the space used, and keep the weekly verification schedule.

Every function a user calls takes the acting user (`as_user`) and asks the policy first (`starters.acting`):
a customer's packages for its users and the accountants it granted `read`, the whole archive for operators;
a verification's input records who asked (`actor`). `start_conservation`/`conserve` act for no user: the
invoice workflows start conservation themselves (and tests and the demo through them)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from temporalio.client import Client

from core.db import session_scope
from core.search_keys import SearchKeys
from core.settings import Settings
from core.temporal import RPC_TIMEOUT, connect
from domain.archive import offline_verify
from domain.archive.index import SCHEMA_FILE
from domain.errors import Conflict, InvalidInput, NotFound, ProblemCollector
from domain.identifiers import parse_vat_number
from domain.policy import CUSTOMER, OPERATOR, Principal
from models.conservation import PackageView, Usage, list_packages, package_ids, package_page, usage
from models.conservation_io import ConservationInput, ConservationResult, VerifyInput, VerifyReport
from models.tenant import get_tenant
from starters.acting import STARTER, Acting, acting
from workflows.archive_verify import ArchiveVerifyWorkflow
from workflows.conservation import ConservationWorkflow, search_attributes_for, workflow_id_for


def conservation_workflow_id(settings: Settings, owner_kind: str, owner_id: str) -> str:
    """The id of a document's conservation workflow (`conserve-<kind>-<document key>`)."""
    return workflow_id_for(owner_kind, SearchKeys(settings).document(owner_id))


async def start_conservation(settings: Settings, inp: ConservationInput, client: Client | None = None):  # type: ignore[no-untyped-def]
    """Start the conservation workflow of one document (id `conserve-<kind>-<document key>`: a duplicate is
    refused, and it is the id the invoice workflow gives the same document's conservation)."""
    client = client or await connect(settings)
    keys = SearchKeys(settings)
    document_key = keys.document(inp.owner_id)
    return await client.start_workflow(
        ConservationWorkflow.run, inp, id=workflow_id_for(inp.owner_kind, document_key),
        task_queue=settings.temporal_task_queue,
        search_attributes=search_attributes_for(keys.customer(inp.tenant_vat), document_key),
        rpc_timeout=RPC_TIMEOUT,
    )


async def conserve(settings: Settings, inp: ConservationInput, client: Client | None = None) -> ConservationResult:
    handle = await start_conservation(settings, inp, client)
    result: ConservationResult = await handle.result()
    return result


def _verify_action(vat: str | None) -> str:
    return "archive.verify" if vat is not None else "archive.verify_all"


async def start_verify(settings: Settings, inp: VerifyInput, client: Client | None = None, *, as_user: Principal,
                       surface: str = STARTER) -> str:
    """Start a verification of the archive (of one customer; of all for an operator); returns its workflow id."""
    vat = str(parse_vat_number(inp.vat)) if inp.vat is not None else None
    with acting(settings, as_user, _verify_action(vat), f"archive verification of {vat or 'all'}", surface) as act:
        act.check(vat)
        return await _start_verify(settings, dataclasses.replace(inp, actor=act.user.label), client)


async def _start_verify(settings: Settings, inp: VerifyInput, client: Client | None) -> str:
    if inp.vat is not None:
        inp = dataclasses.replace(inp, vat=str(parse_vat_number(inp.vat)))
    if inp.sample is not None and inp.sample < 1:
        raise InvalidInput.one("sample", "at least 1")
    client = client or await connect(settings)
    workflow_id = f"archive-verify-{uuid.uuid4().hex[:12]}"
    await client.start_workflow(ArchiveVerifyWorkflow.run, inp, id=workflow_id,
                                task_queue=settings.temporal_task_queue, rpc_timeout=RPC_TIMEOUT)
    return workflow_id


async def run_verify(settings: Settings, inp: VerifyInput, client: Client | None = None, *, as_user: Principal,
                     surface: str = STARTER) -> VerifyReport:
    client = client or await connect(settings)
    workflow_id = await start_verify(settings, inp, client, as_user=as_user, surface=surface)
    report: VerifyReport = await client.get_workflow_handle(workflow_id, result_type=VerifyReport).result()
    return report


LOCAL_PAGE = 500  # packages read at a time by a local verification


def verify_local(settings: Settings, vat: str | None = None, sample: int | None = None, *, as_user: Principal,
                 surface: str = STARTER) -> VerifyReport:
    """The same checks in this process, without Temporal (and without e-mail)."""
    vat = str(parse_vat_number(vat)) if vat is not None else None
    with acting(settings, as_user, _verify_action(vat), f"local archive verification of {vat or 'all'}",
                surface) as act:
        act.check(vat)
        return _verify_local(settings, vat, sample)


def _verify_local(settings: Settings, vat: str | None, sample: int | None) -> VerifyReport:
    from adapters.s3 import sample_ids, verify_by_id

    if sample is not None and sample < 1:
        raise InvalidInput.one("sample", "at least 1")
    if sample is not None:  # a sample needs the list of ids (in this process only, never in a payload)
        with session_scope(settings.database_url) as session:
            ids = package_ids(session, vat)
        return verify_by_id(settings, sample_ids(ids, sample))
    report, after, upto = VerifyReport(), 0, None
    while True:  # every package, a page at a time, as the workflow reads them
        with session_scope(settings.database_url) as session:
            rows, upto, _ = package_page(session, vat, after, upto, LOCAL_PAGE)
        report.merge(verify_by_id(settings, [pid for _, pid in rows]))
        if len(rows) < LOCAL_PAGE:
            return report
        after = rows[-1][0]


async def ensure_verify_schedule(settings: Settings, client: Client | None = None,
                                 every_days: int | None = None, *, as_user: Principal,
                                 surface: str = STARTER) -> str:
    """Create the periodic verification schedule, or bring an existing one to these settings. Idempotent.
    (The worker keeps it too, at start: workers/schedules.py.) The whole archive's: operators only."""
    from workers.schedules import ensure_archive_verify_schedule

    with acting(settings, as_user, "archive.verify_all", "archive verification schedule", surface) as act:
        act.check(None)

        return await ensure_archive_verify_schedule(client or await connect(settings), settings, every_days)


def usage_report(settings: Settings, vat: str | None = None, *, as_user: Principal,
                 surface: str = STARTER) -> list[Usage]:
    """Space used per customer: only the customers the user may see."""
    with acting(settings, as_user, "archive.usage", f"archive usage of {vat or 'all'}", surface) as act:
        act.check(None)
        with session_scope(settings.database_url) as session:
            return [u for u in usage(session, vat) if act.user.visible(u.vat_number)]


def _customer_of_list(act: Acting, vat: str | None) -> str | None:
    """The customer a list is about: the one named, a customer user's own, or (operators) None for all."""
    if vat is not None:
        return str(parse_vat_number(vat))
    if act.user.kind == CUSTOMER:
        return act.user.customer_vat
    if act.user.kind != OPERATOR:
        raise InvalidInput.one("vat", "name the customer whose packages to list")
    return None


def archive_packages(settings: Settings, vat: str | None = None, date_from: date | None = None,
                     date_to: date | None = None, limit: int | None = None, *, as_user: Principal,
                     surface: str = STARTER) -> list[PackageView]:
    with acting(settings, as_user, "archive.read", f"archive packages of {vat or 'all'}", surface) as act:
        customer = _customer_of_list(act, vat)
        act.check(customer)
        with session_scope(settings.database_url) as session:
            return list_packages(session, customer, date_from, date_to, limit)


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    packages: int
    files: int
    bytes: int
    sha256: str  # of the zip itself

    def to_json(self) -> dict[str, object]:
        return {"path": str(self.path), "packages": self.packages, "files": self.files, "bytes": self.bytes,
                "sha256": self.sha256}


EXPORT_README = """Archive export of einvoice-hub for {vat} ({name}), documents dated {date_from} to {date_to}.

packages/<vat>/<year>/<package id>/   one archival package (pacchetto di archiviazione) per document:
                                      its files and IndiceConservazione.xml, the package index, which lists
                                      each file with its size and SHA-256 fingerprint (impronta)
IndiceConservazione_v1.xsd            the schema of the index
manifest.json                         the packages of this export, with each index's SHA-256
SHA256SUMS                            the SHA-256 of every file of this export (sha256sum -c SHA256SUMS)
verify.py                             checks all of the above offline: python3 verify.py
"""


def check_export_request(vat: str, date_from: date, date_to: date) -> str:
    found = ProblemCollector()
    vat_number = ""
    try:
        vat_number = str(parse_vat_number(vat))
    except InvalidInput as err:
        for p in err.problems:
            found.add("vat", p.message, p.code)
    if date_from > date_to:
        found.add("from", f"{date_from.isoformat()} is after --to {date_to.isoformat()}")
    found.raise_if_any()
    return vat_number


def export_archive(settings: Settings, vat: str, date_from: date, date_to: date, out: Path,
                   on_start: Callable[[int], None] | None = None,
                   on_progress: Callable[[int], None] | None = None, *, as_user: Principal,
                   surface: str = STARTER) -> ExportSummary:
    """Write a self-contained zip for an inspector. Every object is read from S3 (the conserved version)
    and its SHA-256 checked against the record while it is copied; a mismatch aborts the export and leaves
    no file behind. `on_start(total_bytes)` and `on_progress(bytes)` drive a progress bar."""
    vat_number = check_export_request(vat, date_from, date_to)
    with acting(settings, as_user, "archive.read", f"archive export of {vat_number} {date_from}..{date_to}",
                surface) as act:
        act.check(vat_number)
        return _export(settings, vat_number, date_from, date_to, out, on_start, on_progress)


def _export(settings: Settings, vat_number: str, date_from: date, date_to: date, out: Path,
            on_start: Callable[[int], None] | None, on_progress: Callable[[int], None] | None) -> ExportSummary:
    from adapters.s3 import ArchiveStorage

    with session_scope(settings.database_url) as session:
        tenant = get_tenant(session, vat_number)
        packages = list_packages(session, vat_number, date_from, date_to)
    if not packages:
        raise NotFound(f"no archival packages of {vat_number} dated {date_from} to {date_to}")
    total = sum(p.size for p in packages)
    if on_start:
        on_start(total)
    storage = ArchiveStorage(settings)
    sums: dict[str, str] = {}
    files = 0
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".export-", suffix=".zip", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            manifest_packages = []
            for pkg in packages:
                entries = []
                for obj in pkg.objects:
                    arc = f"packages/{pkg.prefix}{obj.name}"
                    digest = hashlib.sha256()
                    with zf.open(arc, "w", force_zip64=obj.size > 1 << 30) as dst:
                        for chunk in storage.stream(obj.key, obj.version_id):
                            digest.update(chunk)
                            dst.write(chunk)
                            if on_progress:
                                on_progress(len(chunk))
                    if digest.hexdigest() != obj.sha256:
                        raise Conflict(f"archive fault: {obj.key} (package {pkg.package_id}) does not match its "
                                       "recorded SHA-256; run `einvoice archive verify`")
                    sums[arc] = obj.sha256
                    files += 1
                    entries.append({"name": obj.name, "path": arc, "role": obj.role, "mime_type": obj.mime_type,
                                    "size": obj.size, "sha256": obj.sha256})
                manifest_packages.append({
                    "package_id": pkg.package_id, "index": f"packages/{pkg.prefix}{pkg.index.name}",
                    "index_sha256": pkg.index_sha256, "owner_kind": pkg.owner_kind, "owner_id": pkg.owner_id,
                    "document_type": pkg.document_type, "document_number": pkg.document_number,
                    "document_date": pkg.document_date.isoformat(), "sdi_file_name": pkg.sdi_file_name,
                    "sdi_id": pkg.sdi_id, "created_at": pkg.created_at.isoformat(),
                    "retain_until": pkg.retain_until.isoformat(), "files": entries,
                })
            manifest = {
                "format": "einvoice-hub archive export 1",
                "vat_number": vat_number, "customer": tenant.name,
                "from": date_from.isoformat(), "to": date_to.isoformat(),
                "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
                "bucket": settings.s3_bucket, "packages": manifest_packages,
            }
            extra = {
                "manifest.json": json.dumps(manifest, indent=2, ensure_ascii=False).encode(),
                "verify.py": Path(offline_verify.__file__).read_bytes(),
                SCHEMA_FILE.name: SCHEMA_FILE.read_bytes(),
                "README.txt": EXPORT_README.format(vat=vat_number, name=tenant.name, date_from=date_from,
                                                   date_to=date_to).encode(),
            }
            for name, data in extra.items():
                zf.writestr(name, data)
                sums[name] = hashlib.sha256(data).hexdigest()
            zf.writestr(offline_verify.SUMS, "".join(f"{h}  {n}\n" for n, h in sorted(sums.items())))
        digest = hashlib.sha256()
        with tmp.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ExportSummary(out, len(packages), files, total, digest.hexdigest())
