"""The one XML parser of the project: every document from outside (invoices, SDI notifications, SOAP
envelopes, archive indexes) is parsed by `parse_untrusted`, and only vendored files by `load_vendored`.

A DOCTYPE is refused outright, before parsing when it can be seen in the bytes and always after: entity
declarations live there, so no entity is expanded ("billion laughs") and nothing is fetched from a file or
the network (XXE, an external DTD). The parser itself resolves nothing either (no entities, no DTD, no
network, no huge trees), and the size is bounded before a byte is parsed. `tests/test_xmlsafe.py` fails the
suite when a product module builds its own parser.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from lxml import etree

from domain.errors import InvalidInput

UNSAFE = "a DOCTYPE or entity declaration is not allowed"
# Where entity declarations can live, in any case; seen here in ASCII-compatible encodings (a UTF-16 one
# is caught after parsing, from the tree's docinfo).
_DECLARATION = re.compile(rb"<!(?i:doctype|entity)")

_local = threading.local()


def safe_parser() -> etree.XMLParser:
    """This thread's parser that resolves nothing: lxml advises one parser per thread, and making one per
    document costs more than a small invoice's parse. Parsing keeps no state between documents."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, dtd_validation=False,
        )
    return parser


def parse_untrusted(data: bytes, field: str, max_size: int, *, code: str | None = None,
                    size_code: str | None = None, utf8_only: bool = False) -> etree._Element:
    """Parse bytes from outside into their root element; refuse (InvalidInput naming `field`) anything
    oversized, empty, malformed, or with a DOCTYPE or an entity.

    `code` is the error code every refusal carries (the SDI's 00200 for a file), `size_code` the one of an
    oversized document (00003); `utf8_only` refuses other encodings, as the SDI does for its files."""
    if len(data) > max_size:
        raise InvalidInput.one(field, f"document of {len(data)} bytes exceeds the limit of {max_size} bytes",
                               size_code or code)
    if not data.strip():
        raise InvalidInput.one(field, "empty document", code)
    if utf8_only:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InvalidInput.one(field, f"the file is not UTF-8 text (byte {err.start})", code) from None
    if _DECLARATION.search(data):
        raise InvalidInput.one(field, UNSAFE, code)
    try:
        root = etree.fromstring(data, safe_parser())
    except etree.XMLSyntaxError as err:
        raise InvalidInput.one(field, f"not well-formed XML: {err}", code) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise InvalidInput.one(field, UNSAFE, code)
    if utf8_only and (docinfo.encoding or "UTF-8").upper().replace("_", "-") not in ("UTF-8", "UTF8"):
        raise InvalidInput.one(field, f"the file must be UTF-8 encoded, it declares {docinfo.encoding}", code)
    # iter(etree.Entity) filters in C: only entity reference nodes ever reach Python.
    if next(root.iter(etree.Entity), None) is not None:
        raise InvalidInput.one(field, "entity references are not allowed", code)
    return root


def load_vendored(path: Path, resolver: etree.Resolver | None = None, *,
                  expand_entities: bool = False) -> etree._ElementTree:
    """A schema or stylesheet we ship (trusted: never a document from outside). Nothing is fetched from the
    network; `resolver` maps a schema's imports to the vendored copies. `expand_entities` only for a schema
    whose own internal DTD declares entities it needs expanded to compile (the W3C XML-DSig schema)."""
    parser = etree.XMLParser(no_network=True, resolve_entities=expand_entities, load_dtd=False, huge_tree=False)
    if resolver is not None:
        parser.resolvers.add(resolver)
    return etree.parse(str(path), parser)


# ------------------------------------------------------------------ namespace quirks the SDI tolerates (#17.2)
#
# Files the SDI delivered (and accounting software sends) sometimes declare a namespace URI that libxml2's
# strict parse refuses ("... is not a valid URI", or a malformed attribute): a space inside or around the URI,
# or a stray quote (a doubled closing quote, a quote or &quot;/&apos; inside the value). The repair is bounded:
# it looks only at the xmlns declarations of the first start tag (within its first REPAIR_WINDOW bytes) and
# rewrites a declaration only when, with its whitespace and quotes removed, it is exactly one of the KNOWN
# namespaces; anything else is left for the strict parse to refuse. The repaired bytes then go through the same
# safe parse as any other (no DOCTYPE, no entities, no network, the same size bound).
KNOWN_NAMESPACES = frozenset({
    b"http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2",  # FatturaPA 1.2.x (FPA12, FPR12)
    b"http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.0",  # simplified invoice (FSM10)
    b"http://www.w3.org/2000/09/xmldsig#",
    b"http://uri.etsi.org/01903/v1.3.2#",
    b"http://www.w3.org/2001/XMLSchema-instance",
})
REPAIR_WINDOW = 16 * 1024
_FIRST_START_TAG = re.compile(rb"<(?![?!/])[^>]*>", re.S)
_XMLNS = re.compile(rb"""xmlns(?::[A-Za-z_][\w.\-]*)?\s*=\s*(["'])(.*?)\1(["']?)""", re.S)
_NOISE = re.compile(rb"""\s+|["']|&quot;|&apos;|&#3[49];""")


def repair_namespace_quirks(data: bytes) -> tuple[bytes, list[str]]:
    """The bytes with the root's quirky namespace declarations rewritten to the known URI they stand for, and a
    sentence per repair (empty when nothing was repaired: the bytes are returned unchanged)."""
    tag = _FIRST_START_TAG.search(data, 0, REPAIR_WINDOW)
    if tag is None:
        return data, []
    repairs: list[str] = []

    def fix(m: re.Match[bytes]) -> bytes:
        quote, value, stray = m.group(1), m.group(2), m.group(3)
        clean = _NOISE.sub(b"", value)
        if clean not in KNOWN_NAMESPACES or (clean == value and not stray):
            return m.group(0)
        name = m.group(0).split(b"=", 1)[0].strip()
        repairs.append(f"{name.decode()}: {m.group(0)[len(name):].decode(errors='replace').strip()[:120]!r} read "
                       f"as {clean.decode()!r}")
        return name + b"=" + quote + clean + quote

    fixed_tag = _XMLNS.sub(fix, tag.group(0))
    if not repairs:
        return data, []
    return data[:tag.start()] + fixed_tag + data[tag.end():], repairs
