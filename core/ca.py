"""Our certificate authority as the settings describe it: the built-in CA in DATA_DIR/ca.

A module of its own, below activities, the API's TLS and the starters, so that each of them reaches the CA
through one door and none imports another's adapter code.
"""

from __future__ import annotations

from datetime import timedelta

from core.settings import Settings
from domain.authority import Authority, BuiltinCA


def authority_from_settings(settings: Settings) -> Authority:
    """The built-in CA in DATA_DIR/ca, with the settings' validity, decision time and refusal rule."""
    return BuiltinCA(settings.data_dir / "ca", validity_days=settings.ca_validity_days,
                     decision_delay=timedelta(seconds=settings.ca_decision_delay_seconds),
                     deny_subject_pattern=settings.ca_deny_subject_pattern)


def reminder_days(settings: Settings) -> list[int]:
    """CERT_REMINDER_DAYS as a sorted list, largest first."""
    days = {int(part) for part in settings.cert_reminder_days.split(",") if part.strip()}
    if any(d <= 0 for d in days):
        raise ValueError("CERT_REMINDER_DAYS must be positive numbers of days")
    return sorted(days, reverse=True)
