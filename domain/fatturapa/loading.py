"""Reading an invoice file as received: plain XML, a CAdES `.p7m` (DER, or base64 once or twice, with or
without PEM armour), or XML carrying an enveloped XAdES signature.

`load_invoice` only opens the envelope, parses safely and checks the schema; verifying the signature is
`domain.signatures.verify_signature(loaded.signed, loaded.signature)` (or `verify=True` here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from domain.errors import InvalidInput
from domain.fatturapa.schema import validate_schema
from domain.sdi.documents import MAX_FILE_SIZE, parse_sdi_file
from domain.signatures import verify_signature
from domain.signatures.cades import VerifiedSignature, extract_cades_content
from domain.signatures.xades import DSIG_NS
from domain.xmlsafe import repair_namespace_quirks

_BOM = b"\xef\xbb\xbf"
# Namespace of the FatturaPA 1.2.x invoice root element (FPA12 and FPR12 share it).
FATTURAPA_NS = "http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2"
# Namespace of the simplified invoice (FatturaElettronicaSemplificata, FSM10 1.0: TD07/TD08/TD09).
FSM10_NS = "http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.0"
ORDINARY_ROOT = f"{{{FATTURAPA_NS}}}FatturaElettronica"
SIMPLIFIED_ROOT = f"{{{FSM10_NS}}}FatturaElettronicaSemplificata"


@dataclass(frozen=True)
class LoadedInvoice:
    xml: bytes  # the invoice document exactly as signed (for XAdES: the signed document itself)
    signed: bytes | None  # the signed file as received, if it was signed
    signature: str | None  # "cades", "xades" or None
    format: str  # "FPA12" (to a public administration), "FPR12" (between private parties), "FSM10" (simplified)
    schema_version: str  # "1.2.3", "1.2.2" or "FSM10 1.0": the schema the document conforms to
    filename: str | None = None
    verified: VerifiedSignature | None = None  # set when loaded with verify=True
    # The parsed, schema-checked document, so the content checks (validation.check_loaded_invoice) need not
    # parse and schema-check it again. In-process only: it never crosses a workflow or activity boundary.
    root: etree._Element = field(repr=False, compare=False, kw_only=True)
    # the namespace quirks repaired to read it (domain.xmlsafe.repair_namespace_quirks), one sentence each
    repairs: tuple[str, ...] = field(default=(), kw_only=True)


# How XML in another encoding than UTF-8 starts: a UTF-16/UTF-32 byte-order mark, or "<" as UTF-16.
_OTHER_ENCODINGS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"<\x00", b"\x00<", _BOM + _BOM)


def _looks_like_xml(data: bytes) -> bool:
    head = data[len(_BOM):] if data.startswith(_BOM) else data
    return head.lstrip()[:1] == b"<"


def _check_utf8(data: bytes, field: str) -> None:
    """XML in UTF-16 (or behind a byte-order mark that contradicts UTF-8) is not an unreadable envelope
    (00106): say what it is. The SDI accepts UTF-8 only."""
    if data.startswith(_OTHER_ENCODINGS):
        raise InvalidInput.one(field, "the file is not UTF-8 XML (a UTF-16 encoding or a repeated byte-order "
                                      "mark); the SDI accepts UTF-8 only", "00200")


def parse_invoice_root(xml: bytes, field: str = "file", repairs: list[str] | None = None) -> etree._Element:
    """Parse an invoice safely and check its root is a FatturaPA 1.2 `FatturaElettronica` or a simplified
    invoice's `FatturaElettronicaSemplificata` (FSM10 1.0).

    When the strict parse fails on a namespace quirk the SDI tolerates (a space or a stray quote in the URI of
    a known namespace: `domain.xmlsafe.repair_namespace_quirks`), the repaired bytes are parsed the same safe
    way and each repair is appended to `repairs`."""
    try:
        root = parse_sdi_file(xml, field)
    except InvalidInput:
        fixed, done = repair_namespace_quirks(xml)
        if not done:
            raise
        root = parse_sdi_file(fixed, field)
        if repairs is not None:
            repairs.extend(done)
    if root.tag != ORDINARY_ROOT and root.tag != SIMPLIFIED_ROOT:
        raise InvalidInput.one(field, f"the root element is {root.tag}, not a FatturaPA 1.2 invoice nor a "
                                      "simplified one (FSM10 1.0)", "00200")
    return root


def load_invoice(data: bytes, filename: str | None = None, verify: bool = False) -> LoadedInvoice:
    """Open an invoice file as received and check it against the FatturaPA schema (the FSM10 one for a
    simplified invoice).

    Refuses (InvalidInput, with the SDI code) a file over the SDI size limit (00003), anything that is not
    UTF-8 XML without DOCTYPE (00200), an unreadable envelope (00106) and a schema error (00200)."""
    field = "file"
    if len(data) > MAX_FILE_SIZE:
        raise InvalidInput.one(field, f"file is {len(data)} bytes, the SDI limit is {MAX_FILE_SIZE}", "00003")
    if not data.strip():
        raise InvalidInput.one(field, "the file is empty", "00106")
    signed: bytes | None
    repairs: list[str] = []
    _check_utf8(data, field)
    if _looks_like_xml(data):
        xml = data
        root = parse_invoice_root(xml, field, repairs)
        has_xades = root.find(f"{{{DSIG_NS}}}Signature") is not None
        signature = "xades" if has_xades else None
        signed = data if has_xades else None
    else:
        xml = extract_cades_content(data)
        _check_utf8(xml, field)
        if not _looks_like_xml(xml):
            raise InvalidInput.one(field, "the signed envelope does not contain an XML invoice", "00106")
        root = parse_invoice_root(xml, field, repairs)
        signature, signed = "cades", data
    version = validate_schema(root)
    verified = None
    if verify and signed is not None and signature:
        verified = verify_signature(signed, signature)
    return LoadedInvoice(
        xml=xml,
        signed=signed,
        signature=signature,
        format=root.get("versione", ""),
        schema_version=version,
        filename=filename,
        verified=verified,
        root=root,
        repairs=tuple(repairs),
    )
