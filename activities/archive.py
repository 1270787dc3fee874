"""Conservation on S3-compatible storage: store an archival package under Object Lock, record it, verify it.

Idempotent by the package id, which derives from the owner (domain.archive.index.package_id_for):
- `archive_store_package` writes each object with a conditional PUT (If-None-Match: *; a large one, in
  parts, after a HEAD): S3 refuses it when the key holds an object already, which is then kept if it has
  the same SHA-256 (its retention extended if it is shorter) and a fault if not (never overwritten). The
  index's creation time is taken from an index already on S3, so a re-run rebuilds the same bytes.
- every object is then read back and checked (size, SHA-256 of the bytes, COMPLIANCE retention) by the
  S3 adapter, adapters/s3.py, which these activities wrap: the S3 emulator accepts a wrong checksum and a
  shortened retention, so the server is not trusted.
- `archive_record_package` (a local activity of the workflow) inserts the package and its objects in one
  transaction, only after that, and is a no-op for a package already recorded.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import date
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import ACTIVITY_SLOTS
from adapters.s3 import ArchiveFault, ArchiveStorage, archive_client, verify_by_id
from core.db import session_scope
from core.settings import Settings
from domain.archive.index import (
    INDEX_MIME,
    INDEX_NAME,
    DocumentMetadata,
    IndexedFile,
    PackageIndex,
    Party,
    add_years,
    build_index,
    check_file_name,
    package_id_for,
    parse_index,
    parse_utc,
)
from domain.errors import Conflict, InvalidInput, NotFound
from domain.identifiers import parse_vat_number
from models.conservation import (
    PackageView,
    package_of_owner,
    package_page,
    record_package,
)
from models.conservation_io import (
    ConservationResult,
    FaultMail,
    PackagePage,
    PackagePageInput,
    StoredObject,
    StoredPackage,
    StorePackageInput,
    VerifyPackagesInput,
    VerifyReport,
)
from models.files import files_with_content
from models.mail import EmailRequest
from models.tenant import get_tenant_row

PAGE_LIMIT = 1000  # package ids per page at most, whatever a workflow asks


def _fault(message: str, kind: str = "ArchiveFault") -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


def document_metadata(req_owner_kind: str, req_owner_id: str, meta: Any) -> DocumentMetadata:
    try:
        doc_date = date.fromisoformat(meta.document_date)
    except ValueError as err:
        raise InvalidInput.one("metadata.document_date", "an ISO date YYYY-MM-DD") from err
    return DocumentMetadata(
        owner_kind=req_owner_kind, owner_id=req_owner_id, document_type=meta.document_type,
        number=meta.document_number, date=doc_date,
        sender=Party(meta.sender_vat, meta.sender_name), recipient=Party(meta.recipient_id, meta.recipient_name),
        sdi_file_name=meta.sdi_file_name, sdi_id=meta.sdi_id,
    )


def stored_from_view(view: PackageView, metadata: Any) -> StoredPackage:
    return StoredPackage(
        package_id=view.package_id, tenant_vat=view.tenant_vat, owner_kind=view.owner_kind,
        owner_id=view.owner_id, year=view.year, prefix=view.prefix, bucket=view.bucket,
        created_at=view.created_at.isoformat(), retain_until=view.retain_until.isoformat(),
        index_sha256=view.index_sha256, metadata=metadata,
        objects=[StoredObject(o.name, o.role, o.key, o.version_id, o.mime_type, o.size, o.sha256, o.is_index)
                 for o in view.objects],
        already_recorded=True,
    )


class ArchiveActivities:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._s3: Any | None = None
        self._s3_lock = threading.Lock()

    def storage(self) -> ArchiveStorage:
        # One boto3 client for every activity of this worker (clients are thread-safe): making one costs
        # about 8 ms of CPU, as much as storing a small package's objects (bench `pipeline`).
        with self._s3_lock:
            if self._s3 is None:
                self._s3 = archive_client(self.settings, ACTIVITY_SLOTS)
        return ArchiveStorage(self.settings, client=self._s3, heartbeat=activity.heartbeat)

    @activity.defn(name="archive_store_package")
    def store_package(self, inp: StorePackageInput) -> StoredPackage:
        """Idempotency key: the package id (from the owner). See the module docstring."""
        req = inp.request
        try:
            vat = str(parse_vat_number(req.tenant_vat))
            pid = package_id_for(vat, req.owner_kind, req.owner_id)
            doc = document_metadata(req.owner_kind, req.owner_id, req.metadata)
        except InvalidInput as err:
            raise _fault(str(err), "InvalidInput") from err
        with session_scope(self.settings.database_url) as session:
            recorded = package_of_owner(session, req.owner_kind, req.owner_id)
            if recorded is not None:
                return stored_from_view(recorded, req.metadata)
            try:
                tenant = get_tenant_row(session, vat)
            except NotFound as err:
                raise _fault(str(err), "NotFound") from err
            owner = Party(tenant.vat_number, tenant.name)
            found = files_with_content(session, req.owner_kind, req.owner_id)
            infos = [info for info, _ in found]
            contents = {info.name: content for info, content in found}
        if not infos:
            raise _fault(f"{req.owner_kind} {req.owner_id} has no stored files to conserve", "NotFound")
        try:
            for f in infos:
                check_file_name(f.name, f"files[{f.name}]")
                if f.name == INDEX_NAME:
                    raise InvalidInput.one(f"files[{f.name}]", "the index's own name is reserved")
        except InvalidInput as err:
            raise _fault(str(err), "InvalidInput") from err
        prefix = f"{vat}/{doc.date.year}/{pid}/"
        storage = self.storage()
        index_key = prefix + INDEX_NAME
        created_at = parse_utc(inp.created_at)
        existing = storage.head(index_key)
        if existing is not None:  # an earlier run got as far as the index: rebuild exactly that index
            try:
                created_at = parse_index(storage.read(index_key, existing.version_id)).created_at
            except InvalidInput as err:
                raise _fault(f"{index_key} is on S3 but unreadable: {err}") from err
        retain_until = add_years(created_at, self.settings.archive_retention_years)
        files = tuple(IndexedFile(f.name, f.role, f.mime_type, f.size, f.sha256) for f in infos)
        try:
            index_bytes = build_index(PackageIndex(pid, created_at, owner, doc, files, retain_until))
        except InvalidInput as err:
            raise _fault(str(err), "InvalidInput") from err
        objects: list[StoredObject] = []
        try:
            for f in infos:
                activity.heartbeat(f.name)
                version = storage.put_locked(prefix + f.name, contents[f.name], f.mime_type, retain_until)
                objects.append(StoredObject(f.name, f.role, prefix + f.name, version, f.mime_type, f.size,
                                            f.sha256))
            version = storage.put_locked(index_key, index_bytes, INDEX_MIME, retain_until)
        except ArchiveFault as err:
            raise _fault(str(err)) from err
        index_sha = hashlib.sha256(index_bytes).hexdigest()
        objects.append(StoredObject(INDEX_NAME, "index", index_key, version, INDEX_MIME, len(index_bytes),
                                    index_sha, is_index=True))
        activity.logger.info("package %s stored and checked: %d objects under %s", pid, len(objects), prefix)
        return StoredPackage(
            package_id=pid, tenant_vat=vat, owner_kind=req.owner_kind, owner_id=req.owner_id,
            year=doc.date.year, prefix=prefix, bucket=storage.bucket, created_at=created_at.isoformat(),
            retain_until=retain_until.isoformat(), index_sha256=index_sha, metadata=req.metadata,
            objects=objects, actor=req.actor,
        )

    @activity.defn(name="archive_record_package")
    def record_package(self, stored: StoredPackage) -> ConservationResult:
        """Idempotency key: the package id (unique in the DB); recording it again changes nothing."""
        with session_scope(self.settings.database_url) as session:
            try:
                view, created = record_package(session, stored)
            except Conflict as err:
                raise _fault(str(err), "Conflict") from err
        return ConservationResult(
            package_id=view.package_id, prefix=view.prefix, objects=len(view.objects), bytes=view.size,
            index_sha256=view.index_sha256, retain_until=view.retain_until.isoformat(),
            already_conserved=not created,
        )

    @activity.defn(name="archive_list_package_page")
    def list_package_page(self, inp: PackagePageInput) -> PackagePage:
        """Read-only: one bounded page of package ids (keyset on the row id), so no list of every package ever
        crosses the workflow boundary."""
        limit = max(1, min(inp.limit, PAGE_LIMIT))
        with session_scope(self.settings.database_url) as session:
            try:
                rows, upto, total = package_page(session, inp.vat, inp.after, inp.upto, limit)
            except (InvalidInput, NotFound) as err:
                raise _fault(str(err), type(err).__name__) from err
        last = rows[-1][0] if rows else inp.after
        return PackagePage([pid for _, pid in rows], last, upto, total, len(rows) == limit and last < upto)

    @activity.defn(name="archive_verify_packages")
    def verify_packages(self, inp: VerifyPackagesInput) -> VerifyReport:
        """Read-only on S3; records when each package was last verified (idempotent)."""
        return verify_by_id(self.settings, inp.package_ids, heartbeat=activity.heartbeat,
                            storage=self.storage())

    @activity.defn(name="archive_notify_fault")
    def notify_fault(self, mail: FaultMail) -> str:
        """Idempotency key: the verification's workflow id (send_email records it)."""
        from activities.mail import MailActivities

        report = mail.report
        lines = [f"- {f.package_id} [{f.kind}] {f.key or ''} {f.detail}" for f in report.faults[:200]]
        more = report.fault_count - len(lines)
        body = (
            f"The archive verification {mail.workflow_id} found {report.fault_count} fault(s) in "
            f"{report.packages} package(s) ({report.objects} objects checked):\n\n" + "\n".join(lines)
            + (f"\n... and {more} more" if more > 0 else "")
            + f"\n\nDetails in the Temporal Web UI: {self.settings.temporal_ui_url}/namespaces/"
              f"{self.settings.temporal_namespace}/workflows/{mail.workflow_id}\n"
        )
        req = EmailRequest(
            idempotency_key=f"{mail.workflow_id}/archive-fault", to=self.settings.conservation_manager_email,
            subject=f"Archive verification: {report.fault_count} fault(s) found", body_text=body,
            kind="archive-fault",
        )
        return MailActivities(self.settings).send_email(req).status
