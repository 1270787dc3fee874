"""KSeF hot paths (#14.7): FA(3) validation against raw lxml schema validation, and the KSeF path of one
invoice (encrypt, hash, send, UPO) against the bare libraries doing the same work, in the same run.

Three measures, contenders interleaved in short slices as `bench.domain` does (a slow patch of this noisy
machine hits all of them alike):

- **validation**: `domain.ksef.fa3.validate_fa3` (safe parse, the vendored schema, KSeF's checks, the hub's
  totals) against lxml parsing the same bytes and validating them with the same compiled schema.
- **crypto**: what our code does to an invoice before it leaves (`domain.ksef.session_crypto`: the session key
  wrapped with RSA-OAEP once per session of `SESSION_SIZE` invoices, then per invoice PKCS#7 + AES-256-CBC, the
  SHA-256 and size of the plain and of the encrypted file, base64, the request body) against raw
  `cryptography` + `hashlib` doing exactly that on the same bytes.
- **path**: the whole path of one invoice through the local KSeF over HTTP (`ksefsim` in a uvicorn thread,
  its limits off): ours is `adapters.ksef.KsefClient` (the body above, its shared rate budget, its typed
  answers: send, the invoice's status, its UPO), bare is `httpx` posting the same body built by raw
  `cryptography` and fetching the same status and UPO. Both open a session per `SESSION_SIZE` invoices and
  close it. The issue's goal (≥ 0.7×) is read on ours against bare here: the local KSeF's own work (decrypt,
  check, number, sign the UPO) and HTTP are on both sides; ours against the crypto alone is reported too.

The client's rate budget is kept in the path (its SQLite transaction per request is part of the product's
cost) with a clock that moves an hour per call, so that no request waits for KSeF's real limits (180 invoices
an hour per context): the bench measures our code, not the ministry's quotas.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from lxml import etree

from bench.domain import interleaved

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "fa3"
SELLER = "5265877635"  # the corpus' seller (the documentation's example NIP)
ISSUED = date(2026, 12, 7)  # the corpus' P_1
SESSION_SIZE = 10  # invoices per interactive session in the crypto and path measures
SECONDS_EACH = 4.0
GOALS = {"validation_vs_lxml": 0.66, "crypto_vs_cryptography": 0.7, "path_vs_bare": 0.7}


def fa3_samples() -> list[bytes]:
    return [p.read_bytes() for p in sorted(CORPUS.glob("valid-*.xml"))]


def numbered(xml: bytes, number: str) -> bytes:
    """A corpus invoice with its own P_2 (KSeF refuses a second invoice of the same number: 440)."""
    start, end = xml.index(b"<P_2>") + 5, xml.index(b"</P_2>")
    return xml[:start] + number.encode() + xml[end:]


# ------------------------------------------------------------------------------------------- validation


def validation_contenders(invoices: list[bytes]) -> dict[str, Callable[[int], object]]:
    from domain.ksef.fa3 import schema, validate_fa3

    xsd = schema()  # compiled once, as the raw contender deserves
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    count = len(invoices)

    def ours(i: int) -> object:
        return validate_fa3(invoices[i % count], sender_nip=SELLER, today=ISSUED)

    def raw_lxml(i: int) -> object:
        root = etree.fromstring(invoices[i % count], parser)
        if not xsd.validate(root):
            raise AssertionError(str(xsd.error_log))
        return root

    for i in range(count):  # both must accept every sample before they are timed
        ours(i)
        raw_lxml(i)
    return {"ours": ours, "raw_lxml": raw_lxml}


# ------------------------------------------------------------------------------------------- crypto


def _raw_body(key: bytes, iv: bytes, xml: bytes) -> dict[str, object]:
    """The body of POST /sessions/online/{ref}/invoices, by cryptography and hashlib alone."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    padder = padding.PKCS7(128).padder()
    data = padder.update(xml) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(data) + encryptor.finalize()
    b64 = base64.b64encode
    return {"invoiceHash": b64(hashlib.sha256(xml).digest()).decode(), "invoiceSize": len(xml),
            "encryptedInvoiceHash": b64(hashlib.sha256(encrypted).digest()).decode(),
            "encryptedInvoiceSize": len(encrypted), "encryptedInvoiceContent": b64(encrypted).decode(),
            "offlineMode": False}


def _raw_wrap(public_key: Any, key: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP

    return bytes(public_key.encrypt(key, OAEP(mgf=MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(),
                                               label=None)))


def crypto_contenders(invoices: list[bytes], public_key: Any) -> dict[str, Callable[[int], object]]:
    from domain.ksef.session_crypto import SessionKey, send_invoice_request

    count = len(invoices)
    ours_key: list[SessionKey] = []
    raw_key: list[tuple[bytes, bytes]] = []

    def ours(i: int) -> object:
        if i % SESSION_SIZE == 0 or not ours_key:
            ours_key[:] = [SessionKey.new()]
            ours_key[0].encryption_info(public_key)
        return send_invoice_request(ours_key[0], invoices[i % count])

    def raw_cryptography(i: int) -> object:
        if i % SESSION_SIZE == 0 or not raw_key:
            raw_key[:] = [(os.urandom(32), os.urandom(16))]
            _raw_wrap(public_key, raw_key[0][0])
        key, iv = raw_key[0]
        return _raw_body(key, iv, invoices[i % count])

    return {"ours": ours, "raw_cryptography": raw_cryptography}


# ------------------------------------------------------------------------------------------- the path


@contextmanager
def local_ksef(folder: Path) -> Iterator[tuple[str, Any]]:
    """The local KSeF in a uvicorn thread, its limits off; yields its URL and the simulator."""
    import uvicorn

    from ksefsim.app import Simulator, create_app
    from ksefsim.keys import load_keys
    from ksefsim.scenarios import SimConfig

    sim = Simulator(SimConfig(limits_multiplier=0), folder / "state.sqlite", load_keys(folder))
    server = uvicorn.Server(uvicorn.Config(create_app(sim), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the local KSeF did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", sim
    finally:
        server.should_exit = True
        thread.join(10)
        sim.state.close()


def seal(nip: str) -> Any:
    """A self-signed company seal the local KSeF takes for XAdES login (VATPL-<NIP>), as its tests use."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from domain.signatures.keystore import Signer

    key = ec.generate_private_key(ec.SECP256R1())
    name = "Firma Testowa sp. z o.o."
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                         x509.NameAttribute(x509.ObjectIdentifier("2.5.4.97"), f"VATPL-{nip}"),
                         x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    return Signer(key, cert)


class _Bare:
    """The same requests as the client's, by httpx alone (the access token taken from a logged-in client)."""

    def __init__(self, url: str, access_token: str, public_key: Any, form_code: dict[str, str]):
        import httpx

        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {access_token}"}, timeout=30)
        self.public_key, self.form_code = public_key, form_code
        self.session: str | None = None
        self.key = self.iv = b""

    def _ok(self, response: Any) -> Any:
        if response.status_code >= 300:
            raise AssertionError(f"{response.request.url}: {response.status_code} {response.text[:200]}")
        return response

    def open(self) -> None:
        self.key, self.iv = os.urandom(32), os.urandom(16)
        body = {"formCode": self.form_code, "encryption": {
            "encryptedSymmetricKey": base64.b64encode(_raw_wrap(self.public_key, self.key)).decode(),
            "initializationVector": base64.b64encode(self.iv).decode()}}
        self.session = self._ok(self.http.post("/sessions/online", json=body)).json()["referenceNumber"]

    def close(self) -> None:
        if self.session is not None:
            self._ok(self.http.post(f"/sessions/online/{self.session}/close"))
            self.session = None

    def one(self, xml: bytes) -> bytes:
        ref = self._ok(self.http.post(f"/sessions/online/{self.session}/invoices",
                                      json=_raw_body(self.key, self.iv, xml))).json()["referenceNumber"]
        status = self._ok(self.http.get(f"/sessions/{self.session}/invoices/{ref}")).json()
        if status["status"]["code"] != 200:
            raise AssertionError(f"the local KSeF refused a bench invoice: {status['status']}")
        return bytes(self._ok(self.http.get(f"/sessions/{self.session}/invoices/{ref}/upo")).content)


def path_contenders(url: str, invoices: list[bytes]) -> tuple[dict[str, Callable[[int], object]], Callable[[], None]]:
    from adapters import ksef
    from adapters.ksef_budget import RateBudget
    from domain.ksef.fa3 import FORM_CODE

    hours = itertools.count(start=time.time(), step=3601.0)
    budget = RateBudget(Path(tempfile.mkdtemp(prefix="bench-ksef-")) / "budget.sqlite",
                        clock=lambda: next(hours))
    client = ksef.KsefClient(f"{url}/v2", budget=budget)
    client.login_xades("Nip", SELLER, seal(SELLER))
    public_key = client.ministry_key("SymmetricKeyEncryption")
    bare = _Bare(f"{url}/v2", client._access_token(), public_key, FORM_CODE)
    count, stamp = len(invoices), time.time_ns()
    session: list[Any] = []
    # `interleaved` calls an operation with indices that repeat (warm-up, then the timed slices): the invoice
    # numbers come from counters of their own, as KSeF refuses a number twice.
    ours_n, bare_n = itertools.count(), itertools.count()

    def ours(_: int) -> object:
        i = next(ours_n)
        if i % SESSION_SIZE == 0 or not session:
            if session:
                client.close_online_session(session[0])
            session[:] = [client.open_online_session(FORM_CODE)]
        ref = client.send_invoice(session[0], numbered(invoices[i % count], f"FV/O/{stamp}/{i}"))
        status = client.invoice_status(session[0].reference_number, ref)
        if status.status.code != 200:
            raise AssertionError(f"the local KSeF refused a bench invoice: {status.status}")
        return client.invoice_upo(session[0].reference_number, ref)

    def bare_httpx(_: int) -> object:
        i = next(bare_n)
        if i % SESSION_SIZE == 0 or bare.session is None:
            bare.close()
            bare.open()
        return bare.one(numbered(invoices[i % count], f"FV/B/{stamp}/{i}"))

    def done() -> None:
        if session:
            client.close_online_session(session[0])
        bare.close()
        client.close()
        budget.close()

    return {"ours": ours, "bare_httpx": bare_httpx}, done


# ------------------------------------------------------------------------------------------- the run


def run(seconds_each: float = SECONDS_EACH, log: Callable[[str], None] = print) -> dict[str, Any]:
    invoices = fa3_samples()
    results: dict[str, dict[str, float]] = {}
    log(f"   FA(3) validation: {len(invoices)} corpus invoices ({sum(map(len, invoices))} bytes)")
    results["validation"] = interleaved(validation_contenders(invoices), seconds_each)
    log(f"   {results['validation']}")
    with tempfile.TemporaryDirectory() as tmp, local_ksef(Path(tmp)) as (url, _sim):
        contenders, done = path_contenders(url, invoices)
        try:
            from adapters import ksef

            with ksef.KsefClient(f"{url}/v2") as probe:
                public_key = probe.ministry_key("SymmetricKeyEncryption")
            results["crypto"] = interleaved(crypto_contenders(invoices, public_key), seconds_each)
            log(f"   {results['crypto']}")
            results["path"] = interleaved(contenders, seconds_each)
            log(f"   {results['path']}")
        finally:
            done()
    v, c, p = results["validation"], results["crypto"], results["path"]
    ratios = {
        "validation_vs_lxml": v["ours"] / v["raw_lxml"],
        "crypto_vs_cryptography": c["ours"] / c["raw_cryptography"],
        "path_vs_bare": p["ours"] / p["bare_httpx"],
        "path_vs_cryptography_alone": p["ours"] / c["raw_cryptography"],
    }
    met = {name: ratios[name] >= goal for name, goal in GOALS.items()}
    per_op_ms = {f"{area}.{name}": round(1000 / ops, 3) for area, r in results.items() for name, ops in r.items()}
    return {"ops_per_second": {a: {n: round(o, 1) for n, o in r.items()} for a, r in results.items()},
            "ms_per_invoice": per_op_ms, "ratios": {k: round(x, 3) for k, x in ratios.items()},
            "goals": GOALS, "met": met, "session_size": SESSION_SIZE, "seconds_each": seconds_each}
