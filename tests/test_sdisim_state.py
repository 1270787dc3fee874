"""The local SDI keeps its state (issue #13 item 4): a simulator made again on the same state file knows every
file it received, never gives an identificativo SdI twice, sends what it still owed when it is due (the DT 15
days after the RC) and what it could not deliver, and sends nothing twice."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.sdi import messages, soap
from sdisim.app import SimConfig, Simulator
from sdisim.main import SIGNER_KEY, kept_signer_material, xades_signer
from sdisim.state import StateError
from tests.helpers import assert_eventually, free_port
from tests.invoices_support import invoice

FILE = "IT01234567897_0PA01.xml"
DAY = 24 * 3600.0


@dataclass
class Transmitter:
    """Our TrasmissioneFatture endpoint as the simulator sees it: records what it takes, or refuses all."""

    url: str
    refusing: bool = False
    taken: list[tuple[str, str]] = field(default_factory=list)  # (kind, notification file name)
    refused: int = 0
    answer_after: float = 0.0  # seconds between taking a notification and answering

    async def handle(self, request: Request) -> Response:
        if self.refusing:
            self.refused += 1
            return Response("unavailable", status_code=503)
        _, f = soap.read_trasmissione(await request.body())
        self.taken.append((messages.read_notification(f.file).kind, f.nome_file))
        await asyncio.sleep(self.answer_after)
        return Response(b"", media_type="text/xml")


@pytest.fixture
async def transmitter() -> AsyncIterator[Transmitter]:
    port = free_port()
    t = Transmitter(f"http://127.0.0.1:{port}/TrasmissioneFatture")
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/TrasmissioneFatture", t.handle,
                                                                   methods=["POST"])]),
                                           host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    yield t
    server.should_exit = True
    await serving


class Clock:
    """The wall clock the simulator reads its due times on, moved on by the test instead of waited for."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


SIGN = xades_signer()  # notifications must be signed to be valid ones


def simulator(t: Transmitter, state: Path, clock: Clock, delay: float = 0.05) -> Simulator:
    config = SimConfig(callback_url=t.url, ricezione_url=t.url, delay=delay, dt_delay=15 * DAY)
    return Simulator(config, SIGN, state, clock)


async def taken(t: Transmitter, *kinds: str) -> None:
    async def check() -> None:
        assert [kind for kind, _ in t.taken] == list(kinds)

    await assert_eventually(check, timeout=20, interval=0.05)


async def test_a_restarted_simulator_sends_the_dt_it_owed_once_and_forgets_nothing(tmp_path: Path,
                                                                                 transmitter: Transmitter) -> None:
    state, clock = tmp_path / "sdisim" / "state.sqlite", Clock()
    first = simulator(transmitter, state, clock)
    first.resume()
    answer = await first.ricevi_file(soap.FileSdIBase(FILE, invoice("RST-1", code="PADT00", pa=True)))
    await taken(transmitter, "RC")
    await first.stop()  # the stack stops while the PA invoice awaits its DT

    again = simulator(transmitter, state, clock)
    [rec] = again.files_json()
    assert (rec["sdi_id"], rec["file_name"], rec["recipient_code"], rec["outcome"]) == (
        answer.identificativo_sdi, FILE, "PADT00", "scenario")
    assert [(n["kind"], n["delivered"]) for n in rec["notifications"]] == [("RC", 1)]
    assert [p["kind"] for p in rec["pending"]] == ["DT"]
    clock.now += 15 * DAY  # the DT falls due while the simulator is up again
    again.resume()
    await taken(transmitter, "RC", "DT")
    assert transmitter.taken[1][1] == messages.notification_file_name(FILE, "DT")
    await again.stop()

    third = simulator(transmitter, state, clock)
    third.resume()  # owes nothing: sends nothing
    nxt = await third.ricevi_file(soap.FileSdIBase(FILE, invoice("RST-1", code="PADT00", pa=True)))
    assert nxt.identificativo_sdi > answer.identificativo_sdi  # never given twice
    await taken(transmitter, "RC", "DT", "NS")  # the name was received before: 00002
    assert third.files_json()[1]["errors"][0]["code"] == "00002"
    await third.stop()


async def test_a_stop_while_a_notification_is_on_the_wire_records_it_and_it_is_not_sent_again(
        tmp_path: Path, transmitter: Transmitter) -> None:
    """Found red in a steady run (a DT sent twice): stop() cancelled a delivery the recipient had taken but
    not answered yet, so it was never recorded and the next start sent it again. Here the recipient answers
    late on purpose, and the stack stops in between: the delivery is let finish and recorded."""
    state, clock = tmp_path / "sdisim" / "state.sqlite", Clock()
    transmitter.answer_after = 0.5
    first = simulator(transmitter, state, clock)
    first.resume()
    await first.ricevi_file(soap.FileSdIBase(FILE, invoice("RST-2", code="PADT00", pa=True)))
    await taken(transmitter, "RC")
    await first.stop()  # the RC is taken, its answer not back yet
    transmitter.answer_after = 0.0
    again = simulator(transmitter, state, clock)
    [rec] = again.files_json()
    assert [(n["kind"], n["delivered"]) for n in rec["notifications"]] == [("RC", 1)]
    assert [p["kind"] for p in rec["pending"]] == ["DT"]  # the RC is not owed any more
    await again.stop()


async def test_the_keys_of_accepted_invoices_survive_a_restart(tmp_path: Path, transmitter: Transmitter) -> None:
    state, clock = tmp_path / "state.sqlite", Clock()
    first = simulator(transmitter, state, clock)
    first.resume()
    await first.ricevi_file(soap.FileSdIBase(FILE, invoice("KEY-1")))
    await taken(transmitter, "RC")
    await first.stop()

    again = simulator(transmitter, state, clock)
    again.resume()
    await again.ricevi_file(soap.FileSdIBase("IT01234567897_0PA02.xml", invoice("KEY-1")))  # same invoice
    await taken(transmitter, "RC", "NS")
    assert again.files_json()[1]["errors"][0]["code"] == "00404"
    await again.stop()


async def test_a_file_received_but_not_checked_yet_is_checked_after_the_restart(tmp_path: Path,
                                                                                 transmitter: Transmitter) -> None:
    state, clock = tmp_path / "state.sqlite", Clock()
    first = simulator(transmitter, state, clock, delay=3600)  # stopped before it checks
    first.resume()
    await first.ricevi_file(soap.FileSdIBase(FILE, invoice("CHK-1")))
    await first.stop()
    assert transmitter.taken == []

    again = simulator(transmitter, state, clock)
    assert again.files_json()[0]["outcome"] == "checking"
    again.resume()
    await taken(transmitter, "RC")
    await again.stop()


async def test_a_notification_not_delivered_before_the_stop_is_delivered_after_it(tmp_path: Path,
                                                                                   transmitter: Transmitter) -> None:
    state, clock = tmp_path / "state.sqlite", Clock()
    transmitter.refusing = True
    first = simulator(transmitter, state, clock)
    first.resume()
    await first.ricevi_file(soap.FileSdIBase(FILE, invoice("RTY-1")))

    async def refused() -> None:
        assert transmitter.refused >= 1

    await assert_eventually(refused, timeout=20, interval=0.05)
    await first.stop()  # while it is still retrying
    built = [n["name"] for n in first.files_json()[0]["notifications"]]

    transmitter.refusing, transmitter.answer_after = False, 0.3  # taken, then answered a moment later
    again = simulator(transmitter, state, clock)
    again.resume()
    await taken(transmitter, "RC")
    assert [name for _, name in transmitter.taken] == built  # the same notification, not a second one

    # Recorded delivered once its answer is back, not when the recipient took it: waited for (read at once, it
    # was 0 in the 17:48 steady run of 2026-12-07, on a machine with more work beside it)
    async def recorded() -> None:
        assert again.files_json()[0]["notifications"][0]["delivered"] == 1

    await assert_eventually(recorded, timeout=20, interval=0.05)
    await again.stop()


def test_a_state_file_it_cannot_read_is_refused_naming_it_and_left_as_it_is(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    state.write_bytes(b"not a database at all" * 100)
    config = SimConfig(callback_url="http://127.0.0.1:9/", ricezione_url="http://127.0.0.1:9/")
    with pytest.raises(StateError, match=str(state)):
        Simulator(config, None, state)
    assert state.read_bytes() == b"not a database at all" * 100

    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as db:
        db.execute("CREATE TABLE files (x)")
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StateError, match="schema version 99"):
        Simulator(config, None, newer)


def test_the_signing_key_is_kept_in_the_state_dir(tmp_path: Path) -> None:
    _, cert = kept_signer_material(tmp_path / "sdisim")
    assert (tmp_path / "sdisim" / SIGNER_KEY).stat().st_mode & 0o077 == 0  # the key is readable by its owner only
    _, again = kept_signer_material(tmp_path / "sdisim")
    assert again == cert
    out = tmp_path / "signer.pem"
    xades_signer(out, tmp_path / "sdisim")
    assert out.read_bytes() == (tmp_path / "sdisim" / "signer-cert.pem").read_bytes()
    xades_signer(out)  # without a state dir: a fresh key at every start, as before
    assert out.read_bytes() != (tmp_path / "sdisim" / "signer-cert.pem").read_bytes()
