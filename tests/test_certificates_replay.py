"""The recorded history of a real certificate request (request → active, continue-as-new, recorded on the dev
server by `EINVOICE_RECORD_HISTORIES=1 pytest tests/test_certificates_e2e.py`) replays deterministically
against today's workflow code; a changed workflow does not."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from domain.certificates import workflow_id
from models.certificates_io import CertificateStatus, CertificateWorkflowInput
from workflows.certificate_authorization import CertificateAuthorizationWorkflow

HISTORY = Path(__file__).parent / "histories" / "certificate_authorization.json"


def recorded() -> WorkflowHistory:
    return WorkflowHistory.from_json(workflow_id("recorded"), HISTORY.read_text())


async def test_the_recorded_history_replays() -> None:
    result = await Replayer(workflows=[CertificateAuthorizationWorkflow]).replay_workflow(recorded())
    assert result.replay_failure is None


@workflow.defn(name="CertificateAuthorization", sandboxed=False)  # defined in a test module
class SleepsFirst:
    """The same workflow type, changed: it waits a minute before submitting."""

    @workflow.run
    async def run(self, inp: CertificateWorkflowInput) -> CertificateStatus:
        await workflow.sleep(timedelta(minutes=1))
        return CertificateStatus(inp.operation_id, inp.vat, inp.kind, inp.state)


async def test_a_changed_workflow_is_caught_as_nondeterministic() -> None:
    with pytest.raises(NondeterminismError):
        await Replayer(workflows=[SleepsFirst]).replay_workflow(recorded())
