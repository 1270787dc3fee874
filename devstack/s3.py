"""The archive bucket on S3-compatible storage: created with Object Lock (moto locally, MinIO in compose)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from core.settings import Settings


def s3_client(settings: Settings) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key.get_secret_value(),
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30,
                      request_checksum_calculation="when_required"),
    )


def ensure_archive_bucket(settings: Settings) -> None:
    """Create the bucket with Object Lock enabled if it is not there yet (idempotent)."""
    s3 = s3_client(settings)
    try:
        s3.head_bucket(Bucket=settings.s3_bucket)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
        s3.create_bucket(Bucket=settings.s3_bucket, ObjectLockEnabledForBucket=True)
    lock = s3.get_object_lock_configuration(Bucket=settings.s3_bucket)
    if lock.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
        raise RuntimeError(f"bucket {settings.s3_bucket} exists without Object Lock; archive needs it")
