"""SDI notification files (messaggi): building, reading and checking them against the official schemas.

Kinds (the standard's codes): RC ricevuta di consegna (delivery receipt), NS notifica di scarto (rejection,
with an error list), MC notifica di mancata consegna (failed delivery), NE notifica esito (the public
administration's outcome EC01 accepted / EC02 refused), DT notifica di decorrenza termini (deadline passed),
AT attestazione di avvenuta trasmissione con impossibilità di recapito (transmission certificate), EC notifica
di esito committente (the recipient's outcome sent to the SDI), SE scarto esito committente (that outcome
refused), MT metadati (metadata file delivered with a received invoice).

Two namespaces exist: `MessaggiTypes_v1.1` (the SDICoop one, which we build) and `MessaggiFatturaTypes_v1.0`
(the B2B flow: RicevutaScarto, RicevutaImpossibilitaRecapito, FileMetadati), which we read too.
File names: `<invoice file name without extension>_<KIND>_<nnn>.xml`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from domain.errors import InvalidInput, Problem
from domain.sdi.documents import MAX_NOTIFICATION_SIZE, load_schema, schema_problems
from domain.xmlsafe import parse_untrusted

NS_MESSAGGI = "http://www.fatturapa.gov.it/sdi/messaggi/v1.0"
NS_MESSAGGI_B2B = "http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fattura/messaggi/v1.0"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
_SCHEMA_BY_NS = {NS_MESSAGGI: "MessaggiTypes_v1.1.xsd", NS_MESSAGGI_B2B: "MessaggiFatturaTypes_v1.0.xsd"}

# root element -> kind
_KIND_BY_ROOT = {
    (NS_MESSAGGI, "RicevutaConsegna"): "RC",
    (NS_MESSAGGI, "NotificaScarto"): "NS",
    (NS_MESSAGGI, "NotificaMancataConsegna"): "MC",
    (NS_MESSAGGI, "NotificaEsito"): "NE",
    (NS_MESSAGGI, "NotificaDecorrenzaTermini"): "DT",
    (NS_MESSAGGI, "AttestazioneTrasmissioneFattura"): "AT",
    (NS_MESSAGGI, "NotificaEsitoCommittente"): "EC",
    (NS_MESSAGGI, "ScartoEsitoCommittente"): "SE",
    (NS_MESSAGGI, "MetadatiInvioFile"): "MT",
    (NS_MESSAGGI_B2B, "RicevutaConsegna"): "RC",
    (NS_MESSAGGI_B2B, "RicevutaScarto"): "NS",
    (NS_MESSAGGI_B2B, "RicevutaImpossibilitaRecapito"): "MC",
    (NS_MESSAGGI_B2B, "FileMetadati"): "MT",
}
ROOT_BY_KIND = {"RC": "RicevutaConsegna", "NS": "NotificaScarto", "MC": "NotificaMancataConsegna",
                "NE": "NotificaEsito", "DT": "NotificaDecorrenzaTermini", "AT": "AttestazioneTrasmissioneFattura",
                "EC": "NotificaEsitoCommittente", "SE": "ScartoEsitoCommittente", "MT": "MetadatiInvioFile"}
# Kinds whose schema requires an enveloped ds:Signature (the SDI signs what it sends).
SIGNED_KINDS = frozenset({"RC", "NS", "MC", "NE", "DT", "AT", "SE"})
ESITI = {"EC01": "accettazione (accepted)", "EC02": "rifiuto (refused)"}

_STEM = re.compile(r"^(?P<stem>[A-Za-z]{2}[A-Za-z0-9]{1,28}_[A-Za-z0-9]{1,5})(\.xml|\.xml\.p7m|\.zip)$", re.I)
NOTIFICATION_NAME = re.compile(r"^(?P<stem>[A-Za-z]{2}[A-Za-z0-9]{1,28}_[A-Za-z0-9]{1,5})"
                               r"_(?P<kind>RC|NS|MC|NE|DT|AT|EC|SE|MT)_(?P<seq>[0-9]{3})\.xml$")


@dataclass(frozen=True)
class SdiError:
    code: str  # e.g. "00200"
    description: str
    suggestion: str | None = None


@dataclass(frozen=True)
class Notification:
    """What a notification file says (the file itself is stored separately)."""

    kind: str
    identificativo_sdi: int
    nome_file: str | None  # the invoice file it is about (EC carries none)
    message_id: str | None = None
    received_at: str | None = None  # DataOraRicezione, ISO 8601 as written
    delivered_at: str | None = None  # DataOraConsegna (RC)
    esito: str | None = None  # EC01 | EC02 (NE, EC)
    description: str | None = None
    recipient_code: str | None = None
    errors: tuple[SdiError, ...] = field(default_factory=tuple)
    signed: bool = False


def invoice_stem(file_name: str) -> str:
    m = _STEM.match(file_name)
    if not m:
        raise InvalidInput.one("NomeFile", f"{file_name!r} is not an SDI invoice file name", "00001")
    return m.group("stem")


def notification_file_name(invoice_file_name: str, kind: str, seq: int = 1) -> str:
    return f"{invoice_stem(invoice_file_name)}_{kind}_{seq:03d}.xml"


# ---------------------------------------------------------------- reading

def _t(root: etree._Element, path: str) -> str | None:
    value = root.findtext(path)
    return value.strip() if value and value.strip() else None


def read_notification(data: bytes, *, validate: bool = True, field_name: str = "notification") -> Notification:
    """Parse a notification file safely; with `validate`, refuse anything the official schema refuses."""
    root = parse_untrusted(data, field_name, MAX_NOTIFICATION_SIZE)
    q = etree.QName(root)
    kind = _KIND_BY_ROOT.get((q.namespace or "", q.localname))
    if kind is None:
        raise InvalidInput.one(field_name, f"not an SDI notification: root element {root.tag}")
    if validate:
        problems = schema_problems(load_schema(_SCHEMA_BY_NS[q.namespace or ""]), root)
        if problems:
            raise InvalidInput([Problem(path, message, "00200") for path, message in problems])
    sdi_id = _t(root, "IdentificativoSdI")
    # ASCII digits only ("²".isdigit() is true), and not thousands of leading zeros (the B2B schema's is a
    # string of up to 36 characters; without the schema, anything).
    if sdi_id is None or not (sdi_id.isascii() and sdi_id.isdigit() and len(sdi_id.lstrip("0")) <= 36):
        raise InvalidInput.one(f"/{q.localname}/IdentificativoSdI", "missing or not a number")
    sdi_id = sdi_id.lstrip("0") or "0"
    errors = tuple(
        SdiError(_t(e, "Codice") or "", _t(e, "Descrizione") or "", _t(e, "Suggerimento"))
        for e in root.iterfind("ListaErrori/Errore")
    )
    esito = _t(root, "Esito") or _t(root, "EsitoCommittente/Esito")
    description = _t(root, "Descrizione") or _t(root, "EsitoCommittente/Descrizione")
    return Notification(
        kind=kind,
        identificativo_sdi=int(sdi_id),
        nome_file=_t(root, "NomeFile"),
        message_id=_t(root, "MessageId") or _t(root, "MessageIdCommittente"),
        received_at=_t(root, "DataOraRicezione"),
        delivered_at=_t(root, "DataOraConsegna"),
        esito=esito,
        description=description,
        recipient_code=_t(root, "Destinatario/Codice") or _t(root, "CodiceDestinatario"),
        errors=errors,
        signed=root.find(f"{{{NS_DS}}}Signature") is not None,
    )


# ---------------------------------------------------------------- building

Sign = Callable[[bytes], bytes]


def _root(kind: str) -> etree._Element:
    return etree.Element(etree.QName(NS_MESSAGGI, ROOT_BY_KIND[kind]), nsmap={"types": NS_MESSAGGI},
                         versione="1.0")


def _sub(parent: etree._Element, name: str, text: str | None) -> etree._Element | None:
    if text is None:
        return None
    el = etree.SubElement(parent, name)
    el.text = text
    return el


def _finish(root: etree._Element, sign: Sign | None) -> bytes:
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    if sign is not None:
        data = sign(data)
    # What we build must pass the schema we check others against.
    read_notification(data, validate=True)
    return data


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def build_rc(sdi_id: int, nome_file: str, received: datetime, delivered: datetime, recipient_code: str,
             recipient_description: str, message_id: str, sign: Sign | None) -> bytes:
    root = _root("RC")
    _sub(root, "IdentificativoSdI", str(sdi_id))
    _sub(root, "NomeFile", nome_file)
    _sub(root, "DataOraRicezione", _iso(received))
    _sub(root, "DataOraConsegna", _iso(delivered))
    dest = etree.SubElement(root, "Destinatario")
    _sub(dest, "Codice", recipient_code)
    _sub(dest, "Descrizione", recipient_description)
    _sub(root, "MessageId", message_id)
    return _finish(root, sign)


def build_ns(sdi_id: int, nome_file: str, received: datetime, errors: list[SdiError], message_id: str,
             sign: Sign | None) -> bytes:
    root = _root("NS")
    _sub(root, "IdentificativoSdI", str(sdi_id))
    _sub(root, "NomeFile", nome_file)
    _sub(root, "DataOraRicezione", _iso(received))
    lista = etree.SubElement(root, "ListaErrori")
    for err in errors[:200]:
        e = etree.SubElement(lista, "Errore")
        _sub(e, "Codice", err.code)
        _sub(e, "Descrizione", err.description[:255])
    _sub(root, "MessageId", message_id)
    return _finish(root, sign)


def build_mc(sdi_id: int, nome_file: str, received: datetime, description: str, message_id: str,
             sign: Sign | None) -> bytes:
    root = _root("MC")
    _sub(root, "IdentificativoSdI", str(sdi_id))
    _sub(root, "NomeFile", nome_file)
    _sub(root, "DataOraRicezione", _iso(received))
    _sub(root, "Descrizione", description[:255])
    _sub(root, "MessageId", message_id)
    return _finish(root, sign)


def _esito_committente(parent: etree._Element, tag: str | None, sdi_id: int, numero: str | None,
                       anno: int | None, esito: str, description: str | None,
                       message_id: str | None) -> etree._Element:
    el = etree.SubElement(parent, tag, versione="1.0") if tag else parent
    _sub(el, "IdentificativoSdI", str(sdi_id))
    if numero is not None and anno is not None:
        rif = etree.SubElement(el, "RiferimentoFattura")
        _sub(rif, "NumeroFattura", numero)
        _sub(rif, "AnnoFattura", str(anno))
    _sub(el, "Esito", esito)
    _sub(el, "Descrizione", description[:255] if description else None)
    _sub(el, "MessageIdCommittente", message_id)
    return el


def build_ne(sdi_id: int, nome_file: str, esito: str, description: str | None, numero: str | None,
             anno: int | None, message_id: str, sign: Sign | None) -> bytes:
    if esito not in ESITI:
        raise InvalidInput.one("Esito", f"{esito!r} is not EC01 or EC02")
    root = _root("NE")
    _sub(root, "IdentificativoSdI", str(sdi_id))
    _sub(root, "NomeFile", nome_file)
    _esito_committente(root, "EsitoCommittente", sdi_id, numero, anno, esito, description, None)
    _sub(root, "MessageId", message_id)
    return _finish(root, sign)


def build_ec(sdi_id: int, esito: str, description: str | None, numero: str | None, anno: int | None,
             message_id: str | None, sign: Sign | None = None) -> bytes:
    """The recipient's outcome (notifica di esito committente) sent to the SDI through SdIRiceviNotifica."""
    if esito not in ESITI:
        raise InvalidInput.one("Esito", f"{esito!r} is not EC01 or EC02")
    root = _root("EC")
    _esito_committente(root, None, sdi_id, numero, anno, esito, description, message_id)
    return _finish(root, sign)


def build_dt(sdi_id: int, nome_file: str, description: str, message_id: str, sign: Sign | None) -> bytes:
    root = _root("DT")
    _sub(root, "IdentificativoSdI", str(sdi_id))
    _sub(root, "NomeFile", nome_file)
    _sub(root, "Descrizione", description[:255])
    _sub(root, "MessageId", message_id)
    return _finish(root, sign)


def build_at(sdi_id: int, nome_file: str, received: datetime, recipient_code: str, recipient_description: str,
             message_id: str, file_hash: str, sign: Sign | None) -> bytes:
    root = _root("AT")
    _sub(root, "IdentificativoSdI", str(sdi_id))
    _sub(root, "NomeFile", nome_file)
    _sub(root, "DataOraRicezione", _iso(received))
    dest = etree.SubElement(root, "Destinatario")
    _sub(dest, "Codice", recipient_code)
    _sub(dest, "Descrizione", recipient_description)
    _sub(root, "MessageId", message_id)
    _sub(root, "HashFileOriginale", file_hash)
    return _finish(root, sign)


def build_mt(sdi_id: int, nome_file: str, recipient_code: str, formato: str, message_id: str) -> bytes:
    """Metadata file (MT) delivered to the recipient with the invoice (RicezioneFatture)."""
    root = _root("MT")
    _sub(root, "IdentificativoSdI", str(sdi_id))
    _sub(root, "NomeFile", nome_file)
    _sub(root, "CodiceDestinatario", recipient_code)
    _sub(root, "Formato", formato)
    _sub(root, "TentativiInvio", "1")
    _sub(root, "MessageId", message_id)
    return _finish(root, None)
