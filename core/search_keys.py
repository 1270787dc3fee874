"""Opaque keys for what Temporal stores in clear: workflow ids and search attributes (#18.8).

A sole trader's VAT number is its codice fiscale (name, birth date and place), and an SDI file name starts
with the transmitter's identifier, so neither may appear in a workflow id or a search attribute: Temporal
keeps those unencrypted (the payload codec covers payloads only), in its database, its visibility store and
the Web UI. Instead they carry a keyed hash: `customer_key(vat)` and `document_key(invoice or operation id)`,
HMAC-SHA256 under SEARCH_KEY_SECRET, 20 base32 characters (100 bits).

Keyed, not a plain hash: Italian VAT numbers are 11 digits with a check digit (10^10 candidates), so an
unkeyed hash is reversed by trying them all in minutes; without the key nothing links a key to a customer.
An operator finds a customer's jobs with `einvoice ops keys --vat ...`, which prints the keys and the Temporal
UI link (a visibility query on CustomerKey).

SEARCH_KEY_SECRET must never change once workflows exist: the keys are part of workflow ids, which is what
makes a second start of the same contract or invoice a duplicate. It is not SECRET_KEY, which rotates.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from core.settings import DEV_SEARCH_KEY_SECRET, Settings

KEY_LENGTH = 20  # base32 characters: 100 bits


def _key(secret: str, domain: str, value: str) -> str:
    if not secret:
        raise ValueError("SEARCH_KEY_SECRET is empty")
    mac = hmac.new(secret.encode(), f"{domain}\0{value}".encode(), hashlib.sha256).digest()
    return base64.b32encode(mac).decode().lower()[:KEY_LENGTH]


def customer_key(secret: str, vat: str) -> str:
    """The customer's key: `c` + 20 base32 characters. The VAT number is taken as stored (uppercase)."""
    return "c" + _key(secret, "customer", vat.strip().upper())


def document_key(secret: str, document_id: str) -> str:
    """A document's key (an invoice id, a certificate operation id): `d` + 20 base32 characters."""
    return "d" + _key(secret, "document", document_id)


class SearchKeys:
    """The two functions bound to the settings' secret (what starters, the CLI and the UI links use)."""

    def __init__(self, settings: Settings) -> None:
        self._secret = settings.search_key_secret.get_secret_value()

    def customer(self, vat: str) -> str:
        return customer_key(self._secret, vat)

    def document(self, document_id: str) -> str:
        return document_key(self._secret, document_id)


def is_dev_secret(settings: Settings) -> bool:
    return settings.search_key_secret.get_secret_value() in ("", DEV_SEARCH_KEY_SECRET)
