"""Conservation throughput: one package's bytes through the product's store path against raw boto3
`put_object` of the same bytes, to the same S3 emulator (moto's server), in the same run.

Contenders, interleaved round by round (each round a new package, new keys):
- `activity`: `ArchiveActivities.store_package` then `record_package`, run as activities
  (`ActivityEnvironment`): files read from the app database (SQLite), every key HEADed first, each object
  put with COMPLIANCE retention and its SHA-256, then read back (HEAD + GET, hashed here), the index built and
  stored the same way, the package recorded.
- `storage`: `ArchiveStorage.put_locked` of the same files (no database, no index): the S3 part alone.
- `raw_put`: `put_object` of the same files with nothing else (no lock, no checksum, no read-back).
- `raw_put_get`: `put_object` then `get_object` of each (what a read-back costs at the least).
MB/s counts the package's files (the index, a few KB, is the product's overhead).
"""

from __future__ import annotations

import asyncio
import logging
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# One package: five invoices between 100 KB and 5 MB (the SDI's limit for one file).
SIZES = (100 * 1024, 400 * 1024, 1024 * 1024, 2 * 1024 * 1024, 5 * 1024 * 1024)
ROUNDS = 6
VAT = "IT01234567897"


def package_files(seed: int) -> list[tuple[str, str, str, bytes]]:
    """(role, name, mime, content) of one package: random bytes, so no layer can compress them away."""
    rng = random.Random(seed)
    return [("original", f"{VAT}_{seed % 90000 + n:05d}.xml", "application/xml", rng.randbytes(size))
            for n, size in enumerate(SIZES)]


def run(log: Callable[[str], None] = print, rounds: int = ROUNDS) -> dict[str, Any]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_run(Path(tmp), log, rounds))


async def _run(tmp: Path, log: Callable[[str], None], rounds: int) -> dict[str, Any]:
    from temporalio.testing import ActivityEnvironment

    from activities.archive import ArchiveActivities
    from adapters.s3 import ArchiveStorage
    from bench.stack import base_settings, ensure_customer, s3_server
    from core.db import migrate, session_scope
    from devstack.s3 import s3_client
    from models.conservation_io import ConservationInput, PackageMetadata, StorePackageInput
    from models.files import store_file
    from models.tenant import get_tenant_row

    settings = base_settings(tmp)
    migrate(settings.database_url)
    ensure_customer(settings, VAT)
    payload = sum(SIZES)
    async with s3_server(settings) as settings:
        raw = s3_client(settings)
        activities = ArchiveActivities(settings)
        env = ActivityEnvironment()
        storage = ArchiveStorage(settings)
        retain_until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3650)

        def via_activity(seed: int, files: list[tuple[str, str, str, bytes]]) -> None:
            owner = f"bench-{seed}-{uuid.uuid4().hex[:8]}"
            with session_scope(settings.database_url) as session:  # as the invoice workflow left them
                tenant_id = get_tenant_row(session, VAT).id
                for role, name, mime, content in files:
                    store_file(session, tenant_id, "invoice", owner, role, name, mime, content)
            inp = ConservationInput(VAT, "invoice", owner, PackageMetadata(
                document_number=str(seed), document_date="2026-03-15", document_type="TD01", sender_vat=VAT,
                sender_name="Fornitore di prova S.r.l.", recipient_id="IT09876543217",
                recipient_name="Cliente S.r.l.", sdi_file_name=files[0][1], sdi_id=str(seed)))
            began = time.perf_counter()
            stored = env.run(activities.store_package, StorePackageInput(inp, datetime.now(UTC).isoformat()))
            env.run(activities.record_package, stored)
            spent["activity"] += time.perf_counter() - began

        def via_storage(seed: int, files: list[tuple[str, str, str, bytes]]) -> None:
            prefix = f"storage/{seed}-{uuid.uuid4().hex[:8]}/"
            began = time.perf_counter()
            for _, name, mime, content in files:
                storage.put_locked(prefix + name, content, mime, retain_until)
            spent["storage"] += time.perf_counter() - began

        def via_raw_put(seed: int, files: list[tuple[str, str, str, bytes]]) -> None:
            prefix = f"raw/{seed}-{uuid.uuid4().hex[:8]}/"
            began = time.perf_counter()
            for _, name, mime, content in files:
                raw.put_object(Bucket=settings.s3_bucket, Key=prefix + name, Body=content, ContentType=mime)
            spent["raw_put"] += time.perf_counter() - began

        def via_raw_put_get(seed: int, files: list[tuple[str, str, str, bytes]]) -> None:
            prefix = f"rawget/{seed}-{uuid.uuid4().hex[:8]}/"
            began = time.perf_counter()
            for _, name, mime, content in files:
                raw.put_object(Bucket=settings.s3_bucket, Key=prefix + name, Body=content, ContentType=mime)
                got = raw.get_object(Bucket=settings.s3_bucket, Key=prefix + name)["Body"].read()
                assert len(got) == len(content)
            spent["raw_put_get"] += time.perf_counter() - began

        contenders = {"raw_put": via_raw_put, "activity": via_activity, "storage": via_storage,
                      "raw_put_get": via_raw_put_get}
        spent = dict.fromkeys(contenders, 0.0)
        warm = package_files(0)
        for fn in contenders.values():  # warm up: first connections, imports, the first DB writes
            fn(0, warm)
        spent = dict.fromkeys(contenders, 0.0)
        for r in range(1, rounds + 1):
            files = package_files(r)
            order = list(contenders.items())
            if r % 2 == 0:
                order.reverse()
            for _, fn in order:
                fn(r, files)
            log(f"   round {r}: " + ", ".join(f"{k} {payload * r / 2**20 / v:.1f} MB/s" for k, v in spent.items()))

    mb = payload * rounds / 2**20
    rates = {k: round(mb / v, 1) for k, v in spent.items()}
    ratio = round(rates["activity"] / rates["raw_put"], 3)
    return {
        "package_bytes": payload, "files": list(SIZES), "rounds": rounds,
        "mb_per_second": rates,
        "ratio_activity_vs_raw_put": ratio,
        "ratio_storage_vs_raw_put": round(rates["storage"] / rates["raw_put"], 3),
        "ratio_activity_vs_raw_put_get": round(rates["activity"] / rates["raw_put_get"], 3),
        "summary": (f"{rates['activity']} MB/s conserved (stored, read back, recorded) = {ratio}× raw put_object "
                    f"{rates['raw_put']} MB/s; {round(rates['activity'] / rates['raw_put_get'], 2)}× raw put+get "
                    f"{rates['raw_put_get']} MB/s (packages of 5 files, {payload / 2**20:.1f} MB)"),
    }
