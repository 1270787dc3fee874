"""The archive bucket on S3-compatible storage (boto3): locked puts, read-back checks, streamed reads, and
the check of a recorded package against what the bucket holds.

One outside system, S3, and no Temporal: the archive activities (activities/archive.py) wrap it with their
retry classification, heartbeats and idempotency records; the starters use it in the caller's process for a
local verification and an export (starters/archive.py), without running activity code. `heartbeat` is a
plain callable (an activity passes `activity.heartbeat`).

Every read is hashed here: the S3 emulator accepts a wrong checksum and a shortened retention, so the server
is not trusted.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from core.db import session_scope
from core.settings import Settings
from domain.archive.index import parse_index
from domain.errors import InvalidInput
from models.conservation import PackageView, find_package, mark_verified
from models.conservation_io import Fault as FaultRecord
from models.conservation_io import VerifyReport

CHUNK = 1024 * 1024


class ArchiveFault(Exception):
    """What is on S3 contradicts what we expect (other bytes under a locked key, a bad read-back)."""


def archive_client(settings: Settings, max_pool_connections: int = 10) -> Any:
    """Like devstack.s3.s3_client, but botocore does not validate response checksums by itself: every read
    is hashed here, so an altered object is reported as such instead of failing inside botocore.
    `max_pool_connections`: the threads that share the client (the worker's activity slots)."""
    return boto3.client(
        "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key.get_secret_value(),
        # One pooled connection per thread sharing the client (the worker's activity slots): none is dropped
        # and reopened when every slot stores at once.
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=60,
                      request_checksum_calculation="when_required", response_checksum_validation="when_required",
                      max_pool_connections=max_pool_connections),
    )


def b64_sha256(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


@dataclass(frozen=True)
class ObjectState:
    version_id: str
    size: int
    checksum_sha256: str | None
    lock_mode: str | None
    retain_until: datetime | None


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _object_state(meta: dict[str, Any]) -> ObjectState:
    """From a HeadObject or GetObject answer (with ChecksumMode=ENABLED)."""
    until = meta.get("ObjectLockRetainUntilDate")
    return ObjectState(
        version_id=str(meta.get("VersionId") or ""),
        size=int(meta["ContentLength"]),
        checksum_sha256=meta.get("ChecksumSHA256"),
        lock_mode=meta.get("ObjectLockMode"),
        retain_until=until.astimezone(UTC) if until else None,
    )


def _precondition_failed(err: ClientError) -> bool:
    """A conditional write refused because the key holds an object (HTTP 412)."""
    return _code(err) in ("PreconditionFailed", "412") or \
        err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412


def _missing(err: ClientError) -> bool:
    return _code(err) in ("404", "NoSuchKey", "NoSuchVersion", "NotFound") or \
        err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404


class ArchiveStorage:
    """The archive bucket: locked puts (single or multipart), read-back checks, streamed reads."""

    def __init__(self, settings: Settings, client: Any | None = None,
                 heartbeat: Callable[..., None] | None = None):
        self.settings = settings
        self.bucket = settings.s3_bucket
        self.s3 = client or archive_client(settings)
        # Called between chunks and parts, so an activity moving a large file keeps heartbeating.
        self.heartbeat = heartbeat or (lambda *_: None)

    def head(self, key: str, version_id: str | None = None) -> ObjectState | None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            head = self.s3.head_object(**kwargs)
        except ClientError as err:
            if _missing(err):
                return None
            raise
        return _object_state(head)

    def stream(self, key: str, version_id: str) -> Iterator[bytes]:
        body = self.s3.get_object(Bucket=self.bucket, Key=key, VersionId=version_id)["Body"]
        yield from self._chunks(key, body)

    def _chunks(self, key: str, body: Any) -> Iterator[bytes]:
        try:
            for chunk in iter(lambda: body.read(CHUNK), b""):
                self.heartbeat(key)
                yield chunk
        finally:
            body.close()

    def read_back(self, key: str, version_id: str) -> tuple[ObjectState, str, int] | None:
        """One GET of a version: its state (the same headers HEAD reports) and the SHA-256 and size of the
        bytes read; None when the version is not there."""
        try:
            got = self.s3.get_object(Bucket=self.bucket, Key=key, VersionId=version_id, ChecksumMode="ENABLED")
        except ClientError as err:
            if _missing(err):
                return None
            raise
        digest = hashlib.sha256()
        size = 0
        for chunk in self._chunks(key, got["Body"]):
            digest.update(chunk)
            size += len(chunk)
        return _object_state(got), digest.hexdigest(), size

    def read(self, key: str, version_id: str) -> bytes:
        return b"".join(self.stream(key, version_id))

    def sha256_of(self, key: str, version_id: str) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        for chunk in self.stream(key, version_id):
            digest.update(chunk)
            size += len(chunk)
        return digest.hexdigest(), size

    def put_locked(self, key: str, data: bytes, mime_type: str, retain_until: datetime) -> str:
        """Store `data` at `key` under COMPLIANCE retention, or keep the same bytes already there; check the
        result by reading it back. Returns the version id. Raises ArchiveFault on other bytes at the key."""
        expected = hashlib.sha256(data).hexdigest()
        if len(data) >= self.settings.archive_multipart_threshold:
            current = self.head(key)
            version_id = (self._same_bytes(key, current.version_id, expected) if current is not None
                          else self._put_multipart(key, data, mime_type, retain_until))
        else:
            try:  # a conditional write (If-None-Match: *): one request, and never over an object already there
                put = self.s3.put_object(
                    Bucket=self.bucket, Key=key, Body=data, ContentType=mime_type,
                    ChecksumAlgorithm="SHA256", ChecksumSHA256=b64_sha256(bytes.fromhex(expected)),
                    ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=retain_until, IfNoneMatch="*",
                )
                version_id = str(put.get("VersionId") or "")
            except ClientError as err:
                if not _precondition_failed(err):
                    raise
                current = self.head(key)  # there already (an earlier attempt): the same bytes, or a fault
                if current is None:
                    raise ArchiveFault(f"{key}: S3 refused the write as if the key existed, but it does not "
                                       "answer a HEAD") from err
                version_id = self._same_bytes(key, current.version_id, expected)
        self.check_stored(key, version_id, data, retain_until)
        return version_id

    def _same_bytes(self, key: str, version_id: str, expected: str) -> str:
        """The version already at `key`, if it holds the expected bytes; a conserved object is never replaced."""
        found, _ = self.sha256_of(key, version_id)
        if found != expected:
            raise ArchiveFault(f"{key} already holds other bytes (SHA-256 {found}, expected {expected}); "
                               "a conserved object is never overwritten")
        return version_id

    def _part_checksums(self, data: bytes) -> list[tuple[int, bytes, bytes]]:
        size = self.settings.archive_multipart_part_size
        return [(n, data[off:off + size], hashlib.sha256(data[off:off + size]).digest())
                for n, off in enumerate(range(0, len(data), size), 1)]

    def _put_multipart(self, key: str, data: bytes, mime_type: str, retain_until: datetime) -> str:
        upload = self.s3.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType=mime_type, ChecksumAlgorithm="SHA256",
            ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=retain_until,
        )
        upload_id = upload["UploadId"]
        try:
            parts = []
            for number, chunk, digest in self._part_checksums(data):
                self.heartbeat(f"{key} part {number}")
                part = self.s3.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk,
                    ChecksumAlgorithm="SHA256", ChecksumSHA256=b64_sha256(digest),
                )
                parts.append({"PartNumber": number, "ETag": part["ETag"], "ChecksumSHA256": b64_sha256(digest)})
            done = self.s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts},
            )
        except BaseException:
            try:
                self.s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except Exception:  # the original error matters more; S3 expires abandoned uploads anyway
                pass
            raise
        return str(done.get("VersionId") or "")

    def expected_checksums(self, data: bytes) -> set[str]:
        """The ChecksumSHA256 S3 may report: of the whole object, or of its parts ("composite-N")."""
        whole = b64_sha256(hashlib.sha256(data).digest())
        if len(data) < self.settings.archive_multipart_threshold:
            return {whole}
        parts = self._part_checksums(data)
        composite = b64_sha256(hashlib.sha256(b"".join(d for _, _, d in parts)).digest())
        return {whole, composite, f"{composite}-{len(parts)}"}

    def check_stored(self, key: str, version_id: str, data: bytes, retain_until: datetime) -> None:
        """Read the stored version back: size, server checksum, our own SHA-256, and the retention (one GET
        gives the bytes and the headers a HEAD would)."""
        back = self.read_back(key, version_id)
        if back is None:
            raise ArchiveFault(f"{key} version {version_id} is not there after upload")
        state, found, _ = back
        if state.lock_mode != "COMPLIANCE" or state.retain_until is None or state.retain_until < retain_until:
            # Retention can always be extended (never shortened) under COMPLIANCE; some S3 servers do not
            # apply it from CreateMultipartUpload, and an object kept from an earlier run may end sooner.
            self.s3.put_object_retention(
                Bucket=self.bucket, Key=key, VersionId=version_id,
                Retention={"Mode": "COMPLIANCE", "RetainUntilDate": retain_until},
            )
            extended = self.head(key, version_id)
            if extended is None or extended.lock_mode != "COMPLIANCE" or extended.retain_until is None \
                    or extended.retain_until < retain_until:
                raise ArchiveFault(f"{key}: retention is not COMPLIANCE until {retain_until.isoformat()}")
            state = extended
        if state.size != len(data):
            raise ArchiveFault(f"{key}: {state.size} bytes stored, {len(data)} sent")
        if state.checksum_sha256 is not None and state.checksum_sha256 not in self.expected_checksums(data):
            raise ArchiveFault(f"{key}: the server's SHA-256 checksum {state.checksum_sha256} is not ours")
        if found != hashlib.sha256(data).hexdigest():
            raise ArchiveFault(f"{key}: the bytes read back have SHA-256 {found}")


def verify_package(storage: ArchiveStorage, view: PackageView) -> VerifyReport:
    """Re-read every object of a recorded package: present, same bytes as the DB and the index, still
    under COMPLIANCE retention, and not shadowed by a newer version of its key."""
    report = VerifyReport(packages=1)
    faults = report.faults
    pid = view.package_id
    contents: dict[str, bytes] = {}
    for obj in view.objects:
        report.objects += 1
        state = storage.head(obj.key, obj.version_id)
        if state is None:
            faults.append(FaultRecord(pid, "missing", f"{obj.name}: version {obj.version_id} is gone", obj.key))
            continue
        report.bytes += state.size
        if state.lock_mode != "COMPLIANCE" or state.retain_until is None or state.retain_until < view.retain_until:
            faults.append(FaultRecord(pid, "retention", f"{obj.name}: lock {state.lock_mode} until "
                                      f"{state.retain_until}, recorded until {view.retain_until}", obj.key))
        if obj.is_index:
            data = storage.read(obj.key, obj.version_id)
            contents[obj.name] = data
            found, size = hashlib.sha256(data).hexdigest(), len(data)
        else:
            found, size = storage.sha256_of(obj.key, obj.version_id)
        if found != obj.sha256 or size != obj.size:
            faults.append(FaultRecord(pid, "altered", f"{obj.name}: SHA-256 {found} ({size} bytes), recorded "
                                      f"{obj.sha256} ({obj.size} bytes)", obj.key))
        latest = storage.head(obj.key)
        if latest is not None and latest.version_id != obj.version_id:
            faults.append(FaultRecord(pid, "superseded", f"{obj.name}: a newer version {latest.version_id} "
                                      "shadows the conserved one", obj.key))
    index_obj = next((o for o in view.objects if o.is_index), None)
    if index_obj is None or index_obj.name not in contents:
        return report
    if hashlib.sha256(contents[index_obj.name]).hexdigest() != view.index_sha256:
        faults.append(FaultRecord(pid, "index-mismatch", "the index's SHA-256 is not the recorded one",
                                  index_obj.key))
    try:
        index = parse_index(contents[index_obj.name])
    except InvalidInput as err:
        faults.append(FaultRecord(pid, "unreadable", f"index: {err}", index_obj.key))
        return report
    if index.package_id != pid:
        faults.append(FaultRecord(pid, "index-mismatch", f"the index names package {index.package_id}"))
    recorded = {o.name: o for o in view.objects if not o.is_index}
    for item in index.files:
        rec = recorded.pop(item.name, None)
        if rec is None:
            faults.append(FaultRecord(pid, "index-mismatch", f"{item.name} is in the index, not in the DB"))
        elif (rec.sha256, rec.size) != (item.sha256, item.size):
            faults.append(FaultRecord(pid, "index-mismatch", f"{item.name}: impronta {item.sha256} "
                                      f"({item.size} bytes) in the index, {rec.sha256} ({rec.size}) in the DB",
                                      rec.key))
    for name, left in recorded.items():
        faults.append(FaultRecord(pid, "index-mismatch", f"{name} is in the DB, not in the index", left.key))
    return report


def verify_by_id(settings: Settings, ids: list[str], heartbeat: Any = None,
                 storage: ArchiveStorage | None = None) -> VerifyReport:
    storage = storage or ArchiveStorage(settings)
    report = VerifyReport()
    for pid in ids:
        with session_scope(settings.database_url) as session:
            view = find_package(session, pid)
        if view is None:
            report.faults.append(FaultRecord(pid, "missing", "the package is not recorded in the database"))
            continue
        if heartbeat:
            heartbeat(pid)
        one = verify_package(storage, view)
        report.merge(one)
        with session_scope(settings.database_url) as session:
            mark_verified(session, pid, one.ok, datetime.now(UTC))
    return report


def sample_ids(ids: list[str], sample: int | None, rng: random.Random | None = None) -> list[str]:
    if sample is None or sample >= len(ids):
        return ids
    return sorted((rng or random.Random()).sample(ids, sample))


