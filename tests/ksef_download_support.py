"""The local KSeF in the test's own process for the download tests: a `Simulator` on a clock the test moves,
reached by the real `KsefClient` through an httpx transport that hands each request to `Simulator.dispatch`
(no port, no thread). Invoices arrive as a supplier would send them (`deliver`, optionally numbered late)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters import ksef
from core.db import session_scope
from core.settings import Settings
from domain.signatures.keystore import Signer
from ksefsim.app import FA3_NS, PREFIX, Simulator
from ksefsim.keys import load_keys
from ksefsim.scenarios import SimConfig
from models.ksef_download import KsefDownload
from models.tenant import add_tenant, get_tenant_row
from tests.identity_support import principal

SUPPLIER = "1111111111"
VAT, NIP = "PL5265877635", "5265877635"  # the customer (the buyer) of these tests
USER = "anna@nabywca.example.pl"


def add_customer(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        add_tenant(session, VAT, "Nabywca sp. z o.o.", "ksiegowosc@nabywca.example.pl", None)


def add_download(settings: Settings, name: str, since: datetime, range_to: datetime | None = None) -> int:
    """A download row as the starters make it, for the customer's user USER."""
    user = principal(settings, "customer", USER, VAT)
    with session_scope(settings.database_url) as session:
        row = KsefDownload(tenant_id=get_tenant_row(session, VAT).id, name=name, subject_type="Subject2",
                           requested_by=user.user_id, range_from=since, range_to=range_to, date_from=since,
                           page_offset=0, at_hwm=False, taken=0, last_taken=0)
        session.add(row)
        session.flush()
        return row.id


def seal(nip: str, name: str = "Firma Testowa sp. z o.o.") -> Signer:
    """A self-signed company seal as the test environment takes it (auth/podpis-xades.md: VATPL-<NIP>)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                         x509.NameAttribute(x509.ObjectIdentifier("2.5.4.97"), f"VATPL-{nip}"),
                         x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    return Signer(key, cert)


def fa3(number: str, seller: str, buyer: str, gross: str = "123.00", seller_name: str = "Dostawca sp. z o.o.") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Faktura xmlns="{FA3_NS}">
  <Naglowek><KodFormularza kodSystemowy="FA (3)" wersjaSchemy="1-0E">FA</KodFormularza>
    <WariantFormularza>3</WariantFormularza><DataWytworzeniaFa>2026-12-07T09:00:00Z</DataWytworzeniaFa></Naglowek>
  <Podmiot1><DaneIdentyfikacyjne><NIP>{seller}</NIP><Nazwa>{seller_name}</Nazwa></DaneIdentyfikacyjne></Podmiot1>
  <Podmiot2><DaneIdentyfikacyjne><NIP>{buyer}</NIP><Nazwa>Nabywca</Nazwa></DaneIdentyfikacyjne></Podmiot2>
  <Fa><KodWaluty>PLN</KodWaluty><P_1>2026-12-07</P_1><P_2>{number}</P_2><P_13_1>100.00</P_13_1>
    <P_14_1>23.00</P_14_1><P_15>{gross}</P_15><RodzajFaktury>VAT</RodzajFaktury></Fa>
</Faktura>""".encode()


@dataclass
class InProcessKsef:
    sim: Simulator
    clock: list[float]
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status)
    # called before each request is answered (a test's fault: a 429 mid-page, a crash)
    before: Callable[[httpx.Request], httpx.Response | None] | None = None

    @classmethod
    def start(cls, folder: Path, **config: Any) -> InProcessKsef:
        clock = [time.time()]
        sim = Simulator(SimConfig(**config), folder / "state.sqlite", load_keys(folder), clock=lambda: clock[0])
        return cls(sim, clock)

    def close(self) -> None:
        self.sim.state.close()

    def advance(self, seconds: float) -> None:
        self.clock[0] += seconds

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock[0], UTC)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        if self.before is not None:
            forced = self.before(request)
            if forced is not None:
                self.requests.append((request.method, request.url.path, forced.status_code))
                return forced
        path = request.url.path.removeprefix(PREFIX)
        headers = {k.lower(): v for k, v in request.headers.items()}
        answer = self.sim.dispatch(request.method, path, dict(request.url.params), headers, request.content,
                                   "127.0.0.1", f"http://ksef.test{PREFIX}")
        self.requests.append((request.method, path, answer.status))
        if isinstance(answer.body, bytes):
            content = answer.body
        elif answer.body is None:
            content = b""
        else:
            content = json.dumps(answer.body).encode()
        return httpx.Response(answer.status, headers={**answer.headers, "content-type": answer.content_type},
                              content=content)

    def client(self, **kw: Any) -> ksef.KsefClient:
        http = httpx.Client(base_url=f"http://ksef.test{PREFIX}", transport=httpx.MockTransport(self._handle))
        kw.setdefault("now", self.now)
        kw.setdefault("sleep", self.advance)  # a Retry-After moves the simulator's clock: no real sleep
        return ksef.KsefClient(f"http://ksef.test{PREFIX}", http=http, **kw)

    def deliver(self, xml: bytes, late: float = 0.0) -> str:
        """A supplier's invoice to its buyer; its KSeF number."""
        got = self.sim.deliver(xml, late)
        assert got["status"]["code"] == 200, got
        return str(got["ksefNumber"])

    def deliver_b64(self, xml: bytes) -> dict[str, str]:
        return {"invoice_b64": base64.b64encode(xml).decode()}
