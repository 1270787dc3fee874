"""FatturaPA 1.2.x invoices: safe loading (plain, CAdES .p7m, XAdES), schema and SDI content checks,
SDI file names and HTML rendering. Plain Python (lxml), no Temporal, no database."""

from domain.fatturapa.loading import LoadedInvoice, load_invoice, parse_invoice_root
from domain.fatturapa.naming import SdiFileName, next_progressive, parse_sdi_file_name, sdi_file_name
from domain.fatturapa.rendering import render_html
from domain.fatturapa.validation import (
    DocumentSummary,
    InvoiceSummary,
    check_loaded_invoice,
    document_keys,
    validate_invoice,
    xpath_of,
)
from domain.sdi.documents import MAX_FILE_SIZE

__all__ = [
    "MAX_FILE_SIZE",
    "DocumentSummary",
    "InvoiceSummary",
    "LoadedInvoice",
    "SdiFileName",
    "check_loaded_invoice",
    "document_keys",
    "load_invoice",
    "next_progressive",
    "parse_invoice_root",
    "parse_sdi_file_name",
    "render_html",
    "sdi_file_name",
    "validate_invoice",
    "xpath_of",
]
