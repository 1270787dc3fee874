"""`einvoice dev up`: every part healthy, usable, restartable on its data dir, and gone after Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.procs import alive, descendants, free_port
from tests.helpers import wait_until
from tests.identity_support import stack_operator

pytestmark = pytest.mark.integration


def stack_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        DATA_DIR=str(data_dir),
        TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
        TEMPORAL_UI_PORT=str(free_port()),
        S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
        SMTP_PORT=str(free_port()),
        API_PORT=str(free_port()),
        KSEF_SIM_PORT=str(free_port()),
        COLUMNS="200",
    )
    return env


class RunningStack:
    def __init__(self, env: dict[str, str], log: Path):
        self.env = env
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "starters.cli", "dev", "up"], env=env,
            stdout=log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    @property
    def output(self) -> str:
        return self.log.read_text()

    def wait_ready(self) -> None:
        wait_until(lambda: "ready" in self.output or self.proc.poll() is not None, timeout=150,
                   message="the stack to be ready")
        assert self.proc.poll() is None, self.output

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=60)


@pytest.fixture
def stack_dirs(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    data = tmp_path / "data"
    yield data, stack_env(data)


def test_dev_up_serves_every_part_and_leaves_nothing_behind(stack_dirs: tuple[Path, dict[str, str]],
                                                              tmp_path: Path) -> None:
    data, env = stack_dirs
    stack = RunningStack(env, tmp_path / "up1.log")
    try:
        stack.wait_ready()
        children = descendants(stack.proc.pid)
        assert len(children) >= 5, stack.output  # temporal, s3, smtp, api, worker
        for part in ("temporal", "s3 (moto)", "smtp sink", "api", "worker", "ksef (local)"):
            assert part in stack.output
        ksef_sim = f"http://127.0.0.1:{env['KSEF_SIM_PORT']}"
        assert httpx.post(f"{ksef_sim}/v2/auth/challenge").json()["challenge"]  # the local KSeF answers
        api = f"http://127.0.0.1:{env['API_PORT']}"
        assert httpx.get(f"{api}/tenants").status_code == 401  # nobody is let in without a token
        auth = stack_operator(env, api)
        resp = httpx.post(f"{api}/tenants", json={"vat": "IT02038490237", "name": "ACME", "pec": "a@pec.it"},
                          headers=auth)
        assert resp.status_code == 201, resp.text
        bad = httpx.post(f"{api}/tenants", json={"vat": "IT02038490238", "name": "ACME", "pec": "a@pec.it"},
                         headers=auth)
        assert bad.status_code == 422 and "check digit" in bad.text
        assert httpx.get(f"http://127.0.0.1:{env['TEMPORAL_UI_PORT']}/").status_code == 200
        assert (data / "temporal.db").exists()
    finally:
        code = stack.interrupt()
    assert code == 0, stack.output
    assert "no process left behind" in stack.output
    leftovers = [pid for pid in children if alive(pid)]
    assert leftovers == [], f"processes left behind: {leftovers}"

    # Same data dir again: Temporal's SQLite state and the app database are kept.
    again = RunningStack(env, tmp_path / "up2.log")
    try:
        again.wait_ready()
        api = f"http://127.0.0.1:{env['API_PORT']}"
        assert [t["vat_number"] for t in httpx.get(f"{api}/tenants", headers=auth).json()] == [
            "IT02038490237"]  # and the operator's token too: it was stored, hashed, in the app database
    finally:
        assert again.interrupt() == 0, again.output


def test_a_taken_port_is_a_clear_error(stack_dirs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    _, env = stack_dirs
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", int(env["API_PORT"])))
        holder.listen()
        result = subprocess.run([sys.executable, "-m", "starters.cli", "dev", "up"], env=env,
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"port {env['API_PORT']}" in result.stdout and "API_PORT" in result.stdout
    assert "already in use" in result.stdout
