"""`einvoice ksef-sim`: run the local KSeF under uvicorn. With a state dir (`einvoice dev up`:
`DATA_DIR/ksefsim`) it keeps there its state (`state.sqlite`) and its keys, so what it issued, numbered or
signed before a restart is still its own; without one it keeps nothing and makes fresh keys."""

from __future__ import annotations

import logging
from pathlib import Path

from ksefsim.app import Simulator, create_app
from ksefsim.keys import load_keys
from ksefsim.scenarios import SimConfig
from ksefsim.state import IN_MEMORY

STATE_FILE = "state.sqlite"


def build(config: SimConfig, state_dir: Path | None) -> Simulator:
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
    return Simulator(config, state_dir / STATE_FILE if state_dir is not None else IN_MEMORY, load_keys(state_dir))


def serve(host: str, port: int, config: SimConfig, state_dir: Path | None) -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(create_app(build(config, state_dir)), host=host, port=port, log_level="info")
