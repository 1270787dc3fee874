"""The index (indice di conservazione) of an archival package (pacchetto di archiviazione, PdA).

In the spirit of UNI SInCRO (UNI 11386): a self-description (package id, creation time, producer), the
owner of the documents (titolare), the invoice metadata the law asks for, each file with its name, role,
MIME type, size and SHA-256 fingerprint (impronta), and the conservation process (retention). Built with
lxml, validated against the vendored `IndiceConservazione_v1.xsd`, and parsed back by the project's one safe
parser (`domain.xmlsafe`: no DOCTYPE, no entities, bounded size).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

from lxml import etree

from domain.errors import InvalidInput, Problem, ProblemCollector
from domain.xmlsafe import load_vendored, parse_untrusted

NS = "urn:einvoice-hub:conservazione:indice:1"
SCHEMA_FILE = Path(__file__).resolve().parent / "IndiceConservazione_v1.xsd"
INDEX_NAME = "IndiceConservazione.xml"
INDEX_MIME = "application/xml"
APPLICATION = "einvoice-hub"
APPLICATION_VERSION = "0.1.0"
REGULATIONS = (
    "DPCM 3 dicembre 2013 (regole tecniche in materia di sistema di conservazione)",
    "DMEF 17 giugno 2014 (obblighi fiscali relativi ai documenti informatici)",
    "Linee guida AgID sulla formazione, gestione e conservazione dei documenti informatici (2021)",
)
MAX_INDEX_BYTES = 2 * 1024 * 1024

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_KIND = re.compile(r"^[a-z0-9]{1,40}$")
_ID_FISCALE = re.compile(r"^[A-Z0-9]{2,30}$")
# FatturaPA's TipoDocumento (TD01 ...), or FA(3)'s RodzajFaktury for an invoice of KSeF (VAT, KOR ...)
_TIPO_DOCUMENTO = re.compile(r"^(TD[0-9]{2}|VAT|KOR|ZAL|ROZ|UPR|KOR_ZAL|KOR_ROZ)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def package_id_for(tenant_vat: str, owner_kind: str, owner_id: str) -> str:
    """Deterministic from the owner: conserving the same invoice again names the same package."""
    if not _KIND.match(owner_kind):
        raise InvalidInput.one("owner_kind", "lowercase letters and digits only, at most 40")
    if not owner_id:
        raise InvalidInput.one("owner_id", "required")
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", owner_id)[:80]
    digest = hashlib.sha256(f"{tenant_vat}|{owner_kind}|{owner_id}".encode()).hexdigest()[:12]
    return f"PdA-{owner_kind}-{readable}-{digest}"


def check_file_name(name: str, field_name: str = "name") -> None:
    if not _SAFE_NAME.match(name) or ".." in name:
        raise InvalidInput.one(field_name, f"{name!r} is not a safe file name for the archive "
                                           "(letters, digits, '.', '_', '-'; at most 200)")


def utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Party:
    id_fiscale: str  # VAT number with country prefix, or codice fiscale
    name: str


@dataclass(frozen=True)
class DocumentMetadata:
    owner_kind: str
    owner_id: str
    document_type: str  # TipoDocumento (FA(3): RodzajFaktury)
    number: str
    date: date
    sender: Party  # CedentePrestatore
    recipient: Party  # CessionarioCommittente
    sdi_file_name: str
    sdi_id: str | None = None


@dataclass(frozen=True)
class IndexedFile:
    name: str
    role: str
    mime_type: str
    size: int
    sha256: str  # hex


@dataclass(frozen=True)
class PackageIndex:
    package_id: str
    created_at: datetime
    owner: Party  # titolare: the customer
    document: DocumentMetadata
    files: tuple[IndexedFile, ...]
    retain_until: datetime
    mode: str = "COMPLIANCE"
    producer: str = APPLICATION
    producer_version: str = APPLICATION_VERSION
    regulations: tuple[str, ...] = field(default=REGULATIONS)

    def file(self, name: str) -> IndexedFile | None:
        return next((f for f in self.files if f.name == name), None)


def check_metadata(doc: DocumentMetadata) -> None:
    """Every problem of the metadata at once, each naming its field."""
    found = ProblemCollector()
    if not _TIPO_DOCUMENTO.match(doc.document_type):
        found.add("metadata.document_type", "a TipoDocumento such as TD01 (or an FA(3) RodzajFaktury such as VAT)")
    if not 1 <= len(doc.number) <= 40:
        found.add("metadata.document_number", "1 to 40 characters")
    for name, party in (("sender", doc.sender), ("recipient", doc.recipient)):
        if not _ID_FISCALE.match(party.id_fiscale):
            found.add(f"metadata.{name}_{'vat' if name == 'sender' else 'id'}",
                      "a VAT number with country prefix or a fiscal code (A-Z, 0-9)")
        if not 1 <= len(party.name) <= 200:
            found.add(f"metadata.{name}_name", "1 to 200 characters")
    if not _SAFE_NAME.match(doc.sdi_file_name):
        found.add("metadata.sdi_file_name", "an SDI file name such as IT02038490237_00001.xml.p7m")
    if doc.sdi_id is not None and not 1 <= len(doc.sdi_id) <= 40:
        found.add("metadata.sdi_id", "1 to 40 characters")
    found.raise_if_any()


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def _party(parent: etree._Element, tag: str, party: Party) -> None:
    el = _sub(parent, tag)
    _sub(el, "IdFiscale", party.id_fiscale)
    _sub(el, "Denominazione", party.name)


def build_index(index: PackageIndex) -> bytes:
    """The index as UTF-8 XML bytes, valid against the schema (checked before returning)."""
    if not index.files:
        raise InvalidInput.one("files", "a package needs at least one file")
    check_metadata(index.document)
    names = [f.name for f in index.files]
    if len(set(names)) != len(names):
        raise InvalidInput.one("files", "two files with the same name")
    root = etree.Element(f"{{{NS}}}IndiceConservazione", nsmap={None: NS})
    root.set("versione", "1.0")
    desc = _sub(root, "DescrizioneIndice")
    _sub(desc, "IdPacchetto", index.package_id)
    _sub(desc, "DataOraCreazione", utc_text(index.created_at))
    prod = _sub(desc, "Produttore")
    _sub(prod, "Applicazione", index.producer)
    _sub(prod, "Versione", index.producer_version)
    _sub(prod, "Conservatore", index.producer)
    _party(root, "Titolare", index.owner)
    doc = index.document
    meta = _sub(root, "MetadatiDocumento")
    _sub(meta, "TipoOggetto", doc.owner_kind)
    _sub(meta, "IdOggetto", doc.owner_id)
    _sub(meta, "TipoDocumento", doc.document_type)
    _sub(meta, "Numero", doc.number)
    _sub(meta, "Data", doc.date.isoformat())
    _party(meta, "CedentePrestatore", doc.sender)
    _party(meta, "CessionarioCommittente", doc.recipient)
    _sub(meta, "NomeFileSdI", doc.sdi_file_name)
    if doc.sdi_id:
        _sub(meta, "IdentificativoSdI", doc.sdi_id)
    pkg = _sub(root, "Pacchetto")
    for f in index.files:
        el = _sub(pkg, "File")
        _sub(el, "Nome", f.name)
        _sub(el, "Ruolo", f.role)
        _sub(el, "TipoMIME", f.mime_type)
        _sub(el, "Dimensione", str(f.size))
        imp = _sub(el, "Impronta", f.sha256)
        imp.set("algoritmo", "SHA-256")
        imp.set("codifica", "hex")
    proc = _sub(root, "Processo")
    _sub(proc, "ModalitaConservazione", index.mode)
    _sub(proc, "ConservazioneFinoAl", utc_text(index.retain_until))
    for rule in index.regulations:
        _sub(proc, "Normativa", rule)
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    _validate(parse_untrusted(data, "index", MAX_INDEX_BYTES), "index")
    return data


@lru_cache(maxsize=1)
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(load_vendored(SCHEMA_FILE))


def _validate(root: etree._Element, field_name: str) -> None:
    xsd = schema()
    if not xsd.validate(etree.ElementTree(root)):
        raise InvalidInput([Problem(f"{field_name}:{e.path}", e.message) for e in xsd.error_log][:20])


def parse_index(data: bytes) -> PackageIndex:
    """Parse and validate an index; refuses a DOCTYPE, entities, oversize input, and anything off-schema."""
    tree = parse_untrusted(data, "index", MAX_INDEX_BYTES)
    _validate(tree, "index")
    ns = {"i": NS}

    def text(path: str, el: etree._Element = tree) -> str:
        found = el.find(path, ns)
        return "" if found is None or found.text is None else found.text

    def party(path: str) -> Party:
        return Party(text(f"{path}/i:IdFiscale"), text(f"{path}/i:Denominazione"))

    # The schema's xs:date and xs:dateTime admit more than Python reads (a year before 1 or after 9999, a
    # timezone on a date, 24:00:00): such a value is refused naming its element, like any schema error.
    def day(path: str) -> date:
        try:
            return date.fromisoformat(text(path))
        except ValueError as err:
            raise InvalidInput.one(f"index:{path}", f"not a calendar date YYYY-MM-DD: {err}") from None

    def moment(path: str) -> datetime:
        try:
            return parse_utc(text(path))
        except ValueError as err:
            raise InvalidInput.one(f"index:{path}", f"not a UTC time YYYY-MM-DDThh:mm:ssZ: {err}") from None

    def size(el: etree._Element) -> int:
        digits = text("i:Dimensione", el).strip()
        if len(digits) > 18:  # nonNegativeInteger is unbounded; no file in a package is an exabyte
            raise InvalidInput.one("index:i:Pacchetto/i:File/i:Dimensione", f"{digits[:20]}... is not a file size")
        return int(digits)

    files = tuple(
        IndexedFile(text("i:Nome", f), text("i:Ruolo", f), text("i:TipoMIME", f), size(f), text("i:Impronta", f))
        for f in tree.findall("i:Pacchetto/i:File", ns)
    )
    sdi_id = text("i:MetadatiDocumento/i:IdentificativoSdI") or None
    return PackageIndex(
        package_id=text("i:DescrizioneIndice/i:IdPacchetto"),
        created_at=moment("i:DescrizioneIndice/i:DataOraCreazione"),
        owner=party("i:Titolare"),
        document=DocumentMetadata(
            owner_kind=text("i:MetadatiDocumento/i:TipoOggetto"),
            owner_id=text("i:MetadatiDocumento/i:IdOggetto"),
            document_type=text("i:MetadatiDocumento/i:TipoDocumento"),
            number=text("i:MetadatiDocumento/i:Numero"),
            date=day("i:MetadatiDocumento/i:Data"),
            sender=party("i:MetadatiDocumento/i:CedentePrestatore"),
            recipient=party("i:MetadatiDocumento/i:CessionarioCommittente"),
            sdi_file_name=text("i:MetadatiDocumento/i:NomeFileSdI"),
            sdi_id=sdi_id,
        ),
        files=files,
        retain_until=moment("i:Processo/i:ConservazioneFinoAl"),
        mode=text("i:Processo/i:ModalitaConservazione"),
        producer=text("i:DescrizioneIndice/i:Produttore/i:Applicazione"),
        producer_version=text("i:DescrizioneIndice/i:Produttore/i:Versione"),
        regulations=tuple(el.text or "" for el in tree.findall("i:Processo/i:Normativa", ns)),
    )


def add_years(moment: datetime, years: int) -> datetime:
    """Calendar years later (29 February becomes 28 February in a common year)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


def is_sha256_hex(value: str) -> bool:
    return bool(_SHA256.match(value))
