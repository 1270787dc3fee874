"""A local SMTP server (aiosmtpd) that saves every message as a .eml file and logs it.

Stands in for Mailpit locally and in tests; the files are what a test reads to find an e-mail.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import re
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

log = logging.getLogger("einvoice.smtp")


class SaveToDir:
    """aiosmtpd handler: one numbered .eml file per message."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._count = len(list(out_dir.glob("*.eml")))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self._lock:
            self._count += 1
            path = self.out_dir / f"{self._count:06d}.eml"
        data = envelope.original_content or envelope.content
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        log.info("mail to %s: %s (%s)", ", ".join(envelope.rcpt_tos), msg["Subject"], path.name)
        return "250 Message accepted for delivery"


def start_sink(host: str, port: int, out_dir: Path) -> Controller:
    controller = Controller(SaveToDir(out_dir), hostname=host, port=port, ready_timeout=10)
    controller.start()
    return controller


async def serve_forever(host: str, port: int, out_dir: Path) -> None:
    controller = start_sink(host, port, out_dir)
    log.info("SMTP sink on %s:%d saving to %s", host, port, out_dir)
    try:
        await asyncio.Event().wait()
    finally:
        controller.stop()


@dataclass
class Mailbox:
    """Reads what the sink saved: for tests and the demo."""

    out_dir: Path

    def messages(self) -> list[EmailMessage]:
        out: list[EmailMessage] = []
        for path in sorted(self.out_dir.glob("*.eml")):
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
        return out

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if address.lower() in str(m["To"]).lower()]

    def find(self, to: str | None = None, kind: str | None = None,
             subject: str | None = None) -> list[EmailMessage]:
        found = self.messages() if to is None else self.to(to)
        if kind is not None:
            found = [m for m in found if m["X-Einvoice-Kind"] == kind]
        if subject is not None:
            found = [m for m in found if subject.lower() in str(m["Subject"]).lower()]
        return found

    @staticmethod
    def text_of(msg: EmailMessage) -> str:
        part = msg.get_body(preferencelist=("plain", "html"))
        return part.get_content() if part is not None else ""

    @staticmethod
    def links_in(msg: EmailMessage) -> list[str]:
        return re.findall(r"https?://[^\s\"'<>]+", Mailbox.text_of(msg))
