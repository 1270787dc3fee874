"""Storing a package on the S3 emulator: round-trip, Object Lock, idempotent re-runs, multipart, faults."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import func, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.archive import ArchiveActivities
from adapters.s3 import ArchiveStorage, verify_by_id
from core.db import session_scope
from core.settings import Settings
from devstack.s3 import s3_client
from domain.archive.index import INDEX_NAME, parse_index
from models.conservation import ArchiveObject, ArchivePackage, get_package
from models.conservation_io import StorePackageInput
from tests.conservation_support import add_invoice, bucket_settings

NOW = "2026-03-20T09:15:00+00:00"


def _store(settings: Settings, inp, created_at: str = NOW):  # type: ignore[no-untyped-def]
    acts = ArchiveActivities(settings)
    return ActivityEnvironment().run(acts.store_package, StorePackageInput(inp, created_at))


def _conserve(settings: Settings, inp, created_at: str = NOW):  # type: ignore[no-untyped-def]
    acts = ArchiveActivities(settings)
    stored = _store(settings, inp, created_at)
    return stored, ActivityEnvironment().run(acts.record_package, stored)


def _counts(settings: Settings) -> tuple[int, int]:
    with session_scope(settings.database_url) as session:
        return (session.scalar(select(func.count()).select_from(ArchivePackage)) or 0,
                session.scalar(select(func.count()).select_from(ArchiveObject)) or 0)


def test_package_round_trip(settings: Settings, db: str) -> None:
    own = bucket_settings(settings)
    inp = add_invoice(own)
    stored, result = _conserve(own, inp)
    assert result.objects == 5 and not result.already_conserved
    assert result.prefix == f"IT02038490237/2026/{stored.package_id}/"
    s3 = s3_client(own)
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=own.s3_bucket)["Contents"])
    assert listed == sorted(o.key for o in stored.objects)
    storage = ArchiveStorage(own)
    for obj in stored.objects:
        body = storage.read(obj.key, obj.version_id)
        assert hashlib.sha256(body).hexdigest() == obj.sha256 and len(body) == obj.size
        head = s3.head_object(Bucket=own.s3_bucket, Key=obj.key, VersionId=obj.version_id, ChecksumMode="ENABLED")
        assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] >= datetime(2036, 3, 20, 9, 15, tzinfo=UTC)
    index_obj = next(o for o in stored.objects if o.is_index)
    index = parse_index(storage.read(index_obj.key, index_obj.version_id))
    assert index.package_id == stored.package_id and index.owner.id_fiscale == "IT02038490237"
    assert index.document.number == "00001" and index.document.sdi_id == "111222333"
    assert {f.name: f.sha256 for f in index.files} == {o.name: o.sha256 for o in stored.objects if not o.is_index}
    with session_scope(own.database_url) as session:
        view = get_package(session, stored.package_id)
    assert view.index_sha256 == index_obj.sha256 and len(view.objects) == 5
    assert verify_by_id(own, [stored.package_id]).ok


def test_the_lock_refuses_deleting_or_overwriting_a_conserved_version(settings: Settings, db: str) -> None:
    own = bucket_settings(settings)
    stored, _ = _conserve(own, add_invoice(own))
    s3 = s3_client(own)
    obj = stored.objects[0]
    with pytest.raises(ClientError) as err:
        s3.delete_object(Bucket=own.s3_bucket, Key=obj.key, VersionId=obj.version_id)
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    # An overwrite only adds a version on top; the conserved version is intact and verify reports the shadow.
    s3.put_object(Bucket=own.s3_bucket, Key=obj.key, Body=b"tampered")
    assert ArchiveStorage(own).read(obj.key, obj.version_id) != b"tampered"
    report = verify_by_id(own, [stored.package_id])
    assert [(f.kind, f.key) for f in report.faults] == [("superseded", obj.key)]
    # Conserving again never overwrites: the newest bytes under the key differ, so it is a fault.
    with session_scope(own.database_url) as session:
        session.query(ArchivePackage).delete()
    with pytest.raises(ApplicationError) as refused:
        _store(own, add_invoice(own, owner_id=stored.owner_id))
    assert refused.value.non_retryable and "never overwritten" in str(refused.value)


def test_rerun_after_a_crash_makes_no_second_package(settings: Settings, db: str) -> None:
    own = bucket_settings(settings)
    inp = add_invoice(own)
    first = _store(own, inp)  # crash here: stored on S3, never recorded
    assert _counts(own) == (0, 0)
    # The retry (or a new run, hours later) rebuilds the very same index and keeps every locked object.
    later = (datetime.fromisoformat(NOW) + timedelta(hours=5)).isoformat()
    again, result = _conserve(own, inp, later)
    assert again.package_id == first.package_id and again.index_sha256 == first.index_sha256
    assert [o.version_id for o in again.objects] == [o.version_id for o in first.objects]
    assert again.created_at == first.created_at
    s3 = s3_client(own)
    versions = s3.list_object_versions(Bucket=own.s3_bucket)["Versions"]
    assert len(versions) == 5  # one version per object: nothing uploaded twice
    assert _counts(own) == (1, 5)
    third, result3 = _conserve(own, inp, later)
    assert result3.already_conserved and third.package_id == first.package_id
    assert _counts(own) == (1, 5)


def test_large_files_go_up_in_parts_and_are_checked(settings: Settings, db: str) -> None:
    own = bucket_settings(settings, archive_multipart_threshold=1024, archive_multipart_part_size=5 * 1024 * 1024)
    big = bytes(range(256)) * (6 * 1024 * 1024 // 256) + b"tail"  # 6 MiB: two parts of 5 MiB max
    inp = add_invoice(own, extra=[("attachment", "allegato.pdf", "application/pdf", big)])
    stored, _ = _conserve(own, inp)
    obj = next(o for o in stored.objects if o.name == "allegato.pdf")
    storage = ArchiveStorage(own)
    head = storage.s3.head_object(Bucket=own.s3_bucket, Key=obj.key, VersionId=obj.version_id)
    assert head["ETag"].strip('"').endswith("-2")  # a multipart upload of two parts
    assert head["ObjectLockMode"] == "COMPLIANCE"  # set by us even where the server skipped it
    assert hashlib.sha256(storage.read(obj.key, obj.version_id)).hexdigest() == hashlib.sha256(big).hexdigest()
    assert verify_by_id(own, [stored.package_id]).ok


def test_a_corrupted_object_is_found_by_verify(settings: Settings, db: str) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    own = bucket_settings(settings)
    stored, _ = _conserve(own, add_invoice(own))
    victim = next(o for o in stored.objects if o.role == "signed")
    # Around the lock: rewrite the conserved version's bytes inside the emulator (a disk fault, an insider).
    bucket = s3_backends[DEFAULT_ACCOUNT_ID]["global"].buckets[own.s3_bucket]
    fake = next(k for k in bucket.keys.getlist(victim.key) if k.version_id == victim.version_id)
    fake.value = b"0\x82 altered content"
    report = verify_by_id(own, [stored.package_id])
    assert [(f.kind, f.key) for f in report.faults] == [("altered", victim.key)]
    with session_scope(own.database_url) as session:
        assert get_package(session, stored.package_id).last_verify_ok is False


def test_a_shortened_retention_is_found_by_verify(settings: Settings, db: str) -> None:
    own = bucket_settings(settings)
    stored, _ = _conserve(own, add_invoice(own))
    index = next(o for o in stored.objects if o.name == INDEX_NAME)
    # The emulator lets COMPLIANCE retention be shortened (real S3 refuses): the application must notice.
    s3_client(own).put_object_retention(
        Bucket=own.s3_bucket, Key=index.key, VersionId=index.version_id,
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": datetime.now(UTC) + timedelta(days=1)})
    report = verify_by_id(own, [stored.package_id])
    assert [(f.kind, f.key) for f in report.faults] == [("retention", index.key)]


def test_bad_input_is_refused_and_nothing_is_written(settings: Settings, db: str) -> None:
    own = bucket_settings(settings)
    inp = add_invoice(own)
    inp.metadata.document_type = "FATTURA"
    inp.metadata.document_date = "15/03/2026"
    with pytest.raises(ApplicationError) as err:
        _store(own, inp)
    assert err.value.non_retryable and "metadata.document_date" in str(err.value)
    assert "Contents" not in s3_client(own).list_objects_v2(Bucket=own.s3_bucket)
    assert _counts(own) == (0, 0)
    inp = add_invoice(own)
    inp.metadata.document_type = "FATTURA"
    with pytest.raises(ApplicationError) as err:
        _store(own, inp)
    assert "metadata.document_type" in str(err.value)
    assert "Contents" not in s3_client(own).list_objects_v2(Bucket=own.s3_bucket)


def test_a_database_record_that_disagrees_with_the_index_is_reported(settings: Settings, db: str) -> None:
    own = bucket_settings(settings)
    stored, _ = _conserve(own, add_invoice(own))
    victim = next(o for o in stored.objects if o.role == "original")
    with session_scope(own.database_url) as session:
        row = session.scalar(select(ArchiveObject).where(ArchiveObject.key == victim.key))
        assert row is not None
        row.sha256 = "0" * 64
    report = verify_by_id(own, [stored.package_id])
    assert sorted((f.kind, f.key) for f in report.faults) == [("altered", victim.key),
                                                             ("index-mismatch", victim.key)]
    assert verify_by_id(own, ["PdA-invoice-gone-000000000000"]).faults[0].kind == "missing"


def test_a_deleted_object_is_reported_missing(settings: Settings, db: str) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    own = bucket_settings(settings)
    stored, _ = _conserve(own, add_invoice(own))
    victim = next(o for o in stored.objects if o.role == "notification")
    bucket = s3_backends[DEFAULT_ACCOUNT_ID]["global"].buckets[own.s3_bucket]
    bucket.keys.pop(victim.key)  # gone from the emulator's store, lock or not
    report = verify_by_id(own, [stored.package_id])
    assert [(f.kind, f.key) for f in report.faults] == [("missing", victim.key)]
