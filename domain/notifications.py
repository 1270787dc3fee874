"""The kinds of e-mail we send, and which of them a customer may turn off.

Transactional messages (the contract to accept, an acceptance receipt) always go out. Notifications
(an outcome, a reminder, a failure) are on by default and each can be turned off per customer.
"""

from __future__ import annotations

# kind -> what the customer sees in their preferences
NOTIFICATION_KINDS: dict[str, str] = {
    "cert-issued": "a certificate was issued and is active",
    "cert-authorization-failed": "a certificate request failed authorization",
    "cert-expiry-reminder": "a certificate is about to expire",
    "cert-expired": "a certificate has expired",
    "cert-revoked": "a certificate was revoked",
    "contract-reminder": "reminder of a contract awaiting acceptance",
    "invoice-outcome": "an invoice was delivered, rejected, accepted or refused",
    "invoice-received": "an invoice addressed to you was received",
}

# What KSeF sends a Polish customer today, each a real e-mail (seed 004's "Powiadomienia e-mail" on the KSeF
# screen): from the certificate workflow, a certificate enrolled, an enrollment KSeF refused (the seed's
# "wystąpił błąd"), expiry ahead, expired, revoked; from the invoice workflow on channel ksef, an invoice
# accepted (its UPO) or rejected by KSeF. The download from KSeF sends none. The same kinds as the preferences
# screen's, so one switch turns a kind off everywhere.
KSEF_NOTIFICATION_KINDS: tuple[str, ...] = ("cert-issued", "cert-authorization-failed", "cert-expiry-reminder",
                                            "cert-expired", "cert-revoked", "invoice-outcome")

# Always sent, whatever the preferences.
TRANSACTIONAL_KINDS: frozenset[str] = frozenset(
    {"contract-invitation", "contract-activation", "contract-expired", "conservation-access",
     "archive-fault", "sdi-silent", "ksef-deadline-passed", "generic", "account-confirmation",
     "delegation-invitation", "delegation-request"}
)


def is_known_kind(kind: str) -> bool:
    return kind in NOTIFICATION_KINDS or kind in TRANSACTIONAL_KINDS
