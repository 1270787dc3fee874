"""The demo's conservation step, against the dev server, the S3 emulator and the app (in-process)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.archive import ArchiveActivities
from activities.mail import MailActivities
from api.main import create_app
from core.settings import Settings
from devstack import demo_conservation, demo_http
from tests.conservation_support import VAT, bucket_settings, ensure_tenant
from tests.helpers import new_worker
from tests.identity_support import operator_client
from workflows.archive_verify import SCHEDULE_ID, ArchiveVerifyWorkflow
from workflows.conservation import ConservationWorkflow


async def test_the_demo_step_conserves_shows_verifies_and_exports(
        settings: Settings, db: str, dev_env: WorkflowEnvironment, tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    target = dev_env.client.service_client.config.target_host
    own = bucket_settings(settings, temporal_task_queue=f"tq-{uuid.uuid4()}", temporal_address=target,
                          payload_codec_key=SecretStr("off"), data_dir=tmp_path,
                          public_base_url="http://demo.invalid")
    ensure_tenant(own, VAT)
    http = operator_client(create_app(own, run_migrations=False), own)
    monkeypatch.setattr(demo_http.httpx, "get",
                        lambda url, **kw: http.get(url.replace(own.public_base_url, ""), **kw))
    monkeypatch.setattr(demo_conservation, "console", demo_conservation.Console(width=200))
    acts = ArchiveActivities(own)
    activities = [acts.store_package, acts.record_package, acts.list_package_page, acts.verify_packages,
                  acts.notify_fault, MailActivities(own).send_email]
    async with new_worker(dev_env.client, own, [ConservationWorkflow, ArchiveVerifyWorkflow], activities,
                          task_queue=own.temporal_task_queue):
        try:
            await asyncio.to_thread(demo_conservation.step_conservation, own, {"vat": VAT})
            # A second run (data dir reused) finds the same package and does not fail.
            await asyncio.to_thread(demo_conservation.step_conservation, own, {"vat": VAT})
        finally:
            await dev_env.client.get_schedule_handle(SCHEDULE_ID).delete()
    out = capsys.readouterr().out
    assert "IndiceConservazione.xml" in out and "COMPLIANCE" in out
    assert "1 package(s), 3 objects" in out and "intact" in out
    assert out.count("OK: ") == 2  # the offline checker of the export, both runs
    assert (tmp_path / "exports" / f"{VAT}-2026.zip").exists()
