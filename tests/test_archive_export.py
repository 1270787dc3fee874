"""Export for an inspector, space used, verify and listing over the CLI and HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from typer.testing import CliRunner

from activities.archive import ArchiveActivities
from api.main import create_app
from core.settings import Settings, get_settings
from models.conservation_io import ConservationInput, ConservationResult, StorePackageInput
from starters.cli import app as cli
from tests.cli_support import in_process_api, login
from tests.conservation_support import OTHER_VAT, VAT, add_invoice, bucket_settings
from tests.helpers import assert_eventually, new_worker
from tests.identity_support import operator_client
from workflows.archive_verify import ArchiveVerifyWorkflow

runner = CliRunner()


def _conserve(settings: Settings, inp: ConservationInput) -> ConservationResult:
    acts = ArchiveActivities(settings)
    env = ActivityEnvironment()
    stored = env.run(acts.store_package, StorePackageInput(inp, "2026-04-30T08:00:00+00:00"))
    return env.run(acts.record_package, stored)


@pytest.fixture
def archive(settings: Settings, db: str, monkeypatch: pytest.MonkeyPatch,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A bucket of its own with three packages (two of VAT, in March and April; one of OTHER_VAT); the CLI
    logged in as an operator to the API in-process on it (and, for `verify --local`, its environment
    pointing at it)."""
    own = bucket_settings(settings, temporal_task_queue=f"tq-{uuid.uuid4()}")
    _conserve(own, add_invoice(own, number="00021", document_date="2026-03-15"))
    _conserve(own, add_invoice(own, number="00022", document_date="2026-04-10"))
    _conserve(own, add_invoice(own, number="00023", vat=OTHER_VAT, document_date="2026-03-20"))
    for name, value in {"DATABASE_URL": own.database_url, "S3_ENDPOINT_URL": own.s3_endpoint_url,
                        "S3_BUCKET": own.s3_bucket, "DATA_DIR": str(own.data_dir)}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    with in_process_api(own, monkeypatch, tmp_path_factory.mktemp("config")):
        login(own)
        yield own
    get_settings.cache_clear()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_is_self_contained_and_every_hash_checks(archive: Settings, tmp_path: Path) -> None:
    out = tmp_path / "export.zip"
    res = runner.invoke(cli, ["archive", "export", "--vat", VAT, "--from", "2026-03-01", "--to", "2026-03-31",
                              str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["packages"] == 1 and summary["files"] == 5 and summary["sha256"] == _sha256(out)
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(out) as zf:
        zf.extractall(folder)
    # Recompute every hash ourselves: SHA256SUMS covers every file, each index's impronte match the files.
    sums = dict(reversed(line.split("  ", 1)) for line in (folder / "SHA256SUMS").read_text().splitlines())
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {"SHA256SUMS"}
    assert set(sums) == files
    for name, digest in sums.items():
        assert _sha256(folder / name) == digest, name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["vat_number"] == VAT and len(manifest["packages"]) == 1
    pkg = manifest["packages"][0]
    assert pkg["document_number"] == "00021" and pkg["document_date"] == "2026-03-15"
    assert _sha256(folder / pkg["index"]) == pkg["index_sha256"]
    from domain.archive.index import parse_index

    index = parse_index((folder / pkg["index"]).read_bytes())
    for item in index.files:
        path = folder / pkg["index"].rsplit("/", 1)[0] / item.name
        assert _sha256(path) == item.sha256 and path.stat().st_size == item.size
    # The same export for a person: a progress bar, then where it went.
    res = runner.invoke(cli, ["archive", "export", "--vat", VAT, "--from", "2026-03-01", "--to", "2026-03-31",
                              str(tmp_path / "again.zip")])
    assert res.exit_code == 0 and "exporting" in res.output and "wrote" in res.output, res.output
    # The offline checker shipped inside the export agrees, with nothing but the standard library...
    checked = subprocess.run([sys.executable, "-I", "verify.py"], cwd=folder, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.startswith("OK: ") and "1 packages, 4 indexed files" in checked.stdout
    # ...and catches a file altered after the export.
    signed = next(folder.rglob("*.xml.p7m"))
    signed.write_bytes(signed.read_bytes() + b" ")
    checked = subprocess.run([sys.executable, "-I", "verify.py"], cwd=folder, capture_output=True, text=True)
    assert checked.returncode == 1
    assert f"altered: packages/{pkg['index'].rsplit('/', 1)[0].split('/', 1)[1]}/{signed.name}" in checked.stdout
    assert "differs from its impronta in the index" in checked.stdout


def test_export_refuses_bad_requests_and_leaves_no_file(archive: Settings, tmp_path: Path) -> None:
    out = tmp_path / "x.zip"
    res = runner.invoke(cli, ["archive", "export", "--vat", VAT, "--from", "2026-04-01", "--to", "2026-03-01",
                              str(out)])
    assert res.exit_code == 2 and "from" in res.output
    res = runner.invoke(cli, ["archive", "export", "--vat", "IT02038490238", "--from", "2026-01-01", "--to",
                              "2026-12-31", str(out)])
    assert res.exit_code == 2 and "vat" in res.output
    res = runner.invoke(cli, ["archive", "export", "--vat", VAT, "--from", "2025-01-01", "--to", "2025-12-31",
                              str(out)])
    assert res.exit_code == 4
    assert list(tmp_path.iterdir()) == []


def test_export_of_an_altered_archive_stops_and_leaves_no_file(archive: Settings, tmp_path: Path) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    bucket = s3_backends[DEFAULT_ACCOUNT_ID]["global"].buckets[archive.s3_bucket]
    key = next(k for k in bucket.keys if k.endswith("_RC_001.xml") and f"/{VAT}/" not in k and k.startswith(VAT))
    bucket.keys.getlist(key)[0].value = b"<altered/>"
    res = runner.invoke(cli, ["archive", "export", "--vat", VAT, "--from", "2026-01-01", "--to", "2026-12-31",
                              str(tmp_path / "x.zip")])
    assert res.exit_code == 3 and "archive fault" in res.output
    assert list(tmp_path.iterdir()) == []
    res = runner.invoke(cli, ["archive", "verify", "--local", "--json"])
    assert res.exit_code == 1
    assert f"database {archive.database_url}" in " ".join(res.stderr.split())  # says what it reached
    report = json.loads(res.stdout)
    assert report["packages"] == 3 and [f["kind"] for f in report["faults"]] == ["altered"]


def test_usage_and_listing_over_the_cli(archive: Settings) -> None:
    res = runner.invoke(cli, ["archive", "usage", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["vat_number"]: r for r in json.loads(res.output)}
    assert rows[VAT]["packages"] == 2 and rows[VAT]["objects"] == 10
    assert rows[OTHER_VAT]["packages"] == 1 and rows[OTHER_VAT]["objects"] == 5
    listed = json.loads(runner.invoke(cli, ["archive", "packages", "--vat", VAT, "--json"]).output)
    assert rows[VAT]["bytes"] == sum(p["size"] for p in listed) > 0
    res = runner.invoke(cli, ["archive", "usage", "--vat", OTHER_VAT])
    assert res.exit_code == 0 and OTHER_VAT in res.output and VAT not in res.output
    res = runner.invoke(cli, ["archive", "verify", "--local", "--vat", VAT, "--sample", "1", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["packages"] == 1
    assert runner.invoke(cli, ["archive", "usage", "--vat", "IT123"]).exit_code == 2


async def test_usage_packages_and_verify_over_http(archive: Settings, dev_env: WorkflowEnvironment) -> None:
    app = create_app(archive, run_migrations=False)
    app.state.temporal = dev_env.client
    http = operator_client(app, archive)
    usage = {u["vat_number"]: u for u in http.get("/archive/usage").json()}
    assert usage[VAT]["packages"] == 2 and usage[OTHER_VAT]["objects"] == 5
    assert http.get("/archive/usage", params={"vat": "IT02038490238"}).status_code == 422
    listed = http.get("/archive/packages", params={"vat": VAT, "date_from": "2026-04-01"}).json()
    assert [p["document_number"] for p in listed] == ["00022"] and listed[0]["objects"] is None
    one = http.get(f"/archive/packages/{listed[0]['package_id']}").json()
    assert len(one["objects"]) == 5 and sum(o["size"] for o in one["objects"]) == one["size"]
    assert http.get("/archive/packages/PdA-invoice-nope-000000000000").status_code == 404
    async with new_worker(dev_env.client, archive, [ArchiveVerifyWorkflow],
                          [ArchiveActivities(archive).list_package_page, ArchiveActivities(archive).verify_packages],
                          task_queue=archive.temporal_task_queue):
        started = http.post("/archive/verify", json={"vat": VAT})
        assert started.status_code == 202
        workflow_id = started.json()["workflow_id"]

        async def done() -> dict:  # type: ignore[type-arg]
            body = http.get(f"/archive/verify/{workflow_id}").json()
            assert body["status"] == "completed", body
            return body  # type: ignore[no-any-return]

        body = await assert_eventually(done, timeout=20)
    assert body["ok"] is True and body["packages"] == 2 and body["faults"] == []
    assert http.post("/archive/verify", json={"sample": 0}).status_code == 422
    assert http.get("/archive/verify/archive-verify-unknown").status_code == 404


async def test_cli_verify_runs_the_verification_workflow(archive: Settings, dev_env: WorkflowEnvironment,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_env.client.service_client.config.target_host)
    monkeypatch.setenv("TEMPORAL_TASK_QUEUE", archive.temporal_task_queue)
    monkeypatch.setenv("PAYLOAD_CODEC_KEY", "off")
    get_settings.cache_clear()
    acts = ArchiveActivities(archive)
    app = create_app(archive, run_migrations=False)
    app.state.temporal = dev_env.client
    async with new_worker(dev_env.client, archive, [ArchiveVerifyWorkflow], [acts.list_package_page,
                          acts.verify_packages], task_queue=archive.temporal_task_queue):
        with in_process_api(archive, monkeypatch, Path(os.environ["XDG_CONFIG_HOME"]), app):  # the same login
            res = await asyncio.to_thread(runner.invoke, cli, ["archive", "verify", "--sample", "2", "--json"])
            table = await asyncio.to_thread(runner.invoke, cli, ["archive", "verify", "--vat", OTHER_VAT])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["ok"] is True and report["packages"] == 2 and report["objects"] == 10
    assert table.exit_code == 0 and "1 packages, 5 objects" in table.output and "intact" in table.output
