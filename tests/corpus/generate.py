"""Writes the hostile-input corpus next to this file: `.venv/bin/python -m tests.corpus.generate`.

The files are committed; this script says how each was made and remakes them (keys and certificates are
fresh each run, so the bytes change, not what each file is). `README.md` describes every file. Oversized
inputs are not here: the tests make them. `__PORT__` in a file is replaced by the tests with the port of a
listener that must never see a connection.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from itsdangerous import URLSafeSerializer
from lxml import etree

import domain.fatturapa  # noqa: F401  (before domain.signatures)
from domain.sdi import messages, soap
from domain.signatures import sign_cades, sign_xades
from domain.signatures.devcert import dev_signer
from domain.tokens import SALT, make_token
from tests.invoices_support import invoice

HERE = Path(__file__).resolve().parent
CSR_VAT = "IT02038490237"  # the certificate tests' customer
SECRET = "test-secret-key-0123456789abcdef"  # the settings fixture's SECRET_KEY
ORDER = "IT02038490237-1"
DS = "http://www.w3.org/2000/09/xmldsig#"
FAR = datetime(2090, 1, 1, tzinfo=UTC)
PAST = datetime(2020, 1, 1, tzinfo=UTC)


def write(kind: str, name: str, data: bytes | str) -> None:
    path = HERE / kind / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


# ---------------------------------------------------------------- ASN.1 surgery

def _resign(der: bytes, key: ec.EllipticCurvePrivateKey, edit: tuple[bytes, bytes]) -> bytes:
    """A CSR (or certificate) whose to-be-signed part is edited (same length) and signed again, so the
    signature is genuine and only the edited part is malformed."""
    outer = core.Sequence.load(der)
    tbs = outer[0].dump()
    old, new = edit
    assert len(old) == len(new) and tbs.count(old) == 1, "the edit must hit one spot and keep the length"
    tbs = tbs.replace(old, new)
    body = tbs + outer[1].dump() + core.OctetBitString(key.sign(tbs, ec.ECDSA(hashes.SHA256()))).dump()
    return b"\x30" + _length(len(body)) + body


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _name(cn: str, serial: str | None = CSR_VAT) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if serial:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attrs)


def _csr(key, name: x509.Name) -> x509.CertificateSigningRequest:  # type: ignore[no-untyped-def]
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, algorithm)


def _pem(obj) -> bytes:  # type: ignore[no-untyped-def]
    return obj.public_bytes(serialization.Encoding.PEM)


def _der(obj) -> bytes:  # type: ignore[no-untyped-def]
    return obj.public_bytes(serialization.Encoding.DER)


def _cert(name: x509.Name, not_before: datetime, not_after: datetime, key=None) -> x509.Certificate:  # type: ignore[no-untyped-def]
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = key or ec.generate_private_key(ec.SECP256R1())
    return (x509.CertificateBuilder().subject_name(name)
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Elsewhere test CA")]))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after).sign(ca_key, hashes.SHA256()))


def csr_corpus() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    good = _csr(key, _name("ACME client"))
    pem, der = _pem(good), _der(good)
    write("csr", "empty.pem", b"")
    write("csr", "garbage.bin", bytes(range(256)) * 2)
    write("csr", "truncated.pem", pem[: len(pem) // 2])
    write("csr", "truncated.der", der[: len(der) - 20])
    write("csr", "bad-base64.pem", b"-----BEGIN CERTIFICATE REQUEST-----\n!!!!not base64!!!!\n"
                                   b"-----END CERTIFICATE REQUEST-----\n")
    write("csr", "utf16.pem", pem.decode().encode("utf-16"))
    write("csr", "bad-signature.der", der[:-1] + bytes([der[-1] ^ 1]))
    write("csr", "rsa-1024.pem", _pem(_csr(rsa.generate_private_key(public_exponent=65537, key_size=1024),
                                           _name("ACME client"))))
    write("csr", "ed25519.pem", _pem(_csr(ed25519.Ed25519PrivateKey.generate(), _name("ACME client"))))
    write("csr", "secp256k1.pem", _pem(_csr(ec.generate_private_key(ec.SECP256K1()), _name("ACME client"))))
    write("csr", "wrong-subject.pem", _pem(_csr(key, _name("somebody else", serial="IT01234567897"))))
    # Genuinely self-signed, but the CN's UTF8String holds bytes that are not UTF-8.
    marked = _der(_csr(key, _name("ZZZZZZ")))
    write("csr", "bad-subject-encoding.der", _resign(marked, key, (b"\x0c\x06ZZZZZZ", b"\x0c\x06\xff\xfe\xff\xfeZZ")))
    write("csr", "version-5.der", _resign(der, key, (b"\x02\x01\x00\x30", b"\x02\x01\x04\x30")))
    write("csr", "certificate-instead.pem", _pem(_cert(_name("ACME client"), PAST, FAR)))
    write("csr", "private-key.pem", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))


def certificate_corpus() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    good = _cert(_name("ACME offline"), now - timedelta(days=1), FAR)
    pem, der = _pem(good), _der(good)
    write("certificate", "empty.pem", b"")
    write("certificate", "garbage.bin", b"\x30\x82\xff\xff" + bytes(range(200)))
    write("certificate", "truncated.pem", pem[: len(pem) // 2])
    write("certificate", "truncated.der", der[:-30])
    write("certificate", "utf16.pem", pem.decode().encode("utf-16"))
    write("certificate", "expired.pem", _pem(_cert(_name("ACME offline"), PAST, PAST + timedelta(days=365))))
    write("certificate", "not-yet-valid.pem", _pem(_cert(_name("ACME offline"), FAR, FAR + timedelta(days=365))))
    write("certificate", "wrong-subject.pem", _pem(_cert(_name("somebody else", serial="IT01234567897"), PAST, FAR)))
    write("certificate", "csr-instead.pem", _pem(_csr(ec.generate_private_key(ec.SECP256R1()), _name("ACME"))))
    # The issuer's signature is not what is checked: these are edited in place.
    p256 = bytes.fromhex("06082a8648ce3d030107")  # OID secp256r1
    write("certificate", "unknown-curve.der", der.replace(p256, bytes.fromhex("06082a8648ce3d030109"), 1))
    point = good.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    write("certificate", "bad-key.der", der.replace(point, b"\x04" + b"\x00" * (len(point) - 1), 1))
    marked = _der(_cert(_name("ZZZZZZ"), PAST, FAR))
    write("certificate", "bad-subject-encoding.der", marked.replace(b"\x0c\x06ZZZZZZ", b"\x0c\x06\xff\xfe\xff\xfeZZ"))
    write("certificate", "version-4.der", der.replace(b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x03", 1))


# ---------------------------------------------------------------- XML

LAUGHS = ('<!DOCTYPE {root} [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
          + "]>")
QUADRATIC = '<!DOCTYPE {root} [<!ENTITY big "' + "A" * 10000 + '">]>'
XXE_FILE = '<!DOCTYPE {root} [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
XXE_NET = '<!DOCTYPE {root} [<!ENTITY xxe SYSTEM "http://127.0.0.1:__PORT__/entity">]>'
XXE_PARAM = ('<!DOCTYPE {root} [<!ENTITY % remote SYSTEM "http://127.0.0.1:__PORT__/param.dtd"> %remote;'
             '<!ENTITY % file SYSTEM "file:///etc/hostname">]>')
EXTERNAL_DTD = '<!DOCTYPE {root} SYSTEM "http://127.0.0.1:__PORT__/external.dtd">'


def _doctyped(xml: bytes, root_tag: bytes, doctype: str, entity_in: tuple[bytes, bytes] | None) -> bytes:
    """`xml` with a DOCTYPE before its root element and, optionally, an entity reference in a field."""
    decl, _, rest = xml.partition(b"?>")
    out = decl + b"?>\n" + doctype.format(root=root_tag.decode()).encode() + b"\n" + rest.lstrip()
    if entity_in is not None:
        old, new = entity_in
        assert old in out
        out = out.replace(old, new, 1)
    return out


def xml_attacks(kind: str, xml: bytes, root_tag: bytes, field: tuple[bytes, bytes]) -> None:
    """The XML attacks every XML input gets: `field` is (an element's text, where to put the entity)."""
    old, _ = field

    def use(ref: bytes) -> tuple[bytes, bytes]:
        return old, old.replace(b"><", b">" + ref + b"<", 1) if b"><" in old else old + ref

    write(kind, "xxe-file.xml", _doctyped(xml, root_tag, XXE_FILE, use(b"&xxe;")))
    write(kind, "xxe-network.xml", _doctyped(xml, root_tag, XXE_NET, use(b"&xxe;")))
    write(kind, "xxe-parameter-entity.xml", _doctyped(xml, root_tag, XXE_PARAM, None))
    write(kind, "external-dtd.xml", _doctyped(xml, root_tag, EXTERNAL_DTD, None))
    write(kind, "billion-laughs.xml", _doctyped(xml, root_tag, LAUGHS, use(b"&lol9;")))
    write(kind, "quadratic-blowup.xml", _doctyped(xml, root_tag, QUADRATIC, use(b"&big;" * 1000)))
    utf16 = _doctyped(xml, root_tag, XXE_FILE, use(b"&xxe;")).replace(b'encoding="UTF-8"', b'encoding="UTF-16"')
    write(kind, "utf16-xxe.xml", utf16.decode().encode("utf-16"))
    write(kind, "xinclude.xml", xml.replace(old, old + b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                                                   b'href="file:///etc/passwd" parse="text"/>', 1))
    write(kind, "truncated.xml", xml[: len(xml) * 2 // 3])
    write(kind, "not-xml.bin", b"\x00\x01\x02PK\x03\x04" + bytes(range(250)))
    write(kind, "utf16.xml", xml.replace(b'encoding="UTF-8"', b'encoding="UTF-16"').decode().encode("utf-16"))
    write(kind, "utf16le-declared-utf8.xml", xml.decode().encode("utf-16-le"))
    write(kind, "latin1-declared-utf8.xml", xml.replace(old, old.replace(b"><", ">Societ\u00e0<".encode("latin-1"), 1)
                                                        if b"><" in old else old + "\u00e0".encode("latin-1"), 1))
    write(kind, "declared-latin1.xml", xml.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"'))
    write(kind, "double-bom.xml", b"\xef\xbb\xbf\xef\xbb\xbf" + xml)
    write(kind, "bom-utf16-declared-utf8.xml", b"\xff\xfe" + xml)


def _declared(xml: bytes) -> bytes:
    """The document with a double-quoted UTF-8 declaration (what the attacks edit)."""
    body = xml.split(b"?>", 1)[1] if xml.startswith(b"<?xml") else xml
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.lstrip()


def _wrapping(kind: str, signed: bytes, root_tag: bytes, tamper: tuple[bytes, bytes]) -> None:
    """Signature-wrapping variants of an enveloped XAdES signature, and plain tampering."""
    root = etree.fromstring(signed)
    sig = root.find(f"{{{DS}}}Signature")
    assert sig is not None
    # 1. The signature moved below another element: not a child of the root any more.
    moved = etree.fromstring(signed)
    moved_sig = moved.find(f"{{{DS}}}Signature")
    moved.remove(moved_sig)
    moved[0].append(moved_sig)
    write(kind, "xades-wrapping-moved-signature.xml", etree.tostring(moved, xml_declaration=True, encoding="UTF-8"))
    # 2. A second signature (a copy) appended: which one counts?
    two = etree.fromstring(signed)
    two.append(etree.fromstring(etree.tostring(two.find(f"{{{DS}}}Signature"))))
    write(kind, "xades-wrapping-two-signatures.xml", etree.tostring(two, xml_declaration=True, encoding="UTF-8"))
    # 3. The data reference points at a fragment (an element with an Id), not the whole document.
    frag = etree.fromstring(signed)
    for ref in frag.iterfind(f"{{{DS}}}Signature/{{{DS}}}SignedInfo/{{{DS}}}Reference"):
        if ref.get("URI") == "":
            ref.set("URI", "#signed-part")
    frag[0].set("Id", "signed-part")
    write(kind, "xades-wrapping-fragment-reference.xml", etree.tostring(frag, xml_declaration=True, encoding="UTF-8"))
    # 4. Classic wrapping: the genuine signed document hidden in a ds:Object, the visible one altered.
    wrapped = etree.fromstring(signed)
    original = etree.fromstring(signed)
    original.remove(original.find(f"{{{DS}}}Signature"))
    obj = etree.SubElement(wrapped.find(f"{{{DS}}}Signature"), f"{{{DS}}}Object")
    obj.append(original)
    text = etree.tostring(wrapped, xml_declaration=True, encoding="UTF-8")
    old, new = tamper
    write(kind, "xades-wrapping-object.xml", text.replace(old, new, 1))
    # 5. Tampered after signing.
    assert old in signed
    write(kind, "xades-tampered.xml", signed.replace(old, new, 1))


def invoice_corpus() -> None:
    xml = _declared(invoice("HOSTILE-1"))
    xml_attacks("invoice", xml, b"p:FatturaElettronica", (b"<Numero>HOSTILE-1</Numero>", b""))
    write("invoice", "wrong-root.xml", b'<?xml version="1.0" encoding="UTF-8"?>\n<Fattura><Numero>1</Numero></Fattura>')
    signer = dev_signer("Hostile corpus signer", not_after=FAR)
    signed = sign_xades(xml, signer)
    _wrapping("invoice", signed, b"p:FatturaElettronica",
              (b"<Numero>HOSTILE-1</Numero>", b"<Numero>HOSTILE-2</Numero>"))
    p7m = sign_cades(xml, signer)
    write("invoice", "cades-truncated.xml.p7m", p7m[: len(p7m) // 2])
    tampered = p7m.replace(b"<Numero>HOSTILE-1</Numero>", b"<Numero>HOSTILE-2</Numero>", 1)
    assert tampered != p7m
    write("invoice", "cades-tampered.xml.p7m", tampered)
    write("invoice", "cades-bad-base64.xml.p7m", b"MIAGCSqGSIb3DQEHAqCAMIACAQEx!!!!" + base64.b64encode(p7m[:64]))
    write("invoice", "cades-nested-garbage.xml.p7m", base64.b64encode(base64.b64encode(b"\x30\x80" + b"\x00" * 40)))


def notification_corpus() -> None:
    now = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    signer = dev_signer("Hostile corpus SDI", not_after=FAR)

    def sign(data: bytes) -> bytes:
        return sign_xades(data, signer)

    rc = messages.build_rc(4242, "IT01234567897_00001.xml", now, now, "0000000", "Destinatario", "4242", sign)
    write("notification", "rc-signed-by-an-impostor.xml", rc)  # genuine signature, but not the SDI's key
    unsigned = etree.fromstring(rc)
    unsigned.remove(unsigned.find(f"{{{DS}}}Signature"))
    plain = _declared(etree.tostring(unsigned, xml_declaration=True, encoding="UTF-8"))
    write("notification", "rc-unsigned.xml", plain)
    xml_attacks("notification", plain, b"types:RicevutaConsegna", (b"<MessageId>4242</MessageId>", b""))
    write("notification", "wrong-root.xml", b'<?xml version="1.0" encoding="UTF-8"?>\n'
                                            b'<types:RicevutaSconosciuta xmlns:types="http://www.fatturapa.gov.it/sdi/'
                                            b'messaggi/v1.0"><IdentificativoSdI>1</IdentificativoSdI>'
                                            b'</types:RicevutaSconosciuta>')
    mt = messages.build_mt(4243, "IT01234567897_00002.xml", "0000000", "FPR12", "4243")
    sdi_id = b"<IdentificativoSdI>4243</IdentificativoSdI>"
    write("notification", "mt-sdi-id-5000-leading-zeros.xml",
          mt.replace(sdi_id, b"<IdentificativoSdI>" + b"0" * 5000 + b"4243</IdentificativoSdI>"))
    write("notification", "mt-sdi-id-superscript.xml",
          mt.replace(sdi_id, "<IdentificativoSdI>4243\u00b2</IdentificativoSdI>".encode()))
    _wrapping("notification", rc, b"types:RicevutaConsegna", (b"<MessageId>4242</MessageId>",
                                                              b"<MessageId>9999</MessageId>"))


def soap_corpus() -> None:
    rc = (HERE / "notification" / "rc-signed-by-an-impostor.xml").read_bytes()
    env = _declared(soap.build_trasmissione("RicevutaConsegna",
                                            soap.FileSdI(4242, "IT01234567897_00001_RC_001.xml", rc)))
    file_b64 = base64.b64encode(rc)
    xml_attacks("soap", env.replace(file_b64, b"ZmlsZQ=="), b"soapenv:Envelope",
                (b"<NomeFile>IT01234567897_00001_RC_001.xml</NomeFile>", b""))
    write("soap", "not-soap.xml", b'<?xml version="1.0" encoding="UTF-8"?>\n<Envelope><Body/></Envelope>')
    write("soap", "soap12.xml", env.replace(b"http://schemas.xmlsoap.org/soap/envelope/",
                                            b"http://www.w3.org/2003/05/soap-envelope"))
    write("soap", "no-body.xml", b'<?xml version="1.0" encoding="UTF-8"?>\n<soapenv:Envelope xmlns:soapenv='
                                 b'"http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/></soapenv:Envelope>')
    two = env.replace(b"</soapenv:Body>", b"<x:extra xmlns:x='urn:x'/></soapenv:Body>")
    assert two != env
    write("soap", "two-body-elements.xml", two)
    write("soap", "bad-base64.xml", env.replace(file_b64, b"!!!!notbase64!!!!"))
    write("soap", "unknown-operation.xml", env.replace(b"ricevutaConsegna", b"ricevutaInventata"))
    write("soap", "fault.xml", soap.fault("Server", "pretending to be the SDI's fault"))
    write("soap", "schema-broken.xml", env.replace(b"<IdentificativoSdI>4242</IdentificativoSdI>",
                                                   b"<IdentificativoSdI>forty-two</IdentificativoSdI>"))
    xxe_rc = (HERE / "notification" / "xxe-file.xml").read_bytes()
    write("soap", "hostile-notification-inside.xml", soap.build_trasmissione(
        "RicevutaConsegna", soap.FileSdI(4242, "IT01234567897_00001_RC_001.xml", xxe_rc)))
    mt = messages.build_mt(4243, "IT01234567897_00002.xml", "0000000", "FPR12", "4243")
    xxe_invoice = (HERE / "invoice" / "xxe-file.xml").read_bytes()
    write("soap", "ricezione-hostile-invoice-inside.xml", soap.build_ricevi_fatture(soap.FileSdIConMetadati(
        4243, "IT01234567897_00002.xml", xxe_invoice, "IT01234567897_00002_MT_001.xml", mt)))
    zeros = b"<IdentificativoSdI>" + b"0" * 5000 + b"4242</IdentificativoSdI>"
    write("soap", "sdi-id-5000-leading-zeros.xml", env.replace(b"<IdentificativoSdI>4242</IdentificativoSdI>", zeros))
    answer = soap.build_ricevi_file_response(soap.RiceviFileResponse(4242, datetime(2026, 3, 1, tzinfo=UTC)))
    write("soap", "risposta-hour-24.xml", answer.replace(b"2026-03-01T00:00:00+00:00", b"2026-03-01T24:00:00"))
    write("soap", "risposta-year-12026.xml", answer.replace(b"2026-03-01T00:00:00+00:00", b"12026-03-01T10:00:00"))
    wrapped = (HERE / "notification" / "xades-wrapping-object.xml").read_bytes()
    write("soap", "wrapped-notification-inside.xml", soap.build_trasmissione(
        "RicevutaConsegna", soap.FileSdI(4242, "IT01234567897_00001_RC_001.xml", wrapped)))


def token_corpus() -> None:
    genuine = make_token(SECRET, ORDER, "n" * 32, FAR)
    payload, _, signature = genuine.rpartition(".")
    write("token", "garbage.txt", "not-a-token")
    write("token", "other-key.txt", make_token("another-secret-entirely-0123456789", ORDER, "n" * 32, FAR))
    other_payload = make_token(SECRET, "IT01234567897-1", "n" * 32, FAR).rpartition(".")[0]
    write("token", "payload-swapped.txt", f"{other_payload}.{signature}")
    write("token", "signature-tampered.txt", f"{payload}.{signature[:-3]}AAA")
    write("token", "signature-stripped.txt", payload)
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    claims = base64.urlsafe_b64encode(json.dumps({"o": ORDER, "n": "n" * 32, "e": 4102444800}).encode())
    write("token", "jwt-alg-none.txt", f"{none_header}.{claims.rstrip(b'=').decode()}.")
    write("token", "expired.txt", make_token(SECRET, ORDER, "n" * 32, PAST))
    sha256 = {"digest_method": hashlib.sha256}
    serializer = URLSafeSerializer(SECRET, salt=SALT, signer_kwargs=sha256)
    write("token", "wrong-claim-types.txt", str(serializer.dumps({"o": 1, "n": ["x"], "e": "soon"})))
    other_purpose = URLSafeSerializer(SECRET, salt="einvoice-hub/password-reset/v1", signer_kwargs=sha256)
    write("token", "other-purpose-salt.txt", str(other_purpose.dumps({"o": ORDER, "n": "n" * 32, "e": 4102444800})))
    write("token", "overlong.txt", genuine + "A" * 600)
    write("token", "unicode.txt", "\u00e8\u200b\ufeff." + signature)


def index_corpus() -> None:
    from datetime import date

    from domain.archive.index import (
        DocumentMetadata,
        IndexedFile,
        PackageIndex,
        Party,
        add_years,
        build_index,
        package_id_for,
    )

    created = datetime(2026, 3, 16, 10, 30, 5, tzinfo=UTC)
    doc = DocumentMetadata("invoice", "inv-1", "TD01", "FT/2026/1", date(2026, 3, 15),
                           Party("IT02038490237", "ACME S.p.A."), Party("RSSMRA80A01H501U", "Mario Rossi"),
                           "IT02038490237_00001.xml.p7m", "111222333")
    index = build_index(PackageIndex(
        package_id_for("IT02038490237", "invoice", "inv-1"), created, Party("IT02038490237", "ACME S.p.A."), doc,
        (IndexedFile("IT02038490237_00001.xml", "original", "application/xml", 12, "ab" * 32),),
        add_years(created, 10)))
    xml = _declared(index)
    xml_attacks("index", xml, b"IndiceConservazione", (b"<Numero>FT/2026/1</Numero>", b""))
    write("index", "off-schema.xml", xml.replace(b"<Numero>FT/2026/1</Numero>", b""))
    write("index", "year-beyond-9999.xml", xml.replace(b"<Data>2026-03-15</Data>", b"<Data>12026-03-15</Data>"))
    write("index", "negative-year.xml", xml.replace(b"<Data>2026-03-15</Data>", b"<Data>-0001-03-15</Data>"))
    write("index", "date-with-timezone.xml", xml.replace(b"<Data>2026-03-15</Data>", b"<Data>2026-03-15+01:00</Data>"))
    write("index", "hour-24.xml", xml.replace(b"2026-03-16T10:30:05Z", b"2026-03-16T24:00:00Z"))
    write("index", "size-5000-digits.xml", xml.replace(b"<Dimensione>12</Dimensione>",
                                                       b"<Dimensione>" + b"9" * 5000 + b"</Dimensione>"))


def main() -> None:
    csr_corpus()
    certificate_corpus()
    invoice_corpus()
    notification_corpus()
    soap_corpus()
    token_corpus()
    index_corpus()


if __name__ == "__main__":
    main()
