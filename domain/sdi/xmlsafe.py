"""Safe XML parsing for everything that comes from outside (SOAP envelopes, notification files).

No DTD is loaded, no entity is resolved, nothing is fetched from the network, huge trees are refused, and
any DOCTYPE at all is refused (entity-expansion "billion laughs" and XXE payloads both need one). The
vendored schemas are trusted files and loaded by `load_schema`, which maps their imports to local copies.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

from domain.errors import InvalidInput

SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"

# A SOAP envelope carries one invoice (at most 5 MB, the SDI limit) base64-encoded: 4/3 of it, plus the
# envelope itself.
MAX_ENVELOPE_SIZE = 7 * 1024 * 1024 + 64 * 1024
# A notification file (RC, NS, ...) is a few kilobytes; an NS error list of 200 entries stays well below.
MAX_NOTIFICATION_SIZE = 512 * 1024

# Imports by absolute URL in the official schemas, mapped to the vendored copy.
_LOCAL_IMPORTS = {
    "http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd": "xmldsig-core-schema.xsd",
}


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           dtd_validation=False, remove_comments=False)


def parse_untrusted(data: bytes, field: str, max_size: int) -> etree._Element:
    """Parse bytes from outside; refuse (InvalidInput naming `field`) anything oversized, malformed or with a
    DOCTYPE. Returns the root element."""
    if not data or not data.strip():
        raise InvalidInput.one(field, "empty document")
    if len(data) > max_size:
        raise InvalidInput.one(field, f"document of {len(data)} bytes exceeds the limit of {max_size} bytes")
    # A cheap refusal before parsing (covers the common UTF-8/ASCII payloads) ...
    if b"<!DOCTYPE" in data[:4096].upper() or b"<!ENTITY" in data.upper():
        raise InvalidInput.one(field, "a DOCTYPE or entity declaration is not allowed")
    try:
        root = etree.fromstring(data, parser=_safe_parser())
    except etree.XMLSyntaxError as err:
        raise InvalidInput.one(field, f"not well-formed XML: {err}") from err
    # ... and the sure one after it (other encodings).
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise InvalidInput.one(field, "a DOCTYPE or entity declaration is not allowed")
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise InvalidInput.one(field, "entity references are not allowed")
    return root


class _LocalResolver(etree.Resolver):  # type: ignore[misc]  # lxml ships no type information
    def resolve(self, system_url, public_id, context):  # type: ignore[no-untyped-def]
        name = _LOCAL_IMPORTS.get(system_url) or Path(system_url).name
        path = SCHEMAS_DIR / name
        if path.exists():
            return self.resolve_filename(str(path), context)
        return None


@cache
def load_schema(name: str) -> etree.XMLSchema:
    """A vendored schema (trusted: its own internal DTD is allowed, nothing is fetched)."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    parser.resolvers.add(_LocalResolver())
    doc = etree.parse(str(SCHEMAS_DIR / name), parser)
    return etree.XMLSchema(doc)


def schema_problems(schema: etree.XMLSchema, root: etree._Element) -> list[tuple[str, str]]:
    """(XPath, message) for every violation of `schema` by the tree under `root`."""
    if schema.validate(root):
        return []
    problems = []
    for entry in schema.error_log:
        path = entry.path or f"line {entry.line}"
        problems.append((path, entry.message))
    return problems
