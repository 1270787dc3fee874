"""What a customer can grant its accountant (seed 002, Aruba's delegation screen).

The base permissions — read; create/modify invoices; send invoices; manage the service configuration
(certificates, preferences, contract data) — and, per extra module (documents, payments, e-orders), read and
create/modify. A module permission is offered only while `read` is granted, and withdrawing `read`
withdraws them: `normalise` applies that rule wherever grants are written.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.errors import InvalidInput, Problem

READ = "read"
INVOICES_WRITE = "invoices.write"  # create / modify invoices
INVOICES_SEND = "invoices.send"
CONFIG_MANAGE = "config.manage"  # certificates, preferences, contract data
DOCUMENTS_READ = "documents.read"
DOCUMENTS_WRITE = "documents.write"
PAYMENTS_READ = "payments.read"
PAYMENTS_WRITE = "payments.write"
EORDERS_READ = "eorders.read"
EORDERS_WRITE = "eorders.write"

BASE = (READ, INVOICES_WRITE, INVOICES_SEND, CONFIG_MANAGE)
MODULES = (DOCUMENTS_READ, DOCUMENTS_WRITE, PAYMENTS_READ, PAYMENTS_WRITE, EORDERS_READ, EORDERS_WRITE)
ALL = BASE + MODULES

# Labels as the seeds show them (Italian first, the portal's language), with English and Polish.
LABELS: dict[str, dict[str, str]] = {
    READ: {"it": "Lettura", "en": "Read", "pl": "Odczyt"},
    INVOICES_WRITE: {"it": "Creazione/modifica fatture", "en": "Create/modify invoices",
                     "pl": "Tworzenie/modyfikacja faktur"},
    INVOICES_SEND: {"it": "Invio fatture", "en": "Send invoices", "pl": "Wysyłanie faktur"},
    CONFIG_MANAGE: {"it": "Gestione configurazione del servizio", "en": "Manage the service configuration",
                    "pl": "Zarządzanie konfiguracją usługi"},
    DOCUMENTS_READ: {"it": "Documenti: lettura", "en": "Documents: read", "pl": "Dokumenty: odczyt"},
    DOCUMENTS_WRITE: {"it": "Documenti: creazione/modifica", "en": "Documents: create/modify",
                      "pl": "Dokumenty: tworzenie/modyfikacja"},
    PAYMENTS_READ: {"it": "Pagamenti: lettura", "en": "Payments: read", "pl": "Płatności: odczyt"},
    PAYMENTS_WRITE: {"it": "Pagamenti: creazione/modifica", "en": "Payments: create/modify",
                     "pl": "Płatności: tworzenie/modyfikacja"},
    EORDERS_READ: {"it": "Ordini elettronici: lettura", "en": "E-orders: read", "pl": "E-zamówienia: odczyt"},
    EORDERS_WRITE: {"it": "Ordini elettronici: creazione/modifica", "en": "E-orders: create/modify",
                    "pl": "E-zamówienia: tworzenie/modyfikacja"},
}


def check_permissions(names: Iterable[str], field: str = "permissions") -> frozenset[str]:
    """The given names as a set, each one known, and module permissions only beside `read`."""
    given = list(names)
    unknown = sorted({n for n in given if n not in ALL})
    if unknown:
        raise InvalidInput([Problem(field, f"unknown permission(s) {', '.join(unknown)}; "
                                           f"known: {', '.join(ALL)}")])
    granted = frozenset(given)
    orphans = sorted(granted & set(MODULES)) if READ not in granted else []
    if orphans:
        raise InvalidInput([Problem(field, f"{', '.join(orphans)} can be granted only together with {READ}")])
    return granted


def normalise(granted: Iterable[str]) -> frozenset[str]:
    """What stays granted: withdrawing `read` withdraws every module permission with it."""
    kept = frozenset(granted) & frozenset(ALL)
    return kept if READ in kept else kept - frozenset(MODULES)
