"""Through `einvoice dev up`: the local SDI is one of the stack's parts, and an invoice sent with the CLI
(`einvoice invoice send --wait`) comes back delivered; its HTML rendering can be downloaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from core.db import dispose_all, session_scope
from models.tenant import set_enabled
from tests.helpers import free_port
from tests.identity_support import PASSWORD, stack_operator
from tests.invoices_support import VAT, invoice
from tests.test_devstack import RunningStack, stack_env

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent


def test_invoice_delivered_through_dev_up(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = stack_env(data)
    sim_port = free_port()
    env.update(SDI_SIM_PORT=str(sim_port), SDI_URL=f"http://127.0.0.1:{sim_port}", SDI_SIM_DELAY="0.2")
    stack = RunningStack(env, tmp_path / "up.log")
    try:
        stack.wait_ready()
        assert "sdi (local)" in stack.output
        api = f"http://127.0.0.1:{env['API_PORT']}"
        auth = stack_operator(env, api)
        resp = httpx.post(f"{api}/tenants", json={"vat": VAT, "name": "Fornitore", "pec": "f@pec.example.it"},
                          headers=auth)
        assert resp.status_code == 201, resp.text
        url = f"sqlite:///{(data / 'einvoice.db').resolve()}"
        with session_scope(url) as session:  # as the accepted contract would
            set_enabled(session, VAT, True)
        dispose_all()
        env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # the CLI is a client: it logs in to the stack's API
        logged = subprocess.run([sys.executable, "-m", "starters.cli", "login", "--url", api, "--user",
                                 "operator@stack.test", "--password-stdin"], cwd=ROOT, env=env, input=PASSWORD + "\n",
                                capture_output=True, text=True, timeout=60)
        assert logged.returncode == 0, logged.stdout + logged.stderr
        path = tmp_path / "fattura.xml"
        path.write_bytes(invoice("DEVUP-1"))
        sent = subprocess.run([sys.executable, "-m", "starters.cli", "invoice", "send", str(path), "--vat", VAT,
                               "--wait", "--timeout", "60", "--json"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
        assert sent.returncode == 0, sent.stdout + sent.stderr + stack.output[-3000:]
        view = json.loads(sent.stdout)
        assert view["state"] == "delivered" and view["sdi_id"]
        got = subprocess.run([sys.executable, "-m", "starters.cli", "invoice", "download", view["id"], "--what",
                              "html", "--out", str(tmp_path / "out")], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=60)
        assert got.returncode == 0, got.stderr
        assert b"DEVUP-1" in next((tmp_path / "out").glob("*.html")).read_bytes()
        files = httpx.get(f"http://127.0.0.1:{sim_port}/control/files").json()
        assert [f["file_name"] for f in files] == [view["file_name"]]
    finally:
        assert stack.interrupt() == 0, stack.output
