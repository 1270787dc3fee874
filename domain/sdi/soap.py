"""SOAP 1.1 envelopes of SDICoop (the SDI's web-service channel), built and read with lxml.

Services and their messages (WSDLs vendored in `schemas/`):
- `SdIRiceviFile.RiceviFile` (we → SDI): `fileSdIAccoglienza` (NomeFile, File) → `rispostaSdIRiceviFile`
  (IdentificativoSdI, DataOraRicezione, optional Errore EI01 empty file / EI02 service unavailable /
  EI03 user not enabled).
- `TrasmissioneFatture` (SDI → the transmitter): one-way operations RicevutaConsegna, NotificaMancataConsegna,
  NotificaScarto, NotificaEsito, NotificaDecorrenzaTermini, AttestazioneTrasmissioneFattura, each a `fileSdI`
  (IdentificativoSdI, NomeFile, File = the notification file).
- `RicezioneFatture` (SDI → the recipient): RiceviFatture (`fileSdIConMetadati`: the invoice + its metadata
  file) → `rispostaRiceviFatture` (Esito ER01, taken in charge); NotificaDecorrenzaTermini (one-way).
- `SdIRiceviNotifica.NotificaEsito` (the recipient → SDI): `fileSdI` with the outcome file (EC01/EC02) →
  `rispostaSdINotificaEsito` (ES00 not accepted, ES01 accepted, ES02 service unavailable).

Every body element is validated against the vendored types schema, both when built and when read.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from domain.errors import InvalidInput, Problem
from domain.sdi.documents import MAX_ENVELOPE_SIZE, load_schema, schema_problems
from domain.xmlsafe import parse_untrusted

NS_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NS_TRASMISSIONE = "http://www.fatturapa.gov.it/sdi/ws/trasmissione/v1.0/types"
NS_RICEZIONE = "http://www.fatturapa.gov.it/sdi/ws/ricezione/v1.0/types"

TRASMISSIONE_SCHEMA = "TrasmissioneTypes_v1.1.xsd"
RICEZIONE_SCHEMA = "RicezioneTypes_v1.0.xsd"

SOAP_ACTION_RICEVI_FILE = "http://www.fatturapa.it/SdIRiceviFile/RiceviFile"
SOAP_ACTION_RICEVI_FATTURE = "http://www.fatturapa.it/RicezioneFatture/RiceviFattureSdI"
SOAP_ACTION_NOTIFICA_ESITO = "http://www.fatturapa.it/SdIRicezioneNotifiche/NotificaEsito"

# TrasmissioneFatture operation -> (body element, notification kind, SOAPAction)
TRASMISSIONE_OPERATIONS: dict[str, tuple[str, str]] = {
    "RicevutaConsegna": ("ricevutaConsegna", "RC"),
    "NotificaMancataConsegna": ("notificaMancataConsegna", "MC"),
    "NotificaScarto": ("notificaScarto", "NS"),
    "NotificaEsito": ("notificaEsito", "NE"),
    "NotificaDecorrenzaTermini": ("notificaDecorrenzaTermini", "DT"),
    "AttestazioneTrasmissioneFattura": ("attestazioneTrasmissioneFattura", "AT"),
}
OPERATION_BY_KIND = {kind: op for op, (_, kind) in TRASMISSIONE_OPERATIONS.items()}
_OPERATION_BY_ELEMENT = {element: op for op, (element, _) in TRASMISSIONE_OPERATIONS.items()}

INVIO_ERRORS = {"EI01": "file vuoto (empty file)", "EI02": "servizio non disponibile (service unavailable)",
                "EI03": "utente non abilitato (user not enabled)"}


def soap_action(operation: str) -> str:
    return f"http://www.fatturapa.it/TrasmissioneFatture/{operation}"


@dataclass(frozen=True)
class FileSdIBase:
    """A named file (NomeFile + File)."""

    nome_file: str
    file: bytes


@dataclass(frozen=True)
class FileSdI:
    """A file with the identificativo SdI (SDI's id of the transmitted invoice file) it refers to."""

    identificativo_sdi: int
    nome_file: str
    file: bytes


@dataclass(frozen=True)
class FileSdIConMetadati:
    identificativo_sdi: int
    nome_file: str
    file: bytes
    nome_file_metadati: str
    metadati: bytes


@dataclass(frozen=True)
class RiceviFileResponse:
    identificativo_sdi: int
    data_ora_ricezione: datetime
    errore: str | None = None  # EI01 | EI02 | EI03


@dataclass(frozen=True)
class NotificaEsitoResponse:
    esito: str  # ES00 | ES01 | ES02
    scarto: FileSdIBase | None = None


class SoapFault(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# ---------------------------------------------------------------- envelopes

def envelope(body: etree._Element) -> bytes:
    env = etree.Element(etree.QName(NS_SOAP, "Envelope"), nsmap={"soapenv": NS_SOAP})
    etree.SubElement(env, etree.QName(NS_SOAP, "Header"))
    etree.SubElement(env, etree.QName(NS_SOAP, "Body")).append(body)
    out: bytes = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    return out


def envelope_empty() -> bytes:
    """The answer to a one-way operation: an envelope with an empty Body."""
    env = etree.Element(etree.QName(NS_SOAP, "Envelope"), nsmap={"soapenv": NS_SOAP})
    etree.SubElement(env, etree.QName(NS_SOAP, "Body"))
    out: bytes = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    return out


def fault(code: str, message: str) -> bytes:
    """A SOAP 1.1 Fault (`soapenv:Client` for bad requests, `soapenv:Server` for our own trouble)."""
    f = etree.Element(etree.QName(NS_SOAP, "Fault"), nsmap={"soapenv": NS_SOAP})
    etree.SubElement(f, "faultcode").text = f"soapenv:{code}"
    etree.SubElement(f, "faultstring").text = message
    return envelope(f)


def open_envelope(data: bytes, field: str = "envelope") -> etree._Element:
    """The single element inside soap:Body. A Fault raises SoapFault; anything malformed, InvalidInput."""
    root = parse_untrusted(data, field, MAX_ENVELOPE_SIZE)
    if root.tag != etree.QName(NS_SOAP, "Envelope").text:
        raise InvalidInput.one(field, f"not a SOAP 1.1 envelope (root is {root.tag})")
    body = root.find(f"{{{NS_SOAP}}}Body")
    if body is None:
        raise InvalidInput.one(f"{field}/Body", "missing SOAP Body")
    children = [c for c in body if isinstance(c.tag, str)]
    if len(children) != 1:
        raise InvalidInput.one(f"{field}/Body", f"expected one element in the Body, found {len(children)}")
    child = children[0]
    if child.tag == etree.QName(NS_SOAP, "Fault").text:
        raise SoapFault(child.findtext("faultcode") or "soapenv:Server", child.findtext("faultstring") or "")
    return child


def _check(el: etree._Element, schema_name: str, field: str) -> None:
    problems = schema_problems(load_schema(schema_name), el)
    if problems:
        raise InvalidInput([Problem(f"{field}{path}", message) for path, message in problems])


def _expect(el: etree._Element, ns: str, names: set[str], field: str) -> str:
    q = etree.QName(el)
    if q.namespace != ns or q.localname not in names:
        raise InvalidInput.one(field, f"unexpected body element {el.tag}; expected one of {sorted(names)} in {ns}")
    return str(q.localname)


def _text(el: etree._Element, name: str) -> str:
    return (el.findtext(name) or "").strip()


def _sdi_id(el: etree._Element, field: str) -> int:
    """IdentificativoSdI as a number. The schema's xs:integer with totalDigits 12 still admits a sign and
    any number of leading zeros (thousands of them are more than Python converts): refused by name."""
    digits = _text(el, "IdentificativoSdI").lstrip("0") or "0"
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 12):
        raise InvalidInput.one(f"{field}/IdentificativoSdI", "not an identificativo SdI (a positive number of at "
                                                            "most 12 digits)")
    return int(digits)


def _b64(el: etree._Element, name: str, field: str) -> bytes:
    try:
        return base64.b64decode("".join((el.findtext(name) or "").split()), validate=True)
    except (binascii.Error, ValueError) as err:
        raise InvalidInput.one(f"{field}/{name}", "not valid base64") from err


def _sub(parent: etree._Element, name: str, text: str) -> None:
    etree.SubElement(parent, name).text = text


def _b64text(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


_SCHEMA_OF = {NS_TRASMISSIONE: TRASMISSIONE_SCHEMA, NS_RICEZIONE: RICEZIONE_SCHEMA}


def _build(ns: str, element: str, *fields: tuple[str, str | None]) -> bytes:
    """A body element of the service's types namespace with its children in order (None: left out),
    checked against the service's schema, in an envelope."""
    el = etree.Element(etree.QName(ns, element), nsmap={"types": ns})
    for name, text in fields:
        if text is not None:
            _sub(el, name, text)
    return _checked_envelope(el, ns, element)


def _checked_envelope(el: etree._Element, ns: str, element: str) -> bytes:
    _check(el, _SCHEMA_OF[ns], element)
    return envelope(el)


def _read(data: bytes, ns: str, *elements: str) -> tuple[etree._Element, str]:
    """The body element of an envelope, one of `elements` of the service's namespace, schema-checked."""
    el = open_envelope(data)
    element = _expect(el, ns, set(elements), "Body")
    _check(el, _SCHEMA_OF[ns], element)
    return el, element


# ---------------------------------------------------------------- SdIRiceviFile

def build_ricevi_file(f: FileSdIBase) -> bytes:
    return _build(NS_TRASMISSIONE, "fileSdIAccoglienza", ("NomeFile", f.nome_file), ("File", _b64text(f.file)))


def read_ricevi_file(data: bytes) -> FileSdIBase:
    el, element = _read(data, NS_TRASMISSIONE, "fileSdIAccoglienza")
    return FileSdIBase(_text(el, "NomeFile"), _b64(el, "File", element))


def build_ricevi_file_response(r: RiceviFileResponse) -> bytes:
    return _build(NS_TRASMISSIONE, "rispostaSdIRiceviFile", ("IdentificativoSdI", str(r.identificativo_sdi)),
                  ("DataOraRicezione", r.data_ora_ricezione.isoformat()), ("Errore", r.errore or None))


def read_ricevi_file_response(data: bytes) -> RiceviFileResponse:
    el, element = _read(data, NS_TRASMISSIONE, "rispostaSdIRiceviFile")
    try:  # xs:dateTime admits what Python does not read: 24:00:00, years beyond 9999 or before 1
        received = datetime.fromisoformat(_text(el, "DataOraRicezione").replace("Z", "+00:00"))
    except ValueError as err:
        raise InvalidInput.one(f"{element}/DataOraRicezione", f"unreadable time: {err}") from None
    return RiceviFileResponse(_sdi_id(el, element), received, _text(el, "Errore") or None)


# ---------------------------------------------------------------- TrasmissioneFatture and NotificaEsito

def _file_sdi_fields(identificativo_sdi: int, nome_file: str, file: bytes) -> tuple[tuple[str, str | None], ...]:
    return ("IdentificativoSdI", str(identificativo_sdi)), ("NomeFile", nome_file), ("File", _b64text(file))


def _read_file_sdi(el: etree._Element, element: str) -> FileSdI:
    return FileSdI(_sdi_id(el, element), _text(el, "NomeFile"), _b64(el, "File", element))


def build_trasmissione(operation: str, f: FileSdI) -> bytes:
    element, _ = TRASMISSIONE_OPERATIONS[operation]
    return _build(NS_TRASMISSIONE, element, *_file_sdi_fields(f.identificativo_sdi, f.nome_file, f.file))


def read_trasmissione(data: bytes) -> tuple[str, FileSdI]:
    """(operation, file) of a TrasmissioneFatture call; the operation is named by the body element."""
    el, element = _read(data, NS_TRASMISSIONE, *_OPERATION_BY_ELEMENT)
    return _OPERATION_BY_ELEMENT[element], _read_file_sdi(el, element)


# ---------------------------------------------------------------- RicezioneFatture

def build_ricevi_fatture(f: FileSdIConMetadati) -> bytes:
    return _build(NS_RICEZIONE, "fileSdIConMetadati", *_file_sdi_fields(f.identificativo_sdi, f.nome_file, f.file),
                  ("NomeFileMetadati", f.nome_file_metadati), ("Metadati", _b64text(f.metadati)))


def read_ricevi_fatture(data: bytes) -> FileSdIConMetadati:
    el, element = _read(data, NS_RICEZIONE, "fileSdIConMetadati")
    f = _read_file_sdi(el, element)
    return FileSdIConMetadati(f.identificativo_sdi, f.nome_file, f.file, _text(el, "NomeFileMetadati"),
                              _b64(el, "Metadati", element))


def build_ricevi_fatture_response(esito: str = "ER01") -> bytes:
    return _build(NS_RICEZIONE, "rispostaRiceviFatture", ("Esito", esito))


def read_ricevi_fatture_response(data: bytes) -> str:
    el, _ = _read(data, NS_RICEZIONE, "rispostaRiceviFatture")
    return _text(el, "Esito")


# ---------------------------------------------------------------- SdIRiceviNotifica

def build_notifica_esito(f: FileSdI) -> bytes:
    return _build(NS_RICEZIONE, "fileSdI", *_file_sdi_fields(f.identificativo_sdi, f.nome_file, f.file))


def read_notifica_esito(data: bytes) -> FileSdI:
    el, element = _read(data, NS_RICEZIONE, "fileSdI")
    return _read_file_sdi(el, element)


def build_notifica_esito_response(r: NotificaEsitoResponse) -> bytes:
    el = etree.Element(etree.QName(NS_RICEZIONE, "rispostaSdINotificaEsito"), nsmap={"types": NS_RICEZIONE})
    _sub(el, "Esito", r.esito)
    if r.scarto is not None:
        sc = etree.SubElement(el, "ScartoEsito")
        _sub(sc, "NomeFile", r.scarto.nome_file)
        _sub(sc, "File", _b64text(r.scarto.file))
    return _checked_envelope(el, NS_RICEZIONE, "rispostaSdINotificaEsito")


def read_notifica_esito_response(data: bytes) -> NotificaEsitoResponse:
    el, _ = _read(data, NS_RICEZIONE, "rispostaSdINotificaEsito")
    sc = el.find("ScartoEsito")
    scarto = FileSdIBase(_text(sc, "NomeFile"), _b64(sc, "File", "ScartoEsito")) if sc is not None else None
    return NotificaEsitoResponse(_text(el, "Esito"), scarto)
