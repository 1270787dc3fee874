"""`make demo`'s sending step (#14.3, #14.6) against the app served over HTTP, the real worker (the invoice
workflow on its KSeF channel, the customer's KSeF session workflow) and the local KSeF served over HTTP: the
FA(3) invoice ends accepted, and its numer KSeF and UPO are read back through the API as the step prints them."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path

import pytest
from lxml import etree
from pydantic import SecretStr
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.ksef_channel import session_workflow_id
from core.db import session_scope
from core.search_keys import SearchKeys
from core.settings import Settings
from devstack import demo_http
from devstack.demo_ksef_certificates import DEMO_COMPANY, DEMO_PL_VAT
from devstack.demo_ksef_invoice import step_ksef_invoice
from domain.ksef.numbers import parse_ksef_number
from models.tenant import add_tenant, set_enabled
from tests.conservation_support import bucket_settings
from tests.helpers import free_port, new_worker, served_api
from tests.identity_support import operator_headers
from tests.ksef_authority_support import serve_sim

pytestmark = pytest.mark.integration
UPO_NS = "http://upo.schematy.mf.gov.pl/KSeF/v4-3"


async def test_the_demo_step_sends_an_fa3_invoice_and_shows_its_ksef_number_and_upo(
        dev_env: WorkflowEnvironment, settings: Settings, db: str, tmp_path: Path) -> None:
    port = free_port()
    with serve_sim(tmp_path / "ksefsim") as sim:
        served = bucket_settings(settings, temporal_address=dev_env.client.service_client.config.target_host,
                                 temporal_task_queue=f"tq-{uuid.uuid4()}", payload_codec_key=SecretStr("off"),
                                 public_base_url=f"http://127.0.0.1:{port}", ksef_url=sim.api,
                                 data_dir=tmp_path / "data")
        with session_scope(served.database_url) as session:  # steps 3b and 2 of the demo: added, enabled
            add_tenant(session, DEMO_PL_VAT, DEMO_COMPANY, "biuro@firma-demo.example.pl", None)
            set_enabled(session, DEMO_PL_VAT, True)
        ctx: dict[str, object] = {}
        with served_api(served, port):
            try:
                async with new_worker(dev_env.client, served, task_queue=served.temporal_task_queue):
                    demo_http.act_as(operator_headers(served)["Authorization"].removeprefix("Bearer "))
                    await asyncio.to_thread(step_ksef_invoice, served, ctx)
                    invoice_id = str(ctx["ksef_invoice"])
                    detail = demo_http.get(f"{served.public_base_url}/invoices/{invoice_id}", timeout=10).json()
                    upo = demo_http.get(f"{served.public_base_url}/invoices/{invoice_id}/download/upo", timeout=10)
            finally:
                demo_http.act_as(None)
                # the customer's session workflow would idle on this test's task queue, whose worker is gone, and
                # take the next test's invoices of the same customer (one session workflow per customer)
                session = dev_env.client.get_workflow_handle(
                    session_workflow_id(SearchKeys(served).customer(DEMO_PL_VAT)))
                with contextlib.suppress(RPCError):
                    await session.terminate("test finished")
    assert detail["state"] == "accepted", detail
    assert detail["ksef_status"].startswith("200")
    assert parse_ksef_number(detail["ksef_number"]).seller_nip == DEMO_PL_VAT.removeprefix("PL")
    assert "upo" in {f["role"] for f in detail["files"]}
    assert upo.status_code == 200
    root = etree.fromstring(upo.content)
    assert root.findtext(f".//{{{UPO_NS}}}NumerKSeFDokumentu") == detail["ksef_number"]
