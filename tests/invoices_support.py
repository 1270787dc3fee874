"""Shared by the invoice tests: sample invoices for a customer, a key store, a fake SDI channel, workers."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

import domain.fatturapa  # noqa: F401  (before domain.signatures)
from core.db import session_scope
from core.settings import Settings
from domain.sdi import soap
from models.tenant import Tenant, add_tenant, set_delegated_signing, set_enabled

SAMPLES = Path("/work/shared/standards/fatturapa/samples")
VAT = "IT01234567897"  # the AdE samples' sender with a valid check digit
PEC = "fornitore@pec.example.it"
KEY_PASSWORD = "test-keystore-password"


def invoice(number: str = "1", code: str | None = None, pa: bool = False) -> bytes:
    """An AdE sample (FPR01, or FPA01 to a PA) for customer VAT, with its own number and recipient code."""
    name = "IT01234567890_FPA01.xml" if pa else "IT01234567890_FPR01.xml"
    data = (SAMPLES / "invoices" / name).read_bytes()
    data = data.replace(b"01234567890", b"01234567897").replace(b"09876543210", b"09876543217")
    data = data.replace(b"<Numero>123</Numero>", f"<Numero>{number}</Numero>".encode())
    if code is not None:
        old = b"AAAAAA" if pa else b"ABC1234"
        data = data.replace(f"<CodiceDestinatario>{old.decode()}</CodiceDestinatario>".encode(),
                            f"<CodiceDestinatario>{code}</CodiceDestinatario>".encode())
    return data


def ensure_customer(settings: Settings, vat: str = VAT, enabled: bool = True, delegated_signing: bool = True) -> None:
    """The test customer, enabled, and (as most tests sign with the intermediary's key) granting delegated
    signing."""
    with session_scope(settings.database_url) as session:
        if session.scalar(select(Tenant.id).where(Tenant.vat_number == vat)) is None:
            add_tenant(session, vat, "Fornitore di prova S.r.l.", PEC, "0000000")
        set_enabled(session, vat, enabled)
        set_delegated_signing(session, vat, delegated_signing)


def install_key(settings: Settings, alias: str = "intermediary") -> None:
    """A PKCS#12 key of a test signer in DATA_DIR/keys (the password in the environment, as in production)."""
    from domain.signatures.devcert import dev_signer, to_pkcs12

    keys = settings.data_dir / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    path = keys / f"{alias}.p12"
    os.environ["EINVOICE_KEYSTORE_PASSWORD"] = KEY_PASSWORD
    if not path.exists():
        path.write_bytes(to_pkcs12(dev_signer("Intermediario di prova"), alias, KEY_PASSWORD.encode()))


class FakeSdi:
    """An in-process SDI channel: counts what it was sent, answers an identificativo SdI (or an error)."""

    def __init__(self, errore: str | None = None):
        self.sent: list[tuple[str, bytes]] = []
        self.outcomes: list[soap.FileSdI] = []
        self.errore = errore
        self._ids = itertools.count(5000)
        self._lock = threading.Lock()

    def send_file(self, file_name: str, content: bytes) -> soap.RiceviFileResponse:
        with self._lock:
            self.sent.append((file_name, content))
            return soap.RiceviFileResponse(next(self._ids), datetime.now(UTC), self.errore)

    def send_outcome(self, f: soap.FileSdI) -> soap.NotificaEsitoResponse:
        self.outcomes.append(f)
        return soap.NotificaEsitoResponse("ES01")


def invoice_activities(settings: Settings, channel: object) -> list[object]:
    from activities.invoices import InvoiceActivities
    from activities.mail import MailActivities
    from activities.sdi_channel import SdiChannelActivities

    inv = InvoiceActivities(settings)
    ch = SdiChannelActivities(settings, channel)  # type: ignore[arg-type]
    return [inv.prepare_invoice, inv.apply_outcome, ch.transmit, ch.send_outcome, MailActivities(settings).send_email]


def invoice_workflows() -> list[type]:
    from workflows.invoice_receive import InvoiceReceiveWorkflow
    from workflows.invoice_send import InvoiceSendWorkflow

    return [InvoiceSendWorkflow, InvoiceReceiveWorkflow]


def fresh_progressives(settings: Settings, transmitter: str = VAT) -> None:
    """Start this transmitter's progressive at a random point: the tables are emptied between tests, but a
    long-lived SDI remembers every file name it saw (and refuses a repeat with 00002)."""
    import random

    from domain.fatturapa import next_progressive
    from models.invoices import SdiProgressive

    start = next_progressive("".join(random.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(5)))
    with session_scope(settings.database_url) as session:
        row = session.get(SdiProgressive, transmitter)
        if row is None:
            session.add(SdiProgressive(transmitter_id=transmitter, last=start))
        else:
            row.last = start


@asynccontextmanager
async def private_time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own, for tests that skip days with `sleep`: time cannot be
    skipped past other tests' open workflows whose workers are gone."""
    from core.temporal import ensure_search_attributes, temporal_test_server_path

    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=temporal_test_server_path())
    await ensure_search_attributes(env.client, "default")
    async with env:
        yield env
