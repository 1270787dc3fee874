"""Issue #13 item 4, end to end: the whole embedded stack (`einvoice dev up`) is stopped while a PA invoice
awaits its DT, and started again on the same data dir; the local SDI still owes the DT, sends it when due,
and the invoice's workflow ends on it (deadline passed by the SDI's DT, not by the workflow's own 15 days)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus

from core.db import dispose_all
from core.settings import Settings
from core.temporal import connect
from starters.invoices import get_invoice, invoice_files, send_invoice
from tests.helpers import free_port, wait_until
from tests.identity_support import operator
from tests.invoices_support import VAT, ensure_customer, invoice
from tests.test_devstack import RunningStack, stack_env

pytestmark = pytest.mark.integration
DT_DELAY = 45  # seconds from the RC to the DT: longer than it takes to stop the stack, shorter than a restart


def _state(settings: Settings, invoice_id: str) -> str:
    try:
        return get_invoice(settings, invoice_id, as_user=operator(settings)).state
    finally:
        dispose_all()  # the stack's own processes write this SQLite file too


def _notifications(settings: Settings, invoice_id: str) -> list[str]:
    try:
        return sorted(f.name for f in invoice_files(settings, invoice_id,
                                                    as_user=operator(settings)) if f.role == "notification")
    finally:
        dispose_all()


async def _workflow_status(settings: Settings, workflow_id: str) -> WorkflowExecutionStatus | None:
    client = await connect(settings)
    return (await client.get_workflow_handle(workflow_id).describe()).status


def test_a_pa_invoice_awaiting_its_dt_gets_it_after_the_whole_stack_restarts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = stack_env(data)
    sim_port = free_port()
    env.update(SDI_SIM_PORT=str(sim_port), SDI_URL=f"http://127.0.0.1:{sim_port}", SDI_SIM_DELAY="0.2",
               SDI_SIM_DT_DELAY=str(DT_DELAY))
    settings = Settings(DATA_DIR=data, DATABASE_URL=f"sqlite:///{(data / 'einvoice.db').resolve()}",
                        TEMPORAL_ADDRESS=env["TEMPORAL_ADDRESS"])
    stack = RunningStack(env, tmp_path / "up1.log")
    try:
        stack.wait_ready()
        ensure_customer(settings)  # enabled, as the accepted contract would leave it
        dispose_all()
        view = asyncio.run(send_invoice(settings, VAT, invoice("DT-RESTART-1", code="PADT00", pa=True),
                                        "fattura-pa.xml", as_user=operator(settings)))
        dispose_all()
        wait_until(lambda: _state(settings, view.id) == "delivered", timeout=60, message="the RC")
    finally:
        assert stack.interrupt() == 0, stack.output

    # The whole stack is down; the PA has not answered and the DT is not due yet.
    assert _state(settings, view.id) == "delivered"
    assert [n.split("_")[-2] for n in _notifications(settings, view.id)] == ["RC"], "the DT came before the stop"

    again = RunningStack(env, tmp_path / "up2.log")
    try:
        again.wait_ready()
        wait_until(lambda: _state(settings, view.id) != "delivered", timeout=DT_DELAY + 90,
                   message="the DT after the restart")
        assert _state(settings, view.id) == "deadline-passed"
        assert [n.split("_")[-2] for n in _notifications(settings, view.id)] == ["DT", "RC"]
        wait_until(lambda: asyncio.run(_workflow_status(settings, view.workflow_id))
                   == WorkflowExecutionStatus.COMPLETED, timeout=60, message="the invoice workflow to complete")
    finally:
        assert again.interrupt() == 0, again.output
