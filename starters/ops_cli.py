"""`einvoice ops keys`: how an operator finds a customer's jobs in the Temporal UI (#18.8).

Workflow ids and search attributes hold opaque keys (core/search_keys), so the operator asks this command,
which holds SEARCH_KEY_SECRET, for the keys and a ready Temporal UI link with the visibility query.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer

from core.search_keys import SearchKeys
from core.settings import Settings, get_settings
from domain.errors import InvalidInput
from domain.identifiers import parse_vat_number
from starters.output import domain_errors, print_json

app = typer.Typer(help="Operator tools for the Temporal UI.", no_args_is_help=True)


def ui_link(settings: Settings, query: str) -> str:
    """The Temporal UI's workflow list filtered by a visibility query."""
    base = settings.temporal_ui_url.rstrip("/")
    return f"{base}/namespaces/{quote(settings.temporal_namespace)}/workflows?query={quote(query)}"


def keys_of(settings: Settings, vat: str | None, document: str | None) -> dict[str, str]:
    """The keys (and the UI links) for a customer and/or a document: an invoice id or a certificate's
    operation id. At least one must be given."""
    if not vat and not document:
        raise InvalidInput.one("vat", "give --vat or --document (or both)")
    keys = SearchKeys(settings)
    found: dict[str, str] = {}
    if vat:
        number = str(parse_vat_number(vat))  # a wrong VAT number is refused, never keyed
        found["customer_key"] = keys.customer(number)
        found["customer_link"] = ui_link(settings, f'CustomerKey="{found["customer_key"]}"')
        found["contract_workflow_id"] = f"contract-{found['customer_key']}"
    if document:
        found["document_key"] = keys.document(document.strip())
        found["document_link"] = ui_link(settings, f'DocumentId="{found["document_key"]}"')
    return found


@app.command("keys")
def keys(
    vat: Annotated[str | None, typer.Option(help="the customer's VAT number (IT + partita IVA, PL + NIP)")] = None,
    document: Annotated[str | None, typer.Option(help="an invoice id or a certificate's operation id")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Print the opaque keys Temporal knows a customer's and a document's workflows by, and the UI links.
    Uses SEARCH_KEY_SECRET from this machine's settings (an operator's tool)."""
    settings = get_settings()
    with domain_errors():
        found = keys_of(settings, vat, document)
    if as_json:
        print_json(found)
        return
    for name, value in found.items():
        typer.echo(f"{name.replace('_', ' ')}: {value}")
