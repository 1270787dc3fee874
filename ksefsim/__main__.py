"""`python -m ksefsim --port N [--state-dir DIR]`: the local KSeF without the whole `einvoice` CLI behind it
(what `einvoice dev up` runs: it starts in a fraction of the CLI's import time). `einvoice ksef-sim` is the
same server with its defaults from the settings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ksefsim.main import serve
from ksefsim.scenarios import SimConfig
from ksefsim.state import StateError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ksefsim", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--limits-multiplier", type=float, default=10.0)
    args = parser.parse_args(argv)
    try:
        serve(args.host, args.port, SimConfig(limits_multiplier=args.limits_multiplier), args.state_dir)
    except StateError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
