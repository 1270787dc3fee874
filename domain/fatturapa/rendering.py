"""A readable HTML rendering of an invoice with the Agenzia delle Entrate's own stylesheets (see
`xsl/PROVENANCE.md`): the PA one for FPA12, the ordinary one for FPR12, the simplified one for FSM10. XSLT
runs with every file and network access denied, on a document parsed by the safe parser."""

from __future__ import annotations

import threading
from functools import cache
from importlib import resources
from pathlib import Path

from lxml import etree

from domain.fatturapa.loading import SIMPLIFIED_ROOT, parse_invoice_root
from domain.xmlsafe import load_vendored

STYLESHEETS = {
    "FPA12": "Foglio_di_stile_fattura_PA_ver1.2.2.xsl",
    "FPR12": "Foglio_di_stile_fattura_ordinaria_ver1.2.2.xsl",
    "FSM10": "fatturasemplificata_v1.0.xsl",
}


_COMPILING = threading.Lock()  # as domain.fatturapa.schema: libxml2 compiles one stylesheet at a time


def _transform(name: str) -> etree.XSLT:
    with _COMPILING:
        return _compiled(name)


@cache
def _compiled(name: str) -> etree.XSLT:
    stylesheet = load_vendored(Path(str(resources.files("domain.fatturapa") / "xsl" / name)))
    return etree.XSLT(stylesheet, access_control=etree.XSLTAccessControl.DENY_ALL)


def render_html(xml: bytes) -> str:
    """The invoice as an HTML page: the FPA12 or FPR12 stylesheet chosen by the root's `versione`, the FSM10 one
    for a simplified invoice (by its root: only that stylesheet reads the v1.0 namespace)."""
    root = parse_invoice_root(xml)
    if root.tag == SIMPLIFIED_ROOT:
        name = STYLESHEETS["FSM10"]
    else:
        name = STYLESHEETS.get(root.get("versione", ""), STYLESHEETS["FPR12"])
    result = _transform(name)(root.getroottree())
    return str(result)
