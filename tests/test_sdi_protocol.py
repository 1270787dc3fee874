"""The SDI protocol as pure code (SOAP envelopes, notification files) and the SDICoop channel over mutual TLS."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.settings import Settings
from domain.errors import InvalidInput
from domain.sdi import messages, soap
from tests.helpers import free_port, wait_until
from tests.invoices_support import invoice

SAMPLES = Path("/work/shared/standards/fatturapa/samples")
NOTIFICATIONS = sorted([*SAMPLES.glob("notifications-*/*.xml"), *SAMPLES.glob("metadata/*.xml")])


@pytest.mark.parametrize("path", NOTIFICATIONS, ids=[p.name for p in NOTIFICATIONS])
def test_official_notification_samples_parse(path: Path) -> None:
    data = path.read_bytes()
    n = messages.read_notification(data, validate=False)
    assert n.kind in path.name.replace("__", "_")
    assert n.identificativo_sdi > 0
    if n.signed:  # every signed sample also passes the official schema
        assert messages.read_notification(data, validate=True) == n
    if n.kind == "NS":
        assert n.errors and n.errors[0].code.isdigit()
    if n.kind in ("NE", "EC"):
        assert n.esito == "EC01"


def test_unsigned_dt_sample_fails_the_schema_which_requires_a_signature() -> None:
    with pytest.raises(InvalidInput) as err:
        messages.read_notification((SAMPLES / "notifications-pa" / "IT01234567890_11111_DT_001.xml").read_bytes())
    assert err.value.problems[0].code == "00200"


def test_envelopes_round_trip_and_are_schema_checked() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    f = soap.FileSdIBase("IT01234567897_00001.xml", b"<x/>")
    assert soap.read_ricevi_file(soap.build_ricevi_file(f)) == f
    r = soap.RiceviFileResponse(123, now, "EI01")
    assert soap.read_ricevi_file_response(soap.build_ricevi_file_response(r)) == r
    for op in soap.TRASMISSIONE_OPERATIONS:
        g = soap.FileSdI(9, "IT01234567897_00001_RC_001.xml", b"n")
        assert soap.read_trasmissione(soap.build_trasmissione(op, g)) == (op, g)
    m = soap.FileSdIConMetadati(5, "IT01234567897_00001.xml", b"a", "IT01234567897_00001_MT_001.xml", b"b")
    assert soap.read_ricevi_fatture(soap.build_ricevi_fatture(m)) == m
    assert soap.read_ricevi_fatture_response(soap.build_ricevi_fatture_response()) == "ER01"
    e = soap.NotificaEsitoResponse("ES00", soap.FileSdIBase("IT01234567897_00001_SE_001.xml", b"s"))
    assert soap.read_notifica_esito_response(soap.build_notifica_esito_response(e)) == e
    with pytest.raises(InvalidInput):  # NomeFile breaks the types schema ([a-zA-Z0-9_.]{9,50})
        soap.build_ricevi_file(soap.FileSdIBase("bad name!.xml", b"x"))
    with pytest.raises(InvalidInput):
        soap.read_ricevi_file_response(soap.build_ricevi_file_response(r).replace(b"EI01", b"EI99"))
    with pytest.raises(soap.SoapFault):
        soap.read_trasmissione(soap.fault("Server", "down"))


def test_built_notifications_pass_the_official_schema() -> None:
    now = datetime.now(UTC)
    with pytest.raises(InvalidInput):  # what the SDI sends must be signed: the schema requires ds:Signature
        messages.build_ns(1, "IT01234567897_00001.xml", now, [messages.SdiError("00200", "schema")], "1", None)
    ec = messages.read_notification(messages.build_ec(1, "EC02", "no", "12", 2026, "7"))
    assert (ec.kind, ec.esito) == ("EC", "EC02")
    mt = messages.read_notification(messages.build_mt(3, "IT01234567897_00001.xml", "AAAAAA", "FPA12", "8"))
    assert (mt.kind, mt.recipient_code) == ("MT", "AAAAAA")
    assert messages.notification_file_name("IT01234567897_0000A.xml.p7m", "RC", 2) == "IT01234567897_0000A_RC_002.xml"


# ---------------------------------------------------------------- mutual TLS

def _cert(name: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
          ca: bool = False, server: bool = False) -> x509.Certificate:
    now = datetime.now(UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer or (subject, key)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(hours=1))
         .not_valid_after(now + timedelta(days=2))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        import ipaddress

        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                            critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def test_sdicoop_channel_over_mutual_tls(tmp_path: Path, settings: Settings) -> None:
    from adapters.sdi import SdiCoopChannel, SdiUnavailable

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Test SDI CA", ca_key, None, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server = _cert("127.0.0.1", server_key, (ca.subject, ca_key), server=True)
    client = _cert("IT01234567897", client_key, (ca.subject, ca_key))
    _write(tmp_path / "ca.pem", ca)
    _write(tmp_path / "server.pem", server, server_key)
    _write(tmp_path / "client.pem", client, client_key)
    port = free_port()
    log = (tmp_path / "sim.log").open("wb")
    sim = subprocess.Popen(
        [sys.executable, "-m", "starters.cli", "sdi-sim", "--port", str(port), "--delay", "60",
         "--callback-url", "http://127.0.0.1:1/none", "--signer-cert", str(tmp_path / "signer.pem"),
         "--tls-cert", str(tmp_path / "server.pem"), "--tls-key", str(tmp_path / "server.key"),
         "--tls-client-ca", str(tmp_path / "ca.pem")],
        cwd=Path(__file__).resolve().parent.parent, stdout=log, stderr=subprocess.STDOUT)
    try:
        def up() -> bool:
            try:
                httpx.get(f"https://127.0.0.1:{port}/healthz", verify=False, timeout=1)
            except httpx.ConnectError:
                return False
            except httpx.HTTPError:
                return True
            return True

        wait_until(up, 30, 0.2, "the local SDI over TLS")
        base = {"SDI_URL": f"https://127.0.0.1:{port}", "SDI_CA_CERT": str(tmp_path / "ca.pem")}
        with_cert = Settings(**base, SDI_CLIENT_CERT=str(tmp_path / "client.pem"),
                             SDI_CLIENT_KEY=str(tmp_path / "client.key"))
        answer = SdiCoopChannel(with_cert).send_file("IT01234567897_00001.xml", invoice("TLS1"))
        assert answer.identificativo_sdi > 0 and answer.errore is None
        with pytest.raises(SdiUnavailable):  # no client certificate: the handshake is refused
            SdiCoopChannel(Settings(**base), timeout=5).send_file("IT01234567897_00002.xml", invoice("TLS2"))
    finally:
        sim.terminate()
        sim.wait(10)
        log.close()
