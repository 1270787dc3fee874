"""What the SDI exchanges, as this side reads it: the size limits of a file, a notification and a SOAP
envelope, the SDI's rules for a file (`parse_sdi_file`), and the vendored SDICoop schemas
(`load_schema`, trusted files whose imports map to local copies).

Every document is parsed by the project's one safe parser (`domain.xmlsafe`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

from domain.xmlsafe import load_vendored, parse_untrusted

SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"

# The SDI refuses a file larger than 5 MB (code 00003).
MAX_FILE_SIZE = 5 * 1024 * 1024
# A SOAP envelope carries one invoice (at most 5 MB, the SDI limit) base64-encoded: 4/3 of it, plus the
# envelope itself.
MAX_ENVELOPE_SIZE = 7 * 1024 * 1024 + 64 * 1024
# A notification file (RC, NS, ...) is a few kilobytes; an NS error list of 200 entries stays well below.
MAX_NOTIFICATION_SIZE = 512 * 1024

# Imports by absolute URL in the official schemas, mapped to the vendored copy.
_LOCAL_IMPORTS = {
    "http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd": "xmldsig-core-schema.xsd",
}


def parse_sdi_file(data: bytes, field: str = "file") -> etree._Element:
    """A file as the SDI takes it (an invoice, a signed notification): at most 5 MB (00003), UTF-8 XML
    without DOCTYPE or entities; any other refusal is 00200 (file not conforming to the format)."""
    return parse_untrusted(data, field, MAX_FILE_SIZE, code="00200", size_code="00003", utf8_only=True)


class _LocalResolver(etree.Resolver):  # type: ignore[misc]  # lxml ships no type information
    def resolve(self, system_url, public_id, context):  # type: ignore[no-untyped-def]
        name = _LOCAL_IMPORTS.get(system_url) or Path(system_url).name
        path = SCHEMAS_DIR / name
        if path.exists():
            return self.resolve_filename(str(path), context)
        return None


@cache
def load_schema(name: str) -> etree.XMLSchema:
    """A vendored SDICoop schema (compiled once per process)."""
    return etree.XMLSchema(load_vendored(SCHEMAS_DIR / name, _LocalResolver()))


def schema_problems(schema: etree.XMLSchema, root: etree._Element) -> list[tuple[str, str]]:
    """(XPath, message) for every violation of `schema` by the tree under `root`."""
    if schema.validate(root):
        return []
    problems = []
    for entry in schema.error_log:
        path = entry.path or f"line {entry.line}"
        problems.append((path, entry.message))
    return problems
