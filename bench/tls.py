"""What mutual TLS costs (#12.9): the handshake per new connection, and the certificate check per request.

Two real uvicorn servers on loopback in this process, on the same database: one plain HTTP, one over mutual
TLS (`api/tls.py`: our CA's P-256 server certificate, a P-256 client certificate of our CA). Interleaved:
- a new connection per request (`GET /healthz`, public: no database work), plain against mutual TLS: the
  difference of the medians is what the handshake (client and server side, one machine) adds to a new
  connection;
- an authenticated read (`GET /tenants/{vat}`) on a connection kept alive: bearer token only against token +
  client certificate (looked up by serial, compared byte for byte, its customer checked), i.e. what the
  per-request certificate check adds once connected (and the certificate's lookup, `tls.identify`, alone).
The client's SSL context is built once (as a client keeps it), so only the handshake is timed. SQLite in a
temporary directory, or BENCH_DATABASE_URL.
"""

from __future__ import annotations

import os
import ssl
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROUNDS = 300


def _serve(app: Any, port: int, **options: Any) -> Any:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return server


def run(log: Callable[[str], None] = print) -> dict[str, Any]:
    import httpx
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from api import tls
    from api.main import create_app
    from core.ca import authority_from_settings
    from core.db import session_scope
    from core.settings import Settings
    from devstack.procs import free_port
    from domain.authority import IssueRequest
    from domain.credentials import hash_password, new_token, token_digest
    from models import identity as ident
    from models.certificates import insert_request, set_issued
    from models.tenant import add_tenant

    vat = "IT02038490237"
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{Path(tmp) / 'bench.db'}"
        plain_port, tls_port = free_port(), free_port()
        plain = Settings(DATA_DIR=tmp, DATABASE_URL=url, API_PORT=plain_port)
        mtls = Settings(DATA_DIR=tmp, DATABASE_URL=url, API_PORT=tls_port, API_TLS=True)
        plain_app, tls_app = create_app(plain), create_app(mtls, run_migrations=False)
        tag = uuid.uuid4().hex[:8]
        with session_scope(url) as session:
            try:
                add_tenant(session, vat, "Bench S.p.A.", "bench@pec.example.it", None)
            except Exception:  # noqa: BLE001 -- there already (BENCH_DATABASE_URL reused)
                session.rollback()
        with session_scope(url) as session:
            user = ident.add_user(session, f"bench-{tag}@bench.example", "bench", "customer",
                                  hash_password("not used here at all"), "bench", vat=vat)
            token = new_token(plain.secret_key.get_secret_value())
            ident.add_token(session, user, token_digest(token), "bench", timedelta(hours=2))
        ca = authority_from_settings(mtls)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
                          x509.NameAttribute(NameOID.SERIAL_NUMBER, vat),
                          x509.NameAttribute(NameOID.COMMON_NAME, "bench client")])
        csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
        csr_pem = csr.public_bytes(serialization.Encoding.PEM).decode()
        op = f"bench{tag}"
        ca.submit(IssueRequest(op, csr_pem))
        issued = ca.issue(op)
        cert = x509.load_pem_x509_certificate(issued.pem.encode())
        with session_scope(url) as session:
            insert_request(session, vat, op, "authentication", issued.subject, csr_pem, tag, "bench")
            set_issued(session, op, issued.pem, cert.public_bytes(serialization.Encoding.DER), issued.serial,
                       cert.issuer.rfc4514_string(), issued.not_before, issued.not_after)
        (Path(tmp) / "client.pem").write_bytes(issued.pem.encode())
        (Path(tmp) / "client.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        ctx = ssl.create_default_context(cadata=ca.ca_certificate().decode())
        ctx.load_cert_chain(Path(tmp) / "client.pem", Path(tmp) / "client.key")

        servers = [_serve(plain_app, plain_port), _serve(tls_app, tls_port, **tls.uvicorn_options(mtls))]
        bases = {"plain": f"http://127.0.0.1:{plain_port}", "mtls": f"https://127.0.0.1:{tls_port}"}
        headers = {"Authorization": f"Bearer {token}"}
        times: dict[str, dict[str, list[float]]] = {k: {"new_connection": [], "kept_alive_read": []}
                                                   for k in bases}
        kept = {k: httpx.Client(base_url=b, verify=ctx, headers=headers) for k, b in bases.items()}
        version = ""
        try:
            for k in bases:  # warm up: first connections, imports, statement caches
                for _ in range(5):
                    assert kept[k].get(f"/tenants/{vat}").status_code == 200
            for i in range(ROUNDS):
                for k in (("plain", "mtls") if i % 2 else ("mtls", "plain")):
                    start = time.perf_counter()
                    with httpx.Client(base_url=bases[k], verify=ctx) as fresh:
                        r = fresh.get("/healthz")
                    times[k]["new_connection"].append(time.perf_counter() - start)
                    assert r.status_code == 200, r.text
                    start = time.perf_counter()
                    r = kept[k].get(f"/tenants/{vat}")
                    times[k]["kept_alive_read"].append(time.perf_counter() - start)
                    assert r.status_code == 200, r.text
            with httpx.Client(base_url=bases["mtls"], verify=ctx) as probe:
                with probe.stream("GET", "/healthz") as resp:
                    stream = resp.extensions.get("network_stream")
                    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
                    version = ssl_object.version() if ssl_object is not None else ""
        finally:
            for client in kept.values():
                client.close()
            for server in servers:
                server.should_exit = True
        scope = {"extensions": {"tls": {"client_cert_chain": [issued.pem]}}}
        lookups = []
        for _ in range(ROUNDS):  # the certificate check alone (tls.identify), without HTTP or TLS records
            start = time.perf_counter()
            tls.identify(mtls, scope)
            lookups.append(time.perf_counter() - start)
        lookup = statistics.median(lookups) * 1000
        medians = {k: {m: statistics.median(v) * 1000 for m, v in t.items()} for k, t in times.items()}
        handshake = medians["mtls"]["new_connection"] - medians["plain"]["new_connection"]
        check = medians["mtls"]["kept_alive_read"] - medians["plain"]["kept_alive_read"]
        log(f"medians (ms): {medians}")
        database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        summary = (f"mutual-TLS handshake +{handshake:.2f} ms per new connection ({version}, P-256: "
                   f"{medians['mtls']['new_connection']:.2f} ms against {medians['plain']['new_connection']:.2f} ms "
                   f"plain); certificate check +{check:.2f} ms per request on a kept-alive connection "
                   f"({medians['mtls']['kept_alive_read']:.2f} against {medians['plain']['kept_alive_read']:.2f} ms, "
                   f"of which the certificate's lookup {lookup:.2f} ms; the rest, TLS records, not timed apart; "
                   f"{database}, loopback, client and server in one process)")
        return {"summary": summary, "rounds": ROUNDS, "database": database, "tls_version": version,
                "median_ms": medians, "handshake_ms": handshake, "certificate_check_ms": check, "lookup_ms": lookup}
