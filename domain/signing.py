"""Which signing key may sign a customer's invoice (issue #18.1).

A customer's own keys are stored under aliases that carry its VAT number (`IT02038490237`, or
`IT02038490237-<anything>`), so the binding is read from the alias without opening the key store; the
intermediary's delegated key (SDI_DELEGATED_KEY_ALIAS) signs only for customers that granted delegated
signing. Anything else is refused before anything is written.
"""

from __future__ import annotations

from domain.errors import InvalidInput


def check_key_alias(vat: str, alias: str | None, delegated_alias: str, delegated_granted: bool) -> str:
    """The alias that will sign `vat`'s invoice, or InvalidInput naming `key_alias`."""
    chosen = alias or delegated_alias
    if chosen == delegated_alias:
        if not delegated_granted:
            raise InvalidInput.one("key_alias", f"{vat} has not granted delegated signing: the intermediary's key "
                                                f"{delegated_alias!r} cannot sign its invoices (grant it, or name "
                                                f"one of its own keys, {vat} or {vat}-<name>)")
        return chosen
    if chosen == vat or chosen.startswith(f"{vat}-"):
        return chosen
    raise InvalidInput.one("key_alias", f"key {chosen!r} is not {vat}'s: a customer's keys are named {vat} or "
                                        f"{vat}-<name>")
