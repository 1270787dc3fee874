"""`einvoice contract start|status|resend|cancel --vat VAT [--json]` through the API (in-process, logged in)
against the time-skipping server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import Result
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from api.main import create_app
from core.search_keys import SearchKeys
from core.settings import Settings, get_settings
from devstack.smtp_sink import Mailbox
from models.contracts_io import AWAITING, CANCELLED
from starters.cli import app as cli
from tests.cli_support import in_process_api, login
from tests.contracts_helpers import add_customer, contract_worker, new_vat
from tests.helpers import assert_eventually

runner = CliRunner()


@pytest.fixture
async def cli_env(time_env: WorkflowEnvironment, settings: Settings, db: str, mailbox: Mailbox,
                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[Settings]:
    """The worker on the time-skipping server, and the CLI logged in as an operator to the API in-process."""
    async with contract_worker(time_env.client, settings) as env:
        for name, value in {
            "DATABASE_URL": env.database_url,
            "TEMPORAL_ADDRESS": time_env.client.service_client.config.target_host,
            "TEMPORAL_TASK_QUEUE": env.temporal_task_queue,
            "SMTP_PORT": str(env.smtp_port),
            "SECRET_KEY": env.secret_key.get_secret_value(),
            "DATA_DIR": str(env.data_dir),
            "PAYLOAD_CODEC_KEY": "off",  # the test worker's client has no codec
        }.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

        def served() -> object:
            """The API as served with this environment (a test may change a setting), on the test's Temporal."""
            app = create_app(get_settings(), run_migrations=False)
            app.state.temporal = time_env.client
            return app

        with in_process_api(env, monkeypatch, tmp_path / "config", make_app=served):
            login(env)
            yield env
        get_settings.cache_clear()


async def einvoice(*args: str) -> Result:
    """The CLI runs its own event loop, so it runs in a thread while the worker keeps this one."""
    return await asyncio.to_thread(runner.invoke, cli, list(args), env={"COLUMNS": "200"})


async def test_start_status_resend_cancel(cli_env: Settings, mailbox: Mailbox) -> None:
    vat = new_vat()
    pec = add_customer(cli_env, vat)

    started = await einvoice("contract", "start", "--vat", vat, "--amount", "49.00", "--json")
    assert started.exit_code == 0, started.output
    assert json.loads(started.output)["workflow_id"] == f"contract-{SearchKeys(cli_env).customer(vat)}"

    async def invited() -> None:
        assert len(mailbox.find(to=pec, kind="contract-invitation")) == 1
    await assert_eventually(invited)

    again = await einvoice("contract", "start", "--vat", vat)
    assert again.exit_code == 3 and "already has an order" in again.output

    resent = await einvoice("contract", "resend", "--vat", vat, "--json")
    assert resent.exit_code == 0, resent.output
    assert json.loads(resent.output)["invitation_no"] == 2
    assert len(mailbox.find(to=pec, kind="contract-invitation")) == 2

    status = await einvoice("contract", "status", "--vat", vat, "--json")
    assert status.exit_code == 0, status.output
    data = json.loads(status.output)
    assert data["status"] == AWAITING and data["workflow"]["business_status"] == AWAITING
    assert [h["step"] for h in data["history"]] == [AWAITING, "invitation-sent", "resend-sent"]
    human = await einvoice("contract", "status", "--vat", vat)
    assert "awaiting-documentation" in human.output and "resend-sent" in human.output

    cancelled = await einvoice("contract", "cancel", "--vat", vat, "--reason", "duplicate order")
    assert cancelled.exit_code == 0, cancelled.output
    assert "49,00 EUR recorded as refunded" in cancelled.output

    refused = await einvoice("contract", "resend", "--vat", vat)
    assert refused.exit_code == 3 and "cancelled, not awaiting documentation" in refused.output
    final = json.loads((await einvoice("contract", "status", "--vat", vat, "--json")).output)
    assert final["status"] == CANCELLED and final["refunded_cents"] == 4900


async def test_a_resend_over_the_cap_is_refused_naming_it(cli_env: Settings, mailbox: Mailbox,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTRACT_RESEND_MAX_PER_HOUR", "1")
    get_settings.cache_clear()
    vat = new_vat()
    pec = add_customer(cli_env, vat)
    assert (await einvoice("contract", "start", "--vat", vat)).exit_code == 0

    async def invited() -> None:
        assert len(mailbox.find(to=pec, kind="contract-invitation")) == 1
    await assert_eventually(invited)
    assert (await einvoice("contract", "resend", "--vat", vat)).exit_code == 0
    refused = await einvoice("contract", "resend", "--vat", vat)
    assert refused.exit_code == 3, refused.output
    said = " ".join(refused.output.split())  # the console wraps long lines
    assert "CONTRACT_RESEND_MAX_PER_HOUR=1" in said and "the next resend is allowed from 20" in said
    assert len(mailbox.find(to=pec, kind="contract-invitation")) == 2
    assert (await einvoice("contract", "cancel", "--vat", vat)).exit_code == 0


async def test_bad_input_is_refused_naming_the_field(cli_env: Settings) -> None:
    bad_vat = await einvoice("contract", "start", "--vat", "IT02038490238")
    assert bad_vat.exit_code == 2 and "vat" in bad_vat.output
    vat = new_vat()
    add_customer(cli_env, vat)
    bad_amount = await einvoice("contract", "start", "--vat", vat, "--amount", "-5")
    assert bad_amount.exit_code == 2 and "amount" in bad_amount.output
    missing = await einvoice("contract", "status", "--vat", vat)
    assert missing.exit_code == 4 and "no contract order" in missing.output
    unknown = await einvoice("contract", "start", "--vat", new_vat())
    assert unknown.exit_code == 4 and "no customer" in unknown.output
