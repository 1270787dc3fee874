"""XSD validation against the official FatturaPA schemas vendored in `xsd/` (see `xsd/PROVENANCE.md`).

1.2.3 is the current schema (since 2025-04-01); a file that fails it but passes 1.2.2 is an older file
and is accepted as 1.2.2. A simplified invoice (root `FatturaElettronicaSemplificata`) is checked against
its own schema, FSM10 1.0 (`Schema_VFSM10.xsd`). The schemas import the W3C XML-DSig schema by an http URL:
a resolver maps it to the vendored copy, and the parser never touches the network.
"""

from __future__ import annotations

import threading
from functools import cache
from importlib import resources
from pathlib import Path

from lxml import etree

from domain.errors import InvalidInput, Problem
from domain.xmlsafe import load_vendored

SCHEMA_FILES = {
    "1.2.3": "Schema_VFPA12_V1.2.3.xsd",
    "1.2.2": "Schema_del_file_xml_FatturaPA_v1.2.2.xsd",
}
CURRENT_VERSION = "1.2.3"
# The simplified invoice's schema: one version, its own root and namespace (domain.fatturapa.loading.FSM10_NS).
FSM10_VERSION = "FSM10 1.0"
_FILES = {**SCHEMA_FILES, FSM10_VERSION: "Schema_VFSM10.xsd"}
_SIMPLIFIED_ROOT = "{http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.0}FatturaElettronicaSemplificata"
_DSIG_URLS = (
    "http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd",
    "http://www.w3.org/TR/xmldsig-core/xmldsig-core-schema.xsd",
)
# More than this many schema errors and the SDI stops listing them (00201); we do the same.
MAX_SCHEMA_PROBLEMS = 50


def xsd_dir() -> Path:
    return Path(str(resources.files("domain.fatturapa") / "xsd"))


class _LocalSchemas(etree.Resolver):  # type: ignore[misc]  # lxml ships no type information
    """Serves the vendored XML-DSig schema for its well-known URLs; refuses anything else remote."""

    def resolve(self, system_url, public_id, context):  # type: ignore[no-untyped-def]
        if system_url in _DSIG_URLS or (system_url or "").endswith("xmldsig-core-schema.xsd"):
            return self.resolve_filename(str(xsd_dir() / "xmldsig-core-schema.xsd"), context)
        if system_url and "://" in system_url and not system_url.startswith("file:"):
            raise OSError(f"refusing to fetch {system_url} while loading a schema")
        return None


# libxml2 compiling two schemas at once (threads: the local SDI checks files in a thread pool) can fail to
# resolve the XML-DSig import ("Signature does not resolve to an element declaration"): seen in a load run,
# 1 in 10 at 16 threads. Compiling is rare (once per version per process), so it is serialised.
_COMPILING = threading.Lock()


def schema(version: str) -> etree.XMLSchema:
    """The compiled schema of a FatturaPA version, or of FSM10_VERSION (compiled once per process, one at a
    time)."""
    with _COMPILING:
        return _compiled(version)


@cache
def _compiled(version: str) -> etree.XMLSchema:
    # The vendored schemas are trusted files; the XML-DSig one declares internal entities in its DOCTYPE,
    # which must be expanded for it to compile. That expansion is for these files only: an invoice is parsed
    # by domain.xmlsafe.parse_untrusted, which refuses any DOCTYPE. Nothing is loaded from the network.
    doc = load_vendored(xsd_dir() / _FILES[version], _LocalSchemas(), expand_entities=True)
    return etree.XMLSchema(doc)


def _schema_problems(root: etree._Element, version: str) -> list[Problem]:
    xsd = schema(version)
    if xsd.validate(root):
        return []
    problems = []
    for entry in list(xsd.error_log)[:MAX_SCHEMA_PROBLEMS]:
        where = entry.path or f"line {entry.line}"
        what = version if version == FSM10_VERSION else f"FatturaPA {version}"
        problems.append(Problem(where, f"not valid against {what}: {entry.message}", "00200"))
    return problems


def validate_schema(root: etree._Element) -> str:
    """Return the schema version the document conforms to ("1.2.3" or "1.2.2"; FSM10_VERSION for a simplified
    invoice), else raise InvalidInput listing the errors against the current schema (SDI code 00200, file not
    conforming to the format)."""
    if root.tag == _SIMPLIFIED_ROOT:
        problems = _schema_problems(root, FSM10_VERSION)
        if problems:
            raise InvalidInput(problems)
        return FSM10_VERSION
    current = _schema_problems(root, CURRENT_VERSION)
    if not current:
        return CURRENT_VERSION
    for version in SCHEMA_FILES:
        if version != CURRENT_VERSION and not _schema_problems(root, version):
            return version
    raise InvalidInput(current)
