"""Safe XML parsing for files that come from outside: no DTD, no entities, no network, bounded size.

Every untrusted XML document in the FatturaPA code goes through `parse_untrusted`. A DOCTYPE is refused
outright (that is where XXE and "billion laughs" entity expansion live), so nothing is ever fetched from a
file or the network and no entity is expanded. The size limit is the SDI's own (`MAX_FILE_SIZE`).
"""

from __future__ import annotations

import threading

from lxml import etree

from domain.errors import InvalidInput

# The SDI refuses a file larger than 5 MB (code 00003).
MAX_FILE_SIZE = 5 * 1024 * 1024

# Namespace of the FatturaPA 1.2.x invoice root element (FPA12 and FPR12 share it).
FATTURAPA_NS = "http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"


def safe_parser() -> etree.XMLParser:
    """A fresh parser that resolves nothing: no entities, no DTD, no network, no huge trees."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
        remove_comments=False,
        remove_pis=False,
    )


_local = threading.local()


def _thread_parser() -> etree.XMLParser:
    """This thread's safe parser: lxml advises one parser per thread, and making one per file costs more
    than a small invoice's parse. Parsing keeps no state between documents."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = safe_parser()
    return parser


def parse_untrusted(data: bytes, field: str = "file") -> etree._Element:
    """Parse bytes received from outside into an element tree, refusing anything unsafe or malformed."""
    if len(data) > MAX_FILE_SIZE:
        raise InvalidInput.one(field, f"file is {len(data)} bytes, the SDI limit is {MAX_FILE_SIZE}", "00003")
    if not data.strip():
        raise InvalidInput.one(field, "the file is empty", "00200")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidInput.one(field, f"the file is not UTF-8 text (byte {err.start})", "00200") from None
    try:
        root = etree.fromstring(data, _thread_parser())
    except etree.XMLSyntaxError as err:
        raise InvalidInput.one(field, f"not well-formed XML: {err}", "00200") from None
    tree = root.getroottree()
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        # Entity declarations (XXE, billion laughs) live in the DOCTYPE: refuse any.
        raise InvalidInput.one(field, "a DOCTYPE (DTD/entity declarations) is not allowed", "00200")
    if (docinfo.encoding or "UTF-8").upper().replace("_", "-") not in ("UTF-8", "UTF8"):
        raise InvalidInput.one(field, f"the file must be UTF-8 encoded, it declares {docinfo.encoding}", "00200")
    if _has_entity_nodes(root):
        raise InvalidInput.one(field, "entity references are not allowed", "00200")
    return root


def _has_entity_nodes(root: etree._Element) -> bool:
    # iter(etree.Entity) filters in C: only entity reference nodes ever reach Python.
    return next(root.iter(etree.Entity), None) is not None
