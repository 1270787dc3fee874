"""`request_certificate(wait=True)` answers the state the database holds, not one the workflow has only
decided: the workflow's `await_decision` update used to answer as soon as the state was set in memory,
before its `record_state` activity wrote it, and the starter then read the row — "accepted" for a request
that had just failed. Here the write is held back so that window is open every time."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

import activities.certificates as cert_activities
from core.settings import Settings
from devstack.smtp_sink import Mailbox
from starters.certificates import request_certificate
from tests.certificates_support import VAT, make_csr, make_rig
from tests.identity_support import operator

pytestmark = pytest.mark.integration
RECORD_DELAY = 1.5  # seconds each state write is held back


def _slowed(set_state: Callable[..., Any]) -> Callable[..., Any]:
    def slow(*args: Any, **kw: Any) -> Any:
        time.sleep(RECORD_DELAY)
        return set_state(*args, **kw)
    return slow


async def test_waiting_for_a_refused_request_answers_error_as_recorded(
        dev_env: WorkflowEnvironment, settings: Settings, db: str, mailbox: Mailbox, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cert_activities, "set_state", _slowed(cert_activities.set_state))
    async with make_rig(dev_env, settings, db, mailbox, tmp_path) as rig:
        rig.authority.script = ["refuse"]
        result = await request_certificate(settings, VAT, make_csr(), client=rig.client,
                                           task_queue=rig.worker.task_queue, as_user=operator(settings),
                                           wait=True, wait_seconds=60)
        assert result.certificate.state == "error", result.certificate
        assert "not authorized" in (result.certificate.error or "")
