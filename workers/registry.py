"""Every workflow and activity the worker runs, in one list per area.

Each area (certificates, contracts, invoices, conservation) adds its workflows to `WORKFLOWS` and its
activity objects to `build_activities`. Activities that need settings are methods of small classes
built here, so tests can build them with their own settings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from core.settings import Settings


def workflows() -> list[type]:
    return []


def activities(settings: Settings) -> Sequence[Callable[..., Any]]:
    from activities.mail import MailActivities

    mail = MailActivities(settings)
    return [mail.send_email]
