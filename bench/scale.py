"""How the dev server grows with open workflows that wait for a receipt (a durable timer, no polling)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio import workflow


@dataclass
class WaitInput:
    days: int = 15


@workflow.defn(name="BenchAwaitReceipt", sandboxed=False)
class AwaitReceiptWorkflow:
    """Shaped like an invoice waiting for its notification: a signal or, after DT days, the deadline."""

    def __init__(self) -> None:
        self.received = False

    @workflow.run
    async def run(self, inp: WaitInput) -> bool:
        try:
            await workflow.wait_condition(lambda: self.received, timeout=timedelta(days=inp.days))
        except TimeoutError:
            return False
        return True

    @workflow.signal
    def receipt(self) -> None:
        self.received = True


def rss_bytes_of(cmdline_fragment: str) -> int:
    """Resident memory of the process whose command line contains the fragment (the dev server)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if cmdline_fragment in (proc / "cmdline").read_bytes().decode(errors="replace"):
                for line in (proc / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            continue
    return 0
