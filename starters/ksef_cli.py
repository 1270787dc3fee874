"""`einvoice ksef-sim`: the local KSeF (ksefsim/), an admin command that runs a stand-in, not a client of the API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.settings import get_settings
from starters.output import fail


def ksef_sim(
    port: Annotated[int | None, typer.Option(help="listen port (default KSEF_SIM_PORT)")] = None,
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    state_dir: Annotated[Path | None, typer.Option(help="keep its state and keys here (`dev up`: "
                                                        "DATA_DIR/ksefsim; default: nothing kept)")] = None,
    limits_multiplier: Annotated[float, typer.Option(help="limity-api.md's limits times this (10 as on the test "
                                                          "environment; 0: none)")] = 10.0,
) -> None:
    """The local KSeF 2.0: authentication (XAdES or KSeF token), certificates from its own test CA, interactive
    sessions with decrypted and checked FA(3) invoices, signed UPOs, the download; scenarios at /control/config."""
    from ksefsim.main import serve
    from ksefsim.scenarios import SimConfig
    from ksefsim.state import StateError

    settings = get_settings()
    try:
        serve(host, port or settings.ksef_sim_port, SimConfig(limits_multiplier=limits_multiplier), state_dir)
    except StateError as err:
        fail(str(err), 2)
