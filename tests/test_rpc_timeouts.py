"""#18.5: no HTTP request waits for days. Every Temporal call the API and the starters make carries an
rpc_timeout (checked over the source, so a new call without one fails here), and Temporal not answering is a
clear 503, not a hang or a bare 500."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from temporalio.service import RPCError, RPCStatusCode

from api.errors import install

ROOT = Path(__file__).resolve().parent.parent
CALLS = {"start_workflow", "describe", "query", "signal", "fetch_history", "execute_update", "start_update",
         "signal_with_start_workflow", "cancel", "terminate"}


def _calls_without_timeout(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    missing = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CALLS
                and not any(k.arg == "rpc_timeout" for k in node.keywords)):
            rel = str(path.relative_to(ROOT))
            if node.func.attr == "query" and not node.args:  # e.g. SQLAlchemy's session.query()
                continue
            missing.append(f"{rel}:{node.lineno} .{node.func.attr}(...)")
    return missing


def test_every_temporal_call_of_the_api_and_the_starters_has_an_rpc_timeout() -> None:
    files = sorted([*ROOT.joinpath("api").rglob("*.py"), *ROOT.joinpath("starters").glob("*.py")])
    missing = [m for f in files for m in _calls_without_timeout(f)]
    assert not missing, "Temporal calls without rpc_timeout:\n" + "\n".join(missing)


def test_the_check_finds_a_call_without_one(tmp_path: Path) -> None:  # positive control
    bad = ROOT / "starters" / "_probe_rpc_timeout.py"
    bad.write_text("async def f(handle):\n    await handle.query('status')\n")
    try:
        assert _calls_without_timeout(bad) == ["starters/_probe_rpc_timeout.py:2 .query(...)"]
    finally:
        bad.unlink()


@pytest.mark.parametrize(("status", "code"), [(RPCStatusCode.DEADLINE_EXCEEDED, 503),
                                              (RPCStatusCode.UNAVAILABLE, 503),
                                              (RPCStatusCode.INVALID_ARGUMENT, 500)])
async def test_temporal_not_answering_is_a_503_that_says_so(status: RPCStatusCode, code: int) -> None:
    app = FastAPI()
    install(app)

    @app.get("/probe")
    async def probe() -> None:
        raise RPCError("no answer", status, b"")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        resp = await client.get("/probe")
    assert resp.status_code == code, resp.text
    if code == 503:
        assert resp.headers["retry-after"] == "30" and status.name in resp.json()["detail"]
